// memlab's own analysis of .heapsnapshot files, timed, for bench/heapsnapshot/run.sh to set beside ours on the
// same files: its parser (@memlab/core HeapParser, through utils.getSnapshotFromFile, as getFullHeapFromFile
// calls it) and then its analysis (analysis.preparePathFinder: shortest paths from the roots, Lengauer-Tarjan
// dominators, retained sizes), each the best of --rounds runs.
//
//   node memlab_time.mjs --modules DIR [--rounds N] FILE...
// DIR holds memlab's node_modules (tests/heapsnapshot, after `npm ci` there: tools/install-deps.sh). Prints one
// line per file: "FILE nodes parse_ms analysis_ms". Exit 0, 1 on an error, 77 when memlab is not installed.
import { createRequire } from 'node:module';
import path from 'node:path';

const files = [];
let modules = null, rounds = 1;
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--modules') modules = process.argv[++i];
  else if (a === '--rounds') rounds = Math.max(1, parseInt(process.argv[++i], 10) || 1);
  else files.push(a);
}
if (!modules || files.length === 0) {
  console.error('usage: memlab_time.mjs --modules DIR [--rounds N] FILE...');
  process.exit(2);
}
let core;
try {
  core = createRequire(path.resolve(modules, 'package.json'))('@memlab/core');
} catch (e) {
  console.error(`memlab is not installed in ${modules} (npm ci there, or tools/install-deps.sh): ${e.message.split('\n')[0]}`);
  process.exit(77);
}
core.config.muteConsole = true;
for (const file of files) {
  let parse = Infinity, analysis = Infinity, nodes = 0;
  for (let r = 0; r < rounds; r++) {
    core.config.heapConfig = null; // no cached heap: each round parses the file again
    const t0 = process.hrtime.bigint();
    const snap = await core.utils.getSnapshotFromFile(file, { buildNodeIdIndex: true });
    const t1 = process.hrtime.bigint();
    core.analysis.preparePathFinder(snap);
    const t2 = process.hrtime.bigint();
    if (!snap || !snap.nodes) {
      console.error(`memlab could not read ${file}`);
      process.exit(1);
    }
    nodes = snap.nodes.length;
    parse = Math.min(parse, Number(t1 - t0) / 1e6);
    analysis = Math.min(analysis, Number(t2 - t1) / 1e6);
  }
  console.log(`${file} ${nodes} ${parse.toFixed(1)} ${analysis.toFixed(1)}`);
}

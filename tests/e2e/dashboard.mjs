// End-to-end test of the dashboard in a real browser (suite `e2e`): Debian's chromium driven headless by
// playwright-core, against a real memscoped and the real demo app.
//
//   node dashboard.mjs --memscoped PATH --app PATH --web DIR --protocol common/protocol.h --out DIR
//
// Steps (each waits on a page condition with a timeout; no fixed sleeps):
//   1. start memscoped on a free port and a temporary socket, read the token from its stdout
//   2. start the demo (docstore --gc off: a gen-2 collection is guaranteed to find cycles)
//   3. open /?token=..., check the token left the address bar, and the page is not read-only
//   4. the app appears, connected; a chart has data points; the type table lists Folder, Document, AuditEntry
//   5. "Collect (gen 2)": the result shows collected > 0, equal to what the API then reports for generation 2
//   6. start tracing: the top-N table names examples/docstore.c with a line number; the frames and rows fields
//      take the protocol's ranges (common/protocol.h), send 0 as 0 (every entry), and show the daemon's 400
//   6b. "Why alive?" on AuditEntry's row: the first retainer path reads `audit (list, 1 external ref) -[i]->
//      AuditEntry`, as the daemon's retainers document says, and the snapshot downloads as a .heapsnapshot
//   6c. "Find pinned pools": the page asked nothing of the kind before the click; then it shows the API's answer
//      (the number of pinned pools, a row per site while the app traces, a row per size class), no error
//   7. an agent written here sends stats too large for the event stream (announced as `stats-skipped`): the
//      page fetches them and shows that app's numbers, saying the stream skipped them
//   7b. an agent written here answers pools.pinning: its refusal is shown with its status (502), hostile site and
//      type names are shown as text, never markup, and an answer while it does not trace says sites need tracing
//   8. kill the app: its row says disconnected
//   9. a page without the token says read-only and its buttons are disabled
//  10. memscoped restarts on the same port: the page reconnects by itself and lists the new app
// Screenshots go to --out (the build dir): dashboard-*.png. The browser's console errors and CSP violations fail
// the test. Exit 0 = pass, 1 = fail, 77 = skipped (chromium or playwright-core missing, unless
// MEMSCOPE_E2E_REQUIRED=1, which tools/test.sh sets: then missing prerequisites are a failure).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['memscoped', 'app', 'web', 'protocol', 'out']) {
  if (!args[k]) {
    console.error('usage: dashboard.mjs --memscoped PATH --app PATH --web DIR --protocol FILE --out DIR ' +
                  `(missing --${k})`);
    process.exit(2);
  }
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const required = process.env.MEMSCOPE_E2E_REQUIRED === '1';

function skip(why) {
  console.error((required ? 'FAIL: ' : 'SKIP: ') + why);
  process.exit(required ? 1 : 77);
}

if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} not found: apt-get install chromium (tools/install-deps.sh)`);
let chromium;
try {
  ({ chromium } = createRequire(path.resolve(args.web, 'package.json'))('playwright-core'));
} catch {
  skip(`playwright-core not installed: run \`npm ci\` in ${args.web}`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-e2e-'));
fs.chmodSync(tmp, 0o700);
fs.mkdirSync(args.out, { recursive: true });
const children = [];
const agents = []; // sockets of the agents written here
let browser = null;

function log(...m) { console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...m); }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function start(cmd, argv, env = {}) {
  const p = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.out = '';
  p.stdout.on('data', (d) => { p.out += d; });
  p.stderr.on('data', (d) => { p.out += d; });
  // 'close', not 'exit': it comes after the last output, so a sanitizer's report at exit is never missed.
  p.exited = new Promise((resolve) => p.on('close', (code, sig) => resolve({ code, sig })));
  children.push(p);
  return p;
}

async function waitFor(what, fn, timeoutMs = 15000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}` + (last ? `: ${last.message}` : ''));
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// The protocol's numbers from the one header that defines them (common/protocol.h): "#define MSC_X 123".
function protocolNumbers(file) {
  const out = {};
  for (const m of fs.readFileSync(file, 'utf8').matchAll(/^#define (MSC_\w+) (\d+)$/gm)) out[m[1]] = Number(m[2]);
  for (const k of ['MSC_TRACE_FRAMES_MAX', 'MSC_TOP_LIMIT_MAX', 'MSC_TOP_LIMIT_DEFAULT']) {
    if (!(k in out)) throw new Error(`${file} defines no ${k}`);
  }
  return out;
}

// An agent written from docs/PROTOCOL.md alone: a Unix stream socket, frames of a 4-byte big-endian length and
// JSON. It says hello and then sends what the test gives it; of what the daemon sends, the requests go to
// onRequest (when given), whose {ok, result} or {ok, error} is sent back as the reply, and the rest is dropped.
function fakeAgent(sock, hello, onRequest = null) {
  const s = net.createConnection(sock);
  s.on('error', () => {}); // the daemon may close first, at the end of the test
  const send = (msg) => {
    const payload = Buffer.from(JSON.stringify(msg));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(payload.length);
    s.write(Buffer.concat([head, payload]));
  };
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const msg = JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)).toString());
      buf = buf.subarray(4 + buf.readUInt32BE(0));
      if (msg.type === 'request' && onRequest) send({ type: 'reply', id: msg.id, ...onRequest(msg) });
    }
  });
  send({ type: 'hello', protocol: 1, ...hello });
  agents.push(s);
  return { send, close: () => s.destroy() };
}

// A stats message of about 720 KiB: over half of an event-stream client's 1 MiB budget (MSD_EVENTS_CLIENT_MAX,
// daemon/events.h), so the daemon announces it instead of streaming it. The size is in 2400 types (a program
// with that many types is plausible), names of 240 bytes: under the 255 the daemon keeps of a name.
function bigStats(seq) {
  const types = [{ name: 'HugeDocType', alive: 7, bytes: 448, created: 7, destroyed: 0 }];
  for (let i = 0; types.length < 2400; i++) {
    types.push({ name: `Type${String(i).padStart(4, '0')}_`.padEnd(240, 'x'), alive: 1, bytes: 64, created: 1,
                 destroyed: 0 });
  }
  const gen = { count: 0, threshold: 700, collections: 0, collected: 0, uncollectable: 0 };
  return { type: 'stats', seq, dropped: 0,
           heap: { pool_bytes_in_use: 123456789, system_bytes_in_use: 0, blocks_in_use: 1, arenas_mapped: 1 },
           refcount: { objects_alive: 4242421, objects_created: 5000000, objects_destroyed: 757579 },
           types, gc: { enabled: true, generations: [gen, gen, gen], pause_total_ns: 0, pause_max_ns: 0, garbage: 0 } };
}

// Reads memscoped's event stream until an event `name` whose data satisfies pred; its data, or an error at the
// deadline.
async function streamEvent(base, name, pred, timeoutMs) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let text = '';
  try {
    const r = await fetch(base + '/api/v1/events', { signal: ac.signal });
    for await (const chunk of r.body) {
      text += Buffer.from(chunk).toString();
      const blocks = text.split('\n\n');
      text = blocks.pop();
      for (const b of blocks) {
        const ev = (b.match(/^event: (.*)$/m) || [])[1], data = (b.match(/^data: (.*)$/m) || [])[1];
        if (ev === name && pred(JSON.parse(data))) return JSON.parse(data);
      }
    }
  } catch { /* aborted at the deadline */ } finally {
    clearTimeout(timer);
    ac.abort();
  }
  throw new Error(`no \`${name}\` event on the stream within ${timeoutMs} ms`);
}

// Clicks "Why alive?" in AuditEntry's row and checks what the page shows against the daemon's own answer for the
// same snapshot. The first group is the audit list: docstore appends every AuditEntry to it and labels it.
async function whyAlive(page, appId, base, api) {
  const type = 'AuditEntry';
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/v1/apps/${appId}/heapsnapshot`) && r.request().method() === 'POST',
                         { timeout: 30000 }),
    page.locator(`#types tbody tr[data-type="${type}"] button.why`).click(),
  ]);
  if (resp.status() !== 200) throw new Error(`POST heapsnapshot answered ${resp.status()}: ${await resp.text()}`);
  const snap = await resp.json();
  for (const k of ['id', 'objects', 'edges', 'bytes', 'pause_ms']) {
    if (typeof snap[k] !== 'number') throw new Error(`the snapshot's answer has no number ${k}: ${JSON.stringify(snap)}`);
  }
  await waitFor('the retainer paths on the page', async () => {
    if ((await page.getAttribute('#why', 'data-status')) !== 'ok' && (await page.getAttribute('#why', 'data-status'))) {
      throw new Error('the page shows an error: ' + (await page.textContent('#why')));
    }
    return (await page.getAttribute('#why', 'data-snapshot')) === String(snap.id);
  }, 30000);
  const doc = await api(`/api/v1/apps/${appId}/heapsnapshots/${snap.id}/retainers?type=${type}&limit=10`);
  const g = doc.paths && doc.paths[0];
  if (!g) throw new Error(`no retainer path for ${type}: ${JSON.stringify(doc).slice(0, 400)}`);
  const ext = g.root && g.root.external_refs;
  if (!(g.root.name === 'audit' && g.root.type === 'list' && ext >= 1 && g.path.length === 2 &&
        g.path[0].type === 'list' && g.path[0].edge === '[i]' && g.path[1].type === type)) {
    throw new Error(`the first group of ${type} is not the audit list: ${JSON.stringify(g)}`);
  }
  const want = `audit (list, ${ext} external ref${ext === 1 ? '' : 's'}) -[i]-> ${type}`;
  const first = page.locator('#why-paths tbody tr').first();
  const shown = await first.locator('td.path').textContent();
  if (shown !== want) throw new Error(`the first path reads "${shown}", expected "${want}"`);
  const cells = await first.locator('td.num').allTextContents();
  if (cells[0] !== g.count.toLocaleString('en-US')) throw new Error(`the first group shows ${cells[0]} objects, the API ${g.count}`);
  if ((await page.locator('#why-paths tbody tr').count()) !== doc.paths.length) {
    throw new Error('the page shows another number of groups than the API');
  }
  // The download link: the snapshot itself, as an attachment, a V8 heap snapshot whose node count is the API's.
  const href = await page.getAttribute('#why a.download', 'href');
  const dl = await fetch(base + href);
  if (dl.status !== 200 || !/attachment/.test(dl.headers.get('content-disposition') || '')) {
    throw new Error(`the download link ${href} answered ${dl.status}, ${dl.headers.get('content-disposition')}`);
  }
  const hs = await dl.json();
  const fields = hs.snapshot.meta.node_fields.length;
  if (hs.nodes.length !== hs.snapshot.node_count * fields || hs.strings[0] !== '<dummy>') {
    throw new Error('the download is not a well-formed .heapsnapshot');
  }
  const nameAt = hs.snapshot.meta.node_fields.indexOf('name');
  let audits = 0;
  for (let i = 0; i < hs.nodes.length; i += fields) audits += hs.strings[hs.nodes[i + nameAt]] === type;
  if (audits !== doc.objects) throw new Error(`the download has ${audits} ${type} nodes, the API counts ${doc.objects}`);
  log(`why alive: "${shown}" for ${g.count} of ${doc.objects} ${type} objects; snapshot #${snap.id} downloads`);
  await page.locator('#why').screenshot({ path: path.join(args.out, 'dashboard-why.png') });
}

// Clicks "Find pinned pools" and waits for what the page shows of the answer: the answer, or an error status.
async function findPinned(page, appId) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().includes(`/api/v1/apps/${appId}/pools/pinning?`), { timeout: 15000 }),
    page.getByRole('button', { name: 'Find pinned pools' }).click(),
  ]);
  // The box says "walking…" (status ok) until the answer: then it holds the number of pinned pools, or an error.
  const status = await waitFor('the pinned pools (or an error) on the page', async () => {
    const st = await page.getAttribute('#pinning-result', 'data-status');
    if (st && st !== 'ok') return st;
    return (await page.getAttribute('#pinning-result', 'data-pinned-pools')) != null && st;
  }, 15000);
  return { resp, status };
}

// The rows of one of the pinned pools' tables as the page shows them, each a list of cell texts ([] when absent).
const pinnedRows = (page, id) => page.$$eval(`#${id} tbody tr`, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));

// Pinned pools (issue 16) of the demo: nothing asked the app to walk its pools before the click (the walk pauses
// it: only a click may ask). The demo allocates and frees a lot, so whether pools are pinned varies: the page must
// show the API's answer whatever it is, without an error.
async function pinnedPools(page, appId, pinningRequests) {
  if (pinningRequests.length) throw new Error(`the page asked for the pinned pools unasked: ${pinningRequests}`);
  const { resp, status } = await findPinned(page, appId);
  if (resp.status() !== 200) throw new Error(`GET pools/pinning answered ${resp.status()}: ${await resp.text()}`);
  if (!/[?&]max_utilization=0\.25(&|$)/.test(resp.url())) throw new Error(`the default threshold is not 25 %: ${resp.url()}`);
  const r = await resp.json();
  if (status !== 'ok') throw new Error('the page shows an error: ' + (await page.textContent('#pinning-result')));
  if ((await page.getAttribute('#pinning-result', 'data-pinned-pools')) !== String(r.pinned_pools)) {
    throw new Error(`the page holds another answer than the API's ${r.pinned_pools} pinned pools`);
  }
  const head = await page.textContent('#pinning-result .big');
  const n = r.pinned_pools.toLocaleString('en-US');
  if (!head.startsWith(`${n} pinned pool`)) throw new Error(`the summary reads "${head}", expected ${n} pinned pools`);
  if (r.pinned_pools && !head.includes('wasted')) throw new Error(`the summary "${head}" does not say what is wasted`);
  if (!r.tracing) throw new Error('the app traces (step 6), the answer says it does not');
  const sites = await pinnedRows(page, 'pinning-sites');
  if (sites.length !== r.sites.length) throw new Error(`the page shows ${sites.length} sites, the API ${r.sites.length}`);
  sites.forEach((cells, i) => {
    if (!cells[0] || cells[0] !== r.sites[i].site) throw new Error(`site row ${i} reads "${cells[0]}", the API "${r.sites[i].site}"`);
  });
  const classes = await pinnedRows(page, 'pinning-classes');
  if (classes.length !== r.classes.length || classes.some((c, i) => c[0] !== `${r.classes[i].size} B`)) {
    throw new Error(`the size classes shown ${JSON.stringify(classes)} are not the API's ${JSON.stringify(r.classes)}`);
  }
  log(`pinned pools: ${n} (${r.sites.length} sites, ${r.classes.length} classes, ${r.types.length} types), ` +
      `the app walked ${r.pools_walked} pools in ${r.walk_ms} ms`);
  await page.locator('#pinning-panel').scrollIntoViewIfNeeded();
  await page.locator('#pinning-panel').screenshot({ path: path.join(args.out, 'dashboard-pinning.png') });
}

// Pinned pools of an agent written here, which answers its three pools.pinning requests in turn with a refusal,
// an answer with hostile site and type names, and an answer while it does not trace.
async function pinnedPoolsFake(page, sock, api, provoked) {
  const hostileSite = '<img src=x onerror="window.__pwned=1">evil.c:13';
  const hostileType = '<b onmouseover=alert(1)>Doc</b>';
  const answer = (tracing) => ({
    max_utilization: 0.25, pinned_pools: 3, pinned_arenas: 1, wasted_bytes: 300000, pool_wasted_bytes: 40000,
    arena_wasted_bytes: 260000, pinned_blocks: 5, tracing, untraced_blocks: tracing ? 0 : 5, untraced_wasted_bytes: 0,
    pools_walked: 9, objects_walked: 4, walk_ms: 0.05,
    sites: tracing ? [{ site: hostileSite, pools: 3, blocks: 5, wasted_bytes: 300000, oldest_age_s: 120 }] : [],
    classes: [{ size: 48, pinned_pools: 3, blocks: 5, wasted_bytes: 300000 }],
    types: [{ type: hostileType, pools: 1, blocks: 2, wasted_bytes: 120000 }],
  });
  const answers = [{ ok: false, error: 'pools are being reorganized' }, { ok: true, result: answer(true) },
                   { ok: true, result: answer(false) }];
  const asked = [];
  const agent = fakeAgent(sock, { pid: process.pid, app: 'pinapp', interval_ms: 300 }, (req) => {
    asked.push(req);
    return req.method === 'pools.pinning' && answers.length ? answers.shift() : { ok: false, error: 'unexpected' };
  });
  try {
    const info = await waitFor('the pinning app in /api/v1/apps', async () =>
      (await api('/api/v1/apps')).apps.find((a) => a.name === 'pinapp' && a.connected));
    await page.click(`#apps tbody tr[data-app-id="${info.id}"]`);
    await waitFor('the pinning app to be selected', async () => (await page.textContent('#app-title')) === 'pinapp');
    if (await page.isVisible('#pinning-result')) throw new Error('another app\'s pinned pools are still shown');

    provoked.push(/status of 502 .* at .*\/pools\/pinning\?/);
    const refused = await findPinned(page, info.id);
    if (refused.status !== '502' || !(await page.textContent('#pinning-result')).includes('pools are being reorganized')) {
      throw new Error(`the refusal shows as ${refused.status}: ${await page.textContent('#pinning-result')}`);
    }
    const shown = await findPinned(page, info.id);
    if (shown.status !== 'ok') throw new Error('the page shows an error: ' + (await page.textContent('#pinning-result')));
    const [site] = await pinnedRows(page, 'pinning-sites');
    const [type] = await pinnedRows(page, 'pinning-types');
    if (!site || site[0] !== hostileSite || !type || type[0] !== hostileType) {
      throw new Error(`the hostile names read ${JSON.stringify([site, type])}`);
    }
    const markup = await page.$$eval('#pinning-result img, #pinning-result b', (e) => e.length);
    if (markup || (await page.evaluate(() => window.__pwned))) throw new Error('a site name became markup');
    if (await page.isVisible('#pinning-hint')) throw new Error('the page says sites need tracing while the app traces');
    const untraced = await findPinned(page, info.id);
    if (untraced.status !== 'ok' || (await pinnedRows(page, 'pinning-sites')).length) {
      throw new Error('the answer without tracing is not shown without sites');
    }
    if (!/tracing/.test(await page.textContent('#pinning-hint'))) throw new Error('no hint that sites need tracing');
    const params = asked.map((q) => q.params);
    if (asked.length !== 3 || params.some((p) => p.max_utilization !== 0.25 || p.limit !== 20)) {
      throw new Error(`the agent was asked ${JSON.stringify(asked)}`);
    }
    log('pinned pools of a fake agent: its 502 is shown, hostile names as text, the tracing hint');
  } finally {
    agent.close();
  }
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  for (const s of agents) s.destroy();
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  await Promise.all(children.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 3000))])));
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function main() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const sock = path.join(tmp, 'memscoped.sock');
  const daemon = start(args.memscoped, ['--socket', sock, '--http', `127.0.0.1:${port}`,
                                        '--data-dir', path.join(tmp, 'data'), '--gc-rate', '0']);
  const token = await waitFor('the dashboard URL on memscoped\'s stdout',
                              () => (daemon.out.match(/\?token=([0-9a-f]+)/) || [])[1], 10000);
  log('memscoped up on', base);

  const api = async (p) => { const r = await fetch(base + p); if (!r.ok) throw new Error(`${p}: ${r.status}`); return r.json(); };
  // The daemon's own message for a request it must refuse with 400.
  const refusal = async (p, body) => {
    const r = await fetch(base + p, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body),
                                                                  headers: { Authorization: 'Bearer ' + token } });
    if (r.status !== 400) throw new Error(`${p} answered ${r.status}, expected 400`);
    return (await r.json()).error;
  };

  const app = start(args.app, ['--tick-ms', '20', '--gc', 'off', '--quiet'],
                    { MEMSCOPE_SOCKET: sock, MEMSCOPE_INTERVAL_MS: '300', MEMSCOPE_APP_NAME: 'docstore' });
  const appInfo = await waitFor('the demo in /api/v1/apps',
                                async () => (await api('/api/v1/apps')).apps.find((a) => a.pid === app.pid && a.connected));
  log('demo connected as app', appInfo.id, 'pid', app.pid);

  const userDataDir = fs.mkdtempSync(path.join(tmp, 'chromium-'));
  // A fresh profile directory: playwright passes it as --user-data-dir.
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: { width: 1500, height: 1900 },
  });
  const page = browser.pages()[0] || await browser.newPage();
  log('browser:', await page.evaluate(() => navigator.userAgent));
  const problems = [];
  // Errors the test itself provokes (a 400 asked for); chromium logs every failed request on the console.
  const provoked = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push('console: ' + m.text() + (m.location().url ? ' at ' + m.location().url : ''));
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  // Each GET of the pinned pools makes the app walk its pools: the page asks only when the button is clicked.
  const pinningRequests = [];
  page.on('request', (r) => { if (/\/pools\/pinning\?/.test(r.url())) pinningRequests.push(r.url()); });
  await page.goto(`${base}/?token=${token}`);

  // 3. The token moved to sessionStorage and out of the address bar.
  await waitFor('the token to leave the address bar', async () => !page.url().includes('token='), 5000);
  const stored = await page.evaluate(() => sessionStorage.getItem('memscope.token'));
  if (stored !== token) throw new Error('the token is not in sessionStorage');
  await waitFor('actions enabled', async () => (await page.textContent('#mode')) === 'actions enabled', 5000);
  await waitFor('the event stream', async () => (await page.textContent('#conn')) === 'live', 10000);

  // 4. The app, its chart and its types.
  const row = page.locator(`#apps tbody tr[data-app-id="${appInfo.id}"]`);
  await row.waitFor({ timeout: 10000 });
  await waitFor('the app row to say connected', async () => (await row.getAttribute('data-status')) === 'connected');
  await waitFor('the app to be selected', async () => (await page.textContent('#app-title')) === 'docstore');
  await waitFor('the heap chart to have data points',
                async () => Number(await page.getAttribute('#chart-heap', 'data-points')) >= 3, 15000);
  const canvases = await page.locator('#chart-heap canvas').count();
  if (!canvases) throw new Error('the heap chart has no canvas (uPlot did not load)');
  for (const t of ['Folder', 'Document', 'AuditEntry']) {
    await page.locator(`#types tbody tr[data-type="${t}"]`).waitFor({ timeout: 10000 });
  }
  log('app listed, chart has points, types listed');
  await page.screenshot({ path: path.join(args.out, 'dashboard-overview.png'), fullPage: true });

  // 5. Collect generation 2 and compare with the API.
  const before = await api(`/api/v1/apps/${appInfo.id}`);
  const gen2Before = before.gc.generations[2];
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/v1/apps/${appInfo.id}/gc`) && r.request().method() === 'POST',
                         { timeout: 15000 }),
    page.getByRole('button', { name: 'Collect (gen 2)' }).click(),
  ]);
  if (resp.status() !== 200) throw new Error(`POST gc answered ${resp.status()}: ${await resp.text()}`);
  const result = await resp.json();
  const shown = Number(await waitFor('the collection result on the page',
                                     async () => page.getAttribute('#gc-result', 'data-collected'), 10000));
  if (!(shown > 0)) throw new Error(`the page shows collected = ${shown}, expected > 0`);
  if (shown !== result.collected) throw new Error(`the page shows ${shown}, the API answered ${result.collected}`);
  const text = await page.textContent('#gc-result');
  if (!text.includes(result.collected.toLocaleString('en-US'))) throw new Error(`result text "${text}" lacks the count`);
  // The app's own stats must account for exactly this collection (--gc off: nothing else collects).
  const after = await waitFor('the next stats to count the collection', async () => {
    const d = await api(`/api/v1/apps/${appInfo.id}`);
    return d.gc.generations[2].collections > gen2Before.collections ? d : null;
  }, 10000);
  const delta = after.gc.generations[2].collected - gen2Before.collected;
  if (delta !== shown) throw new Error(`the API's gen-2 collected grew by ${delta}, the page showed ${shown}`);
  log(`collect gen 2: ${shown} collected, matches the API`);
  await page.locator('#gc-result').screenshot({ path: path.join(args.out, 'dashboard-collect.png') });

  // 5b. Cycle makers (issue 16): the collection's groups are in its result, row for row the API's; counting
  //     switched on from the page is on in the app, and its table fills from the next collection.
  if (!result.groups || !result.groups.length) throw new Error('POST gc answered no cycle groups: ' + JSON.stringify(result).slice(0, 300));
  const shownKeys = await page.$$eval('#gc-cycles tr', (rows) => rows.map((r) => r.cells[0].textContent));
  const apiKeys = result.groups.map((g) => (g.other ? '(other)' : g.key));
  if (shownKeys.join('|') !== apiKeys.join('|')) throw new Error(`cycle rows ${shownKeys} != the API's ${apiKeys}`);
  await page.getByRole('button', { name: 'Count cycle makers' }).click();
  await waitFor('the cycle makers panel to say counting', async () =>
    (await page.getAttribute('#cycles-panel', 'data-enabled')) === 'true', 10000);
  const on = await api(`/api/v1/apps/${appInfo.id}/gc/cycles`);
  if (on.enabled !== true) throw new Error('the page turned counting on, the app says ' + JSON.stringify(on).slice(0, 200));
  await page.getByRole('button', { name: 'Collect (gen 2)' }).click();
  const rowsNow = await waitFor('the cycle makers table to list the collection\'s cycles', async () => {
    const n = await page.$$eval('#cycles tbody tr', (rows) => rows.length);
    return n > 0 && !(await page.isHidden('#cycles')) ? n : null;
  }, 15000);
  await page.getByRole('button', { name: 'Stop counting' }).click();
  await waitFor('the cycle makers panel to say not counting', async () =>
    (await page.getAttribute('#cycles-panel', 'data-enabled')) === 'false', 10000);
  log(`cycle makers: ${shownKeys.length} groups in the collection's result, ${rowsNow} rows once counting`);

  // 6. Tracing and the top-N table. The fields take the protocol's ranges; memscoped judges what is sent, and
  //    its 400 (naming the range) is shown in the page.
  const proto = protocolNumbers(args.protocol);
  const fields = await page.evaluate(() => ['#nframes', '#top-limit'].map((sel) => {
    const e = document.querySelector(sel);
    return `${e.min}..${e.max} (${e.defaultValue})`;
  }));
  const wanted = [`1..${proto.MSC_TRACE_FRAMES_MAX} (1)`,
                  `0..${proto.MSC_TOP_LIMIT_MAX} (${proto.MSC_TOP_LIMIT_DEFAULT})`];
  if (fields.join() !== wanted.join()) throw new Error(`frames, rows fields take ${fields}, the protocol ${wanted}`);
  const tooMany = proto.MSC_TRACE_FRAMES_MAX + 1;
  await page.fill('#nframes', String(tooMany));
  await page.getByRole('button', { name: 'Start tracing' }).click();
  await waitFor('the 400 for too many frames',
                async () => (await page.getAttribute('#trace-result', 'data-status')) === '400', 10000);
  const startError = await refusal(`/api/v1/apps/${appInfo.id}/trace`, { action: 'start', nframes: tooMany });
  if (!(await page.textContent('#trace-result')).includes(startError)) {
    throw new Error(`the page does not show the daemon's message "${startError}"`);
  }
  provoked.push(/status of 400 .* at .*\/api\/v1\/apps\/\d+\/trace$/); // only the page's own request
  await page.fill('#nframes', '2');
  await page.getByRole('button', { name: 'Start tracing' }).click();
  await waitFor('tracing to start', async () => (await page.getAttribute('#trace-result', 'data-status')) === 'ok', 10000);
  const topRow = page.locator('#top tbody td.where', { hasText: /docstore\.c:\d+/ }).first();
  await waitFor('the top-N table to name docstore.c', async () => {
    if (!(await topRow.count())) await page.click('#top-refresh');
    return topRow.count();
  }, 20000, 1000);
  log('top-N names', await topRow.textContent());
  // 0 means every entry: it is sent as 0 (whether the agent then answers is its business: tests/cli checks it).
  await page.fill('#top-limit', '0');
  await Promise.all([page.waitForRequest((r) => /\/trace\/top\?key=\w+&limit=0$/.test(r.url()), { timeout: 10000 }),
                     page.click('#top-refresh')]);
  provoked.push(/ at .*\/trace\/top\?key=\w+&limit=0$/);
  const topError =
    await refusal(`/api/v1/apps/${appInfo.id}/trace/top?key=lineno&limit=${proto.MSC_TOP_LIMIT_MAX + 1}`);
  await page.fill('#top-limit', String(proto.MSC_TOP_LIMIT_MAX + 1));
  await waitFor('the 400 for too many rows', async () => {
    await page.click('#top-refresh');
    return (await page.getAttribute('#top-result', 'data-status')) === '400';
  }, 10000, 500);
  if (!(await page.textContent('#top-result')).includes(topError)) {
    throw new Error(`the page does not show the daemon's message "${topError}"`);
  }
  provoked.push(new RegExp(`status of 400 .* at .*/trace/top\\?key=\\w+&limit=${proto.MSC_TOP_LIMIT_MAX + 1}$`));
  await page.fill('#top-limit', String(proto.MSC_TOP_LIMIT_DEFAULT));
  await page.click('#top-refresh');
  log('frames and rows take the protocol\'s ranges; the daemon\'s 400 is shown');
  await page.locator('#top').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(args.out, 'dashboard-tracing.png'), fullPage: true });

  // Snapshots and their diff: two snapshots, then a diff table with growing lines.
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  await waitFor('snapshot 1', async () => (await page.locator('#snap-to option').count()) >= 1, 10000);
  await waitFor('the app to allocate more', async () => {
    const d = await api(`/api/v1/apps/${appInfo.id}`);
    return d.seq > after.seq + 2;
  }, 10000);
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  await waitFor('snapshot 2', async () => (await page.locator('#snap-to option').count()) >= 2, 10000);
  await page.click('#snap-diff');
  await page.locator('#diff tbody tr').first().waitFor({ timeout: 10000 });
  log('snapshot diff shown');

  // 6c. Pinned pools (issue 16), while the demo traces: its sites are named.
  await pinnedPools(page, appInfo.id, pinningRequests);

  // "Why alive?" for the demo's leak (issue 15): a heap snapshot, then AuditEntry's retainer paths. The first
  // path must read at a glance as the audit list the demo labels (examples/docstore.c), exactly as the daemon's
  // first group renders, and the snapshot must download as a .heapsnapshot.
  await whyAlive(page, appInfo.id, base, api);

  // 7. Stats too large for the event stream are only announced (`stats-skipped`): the page fetches the selected
  //    app's and shows its numbers as if the stream had carried them, and says the stream skipped them.
  const big = fakeAgent(sock, { pid: process.pid, app: 'bigdoc', interval_ms: 300 });
  let seq = 0;
  big.send(bigStats(++seq));
  const sender = setInterval(() => big.send(bigStats(++seq)), 300);
  try {
    const bigInfo = await waitFor('the big app in /api/v1/apps', async () =>
      (await api('/api/v1/apps')).apps.find((a) => a.name === 'bigdoc' && a.connected));
    const len = await waitFor('its stats in the API', async () => {
      const r = await fetch(`${base}/api/v1/apps/${bigInfo.id}`);
      return r.ok && (await r.text()).length;
    });
    if (len <= 512 * 1024) throw new Error(`the big document is only ${len} bytes: the stream would carry it`);
    await streamEvent(base, 'stats-skipped', (d) => d.id === bigInfo.id, 5000);
    await page.click(`#apps tbody tr[data-app-id="${bigInfo.id}"]`);
    await waitFor('the big app to be selected', async () => (await page.textContent('#app-title')) === 'bigdoc');
    await waitFor('its objects alive on the page',
                  async () => (await page.textContent('#cards')).includes('4,242,421'));
    await page.locator('#types tbody tr[data-type="HugeDocType"]').waitFor({ timeout: 10000 });
    if (!(await page.isVisible('#app-skipped')) || !/skipped/.test(await page.textContent('#app-skipped'))) {
      throw new Error('the page does not say that the stream skipped the stats');
    }
    log(`a ${len}-byte document, skipped by the stream, is shown`);
    await page.screenshot({ path: path.join(args.out, 'dashboard-skipped.png'), fullPage: false });
  } finally {
    clearInterval(sender);
    big.close();
  }
  // 7b. The pinned pools of an agent that answers them itself. No refresh since 6c (several seconds of samples,
  //     a few app switches) asked the demo to walk its pools again.
  if (pinningRequests.length !== 1) throw new Error(`the page asked for the pinned pools ${pinningRequests.length} times`);
  await pinnedPoolsFake(page, sock, api, provoked);
  await page.click(`#apps tbody tr[data-app-id="${appInfo.id}"]`);
  await waitFor('the demo to be selected again', async () => (await page.textContent('#app-title')) === 'docstore');

  // 8. Kill the app: the row turns disconnected.
  const killedAt = Date.now();
  app.kill('SIGKILL');
  await waitFor('the app row to say disconnected',
                async () => (await row.getAttribute('data-status')) === 'disconnected', 10000, 20);
  // Pushed, not polled: on screen within one interval (300 ms) plus 500 ms; a little slack for a busy machine.
  const latency = Date.now() - killedAt;
  if (latency > 1500) throw new Error(`the disconnect took ${latency} ms to reach the page`);
  await waitFor('the detail to say disconnected', async () => (await page.textContent('#app-status')) === 'disconnected');
  log(`disconnect shown after ${latency} ms`);
  await page.screenshot({ path: path.join(args.out, 'dashboard-disconnected.png'), fullPage: true });

  // An action on a disconnected app: the 409 is shown in the page.
  // (Buttons are disabled for a disconnected app, so call through the page's own fetch path instead.)
  const seen = problems.length;
  const status409 = await page.evaluate(async (id) => {
    const r = await fetch(`/api/v1/apps/${id}/gc`, { method: 'POST', headers: { Authorization: 'Bearer ' + sessionStorage.getItem('memscope.token') }, body: '{}' });
    return r.status;
  }, appInfo.id);
  if (status409 !== 409) throw new Error(`POST gc on a disconnected app answered ${status409}, expected 409`);
  await waitFor('chromium to log the expected 409', async () => problems.length > seen, 2000).catch(() => {});
  problems.splice(seen); // the browser logs every 4xx as a console error: this one was asked for

  // 9. Without the token: read-only, and it says so (sessionStorage is per tab: a new tab has no token).
  const rp = await browser.newPage();
  await rp.goto(`${base}/`);
  await waitFor('read-only mode', async () => (await rp.textContent('#mode')) === 'read-only', 10000);
  if (!(await rp.isVisible('#notice')) || !/Read-only/.test(await rp.textContent('#notice'))) {
    throw new Error('the read-only page does not say so');
  }
  await rp.locator(`#apps tbody tr[data-app-id="${appInfo.id}"]`).waitFor({ timeout: 10000 });
  if (!(await rp.getByRole('button', { name: 'Collect (gen 2)' }).isDisabled())) {
    throw new Error('Collect is enabled without a token');
  }
  const rowWhy = rp.locator('#types tbody tr button.why').first();
  await rowWhy.waitFor({ timeout: 10000 });
  if (!(await rowWhy.isDisabled())) throw new Error('"Why alive?" is enabled without a token');
  log('read-only mode shown');
  await rp.close();

  // 10. The daemon restarts on the same port: the page reconnects by itself and shows the new daemon's apps.
  daemon.kill('SIGTERM');
  const ex = await daemon.exited;
  if (ex.code !== 0) throw new Error(`memscoped exited with ${ex.code ?? ex.sig} on SIGTERM`);
  await waitFor('the page to notice the daemon is gone', async () => (await page.textContent('#conn')) !== 'live', 10000);
  const daemon2 = start(args.memscoped, ['--socket', sock, '--http', `127.0.0.1:${port}`,
                                         '--data-dir', path.join(tmp, 'data')]);
  await waitFor('the restarted memscoped', () => /token=/.test(daemon2.out), 10000);
  const app2 = start(args.app, ['--tick-ms', '20', '--quiet'], { MEMSCOPE_SOCKET: sock, MEMSCOPE_INTERVAL_MS: '300' });
  await waitFor('the page to reconnect', async () => (await page.textContent('#conn')) === 'live', 15000);
  await waitFor('the new app in the page', async () => {
    const r = page.locator('#apps tbody tr[data-status="connected"]');
    return (await r.count()) === 1 && (await r.first().textContent()).includes(`pid ${app2.pid}`);
  }, 15000);
  log('reconnected after a daemon restart');
  // The new daemon has a new token: an action now fails with 401, and the page says why.
  await waitFor('the new app to be selected', async () => (await page.textContent('#app-meta')).includes(`pid ${app2.pid}`));
  await page.getByRole('button', { name: 'Collect (gen 2)' }).click();
  await waitFor('the 401 in the result box', async () => (await page.getAttribute('#gc-result', 'data-status')) === '401');
  if (!/HTTP 401/.test(await page.textContent('#gc-result'))) throw new Error('the 401 is not shown in the page');
  if (!/token was rejected/.test(await page.textContent('#notice'))) throw new Error('no notice about the token');
  problems.splice(0).filter((p) => !/401/.test(p)).forEach((p) => problems.push(p));
  log('401 shown');
  await page.screenshot({ path: path.join(args.out, 'dashboard-401.png'), fullPage: false });

  // The headers that keep the page safe.
  const index = await fetch(base + '/');
  if (index.status !== 200) throw new Error(`GET / answered ${index.status}`);
  const csp = index.headers.get('content-security-policy') || '';
  if (!csp.includes("script-src 'self'") || csp.includes('unsafe-inline')) throw new Error(`weak CSP: ${csp}`);
  if (!/text\/html/.test(index.headers.get('content-type'))) throw new Error('index.html has the wrong type');

  const bad = problems.filter((p) => !/favicon/.test(p) && !provoked.some((re) => re.test(p)));
  if (bad.length) throw new Error('browser errors:\n  ' + bad.join('\n  '));
}

let failed = false;
try {
  await main();
  log('PASS');
} catch (e) {
  failed = true;
  console.error('FAIL:', e.message);
  for (const p of children) console.error(`--- output of pid ${p.pid} ---\n${p.out.slice(-3000)}`);
  if (browser) {
    try {
      const pages = browser.pages();
      if (pages[0]) await pages[0].screenshot({ path: path.join(args.out, 'dashboard-failure.png'), fullPage: true });
    } catch { /* best effort */ }
  }
}
await cleanup();
// A sanitizer build of memscoped reports at exit (both daemons were stopped with SIGTERM): that is a failure too.
for (const p of children) {
  if (/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(p.out)) {
    failed = true;
    console.error(`FAIL: sanitizer report from pid ${p.pid}:\n${p.out.slice(-4000)}`);
  }
}
console.log(failed ? 'dashboard: 0 passed, 1 failed' : 'dashboard: 1 passed, 0 failed');
process.exit(failed ? 1 : 0);

#!/bin/sh
# bench/heapsnapshot/run.sh — what a heap snapshot costs, with memlab measured on the same files in the same run
# (bench/README.md, section "heapsnapshot"; goals from issue 15):
#   1. the app's pause to walk its heap (pause_bench, a libmemscope heap; goal: under 100 ms per million objects),
#      on the docstore shape and on plain two-field objects, and the snapshot's size on the wire and on disk;
#   2. the daemon's analysis (analysis_bench: dominators, retained sizes, retainer paths and the two documents the
#      API serves; goal: under 1 s per million objects), on generated docstore heaps that it also writes as
#      .heapsnapshot files;
#   3. memlab's own parser and analysis (memlab_time.mjs) of those very files, and the ratio: memlab / ours.
#
# usage: bench/heapsnapshot/run.sh [BUILD_DIR] [--sizes N,N,...] [--rounds N] [--quick]
#   BUILD_DIR     a meson build directory of this project (default: build); release builds give the real numbers:
#                 meson setup build-bench --buildtype=release && meson compile -C build-bench
#   --sizes LIST  objects per heap (default 100000,1000000,3000000)
#   --rounds N    rounds of each measurement (default 6 for the pause, 3 for the analyses)
#   --quick       sizes 100000,300000 and 2 rounds: a smoke run, not numbers to quote
# memlab comes from tests/heapsnapshot/node_modules (npm ci there; tools/install-deps.sh does it). Needs ~6 GB of
# memory at 3M objects (memlab's parser holds the whole file).
set -eu

build=build
sizes=100000,1000000,3000000
rounds=
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --quick) sizes=100000,300000; rounds=2; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) build=$1; shift ;;
    esac
done

here=$(dirname "$0")
bindir=$build/bench/heapsnapshot
for b in pause_bench analysis_bench; do
    if [ ! -x "$bindir/$b" ]; then
        echo "run.sh: $bindir/$b not found; build first:" >&2
        echo "  meson setup $build --buildtype=release && meson compile -C $build" >&2
        exit 1
    fi
done
modules=$(cd "$here/../../tests/heapsnapshot" && pwd)
if [ ! -d "$modules/node_modules/@memlab/core" ]; then
    echo "run.sh: memlab is not installed in $modules (run tools/install-deps.sh, or npm ci there)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "load: $(cut -d' ' -f1-3 /proc/loadavg); build: $build"
echo
"$bindir/pause_bench" --sizes "$sizes" --rounds "${rounds:-6}"
echo
"$bindir/pause_bench" --sizes "$sizes" --rounds "${rounds:-6}" --shape nodes
echo
echo "the daemon's analysis (msd_heap_analyse + the types and retainers documents), generated docstore heaps:"
"$bindir/analysis_bench" --sizes "$sizes" --rounds "${rounds:-3}" --write "$work/doc" 2>/dev/null | tee "$work/ours"
echo
files=
for n in $(echo "$sizes" | tr ',' ' '); do files="$files $work/doc-$n.heapsnapshot"; done
# shellcheck disable=SC2086 # one argument per file
node --max-old-space-size=16384 "$here/memlab_time.mjs" --modules "$modules" --rounds "${rounds:-3}" $files \
    >"$work/memlab"
echo "memlab $(node -p "require('$modules/node_modules/memlab/package.json').version") on the same files (best of ${rounds:-3}):"
awk -v work="$work/doc-" '
    FNR == NR && $4 == "|" && $1 ~ /^[0-9]+$/ {
        a = $5; t = $6; r = $7; gsub("ms", "", a); gsub("ms", "", t); gsub("ms", "", r)
        ours[$2] = a + t + r; next
    }
    FNR != NR { nodes = $2; parse[nodes] = $3; anal[nodes] = $4; order[++n] = nodes }
    END {
        printf "%10s | %12s %12s | %10s | %s\n", "nodes", "memlab parse", "memlab anal.", "ours", "memlab analysis / ours"
        for (i = 1; i <= n; i++) {
            k = order[i]
            if (!(k in ours)) { printf "%10s | no analysis_bench line for it\n", k; bad = 1; continue }
            printf "%10s | %10.0fms %10.0fms | %8.1fms | %.1fx\n", k, parse[k], anal[k], ours[k], anal[k] / ours[k]
        }
        exit bad
    }' "$work/ours" "$work/memlab"
echo "(memlab anal.: analysis.preparePathFinder, its shortest paths, dominators and retained sizes, after its parse;"
echo " ours: msd_heap_analyse + the types + the retainers documents of one type, on the graph in memory)"

#!/bin/sh
# bench/pinning/run.sh — the pool pinning walk (ms_pool_pinning, issue 16) on heaps of N blocks, and, in the same
# run, the walk CPython has over its pools: sys._debugmallocstats() on N small objects of which every 200th is
# kept (its output, a table per size class, goes to /dev/null). bench/README.md, section "pinning".
#
# usage: bench/pinning/run.sh [BUILD_DIR] [--blocks N] [--rounds R]
#   BUILD_DIR   a meson build directory (default: build); release numbers: meson setup build-rel --buildtype=release
set -eu
build=build
blocks=1000000
rounds=7
while [ $# -gt 0 ]; do
    case "$1" in
        --blocks) blocks=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) build=$1; shift ;;
    esac
done
bin=$build/bench/pinning/bench-pinning
if [ ! -x "$bin" ]; then
    echo "run.sh: $bin not found; build first: meson compile -C $build" >&2
    exit 1
fi
echo "== memscope: ms_pool_pinning (CPU ms, median of $rounds) =="
"$bin" --blocks "$blocks" --rounds "$rounds"
echo
echo "== CPython $(python3 -c 'import sys; print(sys.version.split()[0])'): sys._debugmallocstats() on the same shape =="
python3 - "$blocks" "$rounds" <<'PY'
import os, statistics, sys, time
n, rounds = int(sys.argv[1]), int(sys.argv[2])
objs = [bytearray(8) for _ in range(n)]  # 64-byte objects (pymalloc class 64)
kept = objs[::200]
del objs
null = os.open(os.devnull, os.O_WRONLY)
saved = os.dup(2)
times = []
for _ in range(rounds):
    os.dup2(null, 2)
    t0 = time.thread_time_ns()
    sys._debugmallocstats()
    t1 = time.thread_time_ns()
    os.dup2(saved, 2)
    times.append(t1 - t0)
w = statistics.median(times)
print(f"{'pinned':8} {n:9} {len(kept):9} debugmallocstats_ms {w / 1e6:.2f}  ms_per_M {w / 1e6 / (n / 1e6):.2f}")
PY

#!/bin/sh
# bench/trace/run.sh — the cost of allocation tracing, memscope against CPython's tracemalloc, in one run.
#
# usage: bench/trace/run.sh [BUILD_DIR] [--reps N] [--n N] [--quick]
#   BUILD_DIR   a meson build directory of this project (default: build); quote numbers from a release build:
#               meson setup build-bench --buildtype=release && meson compile -C build-bench
#   --reps N    repetitions (default 15); every figure is the minimum over them, modes interleaved.
#   --n N       list length (default 100000, the seed's example).
#   --quick     3 repetitions, and 1/10 of the churn: a smoke run, not numbers to quote.
#
# What runs (details in bench/README.md, section "trace"):
#   bench-trace       the list workload with tracing off, ms_trace_start(1), ms_trace_start(16); and the churn
#                     workload through ms_malloc/ms_free (tracing off) and through the same fast paths with the
#                     hook check left out (bench/trace/nohook.c).
#   trace_bench.py    the same list workload in CPython (/usr/bin/python3, or $PYTHON) with tracemalloc off,
#                     start(1), start(16).
# Slowdown = time with tracing / time with tracing off, each side against its own "off". Times are the thread's
# CPU time (CLOCK_THREAD_CPUTIME_ID, time.thread_time()), so that preemption on a shared machine does not count.
set -eu

build=build
args=
while [ $# -gt 0 ]; do
    case "$1" in
        --reps|--n) args="$args $1 $2"; shift 2 ;;
        --quick) args="$args --quick"; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) build=$1; shift ;;
    esac
done

here=$(dirname "$0")
bin=$build/bench/trace/bench-trace
python=${PYTHON:-/usr/bin/python3}
[ -x "$bin" ] || { echo "run.sh: $bin not built (meson compile -C $build)" >&2; exit 1; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2086
"$bin" $args >"$out"
# shellcheck disable=SC2086
"$python" "$here/trace_bench.py" $args >>"$out"
"$python" - "$out" "$python" <<'PY'
import platform, subprocess, sys
kv = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    kv[k] = float(v)
pyver = subprocess.run([sys.argv[2], "-c", "import platform; print(platform.python_version())"],
                       capture_output=True, text=True).stdout.strip()
ms = lambda s: "%8.2f ms" % (s * 1e3)
off, poff = kv["list_off"], kv["py_list_off"]
print("list of %d ints built and dropped, minimum of %d repetitions" % (kv["n"], kv["reps"]))
print("%-22s %-22s %-22s" % ("", "memscope", "CPython %s tracemalloc" % pyver))
for label, k in (("tracing off", "off"), ("start(1)", "t1"), ("start(16)", "t16")):
    a, b = kv["list_" + k], kv["py_list_" + k]
    print("%-22s %s %6.2fx   %s %6.2fx" % (label, ms(a), a / off, ms(b), b / poff))
for label, k in (("start(1)", "t1"), ("start(16)", "t16")):
    print("added time per list element, %-9s %8.0f ns   %8.0f ns"
          % (label + ":", (kv["list_" + k] - off) / kv["n"] * 1e9, (kv["py_list_" + k] - poff) / kv["n"] * 1e9))
ours, theirs = kv["list_t1"] / off, kv["py_list_t1"] / poff
print("target start(1): memscope slowdown %.2fx < half of CPython's (%.2fx): %s"
      % (ours, theirs / 2, "met" if ours < theirs / 2 else "NOT met"))
for k, label in (("t1", "start(1)"), ("t16", "start(16)")):
    print("tracer's own memory with the list alive, %-9s %8.0f KiB   %8.0f KiB"
          % (label + ":", kv["tracer_bytes_" + k] / 1024, kv["py_tracer_bytes_" + k] / 1024))
c, nh = kv["churn_ms"], kv["churn_nohook"]
ops = kv["churn_ops"]
print("tracing off vs no hook check (churn, %d free+malloc pairs): %s vs %s = %+.1f%% (%.2f vs %.2f ns/pair; target 2%%)"
      % (ops, ms(c), ms(nh), (c / nh - 1) * 100, c / ops * 1e9, nh / ops * 1e9))
PY

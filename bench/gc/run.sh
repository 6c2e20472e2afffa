#!/bin/sh
# bench/gc/run.sh — a full cycle collection in memscope against gc.collect() in CPython, on the same graphs, in
# one run; prints one table (bench/README.md, section "gc").
#
# usage: bench/gc/run.sh [BUILD_DIR] [--reps N] [--sizes N,N,...] [--quick] [--python PATH] [--cycles]
#   BUILD_DIR      a meson build directory of this project (default: build); release builds give the real numbers:
#                  meson setup build-bench --buildtype=release && meson compile -C build-bench
#   --reps N       runs per (graph, N); each side reports its best (default 3)
#   --sizes LIST   ring sizes (default 100000,1000000,3000000)
#   --quick        sizes 100000,300000 and 1 rep: a smoke run, not numbers to quote
#   --python PATH  the CPython to compare with (default /usr/bin/python3, Debian's 3.11)
#   --cycles       instead: what the cycle makers' grouping (memscope/gc.h) costs a garbage collection, with and
#                  without tracing, on the node ring (one big cycle) and on pairs (N/2 two-node cycles)
#
# Graphs: N container objects in a doubly linked ring. "reachable": the ring hangs off a local variable and every
# object survives; "garbage": its last outside reference was dropped, the collection finds, clears and frees all N.
# Columns: CPU ns per object of one full collection (lower is better), and speedup = CPython / memscope (above 1:
# memscope is faster). memscope's `node` (a two-field C struct type) is compared with both a __slots__ class and a
# plain class (the seed's Node); `list` (two-item lists) with two-item lists. The last line times one
# incref + decref pair: ms_incref/ms_decref against CPython's own Py_INCREF/Py_DECREF (bench-gc-py-refcount,
# built when the python3.11 headers are installed).
# Target (issue 3): speedup >= 3 for every row, in both columns.
set -eu

build=build
reps=3
sizes=100000,1000000,3000000
python=/usr/bin/python3

while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=$2; shift 2 ;;
        --sizes) sizes=$2; shift 2 ;;
        --quick) sizes=100000,300000; reps=1; shift ;;
        --python) python=$2; shift 2 ;;
        --cycles) cycles=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) build=$1; shift ;;
    esac
done

here=$(dirname "$0")
cycles=${cycles:-0}
bindir=$build/bench/gc
if [ ! -x "$bindir/bench-gc-ring" ]; then
    echo "run.sh: $bindir/bench-gc-ring not found; build first:" >&2
    echo "  meson setup $build --buildtype=release && meson compile -C $build" >&2
    exit 1
fi

if [ "$cycles" = 1 ]; then
    # The four configurations take turns in one process (gc_ring.c's measure_grouping): run to run, a VM drifts
    # more than the grouping costs.
    echo "cycle makers: CPU ns per object of a full collection of garbage, best of $reps rounds; grouping off vs on"
    printf '%-6s %9s | %9s %9s %7s | %9s %9s %7s\n' kind N off on "on/off" "traced" "+group" "ratio"
    "$bindir/bench-gc-ring" --grouping-ab --kinds node,pairs --sizes "$sizes" --reps "$reps" --no-refcount |
        awk '$1 == "ab" { printf "%-6s %9d | %9.1f %9.1f %6.2fx | %9.1f %9.1f %6.2fx\n", $2, $3, $4, $5, $5 / $4, $6, $7, $7 / $6 }'
    echo
    echo "cycle makers: weakly connected components (the grouping's cycles) against strongly connected ones"
    "$bindir/bench-gc-cycles-error" --n "$(echo "$sizes" | cut -d, -f1)"
    exit 0
fi

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
# One side after the other (never both at once: they would compete for the caches and the memory bus), and each
# kind in a fresh process on both sides: otherwise a kind inherits the heap the previous kinds left behind (after
# the 3M-node rings, memscope's lists ran 2-3x slower on memory the allocator had unmapped and mapped again, and
# CPython's numbers moved too), which measures the order of the rows rather than the collector.
for kind in slots class list; do
    "$python" "$here/gc_ring.py" --kinds "$kind" --sizes "$sizes" --reps "$reps" >>"$raw"
done
for kind in node list; do
    "$bindir/bench-gc-ring" --kinds "$kind" --sizes "$sizes" --reps "$reps" --no-refcount >>"$raw"
done
"$bindir/bench-gc-ring" --kinds none --sizes 1 --reps "$reps" >>"$raw"
if [ -x "$bindir/bench-gc-py-refcount" ]; then
    "$bindir/bench-gc-py-refcount" >>"$raw"
fi

echo "GC benchmark: one full collection of an N-object doubly linked ring; CPU ns per object, best of $reps (x 1M/N for N < 1M)"
echo "CPython: $("$python" -c 'import sys; print(sys.version.split()[0])') ($python); memscope: $build; load: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
    $1 == "py" && $2 != "refcount" { pr[$2 " " $3] = $4; pu[$2 " " $3] = $5 }
    $1 == "c" && $2 != "refcount" { cr[$2 " " $3] = $4; cu[$2 " " $3] = $5; if (!(($2) in seen)) { seen[$2] = 1 } ; ns[$3] = 1; order[++nn] = $2 " " $3 }
    $1 == "c" && $2 == "refcount" { crc = $3 }
    $1 == "py" && $2 == "refcount" { prc = $3 }
    END {
        printf "%-22s %9s | %9s %9s %8s | %9s %9s %8s\n", "memscope vs CPython", "N", "reach:py", "ms", "speedup", "garb:py", "ms", "speedup"
        split("node:slots node:class list:list", pairs, " ")
        miss = 0
        for (p = 1; p <= 3; p++) {
            split(pairs[p], kv, ":")
            for (i = 1; i <= nn; i++) {
                split(order[i], key, " ")
                if (key[1] != kv[1]) continue
                ck = kv[1] " " key[2]; pk = kv[2] " " key[2]
                if (!(pk in pr)) continue
                sr = pr[pk] / cr[ck]; su = pu[pk] / cu[ck]
                flag = (sr >= 3 && su >= 3) ? "" : "  < 3x"
                if (flag != "") miss++
                printf "%-22s %9d | %9.1f %9.1f %7.2fx | %9.1f %9.1f %7.2fx%s\n", kv[1] " vs " kv[2], key[2], pr[pk], cr[ck], sr, pu[pk], cu[ck], su, flag
            }
        }
        if (crc != "") {
            if (prc != "")
                printf "incref+decref pair: CPython Py_INCREF/Py_DECREF %.2f ns, memscope %.2f ns (%.2fx)\n", prc, crc, prc / crc
            else
                printf "incref+decref pair: memscope %.2f ns (CPython not measured: bench-gc-py-refcount not built)\n", crc
        }
        printf "target: speedup >= 3x in both columns: %s\n", miss ? miss " row(s) MISS" : "PASS"
    }' "$raw"

#!/bin/sh
# bench/alloc/run.sh — run the allocator benchmark for every allocator that was built and print one table.
#
# usage: bench/alloc/run.sh [BUILD_DIR] [--rounds N] [--reps N] [--quick] [--raw FILE]
#   BUILD_DIR   a meson build directory of this project (default: build); release builds give the real numbers:
#               meson setup build-bench --buildtype=release && meson compile -C build-bench
#   --rounds N  rounds (default 7). A round runs every (workload, allocator) pair once, each in a fresh process,
#               allocators interleaved, so that a burst of load on a shared machine hits one round, not one
#               allocator. The table shows the median over the rounds. On this project's 2-CPU VM one process's
#               b figure moves by +-15% from run to run (mimalloc's more than ours); the median of 3 rounds still
#               moved the b ratio between 0.96 and 1.11 over five runs, hence 7.
#   --reps N    repetitions inside each process (default 5); the process reports their median.
#   --quick     1/10 of the operations, 1 round, 3 reps: a smoke run, not numbers to quote.
#   --raw FILE  also keep the raw key=value lines of every process in FILE.
#
# Columns: ns/op (one malloc + one free; lower is better; median of the repetitions), t/ms = that allocator's
# time / ms_malloc's time (above 1: ms_malloc is faster), 1st rep = the cold first repetition alone (every
# allocator starts from fresh pages; the later ones show the cost of its keep-or-return-memory policy), peak =
# peak RSS of the whole process (VmHWM), heap = peak RSS minus the RSS before the first timed repetition (what the
# allocator added on top of the program and the precomputed workload), h/ms = that allocator's heap / ms's heap.
# Each binary checks that it runs the allocator it names (see bench/alloc/shim.h).
set -eu

build=build
rounds=7
reps=5
quick=0
raw=

while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --raw) raw=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) build=$1; shift ;;
    esac
done

bindir=$build/bench/alloc
if [ ! -x "$bindir/bench-alloc-ms" ]; then
    echo "run.sh: $bindir/bench-alloc-ms not found; build first:" >&2
    echo "  meson setup $build --buildtype=release && meson compile -C $build" >&2
    exit 1
fi

allocs=
for a in ms glibc jemalloc mimalloc tcmalloc; do
    if [ -x "$bindir/bench-alloc-$a" ]; then
        allocs="$allocs $a"
    else
        echo "run.sh: bench-alloc-$a was not built (library missing at configure time); skipping it" >&2
    fi
done

n_a=
n_bc=
if [ "$quick" = 1 ]; then
    rounds=1
    reps=3
    n_a="-n 1000000"
    n_bc="-n 100000"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT

buildtype=$(grep -o '"name": "buildtype", "value": "[a-z]*"' "$build/meson-info/intro-buildoptions.json" 2>/dev/null |
    sed 's/.*"value": "//; s/"$//' || true)

echo "memscope allocator benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), Linux $(uname -r)"
echo "build:   $build (buildtype ${buildtype:-unknown}), $rounds round(s) x $reps reps, median"
echo "load before: $(uptime | sed 's/.*load average/load average/')"

r=1
while [ "$r" -le "$rounds" ]; do
    for w in a b c; do
        if [ "$w" = a ]; then n=$n_a; else n=$n_bc; fi
        for a in $allocs; do
            # shellcheck disable=SC2086 # $n is either empty or "-n N"
            if ! "$bindir/bench-alloc-$a" -w "$w" -r "$reps" $n >>"$out"; then
                echo "run.sh: bench-alloc-$a -w $w failed" >&2
                exit 1
            fi
        done
    done
    r=$((r + 1))
done

echo "load after:  $(uptime | sed 's/.*load average/load average/')"
# A 1-minute load above half the CPUs means other work shared the cores during the run.
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
    echo "WARNING: the machine was busy (load $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs): re-run when it is quiet"
fi
[ -z "$raw" ] || cp "$out" "$raw"
echo

awk -v order="$allocs" '
function median(key,    n, i, j, t, v) {
    n = cnt[key]
    for (i = 1; i <= n; i++) v[i] = vals[key, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function add(key, x) { vals[key, ++cnt[key]] = x }
{
    delete f
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
    a = f["alloc"]; w = f["workload"]
    version[a] = f["version"]; ops[w] = f["ops"]
    add(a SUBSEP w SUBSEP "ns", f["ns_per_op"])
    add(a SUBSEP w SUBSEP "peak", f["peak_rss_kib"])
    add(a SUBSEP w SUBSEP "heap", f["heap_kib"])
    add(a SUBSEP w SUBSEP "first", f["first"])
}
END {
    title["a"] = "a) churn: 1,000-block working set, free a random slot + malloc 8..255 B"
    title["b"] = "b) batch: malloc 16..255 B, then free all in random order"
    title["c"] = "c) batch: malloc 16..255 B, then free all in allocation order"
    na = split(order, al, " ")
    verdict = ""
    for (wi = 1; wi <= 3; wi++) {
        w = substr("abc", wi, 1)
        if (!((("ms") SUBSEP w SUBSEP "ns") in cnt)) continue
        printf "%s  [%s ops]\n", title[w], ops[w]
        printf "  %-9s %-8s %9s %7s %9s %7s %9s %9s %7s\n", "allocator", "version", "ns/op", "t/ms", "1st rep", "t/ms", "peak MiB", "heap MiB", "h/ms"
        ms_ns = median("ms" SUBSEP w SUBSEP "ns"); ms_heap = median("ms" SUBSEP w SUBSEP "heap")
        ms_first = median("ms" SUBSEP w SUBSEP "first")
        for (i = 1; i <= na; i++) {
            a = al[i]; k = a SUBSEP w SUBSEP
            if (!((k "ns") in cnt)) continue
            ns = median(k "ns"); heap = median(k "heap")
            v = version[a]; sub(/-.*/, "", v); if (length(v) > 8) v = substr(v, 1, 8)
            first = median(k "first")
            hr = ms_heap > 0 ? sprintf("%7.2f", heap / ms_heap) : "      -"
            printf "  %-9s %-8s %9.2f %7.2f %9.2f %7.2f %9.1f %9.1f %s\n", a, v, ns, ns / ms_ns, first, first / ms_first, median(k "peak") / 1024, heap / 1024, hr
            if (a == "glibc") verdict = verdict sprintf("  %s: vs glibc %.2fx (target >= 2x) %s", w, ns / ms_ns, ns / ms_ns >= 2 ? "PASS" : "MISS")
            if (a == "mimalloc") verdict = verdict sprintf(", vs mimalloc %.2fx (target >= 1x) %s", ns / ms_ns, ns / ms_ns >= 1 ? "PASS" : "MISS")
        }
        verdict = verdict "\n"
        print ""
    }
    printf "ns/op: median over repetitions; 1st rep: the cold repetition (fresh pages for everyone).\n"
    printf "t/ms = allocator time / ms_malloc time, h/ms = allocator heap / ms heap: above 1 means ms_malloc is faster (smaller).\n"
    printf "Targets of issue 2 (single-threaded):\n%s", verdict
}' "$out"

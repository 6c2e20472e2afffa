"""trace_bench.py - CPython's side of bench/trace: the list workload of trace_bench.c with tracemalloc off,
start(1) and start(16). Prints "key value" lines like trace_bench.c (minimum over --reps, modes interleaved)."""
import argparse
import time
import tracemalloc


tracer_bytes = {}


def list_of_ints(n, mode=0):
    a = [i for i in range(1000, 1000 + n)]
    if mode:
        tracer_bytes[mode] = tracemalloc.get_tracemalloc_memory()
    del a


def time_list(mode, n):
    if mode:
        tracemalloc.start(mode)
    t0 = time.thread_time()
    list_of_ints(n, mode)
    t = time.thread_time() - t0
    if mode:
        tracemalloc.stop()
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = 3 if args.quick else args.reps
    modes = (0, 1, 16)
    best = {m: float("inf") for m in modes}
    list_of_ints(args.n)
    for _ in range(reps):
        for m in modes:
            best[m] = min(best[m], time_list(m, args.n))
    print("py_list_off %.6f" % best[0])
    print("py_list_t1 %.6f" % best[1])
    print("py_list_t16 %.6f" % best[16])
    print("py_tracer_bytes_t1 %d" % tracer_bytes[1])
    print("py_tracer_bytes_t16 %d" % tracer_bytes[16])


main()

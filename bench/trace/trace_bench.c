/*
 * trace_bench.c — the cost of allocation tracing (issue 4). Prints one "key value" line per measurement; run.sh
 * runs it next to trace_bench.py (the same work in CPython with tracemalloc) and prints the table.
 *
 * Workloads
 *   list    the seed's line: build a list of N ints (values 1000.., none cached) with
 *           ms_list_append_take(l, ms_int_new(v)), then drop it — N int objects, the item array regrown about
 *           log(N) times, everything freed. Timed with tracing off, ms_trace_start(1) and ms_trace_start(16).
 *           Python's twin: a = [i for i in range(1000, 1000 + N)]; del a.
 *   churn   the tracing-off cost: a working set of 1,000 blocks; M times, free a pseudo-random slot's block and
 *           allocate one of a pseudo-random size in 8..240 bytes. Once through ms_malloc_at/ms_free (tracing
 *           off), once through nohook_malloc_at/nohook_free (nohook.c: the same fast paths without the hook
 *           check), both from one loop through function pointers.
 * Each measurement is the minimum over --reps repetitions, the modes interleaved inside each repetition so that
 * a burst of load from other processes hits all modes alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/memscope.h>

#include "../cpu_clock.h"
#include "nohook.h"

/* CPU time of this thread, not wall time: on a shared machine, time spent preempted by other processes would
 * otherwise land in whichever mode happened to be running. trace_bench.py uses time.thread_time() likewise. */
static double now(void) { return (double)bench_cpu_ns() * 1e-9; } /* seconds of this thread's CPU time */

/* Builds and drops the list; *tracer_bytes gets the tracer's memory while the list is alive (a constant-time
 * read of a counter, inside the timing for every mode alike). */
static __attribute__((noinline)) void list_of_ints(long n, size_t *tracer_bytes)
{
    ms_object *l = ms_list_new();
    if (!l)
        abort();
    for (long i = 0; i < n; i++)
        if (ms_list_append_take(l, ms_int_new(1000 + i)) != 0)
            abort();
    *tracer_bytes = ms_trace_get_memory();
    ms_decref(l);
}

/* 0: tracing off; else ms_trace_start(mode). Returns seconds. */
static double time_list(int mode, long n, size_t *tracer_bytes)
{
    if (mode && ms_trace_start(mode) != 0)
        abort();
    double t0 = now();
    list_of_ints(n, tracer_bytes);
    double t = now() - t0;
    if (mode)
        ms_trace_stop();
    return t;
}

typedef struct churn_work {
    uint32_t *slot;
    uint16_t *size;
    size_t ops;
} churn_work;

#define WORKING_SET 1000

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static churn_work make_churn(size_t ops)
{
    churn_work w = {malloc(ops * sizeof(uint32_t)), malloc(ops * sizeof(uint16_t)), ops};
    if (!w.slot || !w.size)
        abort();
    uint64_t seed = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < ops; i++) {
        w.slot[i] = (uint32_t)(xorshift(&seed) % WORKING_SET);
        w.size[i] = (uint16_t)(8 + xorshift(&seed) % 233);
    }
    return w;
}

typedef void *(*alloc_fn)(size_t n, const char *file, int line);
typedef void (*free_fn)(void *p);

/* One loop for both variants, the entry points passed as pointers: the same machine code runs, so loop
 * alignment and register allocation cannot favour either; only the callees differ. `sink` keeps the work. */
static __attribute__((noinline)) double churn(const churn_work *w, alloc_fn alloc, free_fn release, unsigned *sink)
{
    void *set[WORKING_SET];
    for (size_t i = 0; i < WORKING_SET; i++)
        set[i] = alloc(16, __FILE__, __LINE__);
    double t0 = now();
    for (size_t i = 0; i < w->ops; i++) {
        uint32_t s = w->slot[i];
        *sink += *(unsigned char *)set[s];
        release(set[s]);
        set[s] = alloc(w->size[i], __FILE__, __LINE__);
        *(unsigned char *)set[s] = (unsigned char)i;
    }
    double t = now() - t0;
    for (size_t i = 0; i < WORKING_SET; i++)
        release(set[i]);
    return t;
}

static double churn_ms(const churn_work *w, unsigned *sink) { return churn(w, ms_malloc_at, ms_free, sink); }
static double churn_nohook(const churn_work *w, unsigned *sink)
{
    return churn(w, nohook_malloc_at, nohook_free, sink);
}

static double min_of(double a, double b) { return a < b ? a : b; }

int main(int argc, char **argv)
{
    long n = 100000;
    int reps = 15;
    size_t ops = 4000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            reps = 3;
            ops = 400000;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            n = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--reps R] [--n N]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || n < 1)
        return 2;

    const int modes[] = {0, 1, 16};
    double list_t[3] = {1e30, 1e30, 1e30};
    size_t tracer_bytes[3] = {0, 0, 0};
    churn_work w = make_churn(ops);
    double churn_t[2] = {1e30, 1e30};
    unsigned sink = 0;

    list_of_ints(n, &tracer_bytes[0]); /* warm-up: arenas mapped, code paged in */
    for (int r = 0; r < reps; r++) {
        for (int m = 0; m < 3; m++)
            list_t[m] = min_of(list_t[m], time_list(modes[m], n, &tracer_bytes[m]));
        /* Alternate which variant goes first: neither always runs on a cache the other warmed. */
        if (r % 2) {
            churn_t[0] = min_of(churn_t[0], churn_ms(&w, &sink));
            churn_t[1] = min_of(churn_t[1], churn_nohook(&w, &sink));
        } else {
            churn_t[1] = min_of(churn_t[1], churn_nohook(&w, &sink));
            churn_t[0] = min_of(churn_t[0], churn_ms(&w, &sink));
        }
    }
    printf("n %ld\nreps %d\nchurn_ops %zu\n", n, reps, ops);
    printf("list_off %.6f\nlist_t1 %.6f\nlist_t16 %.6f\n", list_t[0], list_t[1], list_t[2]);
    printf("tracer_bytes_t1 %zu\ntracer_bytes_t16 %zu\n", tracer_bytes[1], tracer_bytes[2]);
    printf("churn_ms %.6f\nchurn_nohook %.6f\n", churn_t[0], churn_t[1]);
    printf("sink %u\n", sink);
    free(w.slot);
    free(w.size);
    return 0;
}

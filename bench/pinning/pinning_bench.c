/*
 * bench/pinning/pinning_bench.c — what ms_pool_pinning (memscope/mem.h) costs on a heap of N blocks, against the
 * walk the allocator already had: ms_pool_class_stats_get_all, the data of CPython's sys._debugmallocstats(),
 * which run.sh times on a CPython heap of the same shape in the same run.
 *
 * Heaps (N blocks of 64 bytes, or GC objects of one 64-byte block each):
 *   live       every block alive: nothing pinned; the walk reads the pool headers only
 *   pinned     every 200th block alive, the rest freed: every pool pinned
 *   traced     the same, allocated while tracing (start(1)): the walk looks up each live block's trace
 *   objects    the same with GC objects: the walk also reads the GC lists for the types
 * Prints CPU time per walk (median of --rounds), per million blocks allocated, and the ratio to the stats walk.
 *
 * usage: bench-pinning [--blocks N] [--rounds R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/memscope.h>

#include "../cpu_clock.h"

static const ms_type obj_type = {.name = "Obj", .size = 48, .flags = MS_TYPE_GC};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t median(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    return v[n / 2];
}

typedef struct heap {
    void **blocks;
    size_t n;
    bool objects;
} heap;

static heap make(size_t n, size_t keep_every, bool objects)
{
    heap h = {malloc(n * sizeof(void *)), 0, objects};
    if (!h.blocks)
        abort();
    for (size_t i = 0; i < n; i++) {
        void *p = objects ? (void *)ms_new(&obj_type) : ms_malloc(64);
        if (!p)
            abort();
        h.blocks[i] = p;
    }
    for (size_t i = 0; i < n; i++) {
        if (i % keep_every == 0)
            h.blocks[h.n++] = h.blocks[i];
        else if (objects)
            ms_decref(h.blocks[i]);
        else
            ms_free(h.blocks[i]);
    }
    return h;
}

static void drop(heap *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->objects)
            ms_decref(h->blocks[i]);
        else
            ms_free(h->blocks[i]);
    }
    free(h->blocks);
    ms_mem_trim();
}

static void run(const char *name, size_t n, size_t keep_every, bool objects, bool traced, int rounds)
{
    if (traced && ms_trace_start(1) != 0)
        abort();
    heap h = make(n, keep_every, objects);
    uint64_t walk[64], stats[64];
    ms_pinning_report *r = NULL;
    ms_pool_class_stats cls[64];
    for (int i = 0; i < rounds; i++) {
        ms_pinning_report_free(r);
        uint64_t t0 = bench_cpu_ns();
        if (ms_pool_pinning(0.25, &r) != 0)
            abort();
        uint64_t t1 = bench_cpu_ns();
        ms_pool_class_stats_get_all(cls, 64);
        uint64_t t2 = bench_cpu_ns();
        walk[i] = t1 - t0;
        stats[i] = t2 - t1;
    }
    uint64_t w = median(walk, rounds), s = median(stats, rounds);
    printf("%-8s %9zu %9zu %7llu %8llu %10.2f %10.2f %10.3f %7.1fx\n", name, n, h.n,
           (unsigned long long)r->pinned_pools, (unsigned long long)(r->wasted_bytes >> 10), w / 1e6,
           w / 1e6 / ((double)n / 1e6), s / 1e6, s ? (double)w / (double)s : 0);
    ms_pinning_report_free(r);
    drop(&h);
    if (traced)
        ms_trace_stop();
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int rounds = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--blocks") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
    }
    if (rounds < 1 || rounds > 64 || n < 1000) {
        fprintf(stderr, "usage: bench-pinning [--blocks N>=1000] [--rounds 1..64]\n");
        return 2;
    }
    ms_gc_disable();
    printf("%-8s %9s %9s %7s %8s %10s %10s %10s %8s\n", "heap", "blocks", "live", "pinned", "waste_KiB",
           "walk_ms", "ms_per_M", "stats_ms", "walk/stats");
    run("live", n, 1, false, false, rounds);
    run("pinned", n, 200, false, false, rounds);
    run("traced", n, 200, false, true, rounds);
    run("objects", n, 200, true, false, rounds);
    return 0;
}

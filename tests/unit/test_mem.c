/*
 * test_mem.c — the small-object allocator: size-class boundaries, calloc/realloc semantics, exact statistics,
 * arena release, and misuse reported through the fault handler.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "../xorshift.h"
#include "helpers.h"

#define SMALL MS_SMALL_THRESHOLD

static ms_heap_stats heap(void)
{
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    return hs;
}

static ms_pool_class_stats klass(size_t block_size)
{
    ms_pool_class_stats cs;
    ms_pool_class_stats_get(block_size / 16 - 1, &cs);
    return cs;
}

static void fill(unsigned char *p, size_t n, unsigned char seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

static void check_fill(const unsigned char *p, size_t n, unsigned char seed)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(p[i], (unsigned char)(seed + i * 7), "byte %zu changed", i);
}

Test(mem, size_class_boundaries)
{
    const size_t pooled[] = {1, 15, 16, 17, 255, SMALL - 1};
    const size_t system[] = {SMALL, SMALL + 1, 4096, 1 << 20};
    for (size_t i = 0; i < sizeof pooled / sizeof *pooled; i++) {
        void *p = ms_malloc(pooled[i]);
        cr_assert_not_null(p);
        cr_expect(ms_mem_is_pooled(p), "%zu bytes should be pooled", pooled[i]);
        cr_expect_eq((uintptr_t)p % MS_ALIGNMENT, 0);
        cr_expect_eq(ms_mem_usable_size(p), (pooled[i] + 15) / 16 * 16, "block size of a %zu-byte request",
                     pooled[i]);
        ms_free(p);
    }
    for (size_t i = 0; i < sizeof system / sizeof *system; i++) {
        void *p = ms_malloc(system[i]);
        cr_assert_not_null(p);
        cr_expect_not(ms_mem_is_pooled(p), "%zu bytes should come from the system", system[i]);
        cr_expect_eq((uintptr_t)p % MS_ALIGNMENT, 0);
        cr_expect_eq(ms_mem_usable_size(p), system[i]);
        ms_free(p);
    }
    cr_expect_eq(ms_mem_small_threshold(), SMALL);
    cr_expect_eq(ms_pool_class_count(), SMALL / 16);
}

Test(mem, zero_bytes_is_one_pooled_byte)
{
    void *p = ms_malloc(0), *q = ms_malloc(0);
    cr_assert_not_null(p);
    cr_assert_neq(p, q, "two zero-byte allocations are distinct blocks");
    cr_expect(ms_mem_is_pooled(p));
    cr_expect_eq(ms_mem_usable_size(p), 16);
    /* Its usable size may be written; the compiler only knows the request (0), hence the hiding (mem.h). */
    *(char *)test_hide(p) = 1;
    ms_free(p);
    ms_free(q);
    ms_free(NULL);
}

Test(mem, is_pooled_rejects_foreign_pointers)
{
    int on_stack;
    void *libc = malloc(32);
    cr_expect_not(ms_mem_is_pooled(NULL));
    cr_expect_not(ms_mem_is_pooled(&on_stack));
    cr_expect_not(ms_mem_is_pooled(libc));
    cr_expect_not(ms_mem_is_pooled((void *)UINTPTR_MAX));
    free(libc);
}

Test(mem, calloc_zeroes_and_checks_overflow)
{
    unsigned char *p = ms_calloc(10, 20);
    cr_assert_not_null(p);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(p[i], 0);
    unsigned char *big = ms_calloc(1000, 10);
    cr_assert_not_null(big);
    cr_expect_not(ms_mem_is_pooled(big));
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(big[i], 0);
    ms_free(p);
    ms_free(big);

    errno = 0;
    cr_expect_null(ms_calloc(test_hide_size(SIZE_MAX / 2), 3));
    cr_expect_eq(errno, ENOMEM);
    cr_expect_null(ms_calloc(test_hide_size(SIZE_MAX), test_hide_size(SIZE_MAX)));
    cr_expect_null(ms_malloc(test_hide_size(SIZE_MAX - 8)), "a request the header cannot fit fails cleanly");
}

/* A pooled block recycled from the free list of a used pool must also come back zeroed. */
Test(mem, calloc_zeroes_recycled_blocks)
{
    unsigned char *p = ms_malloc(48);
    memset(p, 0xAB, 48);
    ms_free(p);
    unsigned char *q = ms_calloc(1, 48);
    for (int i = 0; i < 48; i++)
        cr_assert_eq(q[i], 0);
    ms_free(q);
}

Test(mem, realloc_crosses_the_threshold_both_ways)
{
    unsigned char *p = ms_malloc(100);
    fill(p, 100, 3);
    p = ms_realloc(p, SMALL + 100); /* pool -> system */
    cr_assert_not_null(p);
    cr_expect_not(ms_mem_is_pooled(p));
    check_fill(p, 100, 3);
    fill(p, SMALL + 100, 9);
    p = ms_realloc(p, 4 * SMALL); /* system -> system */
    check_fill(p, SMALL + 100, 9);
    p = ms_realloc(p, 40); /* system -> pool keeps the first 40 bytes */
    cr_assert_not_null(p);
    cr_expect(ms_mem_is_pooled(p));
    check_fill(p, 40, 9);
    p = ms_realloc(p, 200); /* pool -> pool of a larger class */
    cr_expect(ms_mem_is_pooled(p));
    check_fill(p, 40, 9);
    ms_free(p);

    void *q = ms_realloc(NULL, 10);
    cr_expect(ms_mem_is_pooled(q));
    ms_free(q);
}

Test(mem, realloc_shrinking_a_little_stays_in_place)
{
    void *p = ms_malloc(128);
    cr_expect_eq(ms_realloc(p, 100), p, "losing less than a quarter keeps the block");
    void *q = ms_realloc(p, 16);
    cr_expect_neq(q, p, "a much smaller request moves to a smaller class");
    cr_expect_eq(ms_mem_usable_size(q), 16);
    ms_free(q);
}

Test(mem, realloc_failure_leaves_the_block_alone)
{
    unsigned char *p = ms_malloc(64);
    fill(p, 64, 1);
    errno = 0;
    cr_expect_null(ms_realloc(p, test_hide_size(SIZE_MAX - 4)));
    cr_expect_eq(errno, ENOMEM);
    check_fill(p, 64, 1);
    ms_free(p);
}

/* Exact accounting: a known sequence moves each counter by a known amount. Counters are process-wide, so the
 * test compares deltas, and Criterion runs each test in its own process. */
Test(mem, stats_are_exact)
{
    ms_heap_stats before = heap();
    ms_pool_class_stats c16 = klass(16), c48 = klass(48), c256 = klass(256);

    void *a[10], *b[7], *c[3], *big[2];
    for (int i = 0; i < 10; i++)
        a[i] = ms_malloc(1 + i); /* 10 blocks of 16 */
    for (int i = 0; i < 7; i++)
        b[i] = ms_malloc(33 + i); /* 7 blocks of 48 */
    for (int i = 0; i < 3; i++)
        c[i] = ms_malloc(241 + i); /* 3 blocks of 256 */
    big[0] = ms_malloc(1000);
    big[1] = ms_malloc(5000);

    ms_heap_stats mid = heap();
    cr_expect_eq(mid.blocks_in_use - before.blocks_in_use, 20);
    cr_expect_eq(mid.pool_bytes_in_use - before.pool_bytes_in_use, 10 * 16 + 7 * 48 + 3 * 256);
    cr_expect_eq(mid.system_bytes_in_use - before.system_bytes_in_use, 6000);
    cr_expect_eq(mid.system_blocks_in_use - before.system_blocks_in_use, 2);
    cr_expect_eq(mid.allocs_total - before.allocs_total, 22);
    cr_expect_eq(klass(16).blocks_in_use - c16.blocks_in_use, 10);
    cr_expect_eq(klass(48).blocks_in_use - c48.blocks_in_use, 7);
    cr_expect_eq(klass(256).blocks_in_use - c256.blocks_in_use, 3);
    ms_pool_class_stats k48 = klass(48);
    cr_expect_eq(k48.block_size, 48);
    cr_expect_geq(k48.pools, 1);
    cr_expect_eq(k48.blocks_in_use + k48.blocks_free, k48.pools * (mid.pool_size / 48),
                 "in use + free = pool capacity");
    cr_expect_eq(ms_mem_validate(), 0);

    for (int i = 0; i < 10; i++)
        ms_free(a[i]);
    for (int i = 0; i < 7; i++)
        ms_free(b[i]);
    for (int i = 0; i < 3; i++)
        ms_free(c[i]);
    ms_free(big[0]);
    ms_free(big[1]);

    ms_heap_stats after = heap();
    cr_expect_eq(after.blocks_in_use, before.blocks_in_use);
    cr_expect_eq(after.pool_bytes_in_use, before.pool_bytes_in_use);
    cr_expect_eq(after.system_bytes_in_use, before.system_bytes_in_use);
    cr_expect_eq(after.frees_total - before.frees_total, 22);
    cr_expect_eq(klass(48).blocks_in_use, c48.blocks_in_use);
    cr_expect_eq(ms_mem_validate(), 0);
}

/* The all-classes getter agrees with the per-class one and copies no more than it is asked to. */
Test(mem, class_stats_get_all_matches_get)
{
    void *p[40];
    for (int i = 0; i < 40; i++)
        p[i] = ms_malloc((size_t)(i * 6 + 1) % (SMALL - 1) + 1);
    size_t n = ms_pool_class_count();
    cr_assert_eq(ms_pool_class_stats_get_all(NULL, 0), n);
    ms_pool_class_stats *all = calloc(n + 1, sizeof *all);
    cr_assert_not_null(all);
    memset(&all[n], 0xab, sizeof all[n]);
    cr_assert_eq(ms_pool_class_stats_get_all(all, n + 1), n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        ms_pool_class_stats one;
        ms_pool_class_stats_get(i, &one);
        cr_expect_eq(memcmp(&one, &all[i], sizeof one), 0, "class %zu differs", i);
        total += all[i].blocks_in_use;
    }
    cr_expect_eq(total, heap().blocks_in_use);
    unsigned char untouched[sizeof all[n]];
    memset(untouched, 0xab, sizeof untouched);
    cr_expect_eq(memcmp(&all[n], untouched, sizeof untouched), 0, "no class past the count is written");
    ms_pool_class_stats first;
    memset(&first, 0, sizeof first);
    cr_assert_eq(ms_pool_class_stats_get_all(&first, 1), n);
    cr_expect_eq(first.block_size, 16);
    free(all);
    for (int i = 0; i < 40; i++)
        ms_free(p[i]);
}

/*
 * The statistics are read by the agent thread while the program allocates. A reader thread samples them while
 * this thread churns through pools of every class (new pools, emptied pools, arenas cached and reused, so pool
 * headers change class under the reader): every sample must stay within what the heap could have held and the
 * running totals must never go back. Once the churn stops, the reader sees the exact figures.
 */
#define CHURN_LIVE 60000

typedef struct stats_reader {
    _Atomic int stop;
    _Atomic long reads;
    uint64_t base_blocks; /* pooled blocks in use before the churn */
    long violations;
    char first_violation[160];
} stats_reader;

static void reader_violation(stats_reader *r, const char *what, uint64_t v)
{
    if (r->violations++ == 0)
        snprintf(r->first_violation, sizeof r->first_violation, "%s (%llu)", what, (unsigned long long)v);
}

static void *stats_reader_main(void *arg)
{
    stats_reader *r = arg;
    uint64_t last_allocs = 0, last_frees = 0;
    ms_pool_class_stats cls[64];
    while (!atomic_load(&r->stop)) {
        ms_heap_stats hs;
        ms_heap_stats_get(&hs);
        size_t n = ms_pool_class_stats_get_all(cls, 64);
        uint64_t sum = 0;
        for (size_t i = 0; i < n && i < 64; i++)
            sum += cls[i].blocks_in_use;
        if (hs.blocks_in_use > r->base_blocks + CHURN_LIVE)
            reader_violation(r, "blocks_in_use above the most the heap held", hs.blocks_in_use);
        if (sum > r->base_blocks + CHURN_LIVE)
            reader_violation(r, "sum over classes above the most the heap held", sum);
        if (hs.allocs_total < last_allocs || hs.frees_total < last_frees)
            reader_violation(r, "a running total went back", hs.allocs_total);
        last_allocs = hs.allocs_total;
        last_frees = hs.frees_total;
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

Test(mem, stats_read_from_another_thread)
{
    ms_heap_stats before = heap();
    stats_reader r = {.base_blocks = before.blocks_in_use};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, stats_reader_main, &r), 0);
    while (atomic_load(&r.reads) == 0)
        sched_yield(); /* the reader is running before the churn starts */

    void **live = calloc(CHURN_LIVE, sizeof *live);
    cr_assert_not_null(live);
    uint64_t x = 88172645463325252ull;
    long round = 0;
    /* At least 4 rounds, and on until the reader has sampled 200 times during the churn. */
    for (long start = atomic_load(&r.reads); round < 4 || atomic_load(&r.reads) - start < 200; round++) {
        for (size_t i = 0; i < CHURN_LIVE; i++) {
            live[i] = ms_malloc((size_t)(test_xorshift64(&x) % (SMALL - 1)) + 1);
            cr_assert_not_null(live[i]);
        }
        for (size_t i = CHURN_LIVE; i > 1; i--) { /* free in a random order */
            size_t j = (size_t)(test_xorshift64(&x) % i);
            void *t = live[i - 1];
            live[i - 1] = live[j];
            live[j] = t;
        }
        for (size_t i = 0; i < CHURN_LIVE; i++)
            ms_free(live[i]);
    }
    atomic_store(&r.stop, 1);
    cr_assert_eq(pthread_join(tid, NULL), 0);
    free(live);
    cr_expect_eq(r.violations, 0, "%ld bad samples of %ld, first: %s", r.violations, atomic_load(&r.reads),
                 r.first_violation);
    ms_heap_stats after = heap();
    cr_expect_eq(after.blocks_in_use, before.blocks_in_use);
    cr_expect_eq(after.allocs_total - before.allocs_total, (uint64_t)round * CHURN_LIVE);
    cr_expect_eq(after.frees_total - before.frees_total, (uint64_t)round * CHURN_LIVE);
    cr_expect_eq(ms_mem_validate(), 0);
}

#if !defined(__SANITIZE_ADDRESS__) /* works_without_the_arena_map's helpers: see there */
/* Kilobytes of address space this process uses (VmSize), or -1. */
static long vm_size_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* The child of works_without_the_arena_map: 0, or the number of the check that failed. */
static int without_map_child(void)
{
    if (heap().arenas_allocated_total != 0)
        return 1; /* the runtime must be fresh, or the map may already exist */
    long vm = vm_size_kib();
    if (vm < 0)
        return 2;
    /* 256 MiB more address space than now: plenty for the arenas below, too little for the 1 GiB map. */
    rlim_t limit = ((rlim_t)vm << 10) + ((rlim_t)256 << 20);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 3;
    enum { N = (8u << 20) / 64 };
    static void *v[N];
    for (size_t i = 0; i < N; i++) {
        v[i] = ms_malloc(64);
        if (v[i] == NULL || !ms_mem_is_pooled(v[i]) || ms_mem_usable_size(v[i]) != 64)
            return 4;
        memset(v[i], (int)i, 64);
    }
    if (heap().arenas_mapped < 8 || vm_size_kib() > vm + (256 << 10))
        return 5;
    int local;
    if (ms_mem_is_pooled(&local) || ms_mem_is_pooled(v) || ms_mem_validate() != 0)
        return 6;
    for (size_t i = 0; i < N; i += 2)
        ms_free(v[i]);
    if (ms_mem_validate() != 0 || heap().blocks_in_use != N / 2)
        return 7;
    for (size_t i = 1; i < N; i += 2) {
        if (((unsigned char *)v[i])[63] != (unsigned char)i)
            return 8;
        ms_free(v[i]);
    }
    if (ms_mem_validate() != 0 || heap().blocks_in_use != 0)
        return 9;
    return 0;
}
#endif

/* Where the arena map's address-space reservation is refused (here: RLIMIT_AS), the radix tree does its job. */
Test(mem, works_without_the_arena_map)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("ASan maps terabytes of shadow memory: RLIMIT_AS cannot be lowered under it");
#else
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(without_map_child());
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died (status %#x)", status);
    cr_expect_eq(WEXITSTATUS(status), 0, "check %d failed in the child", WEXITSTATUS(status));
#endif
}

/* n 64-byte blocks: 8 MiB, several 1 MiB arenas. */
#define ARENA_TEST_BLOCKS ((8u << 20) / 64)

static void **alloc_blocks(size_t n)
{
    void **v = malloc(n * sizeof *v);
    cr_assert_not_null(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = ms_malloc(64);
        cr_assert_not_null(v[i]);
    }
    return v;
}

/* Frees in an interleaved order so that arenas drain unevenly and usable_arenas must re-sort. */
static void free_blocks(void **v, size_t n)
{
    for (size_t i = 0; i < n; i += 2)
        ms_free(v[i]);
    cr_expect_eq(ms_mem_validate(), 0);
    for (size_t i = 1; i < n; i += 2)
        ms_free(v[i]);
    free(v);
}

static uint64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* CPython's policy (decay 0): an arena whose pools are all free is unmapped at once, but one spare. */
Test(mem, arenas_are_released)
{
    int64_t saved = ms_mem_arena_decay_ms();
    cr_assert_eq(ms_mem_set_arena_decay_ms(0), 0);
    ms_heap_stats before = heap();
    void **v = alloc_blocks(ARENA_TEST_BLOCKS);
    ms_heap_stats full = heap();
    cr_expect_geq(full.arenas_mapped, before.arenas_mapped + 7);
    cr_expect_geq(full.arenas_highwater, full.arenas_mapped);
    cr_expect_eq(ms_mem_validate(), 0);
    free_blocks(v, ARENA_TEST_BLOCKS);

    ms_heap_stats after = heap();
    cr_expect_leq(after.arenas_mapped, before.arenas_mapped + 1, "at most one spare arena is kept (%llu mapped)",
                  (unsigned long long)after.arenas_mapped);
    cr_expect_geq(after.arenas_released_total - before.arenas_released_total, 6);
    cr_expect_eq(after.arenas_cached, 0);
    cr_expect_eq(after.blocks_in_use, before.blocks_in_use);
    cr_expect_eq(ms_mem_validate(), 0);
    cr_expect_eq(ms_mem_set_arena_decay_ms(saved), 0);
}

/* With a decay time, emptied arenas stay mapped, serve the next allocations without a new mapping, and
 * ms_mem_trim() returns them (and the spare) to the OS. */
Test(mem, empty_arenas_are_reused_then_trimmed)
{
    int64_t saved = ms_mem_arena_decay_ms();
    cr_assert_eq(ms_mem_set_arena_decay_ms(3600 * 1000), 0);
    ms_mem_trim();
    ms_heap_stats before = heap();
    free_blocks(alloc_blocks(ARENA_TEST_BLOCKS), ARENA_TEST_BLOCKS);
    ms_heap_stats emptied = heap();
    cr_expect_geq(emptied.arenas_cached, 6, "%llu cached", (unsigned long long)emptied.arenas_cached);
    cr_expect_eq(emptied.arenas_released_total, before.arenas_released_total, "nothing unmapped yet");
    cr_expect_eq(emptied.blocks_in_use, before.blocks_in_use);
    cr_expect_eq(ms_mem_validate(), 0);

    void **v = alloc_blocks(ARENA_TEST_BLOCKS);
    ms_heap_stats again = heap();
    cr_expect_eq(again.arenas_allocated_total, emptied.arenas_allocated_total, "the cached arenas were reused");
    cr_expect_eq(again.arenas_cached, 0);
    cr_expect_eq(ms_mem_validate(), 0);
    free_blocks(v, ARENA_TEST_BLOCKS);

    uint64_t cached = heap().arenas_cached;
    size_t released = ms_mem_trim();
    ms_heap_stats trimmed = heap();
    cr_expect_geq(released, cached);
    cr_expect_eq(trimmed.arenas_released_total - emptied.arenas_released_total, released);
    cr_expect_eq(trimmed.arenas_cached, 0);
    cr_expect_leq(trimmed.arenas_mapped, before.arenas_mapped);
    cr_expect_eq(ms_mem_validate(), 0);
    cr_expect_eq(ms_mem_set_arena_decay_ms(-1), -EINVAL);
    cr_expect_eq(ms_mem_set_arena_decay_ms(saved), 0);
}

/* Cached arenas are unmapped once they have been empty for the decay time — not before — at a safe point. */
Test(mem, cached_arenas_expire_after_the_decay_time)
{
    const int64_t decay = 300;
    int64_t saved = ms_mem_arena_decay_ms();
    cr_assert_eq(ms_mem_set_arena_decay_ms(decay), 0);
    ms_mem_trim();
    uint64_t released0 = heap().arenas_released_total;
    uint64_t t0 = coarse_ms(); /* every arena empties after t0 */
    free_blocks(alloc_blocks(ARENA_TEST_BLOCKS), ARENA_TEST_BLOCKS);
    uint64_t cached = heap().arenas_cached;
    cr_assert_geq(cached, 6);

    /* Wait for the condition itself: poll until the cache is empty (bounded), noting when the first arena left. */
    uint64_t t, first = 0;
    do {
        ms_poll();
        t = coarse_ms();
        uint64_t left = heap().arenas_cached;
        if (left < cached && first == 0)
            first = t;
        if (left == 0)
            break;
    } while (t - t0 < 30000);
    ms_heap_stats hs = heap();
    cr_expect_eq(hs.arenas_cached, 0, "%llu never expired", (unsigned long long)hs.arenas_cached);
    cr_expect_geq(hs.arenas_released_total - released0, cached);
    cr_expect_geq(first - t0, (uint64_t)decay, "released after %llu ms, before the decay time",
                  (unsigned long long)(first - t0));
    cr_expect_eq(ms_mem_validate(), 0);
    cr_expect_eq(ms_mem_set_arena_decay_ms(saved), 0);
}

/* New pools come from the fullest arena: after draining most of one arena, a new pool must not come from it
 * while a fuller arena has room. */
Test(mem, fullest_arena_serves_new_pools)
{
    size_t per_pool = heap().pool_size / 256;
    size_t pools_per_arena = heap().arena_size / heap().pool_size;
    size_t n = per_pool * pools_per_arena * 3; /* three arenas of 256-byte blocks */
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = ms_malloc(250);
    /* Empty all but one pool of the first arena's worth of blocks, and one pool of the second. */
    for (size_t i = per_pool; i < per_pool * pools_per_arena; i++)
        ms_free(v[i]);
    for (size_t i = per_pool * pools_per_arena; i < per_pool * (pools_per_arena + 1); i++)
        ms_free(v[i]);
    cr_expect_eq(ms_mem_validate(), 0);
    /* The second arena now has 1 free pool, the first 63: a fresh pool of another class comes from the second. */
    void *x = ms_malloc(20);
    uintptr_t arena_mask = ~(uintptr_t)(heap().arena_size - 1);
    cr_expect_eq((uintptr_t)x & arena_mask, (uintptr_t)v[per_pool * pools_per_arena * 2 - 1] & arena_mask,
                 "the new pool must come from the fullest arena");
    ms_free(x);
    for (size_t i = 0; i < per_pool; i++)
        ms_free(v[i]);
    for (size_t i = per_pool * (pools_per_arena + 1); i < n; i++)
        ms_free(v[i]);
    free(v);
    cr_expect_eq(ms_mem_validate(), 0);
}

static int faults;
static const void *fault_ptr;
static void count_fault(const char *what, const void *ptr, void *arg)
{
    (void)what;
    (void)arg;
    faults++;
    fault_ptr = ptr;
}

Test(mem, misuse_goes_to_the_fault_handler)
{
    ms_set_fault_handler(count_fault, NULL);
    long words[4] = {0};
    ms_free(test_hide(&words[2])); /* a foreign pointer: its "header" does not check */
    cr_expect_eq(faults, 1);
    cr_expect_eq(fault_ptr, &words[2]);

    ms_set_fault_handler(NULL, NULL);
}

/* issue 14: at every debug level, a pooled block freed twice in a row is reported and skipped. Before, at level 0
 * the second free pushed the block onto its free list again, and the next two ms_malloc calls returned the same
 * block. The block's pool keeps other blocks in use, so the second free takes the fast path (more than one left)
 * or the slow one (exactly one left). */
static void double_free_is_reported(size_t neighbours)
{
    faults = 0;
    ms_set_fault_handler(count_fault, NULL);
    void *keep[4];
    for (size_t i = 0; i < neighbours; i++)
        keep[i] = ms_malloc(40);
    char *p = ms_malloc(40), *again = test_hide(p);
    cr_assert_not_null(p);
    ms_free(p);
    ms_free(again);
    cr_expect_eq(faults, 1, "the double free is reported");
    cr_expect_eq(fault_ptr, p);
    void *a = ms_malloc(40), *b = ms_malloc(40);
    cr_expect_neq(a, b, "the block is on its free list once: two mallocs get two blocks");
    cr_expect_eq(ms_mem_validate(), 0, "and the pool is intact");
    ms_free(a);
    ms_free(b);
    for (size_t i = 0; i < neighbours; i++)
        ms_free(keep[i]);
    cr_expect_eq(faults, 1);
    ms_set_fault_handler(NULL, NULL);
}

Test(mem, double_free_is_reported) { double_free_is_reported(3); }

Test(mem, double_free_is_reported_when_one_block_is_left) { double_free_is_reported(1); }

/* With other frees in between, only the free-list walk of debug_level 2 finds it (mem.h). */
Test(mem, double_free_after_other_frees_is_reported_at_debug_level_2)
{
#if MS_TEST_DEBUG_LEVEL < 2
    cr_skip_test("debug_level %d: only level 2 walks the free list", MS_TEST_DEBUG_LEVEL);
#else
    faults = 0;
    ms_set_fault_handler(count_fault, NULL);
    void *keep = ms_malloc(40), *p = ms_malloc(40), *q = ms_malloc(40), *again = test_hide(p);
    ms_free(p);
    ms_free(q);
    ms_free(again);
    cr_expect_eq(faults, 1);
    cr_expect_eq(ms_mem_validate(), 0);
    ms_free(keep);
    ms_set_fault_handler(NULL, NULL);
#endif
}

/* issue 14: pointers into a pooled block are reported and skipped instead of joining the free list (which
 * corrupted the pool at level 0): a misaligned one on every free, a 16-byte aligned one on the slow path (here:
 * its pool has only that block in use) and always at debug_level 1 and above, and by ms_realloc. */
Test(mem, interior_pointers_are_reported)
{
    faults = 0;
    ms_set_fault_handler(count_fault, NULL);
    char *keep = ms_malloc(64), *keep2 = ms_malloc(64), *p = ms_malloc(64);
    cr_assert(ms_mem_is_pooled(p));
    ms_free(test_hide(p + 1));
    cr_expect_eq(faults, 1, "a pointer one byte into a block is reported");
    cr_expect_eq(fault_ptr, p + 1);
    ms_free(test_hide(p + 8));
    cr_expect_eq(faults, 2, "so is one 8 bytes in");
    cr_expect_null(ms_realloc(test_hide(p + 32), 100), "ms_realloc refuses one 32 bytes in");
    cr_expect_eq(faults, 3);
    cr_expect_eq(ms_mem_validate(), 0, "the pool is intact");
    ms_free(keep);
    ms_free(keep2);
    ms_free(test_hide(p + 16)); /* p is the last block in use: the slow path */
    cr_expect_eq(faults, 4, "a 16-byte aligned pointer into the last block in use is reported");
    ms_free(test_hide(p + 64 * 8));
    cr_expect_eq(faults, 5, "and a block start that was never handed out");
    cr_expect_eq(ms_mem_validate(), 0);
    ms_free(p);
    cr_expect_eq(faults, 5, "the real block frees normally");
    cr_expect_eq(ms_mem_validate(), 0);
    ms_set_fault_handler(NULL, NULL);
}

/* At debug_level 1 and above every free makes the slow path's checks: an aligned interior pointer is reported
 * even while its pool has other blocks in use. */
Test(mem, aligned_interior_pointers_are_reported_at_debug_level_1)
{
#if MS_TEST_DEBUG_LEVEL < 1
    cr_skip_test("debug_level 0: the fast path checks alignment only (mem.h)");
#else
    faults = 0;
    ms_set_fault_handler(count_fault, NULL);
    char *keep = ms_malloc(64), *keep2 = ms_malloc(64), *p = ms_malloc(64);
    ms_free(test_hide(p + 16));
    cr_expect_eq(faults, 1);
    cr_expect_eq(ms_mem_validate(), 0);
    ms_free(p);
    ms_free(keep);
    ms_free(keep2);
    cr_expect_eq(faults, 1);
    ms_set_fault_handler(NULL, NULL);
#endif
}

/* A second ms_realloc of a freed block is refused like a double free. */
Test(mem, realloc_of_a_freed_block_is_reported)
{
    faults = 0;
    ms_set_fault_handler(count_fault, NULL);
    void *keep = ms_malloc(40), *keep2 = ms_malloc(40), *p = ms_malloc(40), *again = test_hide(p);
    ms_free(p);
    cr_expect_null(ms_realloc(again, 20));
    cr_expect_eq(faults, 1);
    cr_expect_eq(ms_mem_validate(), 0);
    ms_free(keep);
    ms_free(keep2);
    ms_set_fault_handler(NULL, NULL);
}

/* debug_level 3 walks the whole heap at the safe points: a free list broken by a write after free is reported at
 * the next ms_poll() and after the next collection (issue 14: level 3 used to do what level 2 does). */
Test(mem, debug_level_3_walks_the_heap_at_safe_points)
{
#if MS_TEST_DEBUG_LEVEL < 3
    cr_skip_test("debug_level %d: the heap walks are level 3's", MS_TEST_DEBUG_LEVEL);
#else
    faults = 0;
    ms_set_fault_handler(count_fault, NULL);
    void *keep = ms_malloc(40), *keep2 = ms_malloc(40), *p = ms_malloc(40);
    uintptr_t *alias = test_hide(p);
    ms_free(p);
    uintptr_t saved = alias[0];
    alias[0] = (uintptr_t)alias + 8; /* the free list's link now points into the middle of a block */
    ms_poll();
    cr_expect_eq(faults, 1, "reported at ms_poll");
    cr_expect_eq(fault_ptr, (void *)(alias + 1));
    (void)ms_gc_collect(0);
    cr_expect_eq(faults, 2, "and after a collection");
    alias[0] = saved;
    ms_poll();
    cr_expect_eq(faults, 2, "a sound heap is not reported");
    ms_free(keep);
    ms_free(keep2);
    ms_set_fault_handler(NULL, NULL);
#endif
}

static void crash_on_fault(const char *what, const void *ptr, void *arg)
{
    (void)what;
    (void)ptr;
    (void)arg;
    abort();
}

Test(mem, default_handler_aborts_on_foreign_free, .signal = SIGABRT)
{
    long words[4] = {1, 2, 3, 4};
    ms_free(test_hide(&words[2]));
}

Test(mem, free_of_a_block_in_an_empty_pool_is_caught, .signal = SIGABRT)
{
    ms_set_fault_handler(crash_on_fault, NULL);
    /* A pool of its own class, emptied: its header says ref == 0, so a second free is caught in any build. */
    void *p = ms_malloc(SMALL - 1), *again = test_hide(p);
    ms_free(p);
    ms_free(again);
}

Test(mem, plain_functions_have_addresses)
{
    void *(*alloc)(size_t) = ms_malloc;
    void *(*re)(void *, size_t) = ms_realloc;
    void *(*zalloc)(size_t, size_t) = ms_calloc;
    void (*release)(void *) = ms_free;
    char *p = alloc(10);
    cr_assert(ms_mem_is_pooled(p));
    p = re(p, SMALL + 44);
    cr_expect_not(ms_mem_is_pooled(p));
    release(p);
    release(zalloc(2, 2));
}

Test(mem, debug_mallocstats_prints_the_table)
{
    void *p = ms_malloc(40);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ms_debug_mallocstats(f);
    fclose(f);
    cr_expect(strstr(text, "Small block threshold") != NULL);
    cr_expect(strstr(text, "# arenas allocated current") != NULL);
    char want[64];
    snprintf(want, sizeof want, "\n    2     48 ");
    cr_expect(strstr(text, want) != NULL, "a row for the 48-byte class:\n%s", text);
    free(text);
    ms_free(p);
}

Test(mem, version_and_errors)
{
    cr_expect_str_eq(ms_version(), MS_VERSION_STRING);
    cr_expect_str_eq(ms_strerror(-ENOMEM), "out of memory");
    cr_expect_not_null(ms_strerror(-12345));
    cr_expect(ms_trylock());
    cr_expect_not(ms_trylock(), "the runtime lock is not recursive");
    ms_unlock();
}

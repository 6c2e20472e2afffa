/*
 * leakcheck.h — the end-of-test leak check of the unit tests: objects alive and heap blocks in use (pooled and
 * system) must be back where they were when the test started.
 *
 * Criterion does not fail a test on an assertion made in a .fini, so the check runs at the end of the test body:
 * declare tests with CHECKED_TEST, take `leak_start` in the suite's .init, and define no_leaks() (usually just
 * leak_check(leak_start), after undoing any global state the file's tests change).
 */
#ifndef MEMSCOPE_TESTS_LEAKCHECK_H
#define MEMSCOPE_TESTS_LEAKCHECK_H

#include <stdint.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "../test_then.h"

typedef struct leak_baseline {
    uint64_t objects;
    uint64_t pool_blocks;
    uint64_t system_blocks;
} leak_baseline;

static inline leak_baseline leak_baseline_take(void)
{
    ms_object_stats os;
    ms_heap_stats hs;
    ms_object_stats_get(&os);
    ms_heap_stats_get(&hs);
    return (leak_baseline){os.alive, hs.blocks_in_use, hs.system_blocks_in_use};
}

static inline void leak_check(leak_baseline b)
{
    leak_baseline now = leak_baseline_take();
    cr_assert_eq(now.objects, b.objects, "objects alive: %llu, at start %llu", (unsigned long long)now.objects,
                 (unsigned long long)b.objects);
    cr_assert_eq(now.pool_blocks, b.pool_blocks, "pooled blocks in use: %llu, at start %llu",
                 (unsigned long long)now.pool_blocks, (unsigned long long)b.pool_blocks);
    cr_assert_eq(now.system_blocks, b.system_blocks, "system blocks in use: %llu, at start %llu",
                 (unsigned long long)now.system_blocks, (unsigned long long)b.system_blocks);
}

/* leak_start, and leak_start_take() that takes it: the .init of suites whose tests all start from it. */
#define LEAK_START                                                                                             \
    static leak_baseline leak_start;                                                                           \
    static void leak_start_take(void) { leak_start = leak_baseline_take(); }

/* The suite of a file whose tests all start from leak_start, taken before each test (its .init). */
#define LEAK_CHECKED_SUITE(suite) LEAK_START TestSuite(suite, .init = leak_start_take)

/* A test whose body is followed by the file's no_leaks(). */
#define CHECKED_TEST(suite, name) TEST_THEN(suite, name, no_leaks, .disabled = false)

#endif /* MEMSCOPE_TESTS_LEAKCHECK_H */

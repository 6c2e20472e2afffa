/*
 * tracecheck.h — the end-of-test check of the tracing tests: the tracer's tables are consistent, nothing was
 * dropped, stopping frees all of the tracer's memory, and no memscope block leaked.
 *
 * It runs at the end of each test body (CHECKED_TEST from leakcheck.h): Criterion 2.4 reports, but does not fail
 * on, an assertion made in a suite's .fini.
 */
#ifndef MEMSCOPE_TESTS_TRACECHECK_H
#define MEMSCOPE_TESTS_TRACECHECK_H

#include <stdint.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "helpers.h"
#include "leakcheck.h"

static uint64_t live_blocks_at_start;

static inline uint64_t live_blocks(void)
{
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    return hs.blocks_in_use + hs.system_blocks_in_use;
}

static inline void trace_check_start(void) { live_blocks_at_start = live_blocks(); }

/* The traced size now and its peak (ms_trace_get_traced_memory). */
static inline size_t traced_now(void)
{
    size_t cur = 0;
    ms_trace_get_traced_memory(&cur, NULL);
    return cur;
}

static inline size_t traced_peak(void)
{
    size_t peak = 0;
    ms_trace_get_traced_memory(NULL, &peak);
    return peak;
}

static void no_leaks(void)
{
    cr_assert_eq(ms_trace_validate(), 0, "the tracer's tables are consistent at the end of the test");
    cr_assert_eq(ms_trace_get_dropped(), 0);
    ms_trace_stop();
    cr_assert_not(ms_trace_is_tracing());
    cr_assert_eq(ms_trace_get_memory(), 0, "the tracer keeps %zu bytes after stop", ms_trace_get_memory());
    cr_assert_eq(live_blocks(), live_blocks_at_start, "memscope blocks leaked");
}

/* Two arrays of statistics hold the same rows: keys, sizes, counts, and tracebacks frame by frame when they have
 * them. */
static inline void expect_same_rows(const ms_stat *sa, size_t na, const ms_stat *sb, size_t nb)
{
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_expect_str_eq(sa[i].filename, sb[i].filename);
        cr_expect_eq(sa[i].lineno, sb[i].lineno);
        cr_expect_eq(sa[i].size, sb[i].size);
        cr_expect_eq(sa[i].count, sb[i].count);
        cr_expect((sa[i].traceback == NULL) == (sb[i].traceback == NULL));
        if (!sa[i].traceback || !sb[i].traceback)
            continue;
        cr_assert_eq(sa[i].traceback->nframes, sb[i].traceback->nframes);
        for (size_t j = 0; j < sa[i].traceback->nframes; j++) {
            const ms_frame *fa = &sa[i].traceback->frames[j], *fb = &sb[i].traceback->frames[j];
            cr_expect_str_eq(fa->filename, fb->filename);
            cr_expect_eq(fa->lineno, fb->lineno);
            cr_expect((fa->function == NULL) == (fb->function == NULL));
            if (fa->function && fb->function)
                cr_expect_str_eq(fa->function, fb->function);
        }
    }
}

/* A CHECKED_TEST whose body runs with tracing started at nframes frames. */
#define TRACED_TEST(suite, name, nframes)                                                                      \
    static void name##_body(void);                                                                             \
    Test(suite, name)                                                                                          \
    {                                                                                                          \
        cr_assert_eq(ms_trace_start(nframes), 0);                                                              \
        name##_body();                                                                                         \
        no_leaks();                                                                                            \
    }                                                                                                          \
    static void name##_body(void)

#endif /* MEMSCOPE_TESTS_TRACECHECK_H */

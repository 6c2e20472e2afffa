/*
 * test_trace_symbols.c — tracing with nframes > 1: return addresses symbolized by libdw into this file's own
 * functions and lines, libmemscope's frames left out, cumulative statistics over frames, all_frames filters.
 *
 * The helpers are noinline and do something after their call (an empty asm) so that the compiler neither
 * inlines them nor turns the call into a tail call: either would remove the frame the test looks for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "tracecheck.h"

#define KEEP_FRAME() __asm__ volatile("" ::: "memory")



static void setup(void) { trace_check_start(); }

static void teardown(void) { ms_trace_stop(); }

TestSuite(trace_symbols, .init = setup, .fini = teardown);

static int leaf_line, middle_line, plain_line;

static __attribute__((noinline)) void *leaf_alloc(size_t n)
{
    leaf_line = __LINE__; void *p = ms_malloc(n);
    KEEP_FRAME();
    return p;
}

static __attribute__((noinline)) void *middle(size_t n)
{
    middle_line = __LINE__; void *p = leaf_alloc(n);
    KEEP_FRAME();
    return p;
}

/* Through a builtin: the list code (libmemscope) sits between this function and the allocator. */
static __attribute__((noinline)) ms_object *make_list(void)
{
    ms_object *l = ms_list_new();
    KEEP_FRAME();
    return l;
}

static __attribute__((noinline)) void *plain_alloc(size_t n)
{
    void *(*plain)(size_t) = ms_malloc; /* no file:line: frame 0 must come from the stack */
    plain_line = __LINE__; void *p = plain(n);
    KEEP_FRAME();
    return p;
}

static int inlined_line, outer_line;

/* Inlined into its caller: the return address lies in outer_of_inline(), but the traceback shows both. */
static inline __attribute__((always_inline)) void *inlined_helper(size_t n)
{
    inlined_line = __LINE__; return ms_malloc(n);
}

static __attribute__((noinline)) void *outer_of_inline(size_t n)
{
    outer_line = __LINE__; void *p = inlined_helper(n);
    KEEP_FRAME();
    return p;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

TRACED_TEST(trace_symbols, names_the_tests_own_functions, 8)
{
    int test_line = __LINE__; void *p = middle(48);
    KEEP_FRAME();
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *st;
    size_t n = ms_snapshot_statistics(snap, MS_STAT_TRACEBACK, false, &st);
    cr_assert_eq(n, 1);
    const ms_traceback *tb = st[0].traceback;
    cr_assert_not_null(tb);
    cr_assert_geq(tb->nframes, 3);
    cr_expect_leq(tb->nframes, 8);
    cr_expect_str_eq(tb->frames[0].filename, __FILE__);
    cr_expect_eq(tb->frames[0].lineno, leaf_line);
    cr_assert_not_null(tb->frames[0].function);
    cr_expect_str_eq(tb->frames[0].function, "leaf_alloc", "no libmemscope frame before the caller's");
    cr_assert_not_null(tb->frames[1].function);
    cr_expect_str_eq(tb->frames[1].function, "middle");
    cr_expect_str_eq(tb->frames[1].filename, __FILE__, "DWARF names the file as __FILE__ does");
    cr_expect_eq(tb->frames[1].lineno, middle_line);
    cr_assert_not_null(tb->frames[2].function);
    cr_expect(strstr(tb->frames[2].function, "names_the_tests_own_functions") != NULL, "%s",
              tb->frames[2].function);
    cr_expect_eq(tb->frames[2].lineno, test_line);
    printf("traceback top:\n");
    ms_trace_print_top(stdout, snap, MS_STAT_TRACEBACK, 3);
    free(st);

    /* The same, one block at a time. */
    ms_traceback *otb = ms_trace_get_object_traceback(p);
    cr_assert_not_null(otb);
    cr_expect_eq(otb->nframes, tb->nframes);
    cr_expect_str_eq(otb->frames[1].function, "middle");
    free(otb);

    ms_snapshot_free(snap);
    ms_free(p);
}

TRACED_TEST(trace_symbols, depth_is_limited, 2)
{
    void *p = middle(16);
    KEEP_FRAME();
    ms_traceback *tb = ms_trace_get_object_traceback(p);
    cr_assert_not_null(tb);
    cr_expect_eq(tb->nframes, 2);
    cr_expect_str_eq(tb->frames[0].function, "leaf_alloc");
    cr_expect_str_eq(tb->frames[1].function, "middle");
    free(tb);
    ms_free(p);
}

TRACED_TEST(trace_symbols, builtin_frames_are_left_out, 4)
{
    ms_object *l = make_list();
    KEEP_FRAME();
    ms_traceback *tb = ms_trace_get_object_traceback(l);
    cr_assert_not_null(tb);
    cr_expect_str_eq(tb->frames[0].filename, __FILE__);
    cr_assert_not_null(tb->frames[0].function);
    cr_expect_str_eq(tb->frames[0].function, "make_list");
    cr_assert_geq(tb->nframes, 2);
    cr_expect(strstr(tb->frames[1].function, "builtin_frames_are_left_out") != NULL, "%s", tb->frames[1].function);
    free(tb);
    ms_decref(l);
}

TRACED_TEST(trace_symbols, plain_call_site_comes_from_the_stack, 3)
{
    void *p = plain_alloc(20);
    KEEP_FRAME();
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *st;
    cr_assert_eq(ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st), 1);
    cr_expect(ends_with(st[0].filename, "test_trace_symbols.c"), "%s", st[0].filename);
    cr_expect_eq(st[0].lineno, plain_line);
    free(st);
    ms_snapshot_free(snap);
    ms_free(p);
}

TRACED_TEST(trace_symbols, cumulative_and_all_frames, 8)
{
    void *a = middle(100); /* frames: leaf_alloc, middle, this test */
    KEEP_FRAME();
    void *b = leaf_alloc(10); /* frames: leaf_alloc, this test */
    KEEP_FRAME();
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *st;
    size_t n = ms_snapshot_statistics(snap, MS_STAT_LINENO, true, &st);
    /* leaf_line: both blocks; middle_line: a only; each test line: one block each; then the runner's frames. */
    bool saw_leaf = false, saw_middle = false;
    for (size_t i = 0; i < n; i++) {
        if (st[i].lineno == leaf_line && ends_with(st[i].filename, "test_trace_symbols.c")) {
            saw_leaf = true;
            cr_expect_eq(st[i].size, 110);
            cr_expect_eq(st[i].count, 2);
        }
        if (st[i].lineno == middle_line && ends_with(st[i].filename, "test_trace_symbols.c")) {
            saw_middle = true;
            cr_expect_eq(st[i].size, 100);
            cr_expect_eq(st[i].count, 1);
        }
    }
    cr_expect(saw_leaf && saw_middle);
    cr_expect_eq(st[0].size, 110, "the biggest cumulative key holds both blocks");
    free(st);

    n = ms_snapshot_statistics(snap, MS_STAT_FILENAME, true, &st);
    for (size_t i = 0; i < n; i++)
        if (ends_with(st[i].filename, "test_trace_symbols.c"))
            cr_expect_eq(st[i].count, 2, "a file is counted once per trace, however many frames it has");
    free(st);

    /* Frame 0 of both is leaf_alloc; only `a` went through middle(). */
    ms_trace_filter via_middle = {.inclusive = true, .filename_pattern = "*test_trace_symbols.c",
                                  .lineno = middle_line, .all_frames = true};
    ms_snapshot *f = ms_snapshot_filter(snap, &via_middle, 1);
    ms_snapshot_info info;
    ms_snapshot_get_info(f, &info);
    cr_expect_eq(info.total_size, 100);
    ms_snapshot_free(f);
    via_middle.all_frames = false;
    f = ms_snapshot_filter(snap, &via_middle, 1);
    ms_snapshot_get_info(f, &info);
    cr_expect_eq(info.total_size, 0, "frame 0 alone is never middle()'s line");
    ms_snapshot_free(f);
    via_middle.inclusive = false;
    via_middle.all_frames = true;
    f = ms_snapshot_filter(snap, &via_middle, 1);
    ms_snapshot_get_info(f, &info);
    cr_expect_eq(info.total_size, 10);
    ms_snapshot_free(f);

    ms_snapshot_free(snap);
    ms_free(a);
    ms_free(b);
}

TRACED_TEST(trace_symbols, statistics_after_stop_still_symbolize, 4)
{
    void *p = middle(8);
    KEEP_FRAME();
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_free(p);
    ms_trace_stop();
    ms_trace t;
    cr_assert_eq(ms_snapshot_trace(snap, 0, &t), 0);
    cr_expect_str_eq(t.traceback->frames[1].function, "middle");
    cr_expect_eq(ms_snapshot_trace(snap, 1, &t), -EINVAL);
    cr_expect_eq(ms_trace_get_memory(), 0, "the symbol cache is released when not tracing");
    ms_snapshot_free(snap);
}

TRACED_TEST(trace_symbols, inlined_functions_get_their_own_frames, 4)
{
    void *p = outer_of_inline(24);
    KEEP_FRAME();
    ms_traceback *tb = ms_trace_get_object_traceback(p);
    cr_assert_not_null(tb);
    cr_assert_geq(tb->nframes, 3);
    cr_expect_eq(tb->frames[0].lineno, inlined_line);
    cr_assert_not_null(tb->frames[0].function);
    cr_expect_str_eq(tb->frames[0].function, "inlined_helper");
    cr_assert_not_null(tb->frames[1].function);
    cr_expect_str_eq(tb->frames[1].function, "outer_of_inline");
    cr_expect_str_eq(tb->frames[1].filename, __FILE__);
    cr_expect_eq(tb->frames[1].lineno, outer_line, "the inlined call's own line");
    cr_assert_not_null(tb->frames[2].function);
    cr_expect(strstr(tb->frames[2].function, "inlined_functions_get_their_own_frames") != NULL, "%s",
              tb->frames[2].function);
    free(tb);
    ms_free(p);
}

/*
 * test_trace.c — allocation tracing with one frame: the seed's example, grouping, cumulative statistics,
 * compare_to, peak, clear_traces, filters, realloc/free bookkeeping, printing.
 * Symbolized tracebacks are in test_trace_symbols.c, dump/load in test_trace_io.c.
 *
 * Lines are never hard-coded: a test stores __LINE__ in a variable on the same line as the allocation it
 * checks. Every test ends with tracing stopped and the heap back to where it started (tracecheck.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "../xorshift.h"
#include "helpers.h"
#include "tracecheck.h"



static void setup(void) { trace_check_start(); }

static void teardown(void) { ms_trace_stop(); }

TestSuite(trace, .init = setup, .fini = teardown);

/* n blocks of `size` bytes, allocated at one line whose number goes to *line. The pointer array is libc's. */
static void **alloc_many(size_t n, size_t size, int *line)
{
    void **v = calloc(n, sizeof *v);
    cr_assert_not_null(v);
    *line = __LINE__; for (size_t i = 0; i < n; i++) v[i] = ms_malloc(size);
    for (size_t i = 0; i < n; i++)
        cr_assert_not_null(v[i]);
    return v;
}

static void free_many(void **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ms_free(v[i]);
    free(v);
}

/* The seed: tracemalloc.start(); a = [i for i in range(100000)]; statistics('lineno')[0] is that line. */
TRACED_TEST(trace, seed_list_of_ints_top_line, 1)
{
    ms_object *list = ms_list_new();
    cr_assert_not_null(list);
    size_t before, after;
    ms_trace_get_traced_memory(&before, NULL);
    int line = __LINE__; for (long i = 0; i < 100000; i++) ms_list_append_take(list, ms_int_new(1000 + i));
    ms_trace_get_traced_memory(&after, NULL);
    cr_assert_eq(ms_list_len(list), 100000);

    ms_snapshot *snap = ms_trace_take_snapshot();
    cr_assert_not_null(snap);
    ms_stat *st;
    size_t n = ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st);
    cr_assert_geq(n, 2, "the list's own line and the loop's line");
    cr_expect_str_eq(st[0].filename, __FILE__);
    cr_expect_eq(st[0].lineno, line);
    /* 100,000 ints plus the list's item array, which every append at that line grew (one block). */
    cr_expect_eq(st[0].count, 100001);
    cr_expect_eq(st[0].size, after - before, "everything traced during the loop belongs to its line");
    cr_expect_geq(st[0].size, 100000 * (24 + 8), "ints of at least 24 bytes plus an 8-byte slot each");
    cr_expect_null(st[0].traceback);
    free(st);

    printf("seed top 10:\n");
    cr_expect_gt(ms_trace_print_top(stdout, snap, MS_STAT_LINENO, 10), 0);
    ms_snapshot_free(snap);
    ms_decref(list);
}

TRACED_TEST(trace, malloc_loop_counts_exact, 1)
{
    int line;
    void **v = alloc_many(1000, 40, &line);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *st;
    size_t n = ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st);
    cr_assert_eq(n, 1);
    cr_expect_eq(st[0].lineno, line);
    cr_expect_eq(st[0].count, 1000);
    cr_expect_eq(st[0].size, 1000 * 40, "requested sizes, not block sizes");
    free(st);
    ms_snapshot_info info;
    ms_snapshot_get_info(snap, &info);
    cr_expect_eq(info.total_count, 1000);
    cr_expect_eq(info.total_size, 40000);
    cr_expect_eq(info.ntraces, 1);
    cr_expect_eq(info.traceback_limit, 1);
    cr_expect_gt(info.timestamp_ns, 0);
    ms_snapshot_free(snap);
    free_many(v, 1000);
}

CHECKED_TEST(trace, start_checks_arguments_and_snapshot_needs_tracing)
{
    cr_expect_eq(ms_trace_start(0), -EINVAL);
    cr_expect_eq(ms_trace_start(MS_TRACE_MAX_FRAMES + 1), -EINVAL);
    cr_expect_not(ms_trace_is_tracing());
    errno = 0;
    cr_expect_null(ms_trace_take_snapshot());
    cr_expect_eq(errno, EINVAL);
    cr_assert_eq(ms_trace_start(3), 0);
    cr_expect_eq(ms_trace_get_traceback_limit(), 3);
    cr_expect_eq(ms_trace_start(1), 0, "starting again only changes the depth");
    cr_expect_eq(ms_trace_get_traceback_limit(), 1);
}

CHECKED_TEST(trace, blocks_from_before_start_are_not_traced)
{
    void *old = ms_malloc(100);
    cr_assert_eq(ms_trace_start(1), 0);
    void *p = ms_malloc(50);
    ms_free(old); /* not traced: harmless */
    cr_expect_eq(traced_now(), 50);
    cr_expect_eq(traced_peak(), 50);
    ms_free(p);
    cr_expect_eq(traced_now(), 0);
    cr_expect_eq(traced_peak(), 50);
}

TRACED_TEST(trace, grouping_filename_lineno_traceback, 1)
{
    int l1 = __LINE__; void *a = ms_malloc(100), *b = ms_malloc(100);
    int l2 = __LINE__; void *c = ms_malloc(30);
    void *d = ms_malloc_at(7, "other.c", 5);
    void *e = ms_malloc_at(9, "other.c", 6);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *st;

    size_t n = ms_snapshot_statistics(snap, MS_STAT_FILENAME, false, &st);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(st[0].filename, __FILE__);
    cr_expect_eq(st[0].lineno, 0);
    cr_expect_eq(st[0].size, 230);
    cr_expect_eq(st[0].count, 3);
    cr_expect_str_eq(st[1].filename, "other.c");
    cr_expect_eq(st[1].size, 16);
    cr_expect_eq(st[1].count, 2);
    free(st);

    n = ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st);
    cr_assert_eq(n, 4);
    cr_expect_eq(st[0].lineno, l1);
    cr_expect_eq(st[0].size, 200);
    cr_expect_eq(st[0].count, 2);
    cr_expect_eq(st[1].lineno, l2);
    cr_expect_eq(st[1].size, 30);
    cr_expect_str_eq(st[2].filename, "other.c");
    cr_expect_eq(st[2].lineno, 6, "sorted by size: 9 bytes before 7");
    cr_expect_eq(st[3].lineno, 5);
    free(st);

    n = ms_snapshot_statistics(snap, MS_STAT_TRACEBACK, false, &st);
    cr_assert_eq(n, 4, "one frame: tracebacks are lines");
    cr_assert_not_null(st[0].traceback);
    cr_expect_eq(st[0].traceback->nframes, 1);
    cr_expect_eq(st[0].traceback->frames[0].lineno, l1);
    cr_expect_null(st[0].traceback->frames[0].function, "no function without nframes > 1");
    free(st);

    errno = 0;
    cr_expect_eq(ms_snapshot_statistics(snap, MS_STAT_TRACEBACK, true, &st), 0);
    cr_expect_null(st);
    cr_expect_eq(errno, EINVAL, "cumulative needs a frame key");
    cr_expect_eq(ms_snapshot_statistics(snap, (ms_stat_key)42, false, &st), 0);
    cr_expect_eq(errno, EINVAL);

    ms_snapshot_free(snap);
    free_each(a, b, c, d, e, NULL);
}

TRACED_TEST(trace, plain_function_has_unknown_site, 1)
{
    void *(*plain)(size_t) = ms_malloc; /* the function, not the macro */
    void *p = plain(64);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *st;
    cr_assert_eq(ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st), 1);
    cr_expect_str_eq(st[0].filename, "<unknown>");
    cr_expect_eq(st[0].lineno, 0);
    free(st);
    ms_snapshot_free(snap);
    ms_free(p);
}

TRACED_TEST(trace, realloc_moves_the_trace_to_its_line, 1)
{
    char *p = ms_malloc(16);
    int line = __LINE__; p = ms_realloc(p, 4000); /* pooled -> system: the block moves */
    cr_assert_not_null(p);
    cr_expect_eq(traced_now(), 4000);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *st;
    cr_assert_eq(ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st), 1);
    cr_expect_eq(st[0].lineno, line);
    cr_expect_eq(st[0].count, 1);
    cr_expect_eq(st[0].size, 4000);
    free(st);
    ms_snapshot_free(snap);
    int line2 = __LINE__; p = ms_realloc(p, 3990); /* may stay in place: still one trace */
    cr_expect_eq(traced_now(), 3990);
    ms_traceback *tb = ms_trace_get_object_traceback(p);
    cr_assert_not_null(tb);
    cr_expect_eq(tb->frames[0].lineno, line2);
    free(tb);
    ms_free(p);
    cr_expect_eq(traced_now(), 0);
}

TRACED_TEST(trace, object_traceback, 1)
{
    int line = __LINE__; void *p = ms_malloc(24);
    ms_traceback *tb = ms_trace_get_object_traceback(p);
    cr_assert_not_null(tb);
    cr_expect_eq(tb->nframes, 1);
    cr_expect_str_eq(tb->frames[0].filename, __FILE__);
    cr_expect_eq(tb->frames[0].lineno, line);
    free(tb);
    errno = 0;
    cr_expect_null(ms_trace_get_object_traceback((char *)p + 1));
    cr_expect_eq(errno, ENOENT);
    /* An object of a collected type: its block starts with the collector's header, before the object. */
    int lline = __LINE__; ms_object *list = ms_list_new();
    tb = ms_trace_get_object_traceback(list);
    cr_assert_not_null(tb, "an ms_new object is found from its object pointer");
    cr_expect_eq(tb->frames[0].lineno, lline);
    free(tb);
    ms_decref(list);
    void *freed = test_hide(p);
    ms_free(p);
    cr_expect_null(ms_trace_get_object_traceback(freed), "freed blocks are forgotten");
}

CHECKED_TEST(trace, cumulative_counts_each_key_once_per_trace)
{
    /* With one frame, cumulative equals non-cumulative. */
    cr_assert_eq(ms_trace_start(1), 0);
    int line;
    void **v = alloc_many(10, 8, &line);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *a, *b;
    size_t na = ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &a);
    size_t nb = ms_snapshot_statistics(snap, MS_STAT_LINENO, true, &b);
    expect_same_rows(a, na, b, nb);
    free(a);
    free(b);
    ms_snapshot_free(snap);
    free_many(v, 10);
}

TRACED_TEST(trace, compare_to_shows_growing_line_first, 1)
{
    int grow_line = 0, shrink_line = 0, keep_line = 0;
    void *grow[300] = {0}, *shrink[50] = {0}, *keep[20] = {0};
    for (int i = 0; i < 100; i++) {
        grow_line = __LINE__; grow[i] = ms_malloc(64);
    }
    for (int i = 0; i < 50; i++) {
        shrink_line = __LINE__; shrink[i] = ms_malloc(32);
    }
    for (int i = 0; i < 20; i++) {
        keep_line = __LINE__; keep[i] = ms_malloc(100);
    }
    ms_snapshot *old = ms_trace_take_snapshot();
    for (int i = 100; i < 300; i++)
        grow[i] = ms_malloc_at(64, __FILE__, grow_line); /* same line, more blocks */
    for (int i = 0; i < 50; i++) {
        ms_free(shrink[i]);
        shrink[i] = NULL;
    }
    int new_line = __LINE__; void *fresh = ms_malloc(10);
    ms_snapshot *now = ms_trace_take_snapshot();

    ms_stat_diff *d;
    size_t n = ms_snapshot_compare_to(now, old, MS_STAT_LINENO, false, &d);
    cr_assert_eq(n, 4);
    cr_expect_eq(d[0].lineno, grow_line, "the growing line comes first");
    cr_expect_eq(d[0].size, 300 * 64);
    cr_expect_eq(d[0].size_diff, 200 * 64);
    cr_expect_eq(d[0].count, 300);
    cr_expect_eq(d[0].count_diff, 200);
    cr_expect_eq(d[1].lineno, shrink_line);
    cr_expect_eq(d[1].size, 0);
    cr_expect_eq(d[1].size_diff, -50 * 32);
    cr_expect_eq(d[1].count, 0);
    cr_expect_eq(d[1].count_diff, -50);
    cr_expect_eq(d[2].lineno, new_line);
    cr_expect_eq(d[2].size_diff, 10);
    cr_expect_eq(d[2].count_diff, 1);
    cr_expect_eq(d[3].lineno, keep_line);
    cr_expect_eq(d[3].size_diff, 0);
    cr_expect_eq(d[3].size, 2000);
    free(d);

    printf("compare_to:\n");
    cr_expect_eq(ms_trace_print_diff(stdout, now, old, MS_STAT_LINENO, 10), 4);

    n = ms_snapshot_compare_to(now, old, MS_STAT_FILENAME, false, &d);
    cr_assert_eq(n, 1);
    cr_expect_eq(d[0].size_diff, 200 * 64 - 50 * 32 + 10);
    free(d);

    ms_snapshot_free(old);
    ms_snapshot_free(now);
    for (int i = 0; i < 300; i++)
        ms_free(grow[i]);
    for (int i = 0; i < 20; i++)
        ms_free(keep[i]);
    ms_free(fresh);
}

TRACED_TEST(trace, peak_and_reset_peak, 1)
{
    void *big = ms_malloc(100000);
    void *small = ms_malloc(100);
    cr_expect_eq(traced_now(), 100100);
    cr_expect_eq(traced_peak(), 100100);
    ms_free(big);
    cr_expect_eq(traced_now(), 100);
    cr_expect_eq(traced_peak(), 100100, "the peak remembers");
    ms_trace_reset_peak();
    cr_expect_eq(traced_peak(), 100);
    void *mid = ms_malloc(5000);
    ms_free(mid);
    cr_expect_eq(traced_now(), 100);
    cr_expect_eq(traced_peak(), 5100);
    ms_free(small);
}

TRACED_TEST(trace, clear_traces_forgets_everything, 1)
{
    int line;
    void **v = alloc_many(500, 16, &line);
    cr_expect_gt(ms_trace_get_memory(), 0);
    ms_trace_clear_traces();
    cr_expect(ms_trace_is_tracing(), "clearing does not stop tracing");
    cr_expect_eq(traced_now(), 0);
    cr_expect_eq(traced_peak(), 0);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_snapshot_info info;
    ms_snapshot_get_info(snap, &info);
    cr_expect_eq(info.ntraces, 0);
    ms_stat *st;
    cr_expect_eq(ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st), 0);
    cr_expect_null(st);
    ms_snapshot_free(snap);
    free_many(v, 500); /* frees of forgotten blocks are harmless */
    cr_expect_eq(traced_now(), 0);
    void *p = ms_malloc(7); /* tracing goes on */
    cr_expect_eq(traced_now(), 7);
    ms_free(p);
}

TRACED_TEST(trace, filters_like_tracemalloc, 1)
{
    int here = __LINE__; void *a = ms_malloc(10);
    void *b = ms_malloc_at(20, "lib/alpha.c", 1);
    void *c = ms_malloc_at(30, "lib/alpha.c", 2);
    void *d = ms_malloc_at(40, "src/beta.c", 1);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_snapshot_info info;

    ms_trace_filter only_lib = {.inclusive = true, .filename_pattern = "lib/*"};
    ms_snapshot *f = ms_snapshot_filter(snap, &only_lib, 1);
    cr_assert_not_null(f);
    ms_snapshot_get_info(f, &info);
    cr_expect_eq(info.total_size, 50);
    ms_snapshot_free(f);

    ms_trace_filter line_two = {.inclusive = true, .filename_pattern = "*alpha.c", .lineno = 2};
    f = ms_snapshot_filter(snap, &line_two, 1);
    ms_snapshot_get_info(f, &info);
    cr_expect_eq(info.total_size, 30);
    ms_snapshot_free(f);

    ms_trace_filter not_alpha[] = {{.inclusive = false, .filename_pattern = "*alpha*"},
                                   {.inclusive = false, .filename_pattern = __FILE__, .lineno = here}};
    f = ms_snapshot_filter(snap, not_alpha, 2);
    ms_snapshot_get_info(f, &info);
    cr_expect_eq(info.total_size, 40, "only beta is left");
    ms_snapshot_free(f);

    /* Two inclusive filters: either may match; an exclusive one still wins. */
    ms_trace_filter mix[] = {{.inclusive = true, .filename_pattern = "src/*"},
                             {.inclusive = true, .filename_pattern = "lib/*"},
                             {.inclusive = false, .filename_pattern = "lib/alpha.c", .lineno = 1}};
    f = ms_snapshot_filter(snap, mix, 3);
    ms_snapshot_get_info(f, &info);
    cr_expect_eq(info.total_size, 70);
    ms_stat *st;
    cr_expect_eq(ms_snapshot_statistics(f, MS_STAT_LINENO, false, &st), 2);
    free(st);
    ms_snapshot_free(f);

    f = ms_snapshot_filter(snap, NULL, 0);
    ms_snapshot_get_info(f, &info);
    cr_expect_eq(info.total_size, 100, "no filter: a copy");
    ms_snapshot_free(f);

    ms_trace_filter bad = {.inclusive = true, .filename_pattern = NULL};
    errno = 0;
    cr_expect_null(ms_snapshot_filter(snap, &bad, 1));
    cr_expect_eq(errno, EINVAL);

    ms_snapshot_free(snap);
    free_each(a, b, c, d, NULL);
}

TRACED_TEST(trace, snapshot_outlives_stop, 1)
{
    int line = __LINE__; void *p = ms_malloc(33);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_trace_stop();
    ms_free(p);
    ms_stat *st;
    cr_assert_eq(ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st), 1);
    cr_expect_eq(st[0].lineno, line);
    cr_expect_str_eq(st[0].filename, __FILE__);
    free(st);
    ms_snapshot_free(snap);
}

TRACED_TEST(trace, print_top_matches_python, 1)
{
    void **v = calloc(3000, sizeof *v);
    for (int i = 0; i < 3000; i++)
        v[i] = ms_malloc_at(36, "demo.c", 123);
    void *big = ms_malloc_at(3u << 20, "demo.c", 7);
    ms_snapshot *snap = ms_trace_take_snapshot();
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    cr_expect_eq(ms_trace_print_top(out, snap, MS_STAT_LINENO, 10), 2);
    fclose(out);
    cr_expect_str_eq(text, "demo.c:7: size=3072 KiB, count=1, average=3072 KiB\n"
                           "demo.c:123: size=105 KiB, count=3000, average=36 B\n");
    free(text);
    ms_snapshot_free(snap);
    ms_free(big);
    free_many(v, 3000);
}

CHECKED_TEST(trace, format_size_like_python)
{
    char b[32];
    cr_expect_str_eq(ms_trace_format_size(0, false, b, sizeof b), "0 B");
    cr_expect_str_eq(ms_trace_format_size(36, false, b, sizeof b), "36 B");
    cr_expect_str_eq(ms_trace_format_size(10239, false, b, sizeof b), "10239 B");
    cr_expect_str_eq(ms_trace_format_size(10240, false, b, sizeof b), "10.0 KiB");
    cr_expect_str_eq(ms_trace_format_size(3.4 * 1024 * 1024, false, b, sizeof b), "3482 KiB");
    cr_expect_str_eq(ms_trace_format_size(50.0 * 1024 * 1024, false, b, sizeof b), "50.0 MiB");
    cr_expect_str_eq(ms_trace_format_size(200 * 1024, false, b, sizeof b), "200 KiB");
    cr_expect_str_eq(ms_trace_format_size(-1536, true, b, sizeof b), "-1536 B");
    cr_expect_str_eq(ms_trace_format_size(12800, true, b, sizeof b), "+12.5 KiB");
    cr_expect_str_eq(ms_trace_format_size(0, true, b, sizeof b), "+0 B");
}

/* Sizes of 4 GiB and more do not fit the table's 32-bit size field and take its side path. */
TRACED_TEST(trace, sizes_beyond_four_gib, 1)
{
    const size_t huge = (size_t)5 << 30;
    int line = __LINE__; char *p = ms_malloc(huge); /* untouched: the kernel maps pages lazily */
    if (!p)
        cr_skip_test("no 5 GiB of address space here");
    cr_expect_eq(traced_now(), huge);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_stat *st;
    cr_assert_eq(ms_snapshot_statistics(snap, MS_STAT_LINENO, false, &st), 1);
    cr_expect_eq(st[0].size, huge);
    cr_expect_eq(st[0].lineno, line);
    free(st);
    ms_snapshot_free(snap);
    p = ms_realloc(p, 100); /* back to a small size, and to the pools */
    cr_assert_not_null(p);
    cr_expect_eq(traced_now(), 100);
    ms_free(p);
    cr_expect_eq(traced_now(), 0);
}

/* Churn across many pages, checked against a plain model: the table keeps exactly the live blocks. */
TRACED_TEST(trace, churn_matches_model, 1)
{
    enum { SLOTS = 5000, OPS = 200000 };
    void **slot = calloc(SLOTS, sizeof *slot);
    size_t *size = calloc(SLOTS, sizeof *size);
    uint64_t x = 88172645463325252u, live = 0, peak = 0;
    for (int i = 0; i < OPS; i++) {
        test_xorshift64(&x);
        size_t s = (size_t)(x % SLOTS);
        if (slot[s] && x % 3 == 0) {
            size_t n = 1 + (size_t)(x >> 20) % 600; /* crosses the pool threshold both ways */
            slot[s] = ms_realloc(slot[s], n);
            live = live - size[s] + n;
            size[s] = n;
        } else {
            ms_free(slot[s]);
            live -= size[s];
            size[s] = 1 + (size_t)(x >> 24) % 400;
            slot[s] = ms_malloc(size[s]);
            live += size[s];
        }
        peak = live > peak ? live : peak;
        if (i % 50000 == 0)
            cr_assert_eq(ms_trace_validate(), 0);
    }
    cr_expect_eq(traced_now(), live);
    cr_expect_eq(traced_peak(), peak);
    ms_snapshot *snap = ms_trace_take_snapshot();
    ms_snapshot_info info;
    ms_snapshot_get_info(snap, &info);
    cr_expect_eq(info.total_size, live);
    size_t n = 0;
    for (size_t i = 0; i < SLOTS; i++)
        n += slot[i] != NULL;
    cr_expect_eq(info.total_count, n);
    ms_trace t;
    for (size_t i = 0; i < info.ntraces; i++) {
        cr_assert_eq(ms_snapshot_trace(snap, i, &t), 0);
        cr_expect_str_eq(t.traceback->frames[0].filename, __FILE__);
    }
    ms_snapshot_free(snap);
    for (size_t i = 0; i < SLOTS; i++)
        ms_free(slot[i]);
    free(slot);
    free(size);
    cr_expect_eq(traced_now(), 0);
}

TRACED_TEST(trace, traceback_key_compare_and_print, 1)
{
    void *a = ms_malloc_at(100, "x.c", 1);
    ms_snapshot *old = ms_trace_take_snapshot();
    void *b = ms_malloc_at(300, "x.c", 2);
    ms_snapshot *now = ms_trace_take_snapshot();
    ms_stat_diff *d;
    size_t n = ms_snapshot_compare_to(now, old, MS_STAT_TRACEBACK, false, &d);
    cr_assert_eq(n, 2);
    cr_assert_not_null(d[0].traceback);
    cr_expect_eq(d[0].traceback->frames[0].lineno, 2);
    cr_expect_eq(d[0].size_diff, 300);
    cr_expect_eq(d[1].size_diff, 0);
    free(d);
    errno = 0;
    cr_expect_eq(ms_snapshot_compare_to(now, old, MS_STAT_TRACEBACK, true, &d), 0);
    cr_expect_eq(errno, EINVAL);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_expect_eq(ms_trace_print_top(out, now, MS_STAT_TRACEBACK, 1), 1);
    cr_expect_eq(ms_trace_print_top(out, now, MS_STAT_FILENAME, 0), 1);
    fclose(out);
    cr_expect_str_eq(text, "x.c:2: size=300 B, count=1, average=300 B\n"
                           "  File \"x.c\", line 2, in ??\n"
                           "x.c:0: size=400 B, count=2, average=200 B\n");
    free(text);
    ms_snapshot_free(old);
    ms_snapshot_free(now);
    ms_free(a);
    ms_free(b);
}

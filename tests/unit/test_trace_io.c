/*
 * test_trace_io.c — ms_snapshot_dump / ms_snapshot_load (docs/TRACE_FORMAT.md): round trip, and rejection of
 * truncated, corrupted, hostile (valid checksum, bad content) and future-version files, without crashing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "tracecheck.h"

static char dir[] = "/tmp/ms_trace_io_XXXXXX";
static char path[sizeof dir + 32];


static void setup(void)
{
    trace_check_start();
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/snap.mst", dir);
}

/* Cleanup only: the checks run in the test body (tracecheck.h). */
static void teardown(void)
{
    ms_trace_stop();
    unlink(path);
    rmdir(dir);
}

TestSuite(trace_io, .init = setup, .fini = teardown);

static __attribute__((noinline)) void *helper(size_t n)
{
    void *p = ms_malloc(n);
    __asm__ volatile("" ::: "memory");
    return p;
}

/* A snapshot with several lines, one of them with a 4-frame traceback. */
static ms_snapshot *sample(void **blocks, size_t n)
{
    cr_assert_eq(ms_trace_start(4), 0);
    for (size_t i = 0; i < n; i++)
        blocks[i] = i % 3 == 0 ? helper(10 + i) : ms_malloc_at(100 + i, i % 3 == 1 ? "a.c" : "b.c", (int)i % 7);
    ms_snapshot *s = ms_trace_take_snapshot();
    cr_assert_not_null(s);
    return s;
}

static void *read_all(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc(*len);
    cr_assert_eq(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

static void write_all(const char *p, const void *data, size_t len)
{
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return crc ^ 0xFFFFFFFFu;
}

/* Rewrites the trailer so that a deliberately broken body passes the checksum. */
static void fix_crc(unsigned char *data, size_t len)
{
    uint32_t c = crc32_ieee(data, len - 4);
    for (int i = 0; i < 4; i++)
        data[len - 4 + (size_t)i] = (unsigned char)(c >> (8 * i));
}

static void expect_same_stats(const ms_snapshot *a, const ms_snapshot *b, ms_stat_key key)
{
    ms_stat *sa, *sb;
    size_t na = ms_snapshot_statistics(a, key, false, &sa);
    size_t nb = ms_snapshot_statistics(b, key, false, &sb);
    expect_same_rows(sa, na, sb, nb);
    free(sa);
    free(sb);
}

CHECKED_TEST(trace_io, round_trip)
{
    void *blocks[30];
    ms_snapshot *s = sample(blocks, 30);
    cr_assert_eq(ms_snapshot_dump(s, path), 0);
    char err[256] = "";
    ms_snapshot *back = ms_snapshot_load_verbose(path, err, sizeof err);
    cr_assert_not_null(back, "load failed: %s", err);
    ms_snapshot_info ia, ib;
    ms_snapshot_get_info(s, &ia);
    ms_snapshot_get_info(back, &ib);
    cr_expect_eq(ia.traceback_limit, ib.traceback_limit);
    cr_expect_eq(ia.timestamp_ns, ib.timestamp_ns);
    cr_expect_eq(ia.total_size, ib.total_size);
    cr_expect_eq(ia.total_count, ib.total_count);
    cr_expect_eq(ia.traced_peak, ib.traced_peak);
    cr_expect_eq(ia.ntraces, ib.ntraces);
    expect_same_stats(s, back, MS_STAT_FILENAME);
    expect_same_stats(s, back, MS_STAT_LINENO);
    expect_same_stats(s, back, MS_STAT_TRACEBACK);

    /* A loaded snapshot compares against a live one: nothing changed. */
    ms_stat_diff *d;
    size_t n = ms_snapshot_compare_to(s, back, MS_STAT_TRACEBACK, false, &d);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(d[i].size_diff, 0);
        cr_expect_eq(d[i].count_diff, 0);
    }
    free(d);

    /* And it can be written again, byte for byte the same. */
    char path2[sizeof path + 4];
    snprintf(path2, sizeof path2, "%s.2", path);
    cr_assert_eq(ms_snapshot_dump(back, path2), 0);
    size_t l1, l2;
    void *d1 = read_all(path, &l1), *d2 = read_all(path2, &l2);
    cr_expect_eq(l1, l2);
    cr_expect(l1 == l2 && memcmp(d1, d2, l1) == 0, "dump(load(dump(s))) == dump(s)");
    free(d1);
    free(d2);
    unlink(path2);

    ms_snapshot_free(back);
    ms_snapshot_free(s);
    for (size_t i = 0; i < 30; i++)
        ms_free(blocks[i]);
}

TRACED_TEST(trace_io, empty_snapshot_round_trip, 1)
{
    ms_snapshot *s = ms_trace_take_snapshot();
    cr_assert_eq(ms_snapshot_dump(s, path), 0);
    ms_snapshot *back = ms_snapshot_load(path);
    cr_assert_not_null(back);
    ms_snapshot_info info;
    ms_snapshot_get_info(back, &info);
    cr_expect_eq(info.ntraces, 0);
    ms_snapshot_free(back);
    ms_snapshot_free(s);
}

CHECKED_TEST(trace_io, truncated_files_are_rejected)
{
    void *blocks[12];
    ms_snapshot *s = sample(blocks, 12);
    cr_assert_eq(ms_snapshot_dump(s, path), 0);
    size_t len;
    unsigned char *data = read_all(path, &len);
    for (size_t cut = 0; cut < len; cut++) {
        write_all(path, data, cut);
        char err[256] = "";
        errno = 0;
        ms_snapshot *bad = ms_snapshot_load_verbose(path, err, sizeof err);
        cr_expect_null(bad, "a file cut at %zu of %zu bytes was accepted", cut, len);
        ms_snapshot_free(bad);
        cr_expect_eq(errno, EBADMSG, "cut at %zu: errno %d", cut, errno);
        cr_expect_neq(err[0], '\0', "a reason is given");
    }
    write_all(path, data, len / 2);
    char err[256];
    cr_expect_null(ms_snapshot_load_verbose(path, err, sizeof err));
    cr_expect(strstr(err, "truncated") != NULL, "%s", err);
    free(data);
    ms_snapshot_free(s);
    for (size_t i = 0; i < 12; i++)
        ms_free(blocks[i]);
}

CHECKED_TEST(trace_io, corrupted_files_are_rejected)
{
    void *blocks[12];
    ms_snapshot *s = sample(blocks, 12);
    cr_assert_eq(ms_snapshot_dump(s, path), 0);
    size_t len;
    unsigned char *data = read_all(path, &len);
    unsigned char *copy = malloc(len);
    /* Every single-byte flip is caught (CRC-32 detects all burst errors up to 32 bits). */
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, data, len);
        copy[i] ^= 0x5a;
        write_all(path, copy, len);
        errno = 0;
        ms_snapshot *bad = ms_snapshot_load(path);
        cr_expect_null(bad, "a flip at byte %zu was accepted", i);
        ms_snapshot_free(bad);
        cr_expect(errno == EBADMSG || errno == ENOTSUP, "flip at %zu: errno %d", i, errno);
    }
    char err[256];
    memcpy(copy, data, len);
    copy[len / 2] ^= 1;
    write_all(path, copy, len);
    cr_expect_null(ms_snapshot_load_verbose(path, err, sizeof err));
    cr_expect(strstr(err, "checksum") != NULL, "%s", err);

    /* Appended garbage. */
    unsigned char *longer = malloc(len + 3);
    memcpy(longer, data, len);
    memcpy(longer + len, "xyz", 3);
    write_all(path, longer, len + 3);
    cr_expect_null(ms_snapshot_load(path));
    free(longer);

    /* Hostile: correct checksum, broken content. Header layout: docs/TRACE_FORMAT.md. */
    memcpy(copy, data, len);
    for (size_t at = 44; at <= 48; at += 4) { /* nstrings, then ntraces: more than the file can hold */
        memcpy(copy, data, len);
        copy[at] = copy[at + 1] = copy[at + 2] = 0xff;
        fix_crc(copy, len);
        write_all(path, copy, len);
        errno = 0;
        cr_expect_null(ms_snapshot_load_verbose(path, err, sizeof err));
        cr_expect_eq(errno, EBADMSG, "%s", err);
    }

    memcpy(copy, data, len);
    copy[40] = 0; /* traceback limit 0 */
    fix_crc(copy, len);
    write_all(path, copy, len);
    cr_expect_null(ms_snapshot_load(path));
    cr_expect_eq(errno, EBADMSG);

    memcpy(copy, data, len);
    copy[8] = 2; /* a version from the future */
    fix_crc(copy, len);
    write_all(path, copy, len);
    cr_expect_null(ms_snapshot_load_verbose(path, err, sizeof err));
    cr_expect_eq(errno, ENOTSUP);
    cr_expect(strstr(err, "version 2") != NULL, "%s", err);

    /* Every byte of the body replaced by 0xff, checksum fixed: bounds checks alone must hold. */
    for (size_t i = 56; i + 4 < len; i++) {
        memcpy(copy, data, len);
        copy[i] = 0xff;
        fix_crc(copy, len);
        write_all(path, copy, len);
        ms_snapshot *maybe = ms_snapshot_load(path);
        if (maybe) { /* a size or a line may legitimately change: it must still be usable */
            ms_stat *st;
            free((ms_snapshot_statistics(maybe, MS_STAT_TRACEBACK, false, &st), st));
            ms_snapshot_free(maybe);
        }
    }

    errno = 0;
    cr_expect_null(ms_snapshot_load("/nonexistent/dir/snap.mst"));
    cr_expect_eq(errno, ENOENT);
    cr_expect_neq(ms_snapshot_dump(s, "/nonexistent/dir/snap.mst"), 0);

    free(copy);
    free(data);
    ms_snapshot_free(s);
    for (size_t i = 0; i < 12; i++)
        ms_free(blocks[i]);
}

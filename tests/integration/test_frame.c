/*
 * tests/integration/test_frame.c — the protocol's pure parts (daemon/frame.c, daemon/message.c, the snapshot
 * diff) on hand-made byte buffers: the edge cases the integration tests reach only by luck. Suite "integration"
 * because it links the daemon's code, which the unit suite (libmemscope only) does not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "fs.h"
#include "history.h"
#include "message.h"
#include "scratch_model.h"
#include "snapshot.h"

static size_t frame(uint8_t *out, const char *payload)
{
    size_t n = strlen(payload);
    msd_frame_header(out, n);
    memcpy(out + 4, payload, n);
    return n + 4;
}

Test(frame, decodes_whole_frames_and_waits_for_more)
{
    uint8_t buf[256];
    size_t n = frame(buf, "{\"type\":\"bye\"}");
    msd_frame f;
    for (size_t cut = 0; cut < n; cut++)
        cr_expect_eq(msd_frame_decode(buf, cut, MSD_FRAME_MAX, &f), 0, "truncated at %zu: need more", cut);
    cr_assert_eq(msd_frame_decode(buf, n, MSD_FRAME_MAX, &f), (long)n);
    cr_expect_eq(f.len, n - 4);
    cr_expect_eq(f.payload, buf + 4);
    cr_expect_not(f.binary);
    /* Two frames back to back: the first is returned alone. */
    size_t m = frame(buf + n, "{\"type\":\"x\"}");
    cr_expect_eq(msd_frame_decode(buf, n + m, MSD_FRAME_MAX, &f), (long)n);
}

Test(frame, rejects_zero_and_oversized_lengths)
{
    msd_frame f;
    uint8_t zero[4] = {0, 0, 0, 0};
    cr_expect_eq(msd_frame_decode(zero, 4, MSD_FRAME_MAX, &f), -EMSGSIZE);
    uint8_t big[4];
    msd_frame_header(big, MSD_FRAME_MAX + 1);
    cr_expect_eq(msd_frame_decode(big, 4, MSD_FRAME_MAX, &f), -EMSGSIZE, "decided from the header alone");
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    cr_expect_eq(msd_frame_decode(huge, 4, MSD_FRAME_MAX, &f), -EMSGSIZE);
    uint8_t max[4];
    msd_frame_header(max, MSD_FRAME_MAX);
    cr_expect_eq(msd_frame_decode(max, 4, MSD_FRAME_MAX, &f), 0, "exactly the maximum is allowed");
}

/* A binary frame (bit 31 of the length word, docs/PROTOCOL.md section 6) of payload len: id, then data bytes. */
static size_t binary_frame(uint8_t *out, uint32_t len, uint32_t id, const char *data)
{
    uint32_t word = len | MSC_FRAME_BINARY;
    uint8_t h[8] = {word >> 24, word >> 16, word >> 8, word, id >> 24, id >> 16, id >> 8, id};
    memcpy(out, h, 8);
    if (data)
        memcpy(out + 8, data, len - 4);
    return 4 + len;
}

Test(frame, binary_frames_carry_an_id_and_bytes)
{
    uint8_t buf[64];
    size_t n = binary_frame(buf, 4 + 5, 0x01020304, "MSHG!");
    msd_frame f;
    for (size_t cut = 0; cut < n; cut++)
        cr_expect_eq(msd_frame_decode(buf, cut, MSD_FRAME_MAX, &f), 0, "truncated at %zu: need more", cut);
    cr_assert_eq(msd_frame_decode(buf, n, MSD_FRAME_MAX, &f), (long)n);
    cr_expect(f.binary);
    cr_expect_eq(f.id, 0x01020304u, "the id is big-endian");
    cr_expect_eq(f.len, 9);
    cr_expect_eq(f.data, buf + 8);
    cr_expect_eq(f.data_len, 5);
    cr_expect_arr_eq(f.data, "MSHG!", 5);
    /* The smallest: an id and one byte. */
    n = binary_frame(buf, 5, 7, "x");
    cr_expect_eq(msd_frame_decode(buf, n, MSD_FRAME_MAX, &f), (long)n);
    cr_expect_eq(f.data_len, 1);
}

Test(frame, binary_frames_without_data_or_too_large_are_refused)
{
    msd_frame f;
    uint8_t buf[16];
    for (uint32_t len = 0; len < MSD_FRAME_BINARY_MIN; len++) {
        binary_frame(buf, len, 1, NULL);
        cr_expect_eq(msd_frame_decode(buf, 4, MSD_FRAME_MAX, &f), -EMSGSIZE, "payload of %u bytes", len);
    }
    binary_frame(buf, MSD_FRAME_MAX + 1, 1, NULL);
    cr_expect_eq(msd_frame_decode(buf, 8, MSD_FRAME_MAX, &f), -EMSGSIZE, "decided from the header alone");
    binary_frame(buf, MSD_FRAME_MAX, 1, NULL);
    cr_expect_eq(msd_frame_decode(buf, 8, MSD_FRAME_MAX, &f), 0, "exactly the maximum is allowed");
}

static int parse(const char *s, msd_msg *m)
{
    char err[200];
    return msd_msg_parse((const uint8_t *)s, strlen(s), scratch(), m, err, sizeof(err));
}

Test(frame, messages_are_validated)
{
    msd_msg m;
    cr_expect_eq(parse("not json", &m), -EPROTO);
    cr_expect_eq(parse("[1,2]", &m), -EPROTO);
    cr_expect_eq(parse("{\"type\":1}", &m), -EPROTO);
    cr_expect_eq(parse("{\"type\":\"bye\"} x", &m), -EPROTO, "trailing bytes");
    cr_expect_eq(msd_msg_parse((const uint8_t *)"{\"type\":\"bye\"}\0", 15, scratch(), &m, NULL, 0), -EPROTO, "NUL byte");
    cr_expect_eq(parse("{\"type\":\"hello\",\"protocol\":1,\"app\":\"a\"}", &m), -EPROTO, "hello without pid");
    cr_expect_eq(parse("{\"type\":\"hello\",\"protocol\":1,\"pid\":5,\"app\":\"\"}", &m), -EPROTO, "empty name");
    cr_expect_eq(parse("{\"type\":\"stats\",\"heap\":[]}", &m), -EPROTO, "heap must be an object");
    cr_expect_eq(parse("{\"type\":\"stats\",\"types\":[{\"alive\":1}]}", &m), -EPROTO, "type without name");
    cr_expect_eq(parse("{\"type\":\"reply\",\"id\":0,\"ok\":true}", &m), -EPROTO, "id 0");

    cr_assert_eq(parse("{\"type\":\"hello\",\"protocol\":2,\"pid\":5,\"app\":\"a\",\"argv\":[\"x\"]} ", &m), 0);
    cr_expect_eq(m.type, MSD_MSG_HELLO);
    cr_expect_eq(m.protocol, 2, "the version is reported, the caller refuses it");
    cr_expect_eq(m.pid, 5);
    msd_msg_free(&m);
    cr_assert_eq(parse("{\"type\":\"reply\",\"id\":7,\"ok\":false}", &m), 0);
    cr_expect_eq(m.id, 7);
    cr_expect_eq(m.ok, 0);
    cr_expect(m.error != NULL);
    msd_msg_free(&m);
    cr_assert_eq(parse("{\"type\":\"future-thing\"}", &m), 0);
    cr_expect_eq(m.type, MSD_MSG_UNKNOWN);
    msd_msg_free(&m);
}

Test(frame, sample_reads_the_main_series)
{
    msd_msg m;
    cr_assert_eq(parse("{\"type\":\"stats\",\"heap\":{\"pool_bytes_in_use\":10,\"system_bytes_in_use\":5},"
                       "\"refcount\":{\"objects_alive\":3},\"gc\":{\"generations\":[{\"collections\":1},"
                       "{\"collections\":2},{\"collections\":3}],\"pause_total_ns\":9}}",
                       &m),
              0);
    msd_sample s;
    msd_sample_of(m.stats, 0, &s);
    cr_expect_eq(s.pool_bytes, 10);
    cr_expect_eq(s.system_bytes, 5);
    cr_expect_eq(s.objects_alive, 3);
    cr_expect_eq(s.collections[2], 3);
    cr_expect_eq(s.pause_total_ns, 9);
    cr_expect_eq(s.garbage, 0, "missing members read as 0");
    msd_msg_free(&m);
}

Test(frame, history_ring_is_bounded)
{
    msd_history h;
    msd_history_init(&h, 10);
    double t = 0;
    for (int i = 0; i < 5000; i++) {
        t = i * 0.001; /* 1 kHz: far faster than window / MSD_HISTORY_MAX */
        cr_assert_eq(msd_history_add(&h, t, NULL), 0);
    }
    cr_expect_leq(h.len, MSD_HISTORY_MAX);
    cr_expect_leq(h.cp_len, MSD_CHECKPOINTS);
    cr_expect_eq(msd_history_since(&h, t - 10), 0, "every kept sample is inside the window");
    for (size_t i = 1; i < h.len; i++)
        cr_expect_geq(msd_history_at(&h, i)->t - msd_history_at(&h, i - 1)->t, 10.0 / MSD_HISTORY_MAX - 1e-9);
    msd_history_free(&h);
}

Test(frame, snapshot_diff_groups_and_orders)
{
    const char *a = "{\"traces\":[{\"size\":100,\"count\":1,\"frames\":[{\"file\":\"a.c\",\"lineno\":1}]},"
                    "{\"size\":50,\"count\":1,\"frames\":[{\"file\":\"b.c\",\"lineno\":2}]}]}";
    const char *b = "{\"traces\":[{\"size\":100,\"count\":1,\"frames\":[{\"file\":\"a.c\",\"lineno\":1}]},"
                    "{\"size\":70,\"count\":2,\"frames\":[{\"file\":\"b.c\",\"lineno\":2}]},"
                    "{\"size\":30,\"count\":1,\"frames\":[{\"file\":\"b.c\",\"lineno\":2},{\"file\":\"m.c\",\"lineno\":9}]}]}";
    char err[100];
    cJSON *sa = msd_snapshot_parse(a, strlen(a), err, sizeof(err));
    cJSON *sb = msd_snapshot_parse(b, strlen(b), err, sizeof(err));
    cr_assert(sa && sb);
    cJSON *d = msd_snapshot_diff(sa, sb, "lineno", 0);
    cr_assert(d);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "stats"), 0);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(first, "file")), "b.c");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "size")), 100, "two tracebacks, one line");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "size_diff")), 50);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "count_diff")), 2);
    cJSON_Delete(d);
    d = msd_snapshot_diff(sa, sb, "traceback", 1);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(d, "stats")), 1, "limit");
    cJSON_Delete(d);
    cr_expect_null(msd_snapshot_diff(sa, sb, "nonsense", 0));
    cJSON_Delete(sa);
    cJSON_Delete(sb);
    cr_expect_null(msd_snapshot_parse("{\"traces\":[{\"size\":1}]}", 23, err, sizeof(err)));
}

/* Regression: growth results used to be ordered with cJSON_InsertItemInArray, which lost entries inserted before
 * the first one with Debian's cJSON 1.7.15 (LeakSanitizer found them through the CLI test). Several suspects at
 * different rates must all be listed, fastest first. */
Test(frame, growth_lists_every_suspect_fastest_first)
{
    msd_history h;
    msd_history_init(&h, 32);
    double t = 0;
    for (int i = 0; i < 40; i++) {
        t = i;
        char text[400];
        snprintf(text, sizeof(text),
                 "{\"type\":\"stats\",\"types\":[{\"name\":\"Slow\",\"alive\":%d},{\"name\":\"Flat\",\"alive\":5},"
                 "{\"name\":\"Mid\",\"alive\":%d},{\"name\":\"Fast\",\"alive\":%d},{\"name\":\"Shrink\",\"alive\":%d}]}",
                 i, 2 * i, 3 * i, 100 - i);
        msd_msg m;
        cr_assert_eq(parse(text, &m), 0);
        cr_assert_eq(msd_history_add(&h, t, m.stats), 0);
        msd_msg_free(&m);
    }
    msd_growth g;
    cr_assert_eq(msd_history_growth(&h, t, &g), 0);
    cr_assert_eq(g.n, 3, "Slow, Mid and Fast grow; Flat and Shrink do not");
    static const char *order[] = {"Fast", "Mid", "Slow"};
    for (int i = 0; i < 3; i++)
        cr_expect_str_eq(g.types[i].type, order[i]);
    cr_expect_float_eq(g.types[0].rate_per_s, 3.0, 1e-9);
    msd_growth_free(&g);
    msd_history_free(&h);
}

/* mkdir -p with mode 0700: every missing level made private, existing ones left alone, "" refused (it used to be
 * read past its NUL: ASan's heap-buffer-overflow in the sanitizer run). */
Test(fs, mkdir_private_makes_each_missing_level_and_refuses_an_empty_path)
{
    cr_expect_eq(msd_mkdir_private(""), -ENOENT);
    char top[] = "/tmp/msd-fs-XXXXXX", path[128];
    cr_assert(mkdtemp(top));
    chmod(top, 0755);
    snprintf(path, sizeof(path), "%s/a/b/c", top);
    cr_assert_eq(msd_mkdir_private(path), 0);
    cr_expect_eq(msd_mkdir_private(path), 0, "existing directories are fine");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700, "mode %o", st.st_mode & 0777);
    cr_assert_eq(stat(top, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0755, "an existing level keeps its mode");
    snprintf(path, sizeof(path), "%s/f", top);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/f/sub", top);
    cr_expect_eq(msd_mkdir_private(path), -ENOTDIR, "a file in the way is the error");
    for (const char *rm[] = {"/a/b/c", "/a/b", "/a"}, **r = rm; r < rm + 3; r++) {
        snprintf(path, sizeof(path), "%s%s", top, *r);
        rmdir(path);
    }
    snprintf(path, sizeof(path), "%s/f", top);
    unlink(path);
    rmdir(top);
}

/*
 * tests/fuzz/fuzz_frame.c — libFuzzer target: the agent -> daemon byte stream (issue 8).
 *
 * The input is what one connection could send: frames are cut with msd_frame_decode() exactly as ipc.c does,
 * each payload goes through msd_msg_parse() into a model, and the parsed messages reach the same registry
 * calls ipc.c makes (a hello registers an app, stats replace its model and feed its history). The documents
 * and analyses built from what a hostile agent stored are then produced too: the app summary, the latest
 * document (which must be compact, valid JSON), the history and the growth. Binary frames (docs/PROTOCOL.md
 * section 6) are a protocol error before hello; after it their bytes are collected as a heapsnapshot request's
 * are, and each reply hands what came to the heap snapshot store's steps: msc_hg_parse(), then, for a graph,
 * the V8 writer and the analysis. One registry per input.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appdoc.h"
#include "buf.h"
#include "frame.h"
#include "heapanalysis.h"
#include "heapgraph.h"
#include "json.h"
#include "message.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Frame payloads above this are not worth the fuzzer's time: the decoder's bound is checked separately. */
#define FUZZ_FRAME_MAX 65536

/* Strict JSON is a subset of what cJSON reads: whatever the scanner accepts, cJSON accepts and ends at the same
 * byte. Returns whether the payload is one JSON value and whitespace: what msd_msg_parse() must then accept as
 * JSON (and refuse otherwise). abort(), not assert(): the check also holds in the release build's replay. */
static bool check_scanner(const uint8_t *p, size_t n)
{
    size_t end = 0;
    msd_json_error err = {0};
    int rc = msd_json_check((const char *)p, n, &end, NULL, &err);
    if (rc < 0) {
        if (!err.reason || err.at > n)
            abort();
        return false;
    }
    const char *cend = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)p, n, &cend, 0);
    if (!j || end != (size_t)(cend - (const char *)p))
        abort();
    cJSON_Delete(j);
    while (end < n && (p[end] == ' ' || p[end] == '\t' || p[end] == '\n' || p[end] == '\r'))
        end++;
    return end == n;
}

/* The app's document is valid JSON on one line (the event stream sends it as one data: line). */
static void check_document(msd_app *app)
{
    msd_blob *doc = msd_appdoc_latest(app);
    if (!doc)
        return;
    size_t end;
    bool spaced = true;
    if (msd_json_check(doc->data, doc->len, &end, &spaced, NULL) < 0 || end != doc->len || spaced ||
        memchr(doc->data, '\n', doc->len))
        abort();
    msd_blob_unref(doc);
}

/* A heap graph's wire image is at most this large here (the daemon's bound is --heapsnapshot-max). */
#define FUZZ_WIRE_MAX (1u << 20)

static int count_bytes(void *ctx, const void *bytes, size_t n)
{
    (void)bytes;
    *(size_t *)ctx += n;
    return 0;
}

/* Appends a binary frame's bytes to the transfer, as request.c hands them to the heapsnapshot request. */
static void check_binary(const msd_frame *f, msc_buf *wire)
{
    if (msc_buf_append_max(wire, f->data, f->data_len, FUZZ_WIRE_MAX) == -ENOBUFS)
        msc_buf_clear(wire); /* over the bound: the daemon answers 507 and drops the transfer */
}

/* What the daemon does with a finished transfer: parse it in place (malloc'ed, so 4-byte aligned), then, when
 * it is a graph, write its .heapsnapshot and analyse it, as the heap snapshot store does on its worker. */
static void check_transfer(msc_buf *wire)
{
    msc_hg g;
    char err[200] = "";
    const char *bytes = msc_buf_bytes(wire);
    if (bytes && ((uintptr_t)bytes & 3) == 0 && msc_hg_parse(bytes, wire->len, &g, err, sizeof(err)) == 0) {
        size_t out = 0;
        if (msc_hg_write_v8(&g, count_bytes, &out) == 0 && out == 0)
            abort(); /* a graph has at least its two synthetic nodes: the document cannot be empty */
        msd_heap_analysis *a = NULL;
        if (msd_heap_analyse(&g, &a, err, sizeof(err)) == 0) {
            msc_buf doc = MSC_BUF_INIT;
            (void)msd_heap_types_json(a, &doc);
            msc_buf_free(&doc);
            msd_heap_analysis_free(a);
        }
    } else if (bytes && ((uintptr_t)bytes & 3) == 0 && !err[0]) {
        abort(); /* every refusal says why */
    }
    msc_buf_clear(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msc_buf wire = MSC_BUF_INIT;
    msd_config cfg = {.retain_s = 600, .history_s = 900, .gc_rate = 0};
    msd_registry *reg = msd_registry_new(&cfg);
    if (!reg)
        return 0;
    msd_stats *scratch = msd_stats_new();
    if (!scratch) {
        msd_registry_free(reg);
        return 0;
    }
    msd_app *app = NULL;
    double t = 1000.0; /* a fake clock: every message one second later, so the history and growth fill up */
    size_t off = 0;
    for (;;) {
        msd_frame f;
        long r = msd_frame_decode(data + off, size - off, FUZZ_FRAME_MAX, &f);
        if (r <= 0) {
            assert(r == 0 || r == -EMSGSIZE);
            break;
        }
        assert((size_t)r <= size - off && f.len + MSD_FRAME_HEADER == (size_t)r &&
               f.payload == data + off + MSD_FRAME_HEADER);
        off += (size_t)r;
        if (f.binary) {
            /* As ipc.c: before hello (welcome) a protocol error; after it, the bytes of a request's transfer. */
            if (f.len < MSD_FRAME_BINARY_MIN || f.data != f.payload + MSC_BINARY_ID_BYTES ||
                f.data_len + MSC_BINARY_ID_BYTES != f.len)
                abort();
            if (!app)
                break;
            check_binary(&f, &wire);
            continue;
        }
        const uint8_t *p = f.payload;
        size_t n = f.len;
        msd_msg m;
        char err[200];
        bool json = check_scanner(p, n);
        if (msd_msg_parse(p, n, scratch, &m, err, sizeof(err)) < 0) {
            assert(err[0] != '\0'); /* every refusal says why */
            /* the pull parser and the validator agree on what is JSON (out of memory, it may not have looked) */
            bool not_json = strstr(err, "not valid JSON") || strstr(err, "trailing bytes");
            if (json == not_json && !strstr(err, "out of memory"))
                abort();
            break; /* ipc.c closes the connection */
        }
        if (!json) /* accepted: it must be JSON */
            abort();
        t += 1.0;
        if (m.type == MSD_MSG_REPLY && app)
            check_transfer(&wire); /* a reply ends the transfer of its request */
        if (m.type == MSD_MSG_HELLO && !app && m.protocol == MSD_PROTOCOL_VERSION) {
            app = msd_registry_add(reg, &m);
        } else if (m.type == MSD_MSG_STATS && app) {
            msd_registry_stats(reg, app, &scratch, t, t + 1.7e9);
            check_document(app);
        }
        msd_msg_free(&m);
    }
    check_transfer(&wire);
    msc_buf_free(&wire);
    if (app) {
        cJSON_Delete(msd_appdoc_summary(app));
        msd_growth g;
        if (msd_history_growth(&app->hist, t, &g) == 0)
            msd_growth_free(&g);
        for (size_t i = msd_history_since(&app->hist, t - 100); i < app->hist.len; i++)
            assert(msd_history_at(&app->hist, i)->t <= t);
        msd_registry_disconnect(reg, app);
    }
    msd_stats_delete(scratch);
    msd_registry_free(reg);
    return 0;
}

/*
 * tests/fuzz/fuzz_frame.c — libFuzzer target: the agent -> daemon byte stream (issue 8).
 *
 * The input is what one connection could send: frames are cut with msd_frame_decode() exactly as ipc.c does,
 * each payload goes through msd_msg_parse(), and the parsed messages reach the same registry handlers ipc.c
 * calls (a hello registers an app, stats replace its cached document and feed its history, replies are
 * validated). The registry's outputs (the app summary, the history and growth documents) are then built, so
 * whatever a hostile agent stored is also read back. One registry per input: nothing carries over.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Frame payloads above this are not worth the fuzzer's time: the decoder's bound is checked separately. */
#define FUZZ_FRAME_MAX 65536

/* The scanner (daemon/json.c) must accept exactly what cJSON accepts, and end where cJSON ends: the daemon
 * reads stats messages with the one and the rest with the other, and promises the same errors for both. */
static void check_scanner(const uint8_t *p, size_t n)
{
    size_t end = 0;
    bool strict = false;
    int rc = msd_json_check((const char *)p, n, &end, &strict);
    const char *cend = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)p, n, &cend, 0);
    /* abort(), not assert(): the check also holds in the release build's replay */
    if ((rc == 0) != (j != NULL) || (j && end != (size_t)(cend - (const char *)p)))
        abort();
    cJSON_Delete(j);
}

/* Walks a parsed stats message's members in place, as the registry does: every span lies inside the payload. */
static void check_members(const msd_msg *m)
{
    msd_jiter it;
    msd_jval k, v;
    msd_json_iter(m->doc, &it);
    while (msd_json_next(&it, &k, &v))
        assert(k.p >= m->raw && k.p < v.p && v.p + v.n <= m->raw + m->raw_len && v.n > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msd_config cfg = {.retain_s = 600, .history_s = 900, .gc_rate = 0};
    msd_registry *reg = msd_registry_new(&cfg);
    if (!reg)
        return 0;
    msd_app *app = NULL;
    double t = 1000.0; /* a fake clock: every message one second later, so the history and growth fill up */
    size_t off = 0;
    for (;;) {
        const uint8_t *p;
        size_t n;
        long r = msd_frame_decode(data + off, size - off, FUZZ_FRAME_MAX, &p, &n);
        if (r <= 0) {
            assert(r == 0 || r == -EMSGSIZE);
            break;
        }
        assert((size_t)r <= size - off && n + MSD_FRAME_HEADER == (size_t)r && p == data + off + MSD_FRAME_HEADER);
        off += (size_t)r;
        msd_msg m;
        char err[160];
        check_scanner(p, n);
        if (msd_msg_parse(p, n, &m, err, sizeof(err)) < 0) {
            assert(err[0] != '\0'); /* every refusal says why */
            break;                  /* ipc.c closes the connection */
        }
        if (m.type == MSD_MSG_STATS)
            check_members(&m);
        t += 1.0;
        if (m.type == MSD_MSG_HELLO && !app && m.protocol == MSD_PROTOCOL_VERSION) {
            app = msd_registry_add(reg, &m);
        } else if (m.type == MSD_MSG_STATS && app) {
            msd_sample s;
            msd_sample_from_stats(&m, &s);
            msd_registry_stats(reg, app, &m, t, t + 1.7e9);
        }
        msd_msg_free(&m);
    }
    if (app) {
        cJSON *o = msd_app_summary(app);
        cJSON_Delete(o);
        o = msd_history_json(&app->hist, 0, t, t + 1.7e9);
        cJSON_Delete(o);
        o = msd_history_growth(&app->hist, t);
        cJSON_Delete(o);
        msd_registry_disconnect(reg, app);
    }
    msd_registry_free(reg);
    return 0;
}

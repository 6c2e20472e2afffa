/*
 * tests/fuzz/fuzz_api_body.c — libFuzzer target: the JSON documents the API takes in (issue 8).
 *
 * The input is one JSON text, used three ways:
 *   - as the body of every POST endpoint (gc, gc/threshold, trace, trace/snapshots, gc/enable) of a connected app;
 *   - as the "result" of the app's reply to each of them — what the daemon does with an app's answer, including
 *     storing a snapshot on disk and reading it back;
 *   - as a stored snapshot document: msd_snapshot_parse(), then msd_snapshot_diff() against a fixed snapshot
 *     (and itself) for every grouping key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_env.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const endpoints[] = {
    "/api/v1/apps/1/gc", "/api/v1/apps/1/gc/threshold", "/api/v1/apps/1/trace", "/api/v1/apps/1/trace/snapshots",
    "/api/v1/apps/1/gc/enable",
};

static const char fixed_snapshot[] =
    "{\"traces\":[{\"size\":64,\"count\":1,\"frames\":[{\"file\":\"a.c\",\"lineno\":1}]},"
    "{\"size\":32,\"count\":2,\"frames\":[{\"file\":\"b.c\",\"lineno\":2},{\"file\":\"a.c\",\"lineno\":1}]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    static const char head[] = "{\"type\":\"reply\",\"id\":1,\"ok\":true,\"result\":";
    char *reply = malloc(sizeof(head) + size + 2);
    if (!reply)
        return 0;
    memcpy(reply, head, sizeof(head) - 1);
    memcpy(reply + sizeof(head) - 1, data, size);
    reply[sizeof(head) - 1 + size] = '}';
    size_t reply_len = sizeof(head) + size;
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        fuzz_http req = {.method = "POST", .path = endpoints[i], .body = (const char *)data, .body_len = size,
                         .authorized = true};
        fuzz_request(&req, 0, reply, reply_len);
    }
    free(reply);

    char err[160];
    cJSON *snap = msd_snapshot_parse((const char *)data, size, err, sizeof(err));
    if (snap) {
        cJSON *fixed = msd_snapshot_parse(fixed_snapshot, sizeof(fixed_snapshot) - 1, err, sizeof(err));
        static const char *const keys[] = {"lineno", "filename", "traceback"};
        for (int k = 0; k < 3; k++) {
            cJSON *d1 = msd_snapshot_diff(fixed, snap, keys[k], 0);
            cJSON *d2 = msd_snapshot_diff(snap, snap, keys[k], 3);
            cJSON_Delete(d1);
            cJSON_Delete(d2);
        }
        cJSON_Delete(fixed);
        cJSON_Delete(snap);
    }
    return 0;
}

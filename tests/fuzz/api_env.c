/*
 * tests/fuzz/api_env.c — see api_env.h.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_env.h"
#include "registry.h"
#include "snapshot.h"

fuzz_forward fuzz_fwd;
int fuzz_ipc_fail;

static msd_daemon daemon_obj;
static char data_dir[256];

/* ---- The stand-in for ipc.c ---------------------------------------------------------------------------------- */

int msd_ipc_request(msd_daemon *d, msd_app *app, const char *method, cJSON *params, int timeout_ms,
                    msd_reply_fn cb, void *arg)
{
    assert(!fuzz_fwd.pending); /* one request at a time here */
    cJSON_Delete(params);
    if (fuzz_ipc_fail)
        return fuzz_ipc_fail;
    fuzz_fwd = (fuzz_forward){.pending = true, .cb = cb, .arg = arg};
    snprintf(fuzz_fwd.method, sizeof(fuzz_fwd.method), "%s", method);
    return 0;
}

size_t msd_ipc_connections(const msd_daemon *d)
{
    return 2;
}

size_t msd_ipc_pending(const msd_daemon *d)
{
    return fuzz_fwd.pending;
}

/* ---- Setup --------------------------------------------------------------------------------------------------- */

static void must(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz environment: %s failed\n", what);
        abort();
    }
}

static msd_app *add_app(const char *hello, const char *stats)
{
    msd_msg m;
    char err[160];
    must(msd_msg_parse((const uint8_t *)hello, strlen(hello), &m, err, sizeof(err)) == 0, "hello");
    msd_app *app = msd_registry_add(daemon_obj.reg, &m);
    msd_msg_free(&m);
    must(app != NULL, "registry_add");
    for (int i = 0; stats && i < 4; i++) {
        must(msd_msg_parse((const uint8_t *)stats, strlen(stats), &m, err, sizeof(err)) == 0, "stats");
        msd_registry_stats(daemon_obj.reg, app, &m, 100.0 + i, 1.7e9 + i);
        msd_msg_free(&m);
    }
    return app;
}

/* The data directory goes away with the process (libFuzzer and the replay driver both end with exit()). */
static void remove_data_dir(void)
{
    char dir[300];
    fuzz_forget_new_snapshots();
    snprintf(dir, sizeof(dir), "%s/snapshots", data_dir);
    char one[320], two[320];
    snprintf(one, sizeof(one), "%s/1.json", dir);
    snprintf(two, sizeof(two), "%s/2.json", dir);
    unlink(one);
    unlink(two);
    rmdir(dir);
    rmdir(data_dir);
}

msd_daemon *fuzz_daemon(void)
{
    if (daemon_obj.reg)
        return &daemon_obj;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(data_dir, sizeof(data_dir), "%s/msd-fuzz-XXXXXX", tmp);
    must(mkdtemp(data_dir) != NULL, "mkdtemp");
    atexit(remove_data_dir);
    daemon_obj.cfg = (msd_config){.data_dir = data_dir, .retain_s = 600, .history_s = 900,
                                  .request_timeout_ms = 5000, .gc_rate = 0};
    snprintf(daemon_obj.token, sizeof(daemon_obj.token), "%s", FUZZ_TOKEN);
    daemon_obj.reg = msd_registry_new(&daemon_obj.cfg);
    must(daemon_obj.reg != NULL, "registry_new");
    const char *stats = "{\"type\":\"stats\",\"seq\":1,\"heap\":{\"pool_bytes_in_use\":4096,\"system_bytes_in_use\":1},"
                        "\"refcount\":{\"objects_alive\":10},\"types\":[{\"name\":\"Node\",\"alive\":10,\"bytes\":640}],"
                        "\"gc\":{\"enabled\":true,\"generations\":[{\"collections\":1},{\"collections\":0},{}]}}";
    add_app("{\"type\":\"hello\",\"protocol\":1,\"pid\":4242,\"app\":\"one\",\"argv\":[\"one\",\"-x\"]}", stats);
    msd_app *gone = add_app("{\"type\":\"hello\",\"protocol\":1,\"pid\":4243,\"app\":\"two\"}", stats);
    msd_registry_disconnect(daemon_obj.reg, gone);
    add_app("{\"type\":\"hello\",\"protocol\":1,\"pid\":4244,\"app\":\"three\",\"interval_ms\":100}", NULL);
    const char *snaps[] = {
        "{\"traceback_limit\":1,\"traces\":[{\"size\":64,\"count\":1,\"frames\":[{\"file\":\"a.c\",\"lineno\":1}]}]}",
        "{\"traceback_limit\":2,\"traces\":[{\"size\":128,\"count\":2,\"frames\":[{\"file\":\"a.c\",\"lineno\":1},"
        "{\"file\":\"b.c\",\"lineno\":7}]},{\"size\":8,\"count\":1,\"frames\":[{\"file\":\"c.c\",\"lineno\":3}]}]}",
    };
    for (int i = 0; i < 2; i++) {
        cJSON *r = cJSON_Parse(snaps[i]);
        must(r && msd_snapshot_store(data_dir, "one", 4242, 1, r) == i + 1, "snapshot_store");
        cJSON_Delete(r);
    }
    return &daemon_obj;
}

void fuzz_forget_new_snapshots(void)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/snapshots", data_dir);
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "1.json") == 0 || strcmp(e->d_name, "2.json") == 0)
            continue;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(dp);
}

/* ---- One request --------------------------------------------------------------------------------------------- */

typedef struct answer {
    int calls, status;
    msd_blob *body;
} answer;

static void on_done(void *ctx, int status, msd_blob *body)
{
    answer *a = ctx;
    a->calls++;
    a->status = status;
    a->body = body;
}

static void check_answer(int status, msd_blob *body)
{
    assert(status >= 200 && status < 600);
    if (body) { /* NULL only when out of memory */
        assert(body->data[body->len] == '\0');
        cJSON *j = cJSON_ParseWithLength(body->data, body->len);
        assert(j != NULL); /* every answer is JSON */
        cJSON_Delete(j);
        msd_blob_unref(body);
    }
}

void fuzz_request(const msd_api_req *req, int reply_status, const char *reply, size_t reply_len)
{
    msd_daemon *d = fuzz_daemon();
    answer a = {0};
    int status = 0;
    msd_blob *body = NULL;
    fuzz_fwd.pending = false;
    if (msd_api_handle(d, req, &status, &body, on_done, &a)) {
        assert(a.calls == 0 && !fuzz_fwd.pending);
        check_answer(status, body);
        return;
    }
    assert(fuzz_fwd.pending && a.calls == 0); /* "done will be called later": something must be waiting */
    fuzz_fwd.pending = false;
    msd_msg m;
    char err[160];
    if (reply_status == 0 && msd_msg_parse((const uint8_t *)reply, reply_len, &m, err, sizeof(err)) == 0) {
        if (m.type == MSD_MSG_REPLY)
            fuzz_fwd.cb(fuzz_fwd.arg, 0, &m);
        else
            fuzz_fwd.cb(fuzz_fwd.arg, -ETIMEDOUT, NULL);
        msd_msg_free(&m);
    } else {
        fuzz_fwd.cb(fuzz_fwd.arg, reply_status ? reply_status : -ETIMEDOUT, NULL);
    }
    assert(a.calls == 1);
    check_answer(a.status, a.body);
    if (strcmp(fuzz_fwd.method, "trace.snapshot") == 0)
        fuzz_forget_new_snapshots();
}

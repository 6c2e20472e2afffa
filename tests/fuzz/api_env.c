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

#include <uv.h>

#include "api_env.h"
#include "heapstore.h"
#include "registry.h"
#include "snapstore.h"
#include "sse.h"
#include "worker.h"

fuzz_forward fuzz_fwd;
int fuzz_ipc_fail;

static msd_daemon daemon_obj;
static msd_stats *scratch; /* as ipc.c keeps it: exchanged for an app's previous model */
static char data_dir[256];

/* ---- The stand-in for ipc.c ---------------------------------------------------------------------------------- */

int msd_ipc_request(msd_daemon *d, msd_app *app, const char *method, cJSON *params, int timeout_ms,
                    msd_reply_fn cb, void *arg)
{
    return msd_ipc_request_bytes(d, app, method, params, timeout_ms, NULL, cb, arg);
}

/* The fuzzer's reply comes without binary frames: a heapsnapshot reply then stands for an empty transfer. */
int msd_ipc_request_bytes(msd_daemon *d, msd_app *app, const char *method, cJSON *params, int timeout_ms,
                          msd_bytes_fn bytes, msd_reply_fn cb, void *arg)
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

static void parse(const char *text, msd_msg *m)
{
    char err[200];
    must(msd_msg_parse((const uint8_t *)text, strlen(text), scratch, m, err, sizeof(err)) == 0, text);
}

static msd_app *add_app(const char *hello, const char *stats)
{
    msd_msg m;
    parse(hello, &m);
    msd_app *app = msd_registry_add(daemon_obj.reg, &m);
    msd_msg_free(&m);
    must(app != NULL, "registry_add");
    for (int i = 0; stats && i < 4; i++) {
        parse(stats, &m);
        msd_registry_stats(daemon_obj.reg, app, &scratch, 100.0 + i, 1.7e9 + i);
        msd_msg_free(&m);
    }
    return app;
}

/* Removes every file of the data directory's snapshot store but those of `keep` (NULL: all). */
static void remove_snapshots(const char *const *keep)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/snapshots", data_dir);
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        bool kept = e->d_name[0] == '.';
        for (size_t i = 0; keep && keep[i]; i++)
            kept = kept || strcmp(e->d_name, keep[i]) == 0;
        if (kept)
            continue;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(dp);
}

/* The data directory goes away with the process (libFuzzer and the replay driver both end with exit()). */
static void remove_data_dir(void)
{
    char dir[300];
    remove_snapshots(NULL);
    snprintf(dir, sizeof(dir), "%s/snapshots", data_dir);
    rmdir(dir);
    snprintf(dir, sizeof(dir), "%s/heapsnapshots", data_dir); /* empty: no transfer here ever parses */
    rmdir(dir);
    rmdir(data_dir);
}

/* Runs the loop until *flag is set (by a callback that the snapshot store's job is sure to run). The stream's
 * heartbeat keeps the loop alive forever, so "until the loop is empty" would never end; and UV_RUN_ONCE blocks
 * in its poll even when its timers have just run the callback, so a turn that does not wait comes first. */
static void run_until(const bool *flag)
{
    uv_run(daemon_obj.loop, UV_RUN_NOWAIT);
    while (!*flag)
        uv_run(daemon_obj.loop, UV_RUN_ONCE);
}

typedef struct put_wait {
    bool done;
    int64_t id;
} put_wait;

static void on_put(void *arg, int64_t id, size_t traces)
{
    put_wait *w = arg;
    w->id = id;
    w->done = true;
}

msd_daemon *fuzz_daemon(void)
{
    if (daemon_obj.reg)
        return &daemon_obj;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(data_dir, sizeof(data_dir), "%s/msd-fuzz-XXXXXX", tmp);
    must(mkdtemp(data_dir) != NULL, "mkdtemp");
    atexit(remove_data_dir);
    must((scratch = msd_stats_new()) != NULL, "msd_stats_new");
    daemon_obj.cfg = (msd_config){.data_dir = data_dir, .retain_s = 600, .history_s = 900,
                                  .request_timeout_ms = 5000, .gc_rate = 0, .metrics_top_types = 20,
                                  .heapsnapshot_max = 1u << 20};
    snprintf(daemon_obj.token, sizeof(daemon_obj.token), "%s", FUZZ_TOKEN);
    daemon_obj.loop = uv_default_loop();
    daemon_obj.routes = msd_routes;
    daemon_obj.nroutes = msd_routes_count;
    daemon_obj.reg = msd_registry_new(&daemon_obj.cfg);
    must(daemon_obj.reg != NULL, "registry_new");
    must(msd_worker_start(&daemon_obj) == 0, "worker_start");
    must(msd_snapstore_start(&daemon_obj) == 0, "snapstore_start");
    must(msd_heapstore_start(&daemon_obj) == 0, "heapstore_start");
    must(msd_sse_start(&daemon_obj) == 0, "sse_start");
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
        put_wait w = {0};
        must(msd_snapstore_put(&daemon_obj, cJSON_Parse(snaps[i]), "one", 4242, 1, on_put, &w) == 0, "snapstore_put");
        run_until(&w.done);
        must(w.id == i + 1, "the first two snapshots are 1 and 2");
    }
    return &daemon_obj;
}

/* ---- One request --------------------------------------------------------------------------------------------- */

typedef struct fuzz_req {
    msd_req r;
    const fuzz_http *in;
    int calls, status;
    bool answered;
    bool json;
    msd_blob *body;
    const msd_stream_ops *stream;
    void *stream_cls;
} fuzz_req;

static const char *fuzz_query(msd_req *r, const char *name)
{
    const fuzz_req *f = (const fuzz_req *)r;
    return f->in->query ? f->in->query(f->in->query_ctx, name) : NULL;
}

static const char *fuzz_header(msd_req *r, const char *name)
{
    return NULL;
}

static void fuzz_answer(msd_req *r, msd_resp *resp)
{
    fuzz_req *f = (fuzz_req *)r;
    f->calls++;
    f->answered = true;
    f->status = resp->status;
    f->json = resp->type == NULL;
    f->body = resp->body;
    f->stream = resp->stream;
    f->stream_cls = resp->stream_cls;
    if (resp->file) /* a download: what the driver would send, closed here */
        close(resp->file_fd);
    assert(resp->nheaders <= MSD_RESP_HEADERS);
    for (size_t i = 0; i < resp->nheaders; i++)
        assert(resp->headers[i].name && resp->headers[i].value);
}

static void fuzz_wake(msd_req *r)
{
}

/* Checks the answer, and reads a stream to its end (each event's data one line of JSON). */
static void check_answer(fuzz_req *f)
{
    assert(f->calls == 1);
    assert(f->status >= 200 && f->status < 600);
    if (f->stream) {
        char buf[16384];
        long n;
        msc_buf all = MSC_BUF_INIT;
        while ((n = f->stream->read(f->stream_cls, buf, sizeof(buf))) > 0)
            assert(msc_buf_append(&all, buf, (size_t)n) == 0);
        assert(n == 0 || n == MSD_STREAM_END || n == MSD_STREAM_ERROR);
        msc_buf_cstr(&all);
        for (char *line = msc_buf_bytes(&all), *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            if (strncmp(line, "data: ", 6) == 0) {
                cJSON *j = cJSON_Parse(line + 6);
                assert(j != NULL); /* every event is one line of JSON */
                cJSON_Delete(j);
            }
        }
        msc_buf_free(&all);
        f->stream->done(f->stream_cls);
        return;
    }
    if (f->body) {
        assert(f->body->data[f->body->len] == '\0');
        if (f->json) {
            cJSON *j = cJSON_ParseWithLength(f->body->data, f->body->len);
            assert(j != NULL); /* every JSON answer is JSON */
            cJSON_Delete(j);
        }
        msd_blob_unref(f->body);
    }
}

void fuzz_request(const fuzz_http *in, int reply_status, const char *reply, size_t reply_len)
{
    msd_daemon *d = fuzz_daemon();
    fuzz_req *f = calloc(1, sizeof(*f));
    must(f != NULL, "calloc");
    f->in = in;
    f->r = (msd_req){.method = in->method, .path = in->path, .body = in->body, .body_len = in->body_len,
                     .authorized = in->authorized, .query = fuzz_query, .header = fuzz_header,
                     .answer = fuzz_answer, .wake = fuzz_wake};
    fuzz_fwd = (fuzz_forward){0};
    msd_route_dispatch(d, d->routes, d->nroutes, &f->r);
    if (!f->calls && fuzz_fwd.pending) { /* forwarded: the app answers, later, from outside the handler */
        fuzz_fwd.pending = false;
        msd_msg m;
        char err[200];
        if (reply_status == 0 && msd_msg_parse((const uint8_t *)reply, reply_len, scratch, &m, err, sizeof(err)) == 0) {
            if (m.type == MSD_MSG_REPLY)
                fuzz_fwd.cb(fuzz_fwd.arg, 0, &m);
            else
                fuzz_fwd.cb(fuzz_fwd.arg, -ETIMEDOUT, NULL);
            msd_msg_free(&m);
        } else {
            fuzz_fwd.cb(fuzz_fwd.arg, reply_status ? reply_status : -ETIMEDOUT, NULL);
        }
    }
    /* A snapshot store job answers from the loop. */
    run_until(&f->answered);
    check_answer(f);
    if (strcmp(fuzz_fwd.method, "trace.snapshot") == 0) {
        static const char *const keep[] = {"1.json", "2.json", NULL};
        remove_snapshots(keep); /* the index keeps listing them: the files only must not pile up */
    }
    free(f);
}

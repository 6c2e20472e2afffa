/*
 * daemon/api.c — the JSON API. Entry point: msd_api_handle(), which routes by path; read route() first.
 *
 *   GET  /healthz, /api/v1/version, /api/v1/apps
 *   GET  /api/v1/apps/{id}                       the cached latest-stats document (serialized once per sample)
 *   GET  /api/v1/apps/{id}/history?seconds=N     columns of the main series
 *   GET  /api/v1/apps/{id}/growth                leak suspects over the history window
 *   POST /api/v1/apps/{id}/gc {"generation"}     forwarded: gc.collect      (rate limited: 429)
 *   POST /api/v1/apps/{id}/gc/enable|gc/disable  forwarded: gc.enable / gc.disable
 *   POST /api/v1/apps/{id}/gc/threshold          forwarded: gc.set_threshold
 *   POST /api/v1/apps/{id}/trace {"action"}      forwarded: trace.start / trace.stop
 *   GET  /api/v1/apps/{id}/trace/top?key&limit   forwarded: trace.top
 *   POST /api/v1/apps/{id}/trace/snapshots       forwarded: trace.snapshot, stored on disk; answers its id
 *   GET  /api/v1/apps/{id}/trace/snapshots       the stored snapshots of this app's name
 *   GET  /api/v1/apps/{id}/trace/diff?from&to&key&limit   computed here from two stored snapshots
 * {id} is the app id or, failing that, a pid. Status codes: 400 bad body or query, 401 no token (checked in
 * http.c), 404 unknown app or path, 409 app disconnected, 429 too many collections, 502 the app answered with
 * an error, 504 the app did not answer in --request-timeout.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "api.h"
#include "ipc.h"
#include "registry.h"
#include "snapshot.h"

#define PATH_MAX_SEGS 6

msd_blob *msd_api_error(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    msd_blob *b = NULL;
    if (o && cJSON_AddStringToObject(o, "error", msg))
        b = msd_blob_from_string(cJSON_PrintUnformatted(o));
    cJSON_Delete(o);
    return b; /* NULL when out of memory: http.c then sends a static 500 */
}

/* Serializes and consumes o into *body; 500 when out of memory. Returns 1 (answer ready). */
static int answer_json(int status, cJSON *o, int *st, msd_blob **body)
{
    msd_blob *b = o ? msd_blob_from_string(cJSON_PrintUnformatted(o)) : NULL;
    cJSON_Delete(o);
    if (!b) {
        *st = 500;
        *body = msd_api_error("out of memory");
    } else {
        *st = status;
        *body = b;
    }
    return 1;
}

static int answer_error(int status, const char *msg, int *st, msd_blob **body)
{
    *st = status;
    *body = msd_api_error(msg);
    return 1;
}

/* ---- Forwarding to an app ------------------------------------------------------------------------------------ */

typedef enum fwd_kind { FWD_PLAIN, FWD_SNAPSHOT } fwd_kind;

typedef struct fwd {
    msd_daemon *d;
    msd_api_done_fn done;
    void *ctx;
    fwd_kind kind;
    uint64_t app_id;
    int64_t pid;
    char app[256];
} fwd;

static void finish_json(fwd *f, int status, cJSON *o)
{
    int st;
    msd_blob *b;
    answer_json(status, o, &st, &b);
    f->done(f->ctx, st, b);
}

static void on_app_reply(void *arg, int status, const msd_msg *reply)
{
    fwd *f = arg;
    if (status == -ETIMEDOUT) {
        f->done(f->ctx, 504, msd_api_error("the app did not answer in time"));
    } else if (status < 0) {
        f->done(f->ctx, 409, msd_api_error("the app disconnected before answering"));
    } else if (!reply->ok) {
        f->done(f->ctx, 502, msd_api_error(reply->error));
    } else if (f->kind == FWD_SNAPSHOT) {
        int64_t id = msd_snapshot_store(f->d->cfg.data_dir, f->app, f->pid, f->app_id, reply->result);
        if (id == -EPROTO) {
            f->done(f->ctx, 502, msd_api_error("the app's snapshot has no \"traces\" array"));
        } else if (id < 0) {
            f->done(f->ctx, 500, msd_api_error("cannot store the snapshot (see the daemon's log)"));
        } else {
            cJSON *o = cJSON_CreateObject();
            if (o) {
                cJSON_AddNumberToObject(o, "id", (double)id);
                cJSON_AddNumberToObject(o, "app_id", (double)f->app_id);
                cJSON_AddNumberToObject(o, "traces",
                                        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reply->result, "traces")));
            }
            finish_json(f, 201, o);
        }
    } else {
        finish_json(f, 200, reply->result ? cJSON_Duplicate(reply->result, 1) : cJSON_CreateNull());
    }
    free(f);
}

/* Sends method(params) to app; answers now on failure, else later through done. params is consumed. */
static int forward(msd_daemon *d, msd_app *app, const char *method, cJSON *params, fwd_kind kind,
                   msd_api_done_fn done, void *ctx, int *st, msd_blob **body)
{
    if (!app->connected) {
        cJSON_Delete(params);
        return answer_error(409, "the app is disconnected", st, body);
    }
    fwd *f = calloc(1, sizeof(*f));
    if (!f) {
        cJSON_Delete(params);
        return answer_error(500, "out of memory", st, body);
    }
    *f = (fwd){.d = d, .done = done, .ctx = ctx, .kind = kind, .app_id = app->id, .pid = app->pid};
    snprintf(f->app, sizeof(f->app), "%s", app->name);
    int rc = msd_ipc_request(d, app, method, params, d->cfg.request_timeout_ms, on_app_reply, f);
    if (rc == 0)
        return 0;
    free(f);
    if (rc == -ENOTCONN)
        return answer_error(409, "the app is disconnected", st, body);
    if (rc == -ENOBUFS)
        return answer_error(503, "the app is not reading its socket", st, body);
    return answer_error(500, "out of memory", st, body);
}

/* ---- Endpoints ---------------------------------------------------------------------------------------------- */

/* The request body as a JSON object (an empty body is {}), or NULL after answering 400. */
static cJSON *body_object(const msd_api_req *req, int *st, msd_blob **body)
{
    if (req->body_len == 0)
        return cJSON_CreateObject();
    cJSON *o = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        answer_error(400, "the body must be a JSON object", st, body);
        return NULL;
    }
    return o;
}

/* Parses a non-negative integer query argument; def when absent; -1 when malformed. */
static long long arg_int(const msd_api_req *req, const char *name, long long def, long long max)
{
    const char *v = req->arg ? req->arg(req->arg_ctx, name) : NULL;
    if (!v)
        return def;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 0 || x > max)
        return -1;
    return x;
}

static int get_apps(msd_daemon *d, int *st, msd_blob **body)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "apps");
    if (!arr) {
        cJSON_Delete(o);
        return answer_json(500, NULL, st, body);
    }
    for (msd_app *a = msd_registry_first(d->reg); a; a = msd_registry_next(a)) {
        cJSON *s = msd_app_summary(a);
        if (!s) {
            cJSON_Delete(o);
            return answer_json(500, NULL, st, body);
        }
        cJSON_AddItemToArray(arr, s);
    }
    return answer_json(200, o, st, body);
}

static int post_gc(msd_daemon *d, msd_app *app, const msd_api_req *req, msd_api_done_fn done, void *ctx, int *st,
                   msd_blob **body)
{
    cJSON *in = body_object(req, st, body);
    if (!in)
        return 1;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(in, "generation");
    double gen = g ? (cJSON_IsNumber(g) ? g->valuedouble : -1) : 2;
    cJSON_Delete(in);
    if (gen != 0 && gen != 1 && gen != 2)
        return answer_error(400, "\"generation\" must be 0, 1 or 2", st, body);
    if (!app->connected)
        return answer_error(409, "the app is disconnected", st, body);
    if (msd_app_take_gc_token(d->reg, app, msd_now_mono()) < 0)
        return answer_error(429, "collections requested too fast for this app (see --gc-rate)", st, body);
    cJSON *p = cJSON_CreateObject();
    if (p && !cJSON_AddNumberToObject(p, "generation", gen)) {
        cJSON_Delete(p);
        p = NULL;
    }
    if (!p)
        return answer_error(500, "out of memory", st, body);
    return forward(d, app, "gc.collect", p, FWD_PLAIN, done, ctx, st, body);
}

static int post_threshold(msd_daemon *d, msd_app *app, const msd_api_req *req, msd_api_done_fn done, void *ctx,
                          int *st, msd_blob **body)
{
    cJSON *in = body_object(req, st, body);
    if (!in)
        return 1;
    cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(in, "thresholds");
    cJSON_Delete(in);
    int n = cJSON_GetArraySize(t);
    bool ok = cJSON_IsArray(t) && n >= 1 && n <= 3;
    const cJSON *v;
    cJSON_ArrayForEach(v, t) ok = ok && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e9 &&
                                  v->valuedouble == floor(v->valuedouble);
    if (!ok) {
        cJSON_Delete(t);
        return answer_error(400, "\"thresholds\" must be an array of 1 to 3 non-negative integers", st, body);
    }
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddItemToObject(p, "thresholds", t)) {
        cJSON_Delete(p);
        cJSON_Delete(t);
        return answer_error(500, "out of memory", st, body);
    }
    return forward(d, app, "gc.set_threshold", p, FWD_PLAIN, done, ctx, st, body);
}

static int post_trace(msd_daemon *d, msd_app *app, const msd_api_req *req, msd_api_done_fn done, void *ctx, int *st,
                      msd_blob **body)
{
    cJSON *in = body_object(req, st, body);
    if (!in)
        return 1;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(in, "action");
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(in, "nframes");
    int rc;
    if (cJSON_IsString(a) && strcmp(a->valuestring, "start") == 0) {
        double n = nf ? (cJSON_IsNumber(nf) ? nf->valuedouble : -1) : 1;
        if (n < 1 || n > 128 || n != floor(n)) {
            rc = answer_error(400, "\"nframes\" must be an integer from 1 to 128", st, body);
        } else {
            cJSON *p = cJSON_CreateObject();
            if (p && !cJSON_AddNumberToObject(p, "nframes", n)) {
                cJSON_Delete(p);
                p = NULL;
            }
            rc = p ? forward(d, app, "trace.start", p, FWD_PLAIN, done, ctx, st, body)
                   : answer_error(500, "out of memory", st, body);
        }
    } else if (cJSON_IsString(a) && strcmp(a->valuestring, "stop") == 0) {
        rc = forward(d, app, "trace.stop", NULL, FWD_PLAIN, done, ctx, st, body);
    } else {
        rc = answer_error(400, "\"action\" must be \"start\" or \"stop\"", st, body);
    }
    cJSON_Delete(in);
    return rc;
}

static bool valid_key(const char *k)
{
    return strcmp(k, "lineno") == 0 || strcmp(k, "filename") == 0 || strcmp(k, "traceback") == 0;
}

static int get_trace_top(msd_daemon *d, msd_app *app, const msd_api_req *req, msd_api_done_fn done, void *ctx,
                         int *st, msd_blob **body)
{
    const char *key = req->arg ? req->arg(req->arg_ctx, "key") : NULL;
    if (!key)
        key = "lineno";
    long long limit = arg_int(req, "limit", 10, 10000);
    if (!valid_key(key) || limit < 0)
        return answer_error(400, "key must be lineno, filename or traceback; limit 0..10000", st, body);
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(p, "key", key) || !cJSON_AddNumberToObject(p, "limit", (double)limit)) {
        cJSON_Delete(p);
        return answer_error(500, "out of memory", st, body);
    }
    return forward(d, app, "trace.top", p, FWD_PLAIN, done, ctx, st, body);
}

static int get_trace_diff(msd_daemon *d, const msd_api_req *req, int *st, msd_blob **body)
{
    const char *key = req->arg ? req->arg(req->arg_ctx, "key") : NULL;
    if (!key)
        key = "lineno";
    long long from = arg_int(req, "from", -1, INT64_MAX), to = arg_int(req, "to", -1, INT64_MAX);
    long long limit = arg_int(req, "limit", 0, 100000);
    if (from <= 0 || to <= 0 || limit < 0 || !valid_key(key))
        return answer_error(400, "need from=ID&to=ID (snapshot ids), key lineno|filename|traceback", st, body);
    cJSON *a = msd_snapshot_load(d->cfg.data_dir, from);
    int ea = errno;
    cJSON *b = a ? msd_snapshot_load(d->cfg.data_dir, to) : NULL;
    int eb = errno;
    if (!a || !b) {
        cJSON_Delete(a);
        int e = !a ? ea : eb;
        return answer_error(e == ENOENT ? 404 : 500, e == ENOENT ? "no such snapshot" : "cannot read the snapshot",
                            st, body);
    }
    cJSON *diff = msd_snapshot_diff(a, b, key, (size_t)limit);
    cJSON_Delete(a);
    cJSON_Delete(b);
    if (diff) {
        cJSON_AddNumberToObject(diff, "from", (double)from);
        cJSON_AddNumberToObject(diff, "to", (double)to);
    }
    return answer_json(200, diff, st, body);
}

static int get_version(int *st, msd_blob **body)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "daemon", MSD_VERSION);
        cJSON_AddNumberToObject(o, "protocol", MSD_PROTOCOL_VERSION);
        cJSON_AddNumberToObject(o, "api", 1);
        cJSON_AddStringToObject(o, "libuv", uv_version_string());
        cJSON_AddStringToObject(o, "cjson", cJSON_Version());
    }
    return answer_json(200, o, st, body);
}

static int get_healthz(msd_daemon *d, int *st, msd_blob **body)
{
    size_t connected = 0;
    for (msd_app *a = msd_registry_first(d->reg); a; a = msd_registry_next(a))
        connected += a->connected;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "status", "ok");
        cJSON_AddNumberToObject(o, "apps", (double)msd_registry_count(d->reg));
        cJSON_AddNumberToObject(o, "connected", (double)connected);
        cJSON_AddNumberToObject(o, "connections", (double)msd_ipc_connections(d));
        cJSON_AddNumberToObject(o, "pending_requests", (double)msd_ipc_pending(d));
    }
    return answer_json(200, o, st, body);
}

/* Everything under /api/v1/apps/{id}/...: seg[0] is the id, seg[1..] the rest. */
static int route_app(msd_daemon *d, const msd_api_req *req, char **seg, int nseg, msd_api_done_fn done, void *ctx,
                     int *st, msd_blob **body)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (post && !req->authorized)
        return answer_error(401, "missing or wrong token", st, body);
    /* The diff works on stored snapshots, which outlive the app that made them. */
    if (nseg == 3 && get && strcmp(seg[1], "trace") == 0 && strcmp(seg[2], "diff") == 0)
        return get_trace_diff(d, req, st, body);
    msd_app *app = msd_registry_find(d->reg, seg[0]);
    if (!app)
        return answer_error(404, "no such app", st, body);
    if (nseg == 1 && get) {
        if (!app->latest)
            return answer_error(404, "the app has not sent stats yet", st, body);
        *st = 200;
        *body = msd_blob_ref(app->latest);
        return 1;
    }
    const char *a = nseg > 1 ? seg[1] : "", *b = nseg > 2 ? seg[2] : NULL;
    if (nseg == 2 && get && strcmp(a, "history") == 0) {
        long long secs = arg_int(req, "seconds", 0, 100000000);
        if (secs < 0)
            return answer_error(400, "seconds must be a non-negative integer", st, body);
        cJSON *h = msd_history_json(&app->hist, (double)secs, msd_now_mono(), msd_now_wall());
        if (h) {
            cJSON_AddNumberToObject(h, "id", (double)app->id);
            cJSON_AddNumberToObject(h, "interval_ms", (double)app->interval_ms);
        }
        return answer_json(200, h, st, body);
    }
    if (nseg == 2 && get && strcmp(a, "growth") == 0) {
        cJSON *g = msd_history_growth(&app->hist, msd_now_mono());
        if (g)
            cJSON_AddNumberToObject(g, "id", (double)app->id);
        return answer_json(200, g, st, body);
    }
    if (nseg == 2 && post && strcmp(a, "gc") == 0)
        return post_gc(d, app, req, done, ctx, st, body);
    if (nseg == 3 && post && strcmp(a, "gc") == 0 && strcmp(b, "enable") == 0)
        return forward(d, app, "gc.enable", NULL, FWD_PLAIN, done, ctx, st, body);
    if (nseg == 3 && post && strcmp(a, "gc") == 0 && strcmp(b, "disable") == 0)
        return forward(d, app, "gc.disable", NULL, FWD_PLAIN, done, ctx, st, body);
    if (nseg == 3 && post && strcmp(a, "gc") == 0 && strcmp(b, "threshold") == 0)
        return post_threshold(d, app, req, done, ctx, st, body);
    if (nseg == 2 && post && strcmp(a, "trace") == 0)
        return post_trace(d, app, req, done, ctx, st, body);
    if (nseg == 3 && get && strcmp(a, "trace") == 0 && strcmp(b, "top") == 0)
        return get_trace_top(d, app, req, done, ctx, st, body);
    if (nseg == 3 && strcmp(a, "trace") == 0 && strcmp(b, "snapshots") == 0) {
        if (post)
            return forward(d, app, "trace.snapshot", NULL, FWD_SNAPSHOT, done, ctx, st, body);
        cJSON *o = cJSON_CreateObject(), *l = msd_snapshot_list(d->cfg.data_dir, app->name);
        if (!o || !l || !cJSON_AddItemToObject(o, "snapshots", l)) {
            cJSON_Delete(l);
            cJSON_Delete(o);
            o = NULL;
        }
        return answer_json(200, o, st, body);
    }
    return answer_error(404, "no such endpoint", st, body);
}

int msd_api_handle(msd_daemon *d, const msd_api_req *req, int *st, msd_blob **body, msd_api_done_fn done, void *ctx)
{
    /* Split the path into at most PATH_MAX_SEGS non-empty segments (a copy: req->path is const). */
    size_t plen = strlen(req->path);
    if (plen > 1024)
        return answer_error(414, "path too long", st, body);
    char path[1025];
    memcpy(path, req->path, plen + 1);
    char *seg[PATH_MAX_SEGS + 1];
    int nseg = 0;
    for (char *save = NULL, *s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (nseg == PATH_MAX_SEGS + 1)
            return answer_error(404, "no such endpoint", st, body);
        seg[nseg++] = s;
    }
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (nseg == 1 && get && strcmp(seg[0], "healthz") == 0)
        return get_healthz(d, st, body);
    if (nseg >= 3 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0) {
        if (nseg == 3 && get && strcmp(seg[2], "version") == 0)
            return get_version(st, body);
        if (nseg == 3 && get && strcmp(seg[2], "apps") == 0)
            return get_apps(d, st, body);
        if (nseg >= 4 && strcmp(seg[2], "apps") == 0)
            return route_app(d, req, seg + 3, nseg - 3, done, ctx, st, body);
    }
    return answer_error(404, "no such endpoint", st, body);
}

/*
 * daemon/api.c — the JSON API's handlers (the list is in api.h, the URLs in routes.c). Each validates its
 * input once — ranges from common/protocol.h, so the user's own mistake is a 400 with the range in the message —
 * and then answers from the registry, forwards to the app (forward(): the answer comes from on_app_reply), or
 * hands a job to the snapshot store (its callbacks answer).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "api.h"
#include "appdoc.h"
#include "heapgraph.h"
#include "heapstore.h"
#include "ipc.h"
#include "registry.h"
#include "snapstore.h"

/* The app named by the path's {id}, or NULL after answering 404. */
static msd_app *app_of(msd_daemon *d, msd_req *r)
{
    msd_app *app = msd_registry_find(d->reg, r->params[0]);
    if (!app)
        msd_req_error(r, 404, "no such app");
    return app;
}

/* Parses a non-negative integer query argument: def when absent; -1 when malformed or above max. */
static long long arg_int(msd_req *r, const char *name, long long def, long long max)
{
    const char *v = msd_req_query(r, name);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < 0 || x > max)
        return -1;
    return x;
}

/* The request body as a JSON object (an empty body is {}), or NULL after answering 400. */
static cJSON *body_object(msd_req *r)
{
    if (r->body_len == 0)
        return cJSON_CreateObject();
    cJSON *o = cJSON_ParseWithLength(r->body, r->body_len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        msd_req_error(r, 400, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

/* An integer member of o in [lo, hi] (def when absent); false when it is something else. */
static bool member_int(const cJSON *o, const char *name, double lo, double hi, double def, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) {
        *out = def;
        return true;
    }
    *out = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    return *out >= lo && *out <= hi && *out == floor(*out);
}

/* ---- Forwarding to an app ------------------------------------------------------------------------------------ */

typedef enum fwd_kind { FWD_PLAIN, FWD_SNAPSHOT, FWD_HEAP } fwd_kind;

typedef struct fwd {
    msd_daemon *d;
    msd_req *r;
    fwd_kind kind;
    uint64_t app_id;
    int64_t pid;
    char app[MSC_APP_NAME_MAX + 1];
    msc_buf wire;           /* FWD_HEAP: the binary frames' bytes so far (off 0: the malloc'ed block, aligned) */
} fwd;

static void fwd_free(fwd *f)
{
    msc_buf_free(&f->wire);
    free(f);
}

static void on_heap_reply(fwd *f, int status, msd_msg *reply);

static void on_snapshot_stored(void *arg, int64_t id, size_t traces)
{
    fwd *f = arg;
    if (id == -EPROTO) {
        msd_req_error(f->r, 502, "the app's snapshot has no \"traces\" array");
    } else if (id == -ECANCELED) {
        msd_req_error(f->r, 503, "daemon shutting down");
    } else if (id < 0) {
        msd_req_error(f->r, 500, "cannot store the snapshot (see the daemon's log)");
    } else {
        cJSON *o = cJSON_CreateObject();
        msd_req_built(f->r, 201, o,
                      o && cJSON_AddNumberToObject(o, "id", (double)id) &&
                          cJSON_AddNumberToObject(o, "app_id", (double)f->app_id) &&
                          cJSON_AddNumberToObject(o, "traces", (double)traces));
    }
    free(f);
}

static void on_app_reply(void *arg, int status, msd_msg *reply)
{
    fwd *f = arg;
    if (f->kind == FWD_HEAP) {
        on_heap_reply(f, status, reply);
        return;
    }
    if (status == -ETIMEDOUT) {
        msd_req_error(f->r, 504, "the app did not answer in time");
    } else if (status < 0) {
        msd_req_error(f->r, 409, "the app disconnected before answering");
    } else if (!reply->ok) {
        msd_req_error(f->r, 502, reply->error);
    } else if (f->kind == FWD_SNAPSHOT) {
        /* The result's tree moves to the store's job: it is printed and written on a worker thread. */
        cJSON *result = reply->result ? cJSON_DetachItemViaPointer(reply->json, reply->result) : NULL;
        reply->result = NULL;
        if (msd_snapstore_put(f->d, result, f->app, f->pid, f->app_id, on_snapshot_stored, f) < 0) {
            msd_req_error(f->r, 500, "out of memory");
            free(f);
        }
        return;
    } else {
        msd_req_cjson(f->r, 200, reply->result ? cJSON_Duplicate(reply->result, 1) : cJSON_CreateNull());
    }
    free(f);
}

static int on_heap_bytes(void *arg, const uint8_t *data, size_t len);

/* Sends method(params) to app; the answer comes later from on_app_reply, or now on failure. params is consumed. */
static void forward(msd_daemon *d, msd_req *r, msd_app *app, const char *method, cJSON *params, fwd_kind kind)
{
    if (!app->connected) {
        cJSON_Delete(params);
        msd_req_error(r, 409, "the app is disconnected");
        return;
    }
    fwd *f = calloc(1, sizeof(*f));
    if (!f) {
        cJSON_Delete(params);
        msd_req_error(r, 500, "out of memory");
        return;
    }
    *f = (fwd){.d = d, .r = r, .kind = kind, .app_id = app->id, .pid = app->pid};
    snprintf(f->app, sizeof(f->app), "%s", app->name);
    int rc = kind == FWD_HEAP ? msd_ipc_request_bytes(d, app, method, params, d->cfg.request_timeout_ms,
                                                      on_heap_bytes, on_app_reply, f)
                              : msd_ipc_request(d, app, method, params, d->cfg.request_timeout_ms, on_app_reply, f);
    if (rc == 0)
        return;
    fwd_free(f);
    if (rc == -ENOTCONN)
        msd_req_error(r, 409, "the app is disconnected");
    else if (rc == -ENOBUFS)
        msd_req_error(r, 503, "the app is not reading its socket");
    else
        msd_req_error(r, 500, "out of memory");
}

/* forward() with params {name: value}, or {} when name is NULL. */
static void forward_number(msd_daemon *d, msd_req *r, msd_app *app, const char *method, const char *name,
                           double value)
{
    cJSON *p = cJSON_CreateObject();
    if (!p || (name && !cJSON_AddNumberToObject(p, name, value))) {
        cJSON_Delete(p);
        msd_req_error(r, 500, "out of memory");
        return;
    }
    forward(d, r, app, method, p, FWD_PLAIN);
}

/* ---- The daemon and the apps ------------------------------------------------------------------------------- */

void msd_api_healthz(msd_daemon *d, msd_req *r)
{
    cJSON *o = cJSON_CreateObject();
    msd_req_built(r, 200, o,
                  o && cJSON_AddStringToObject(o, "status", "ok") &&
                      cJSON_AddNumberToObject(o, "apps", (double)msd_registry_count(d->reg)) &&
                      cJSON_AddNumberToObject(o, "connected", (double)msd_registry_connected(d->reg)) &&
                      cJSON_AddNumberToObject(o, "connections", (double)msd_ipc_connections(d)) &&
                      cJSON_AddNumberToObject(o, "pending_requests", (double)msd_ipc_pending(d)) &&
                      cJSON_AddNumberToObject(o, "heap_jobs", (double)msd_heapstore_jobs(d)) &&
                      cJSON_AddNumberToObject(o, "frames_received", (double)d->counters.frames_received));
}

void msd_api_version(msd_daemon *d, msd_req *r)
{
    cJSON *o = cJSON_CreateObject();
    msd_req_built(r, 200, o,
                  o && cJSON_AddStringToObject(o, "daemon", MSD_VERSION) &&
                      cJSON_AddNumberToObject(o, "protocol", MSD_PROTOCOL_VERSION) &&
                      cJSON_AddNumberToObject(o, "api", 1) &&
                      cJSON_AddStringToObject(o, "libuv", uv_version_string()) &&
                      cJSON_AddStringToObject(o, "cjson", cJSON_Version()));
}

void msd_api_apps(msd_daemon *d, msd_req *r)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "apps");
    bool ok = arr != NULL;
    for (msd_app *a = msd_registry_first(d->reg); ok && a; a = msd_registry_next(d->reg, a)) {
        cJSON *s = msd_appdoc_summary(a);
        if (!(ok = s && cJSON_AddItemToArray(arr, s)))
            cJSON_Delete(s);
    }
    msd_req_built(r, 200, o, ok);
}

void msd_api_app(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (!app)
        return;
    msd_blob *doc = msd_appdoc_latest(app);
    if (!doc && errno != ENOMEM)
        msd_req_error(r, 404, "the app has not sent stats yet");
    else
        msd_req_json(r, 200, doc);
}

/* Adds the column `name` of the samples [first, len) (gen >= 0: collections[gen]) to obj or to into. */
static bool add_column(cJSON *obj, const char *name, const msd_history *h, size_t first, size_t off, int gen,
                       cJSON *into)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr || !(into ? cJSON_AddItemToArray(into, arr) : cJSON_AddItemToObject(obj, name, arr))) {
        cJSON_Delete(arr);
        return false;
    }
    for (size_t i = first; i < h->len; i++) {
        const msd_sample *s = msd_history_at(h, i);
        double v = gen >= 0 ? s->collections[gen] : *(const double *)(const void *)((const char *)s + off);
        cJSON *n = cJSON_CreateNumber(v);
        if (!n || !cJSON_AddItemToArray(arr, n)) {
            cJSON_Delete(n);
            return false;
        }
    }
    return true;
}

void msd_api_history(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (!app)
        return;
    long long secs = arg_int(r, "seconds", 0, 100000000);
    if (secs < 0) {
        msd_req_error(r, 400, "seconds must be a non-negative integer");
        return;
    }
    const msd_history *h = &app->hist;
    double seconds = secs > 0 && secs < h->window ? (double)secs : h->window;
    double mono = msd_now_mono(), wall = msd_now_wall();
    size_t first = msd_history_since(h, mono - seconds);
    cJSON *o = cJSON_CreateObject(), *time = cJSON_CreateArray(), *heap = cJSON_CreateArray();
    cJSON *gens = cJSON_CreateArray();
    bool ok = o && time && heap && gens && cJSON_AddNumberToObject(o, "seconds", seconds) &&
              cJSON_AddNumberToObject(o, "points", (double)(h->len - first)) && cJSON_AddItemToObject(o, "time", time);
    if (!ok)
        cJSON_Delete(time);
    ok = ok && cJSON_AddItemToObject(o, "heap_bytes", heap);
    if (!ok)
        cJSON_Delete(heap);
    /* Times are the wall clock of each sample: its receive time as seen by the monotonic clock, moved to now. */
    for (size_t i = first; ok && i < h->len; i++) {
        const msd_sample *s = msd_history_at(h, i);
        cJSON *t = cJSON_CreateNumber(round((wall - (mono - s->t)) * 1000) / 1000);
        cJSON *b = cJSON_CreateNumber(s->pool_bytes + s->system_bytes);
        ok = t && b && cJSON_AddItemToArray(time, t) && cJSON_AddItemToArray(heap, b);
        if (!ok) {
            cJSON_Delete(t);
            cJSON_Delete(b);
        }
    }
    ok = ok && add_column(o, "pool_bytes", h, first, offsetof(msd_sample, pool_bytes), -1, NULL) &&
         add_column(o, "system_bytes", h, first, offsetof(msd_sample, system_bytes), -1, NULL) &&
         add_column(o, "objects_alive", h, first, offsetof(msd_sample, objects_alive), -1, NULL);
    for (int g = 0; ok && g < MSC_STATS_GENERATIONS; g++)
        ok = add_column(o, NULL, h, first, 0, g, gens);
    ok = ok && cJSON_AddItemToObject(o, "gc_collections", gens);
    if (!ok)
        cJSON_Delete(gens);
    ok = ok && add_column(o, "gc_pause_total_ns", h, first, offsetof(msd_sample, pause_total_ns), -1, NULL) &&
         add_column(o, "gc_pause_max_ns", h, first, offsetof(msd_sample, pause_max_ns), -1, NULL) &&
         add_column(o, "garbage", h, first, offsetof(msd_sample, garbage), -1, NULL) &&
         cJSON_AddNumberToObject(o, "id", (double)app->id) &&
         cJSON_AddNumberToObject(o, "interval_ms", (double)app->interval_ms);
    msd_req_built(r, 200, o, ok);
}

void msd_api_growth(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (!app)
        return;
    msd_growth g;
    if (msd_history_growth(&app->hist, msd_now_mono(), &g) < 0) {
        msd_req_error(r, 500, "out of memory");
        return;
    }
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    bool ok = o && arr && cJSON_AddNumberToObject(o, "window_s", g.window_s) &&
              cJSON_AddNumberToObject(o, "span_s", g.span_s) && cJSON_AddNumberToObject(o, "points", (double)g.points) &&
              cJSON_AddItemToObject(o, "types", arr);
    if (!ok)
        cJSON_Delete(arr);
    for (size_t i = 0; ok && i < g.n; i++) {
        const msd_suspect *s = &g.types[i];
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(arr, e) && cJSON_AddStringToObject(e, "type", s->type) &&
             cJSON_AddNumberToObject(e, "alive", s->alive) && cJSON_AddNumberToObject(e, "first", s->first) &&
             cJSON_AddNumberToObject(e, "delta", s->alive - s->first) &&
             cJSON_AddNumberToObject(e, "rate_per_s", s->rate_per_s) &&
             cJSON_AddNumberToObject(e, "steps_up", (double)s->steps_up) &&
             cJSON_AddNumberToObject(e, "steps", (double)(g.points - 1));
        if (!e)
            ok = false;
    }
    ok = ok && cJSON_AddNumberToObject(o, "id", (double)app->id);
    msd_growth_free(&g);
    msd_req_built(r, 200, o, ok);
}

/* ---- The collector --------------------------------------------------------------------------------------------- */

void msd_api_gc(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    cJSON *in = app ? body_object(r) : NULL;
    if (!in)
        return;
    double gen;
    bool ok = member_int(in, "generation", 0, 2, 2, &gen);
    cJSON_Delete(in);
    if (!ok)
        msd_req_error(r, 400, "\"generation\" must be 0, 1 or 2");
    else if (!app->connected)
        msd_req_error(r, 409, "the app is disconnected");
    else if (msd_app_take_gc_token(d->reg, app, msd_now_mono()) < 0)
        msd_req_error(r, 429, "collections requested too fast for this app (see --gc-rate)");
    else
        forward_number(d, r, app, "gc.collect", "generation", gen);
}

/* A boolean query argument: absent, "0" or "false" is false, "1" or "true" true; -1 otherwise. */
static int arg_bool(msd_req *r, const char *name)
{
    const char *v = msd_req_query(r, name);
    if (!v || strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        return 0;
    return strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ? 1 : -1;
}

/* GET .../gc/cycles?recent=0|1&limit=N: the app's cycle makers (gc.cycles), since start or of its last
 * collections. Reading them changes nothing: turning the grouping on is a POST. */
void msd_api_gc_cycles(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (!app)
        return;
    _Static_assert(MSC_CYCLES_LIMIT_MAX == 65, "the message below says 65");
    int recent = arg_bool(r, "recent");
    long long limit = arg_int(r, "limit", MSC_CYCLES_LIMIT_DEFAULT, MSC_CYCLES_LIMIT_MAX);
    if (recent < 0 || limit < 1) {
        msd_req_error(r, 400, recent < 0 ? "\"recent\" must be 0, 1, true or false"
                                         : "\"limit\" must be an integer from 1 to 65");
        return;
    }
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddBoolToObject(p, "recent", recent) || !cJSON_AddNumberToObject(p, "limit", (double)limit)) {
        cJSON_Delete(p);
        msd_req_error(r, 500, "out of memory");
        return;
    }
    forward(d, r, app, "gc.cycles", p, FWD_PLAIN);
}

/* POST .../gc/cycles {"enabled": true|false}: the grouping on or off in the app (it costs each collection a walk
 * of its garbage), answered with the table since start. */
void msd_api_gc_cycles_set(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    cJSON *in = app ? body_object(r) : NULL;
    if (!in)
        return;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(in, "enabled");
    if (!cJSON_IsBool(e)) {
        cJSON_Delete(in);
        msd_req_error(r, 400, "\"enabled\" must be true or false");
        return;
    }
    cJSON *p = cJSON_CreateObject();
    bool on = cJSON_IsTrue(e);
    cJSON_Delete(in);
    if (!p || !cJSON_AddBoolToObject(p, "enable", on)) {
        cJSON_Delete(p);
        msd_req_error(r, 500, "out of memory");
        return;
    }
    forward(d, r, app, "gc.cycles", p, FWD_PLAIN);
}

/* ---- Pools ---------------------------------------------------------------------------------------------------- */

/* GET .../pools/pinning?max_utilization=0.25&limit=N: the pools and arenas that mostly free blocks keep mapped,
 * charged to the sites (while tracing), size classes and types of their live blocks (pools.pinning: a walk of the
 * app's pools at its next safe point, whose cost the answer reports). */
void msd_api_pools_pinning(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (!app)
        return;
    _Static_assert(MSC_PINNING_LIMIT_MAX == 1000, "the message below says 1000");
    double maxu = MSC_PINNING_UTILIZATION_DEFAULT;
    const char *v = msd_req_query(r, "max_utilization");
    if (v) {
        char *end;
        errno = 0;
        maxu = strtod(v, &end);
        if (!*v || *end || errno || !(maxu >= 0 && maxu <= 1)) {
            msd_req_error(r, 400, "\"max_utilization\" must be a number from 0 to 1");
            return;
        }
    }
    long long limit = arg_int(r, "limit", MSC_PINNING_LIMIT_DEFAULT, MSC_PINNING_LIMIT_MAX);
    if (limit < 1) {
        msd_req_error(r, 400, "\"limit\" must be an integer from 1 to 1000");
        return;
    }
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddNumberToObject(p, "max_utilization", maxu) ||
        !cJSON_AddNumberToObject(p, "limit", (double)limit)) {
        cJSON_Delete(p);
        msd_req_error(r, 500, "out of memory");
        return;
    }
    forward(d, r, app, "pools.pinning", p, FWD_PLAIN);
}

void msd_api_gc_enable(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (app)
        forward(d, r, app, "gc.enable", NULL, FWD_PLAIN);
}

void msd_api_gc_disable(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (app)
        forward(d, r, app, "gc.disable", NULL, FWD_PLAIN);
}

void msd_api_gc_threshold(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    cJSON *in = app ? body_object(r) : NULL;
    if (!in)
        return;
    cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(in, "thresholds");
    cJSON_Delete(in);
    int n = cJSON_GetArraySize(t);
    bool ok = cJSON_IsArray(t) && n >= 1 && n <= 3;
    const cJSON *v;
    cJSON_ArrayForEach(v, t) ok = ok && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e9 &&
                                  v->valuedouble == floor(v->valuedouble);
    if (!ok) {
        cJSON_Delete(t);
        msd_req_error(r, 400, "\"thresholds\" must be an array of 1 to 3 integers from 0 to 1000000000");
        return;
    }
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddItemToObject(p, "thresholds", t)) {
        cJSON_Delete(p);
        cJSON_Delete(t);
        msd_req_error(r, 500, "out of memory");
        return;
    }
    forward(d, r, app, "gc.set_threshold", p, FWD_PLAIN);
}

/* ---- Tracing --------------------------------------------------------------------------------------------------- */

#define STR(x) #x
#define XSTR(x) STR(x)

void msd_api_trace(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    cJSON *in = app ? body_object(r) : NULL;
    if (!in)
        return;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(in, "action");
    double n;
    bool start = cJSON_IsString(a) && strcmp(a->valuestring, "start") == 0;
    bool stop = cJSON_IsString(a) && strcmp(a->valuestring, "stop") == 0;
    bool nframes_ok = member_int(in, "nframes", 1, MSC_TRACE_FRAMES_MAX, 1, &n);
    cJSON_Delete(in);
    if (start && !nframes_ok)
        msd_req_error(r, 400, "\"nframes\" must be an integer from 1 to " XSTR(MSC_TRACE_FRAMES_MAX));
    else if (start)
        forward_number(d, r, app, "trace.start", "nframes", n);
    else if (stop)
        forward(d, r, app, "trace.stop", NULL, FWD_PLAIN);
    else
        msd_req_error(r, 400, "\"action\" must be \"start\" or \"stop\"");
}

/* A key= argument: lineno (the default), filename or traceback; NULL when it is something else. */
static const char *trace_key(msd_req *r)
{
    const char *key = msd_req_query(r, "key");
    if (!key)
        return "lineno";
    return strcmp(key, "lineno") == 0 || strcmp(key, "filename") == 0 || strcmp(key, "traceback") == 0 ? key : NULL;
}

#define KEY_ERROR "key must be lineno, filename or traceback"
#define LIMIT_ERROR "limit must be an integer from 0 to " XSTR(MSC_TOP_LIMIT_MAX) " (0: every entry)"

void msd_api_trace_top(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (!app)
        return;
    const char *key = trace_key(r);
    long long limit = arg_int(r, "limit", MSC_TOP_LIMIT_DEFAULT, MSC_TOP_LIMIT_MAX);
    if (!key || limit < 0) {
        msd_req_error(r, 400, !key ? KEY_ERROR : LIMIT_ERROR);
        return;
    }
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(p, "key", key) || !cJSON_AddNumberToObject(p, "limit", (double)limit)) {
        cJSON_Delete(p);
        msd_req_error(r, 500, "out of memory");
        return;
    }
    forward(d, r, app, "trace.top", p, FWD_PLAIN);
}

void msd_api_snapshot_take(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (app)
        forward(d, r, app, "trace.snapshot", NULL, FWD_SNAPSHOT);
}

/* The app whose snapshots (trace or heap) the path names: the registry's, else (an app that has gone) the one
 * whose snapshots carry that app id or pid. NULL after answering 404. */
static const char *snapshot_owner(msd_daemon *d, msd_req *r)
{
    msd_app *app = msd_registry_find(d->reg, r->params[0]);
    if (app)
        return app->name;
    const char *key = r->params[0];
    const char *name = NULL;
    if (key[0] && strlen(key) <= 19 && strspn(key, "0123456789") == strlen(key))
        name = msd_snapstore_app_of(d, strtoull(key, NULL, 10));
    if (!name && key[0] && strlen(key) <= 19 && strspn(key, "0123456789") == strlen(key))
        name = msd_heapstore_app_of(d, strtoull(key, NULL, 10));
    if (!name)
        msd_req_error(r, 404, "no such app");
    return name;
}

/* Answers a snapshot store's document (wrapping a list as {"snapshots": [...]}) or its error. */
static void answer_doc(msd_req *r, int status, const char *why, msd_blob *json, bool list)
{
    if (status == 0 && list) {
        msd_blob *b = msd_blob_new(NULL, json->len + 16);
        if (b)
            b->len = (size_t)snprintf(b->data, b->cap + 1, "{\"snapshots\":%s}", json->data);
        msd_blob_unref(json);
        msd_req_json(r, 200, b);
        return;
    }
    switch (status) {
    case 0: msd_req_json(r, 200, json); return;
    case -ENOENT: case -EPERM: msd_req_error(r, 404, why); return;
    case -ECANCELED: msd_req_error(r, 503, why); return;
    case -ENOMEM: msd_req_error(r, 500, "out of memory"); return;
    default: msd_req_error(r, 500, why[0] ? why : "cannot read the snapshots (see the daemon's log)"); return;
    }
}

static void on_list(void *arg, int status, const char *why, msd_blob *json)
{
    answer_doc(arg, status, why, json, true);
}

static void on_diff(void *arg, int status, const char *why, msd_blob *json)
{
    answer_doc(arg, status, why, json, false);
}

void msd_api_snapshot_list(msd_daemon *d, msd_req *r)
{
    const char *app = snapshot_owner(d, r);
    if (app && msd_snapstore_list(d, app, on_list, r) < 0)
        msd_req_error(r, 500, "out of memory");
}

void msd_api_trace_diff(msd_daemon *d, msd_req *r)
{
    const char *key = trace_key(r);
    long long from = arg_int(r, "from", -1, INT64_MAX), to = arg_int(r, "to", -1, INT64_MAX);
    long long limit = arg_int(r, "limit", 0, MSC_TOP_LIMIT_MAX);
    if (from <= 0 || to <= 0 || !key || limit < 0) {
        msd_req_error(r, 400, from <= 0 || to <= 0 ? "need from=ID&to=ID (snapshot ids of this app)"
                              : !key              ? KEY_ERROR
                                                  : LIMIT_ERROR);
        return;
    }
    const char *app = snapshot_owner(d, r);
    if (app && msd_snapstore_diff(d, app, from, to, key, (size_t)limit, on_diff, r) < 0)
        msd_req_error(r, 500, "out of memory");
}

/* ---- Heap snapshots ---------------------------------------------------------------------------------------------
 * POST .../heapsnapshot forwards "heapsnapshot" {} (docs/PROTOCOL.md section 6): the graph arrives in binary frames
 * (on_heap_bytes appends them, within --heapsnapshot-max), then the reply (on_heap_reply checks graph_bytes and
 * hands the bytes to the heap snapshot store, whose callback answers). The other endpoints ask the store. */

/* The size a wire image's 24-byte header announces (common/heapgraph.h's layout), or 0 when it is not one. */
static uint64_t wire_size(const uint8_t *h)
{
    uint32_t w[6];
    for (int i = 0; i < 6; i++)
        w[i] = (uint32_t)h[4 * i] | (uint32_t)h[4 * i + 1] << 8 | (uint32_t)h[4 * i + 2] << 16 |
               (uint32_t)h[4 * i + 3] << 24;
    if (memcmp(h, MSC_HG_MAGIC, 4) != 0)
        return 0;
    return 24 + ((uint64_t)w[4] + 1) * 4 + (((uint64_t)w[5] + 3) & ~(uint64_t)3) + (uint64_t)w[2] * 24 +
           (uint64_t)w[3] * 12;
}

static int on_heap_bytes(void *arg, const uint8_t *data, size_t len)
{
    fwd *f = arg;
    uint64_t max = f->d->cfg.heapsnapshot_max;
    size_t had = f->wire.len;
    if (len > max || had > max - len)
        return -EFBIG;
    int rc = msc_buf_append_max(&f->wire, data, len, (size_t)max);
    if (rc < 0)
        return rc == -ENOBUFS ? -EFBIG : rc;
    /* Once the header is in, the whole size is known: refuse at once what will not fit, and allocate the rest
     * once instead of doubling up to it (a lying header only costs what --heapsnapshot-max allows). */
    if (had < 24 && f->wire.len >= 24) {
        uint64_t want = wire_size((const uint8_t *)msc_buf_bytes(&f->wire));
        if (want > max)
            return -EFBIG;
        if (want > f->wire.len && msc_buf_reserve_max(&f->wire, (size_t)(want - f->wire.len), (size_t)max) == -ENOMEM)
            return -ENOMEM;
    }
    return 0;
}

static void on_heap_stored(void *arg, int status, const char *why, const msd_heapinfo *info)
{
    msd_req *r = arg;
    if (status == -EPROTO) {
        msd_req_error(r, 502, why);
    } else if (status == -ECANCELED) {
        msd_req_error(r, 503, "daemon shutting down");
    } else if (status < 0) {
        msd_req_error(r, 500, why[0] ? why : "cannot store the heap snapshot (see the daemon's log)");
    } else {
        cJSON *o = cJSON_CreateObject();
        msd_req_built(r, 200, o,
                      o && cJSON_AddNumberToObject(o, "id", (double)info->s.id) &&
                          cJSON_AddNumberToObject(o, "objects", (double)info->objects) &&
                          cJSON_AddNumberToObject(o, "edges", (double)info->edges) &&
                          cJSON_AddNumberToObject(o, "bytes", (double)info->bytes) &&
                          cJSON_AddNumberToObject(o, "pause_ms", info->pause_ms));
    }
}

static void on_heap_reply(fwd *f, int status, msd_msg *reply)
{
    char msg[200];
    const cJSON *res = reply ? reply->result : NULL;
    const cJSON *gb = cJSON_GetObjectItemCaseSensitive(res, "graph_bytes");
    const cJSON *pause = cJSON_GetObjectItemCaseSensitive(res, "pause_ms");
    if (status == -EFBIG) {
        snprintf(msg, sizeof(msg), "the heap graph is larger than --heapsnapshot-max (%llu bytes)",
                 (unsigned long long)f->d->cfg.heapsnapshot_max);
        msd_req_error(f->r, 507, msg);
    } else if (status == -ETIMEDOUT && f->wire.len) {
        snprintf(msg, sizeof(msg), "the app stopped sending its heap graph after %zu bytes (nothing for %d ms)",
                 f->wire.len, f->d->cfg.request_timeout_ms);
        msd_req_error(f->r, 504, msg);
    } else if (status == -ETIMEDOUT) {
        msd_req_error(f->r, 504, "the app did not answer in time");
    } else if (status == -ENOMEM) {
        msd_req_error(f->r, 500, "out of memory");
    } else if (status < 0) {
        msd_req_error(f->r, 409, "the app disconnected before answering");
    } else if (!reply->ok) {
        msd_req_error(f->r, 502, reply->error);
    } else if (!cJSON_IsNumber(gb) || gb->valuedouble != (double)f->wire.len) {
        snprintf(msg, sizeof(msg), "the app says its heap graph has %.0f bytes (graph_bytes) but sent %zu",
                 cJSON_IsNumber(gb) ? gb->valuedouble : -1.0, f->wire.len);
        msd_req_error(f->r, 502, msg);
    } else {
        double p = cJSON_IsNumber(pause) && pause->valuedouble >= 0 ? pause->valuedouble : 0;
        void *wire = f->wire.data; /* off is 0: the block malloc returned, aligned as msc_hg_parse needs */
        size_t len = f->wire.len;
        f->wire = (msc_buf)MSC_BUF_INIT;
        if (msd_heapstore_put(f->d, wire, len, f->app, f->pid, f->app_id, p, on_heap_stored, f->r) < 0)
            msd_req_error(f->r, 500, "out of memory");
    }
    fwd_free(f);
}

void msd_api_heapsnapshot_take(msd_daemon *d, msd_req *r)
{
    msd_app *app = app_of(d, r);
    if (app)
        forward(d, r, app, "heapsnapshot", NULL, FWD_HEAP);
}

/* A heap snapshot store's document, or its error. */
static void on_heap_doc(void *arg, int status, const char *why, msd_blob *json)
{
    msd_req *r = arg;
    switch (status) {
    case 0: msd_req_json(r, 200, json); return;
    case -ENOENT: case -EPERM: msd_req_error(r, 404, why); return;
    case -ECANCELED: msd_req_error(r, 503, why); return;
    case -ENOMEM: msd_req_error(r, 500, "out of memory"); return;
    default: msd_req_error(r, 500, why[0] ? why : "cannot read the heap snapshot (see the daemon's log)"); return;
    }
}

void msd_api_heapsnapshot_list(msd_daemon *d, msd_req *r)
{
    const char *app = snapshot_owner(d, r);
    if (app && msd_heapstore_list(d, app, on_heap_doc, r) < 0)
        msd_req_error(r, 500, "out of memory");
}

/* The {sid} of the path (params[1]), or -1 after answering 400. */
static int64_t heap_sid(msd_req *r)
{
    const char *v = r->params[1];
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x <= 0 || strspn(v, "0123456789") != strlen(v)) {
        msd_req_error(r, 400, "the heap snapshot id must be a positive integer");
        return -1;
    }
    return x;
}

typedef struct heap_download {
    msd_req *r;
    char name[MSC_APP_NAME_MAX + 64]; /* the file name to save as */
} heap_download;

static void on_heap_file(void *arg, int status, const char *why, int fd, uint64_t size)
{
    heap_download *h = arg;
    if (status < 0) {
        on_heap_doc(h->r, status, why, NULL);
    } else {
        char disp[sizeof(h->name) + 40];
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", h->name);
        msd_resp resp = {.status = 200, .type = "application/json", .file = true, .file_fd = fd, .file_size = size,
                         .headers = {{"Content-Disposition", disp}, {"Cache-Control", "no-store"}}, .nheaders = 2};
        msd_req_answer(h->r, &resp);
    }
    free(h);
}

void msd_api_heapsnapshot_get(msd_daemon *d, msd_req *r)
{
    const char *app = snapshot_owner(d, r);
    int64_t sid = app ? heap_sid(r) : -1;
    if (sid < 0)
        return;
    heap_download *h = malloc(sizeof(*h));
    if (!h) {
        msd_req_error(r, 500, "out of memory");
        return;
    }
    h->r = r;
    /* "<app>-<sid>.heapsnapshot", the app's name kept to bytes that need no quoting in any file system or header */
    int n = snprintf(h->name, sizeof(h->name), "%s-%lld.heapsnapshot", app, (long long)sid);
    for (int i = 0; i < n && h->name[i]; i++) {
        char c = h->name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_'))
            h->name[i] = '_';
    }
    if (msd_heapstore_open(d, app, sid, on_heap_file, h) < 0) {
        free(h);
        msd_req_error(r, 500, "out of memory");
    }
}

void msd_api_heapsnapshot_types(msd_daemon *d, msd_req *r)
{
    const char *app = snapshot_owner(d, r);
    int64_t sid = app ? heap_sid(r) : -1;
    if (sid > 0 && msd_heapstore_query(d, app, sid, NULL, 0, 0, on_heap_doc, r) < 0)
        msd_req_error(r, 500, "out of memory");
}

#define RETAINERS_LIMIT_MAX 1000
#define RETAINERS_LIMIT_DEFAULT 10

void msd_api_heapsnapshot_retainers(msd_daemon *d, msd_req *r)
{
    const char *type = msd_req_query(r, "type");
    long long limit = arg_int(r, "limit", RETAINERS_LIMIT_DEFAULT, RETAINERS_LIMIT_MAX);
    if (!type || !type[0] || strlen(type) > 4096) {
        msd_req_error(r, 400, "need type=TYPE (the name of a type of the snapshot)");
        return;
    }
    if (limit < 1) {
        msd_req_error(r, 400, "limit must be an integer from 1 to " XSTR(RETAINERS_LIMIT_MAX));
        return;
    }
    const char *app = snapshot_owner(d, r);
    int64_t sid = app ? heap_sid(r) : -1;
    if (sid > 0 && msd_heapstore_query(d, app, sid, type, strlen(type), (unsigned)limit, on_heap_doc, r) < 0)
        msd_req_error(r, 500, "out of memory");
}

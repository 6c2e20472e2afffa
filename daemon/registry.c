/*
 * daemon/registry.c — apps, their lifecycle and their cached stats document. See registry.h for the contract
 * and the memory bound per app. Entry points: msd_registry_add() (hello), msd_registry_stats() (each sample),
 * msd_registry_disconnect(), msd_registry_sweep().
 *
 * Life of an app:  hello -> connected --(stats)*--> disconnected --(--retain seconds)--> removed.
 * A reconnecting process gets a new id; the API's pid lookup prefers the connected entry.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

struct msd_registry {
    const msd_config *cfg;
    msd_app *first, *last;
    size_t count;
    uint64_t next_id;
    msd_event_fn listener;
    void *listener_arg;
};

msd_registry *msd_registry_new(const msd_config *cfg)
{
    msd_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    reg->cfg = cfg;
    reg->next_id = 1;
    return reg;
}

static void app_free(msd_app *app)
{
    free(app->name);
    free(app->name_json);
    free(app->library);
    cJSON_Delete(app->argv);
    msd_blob_unref(app->latest);
    msd_history_free(&app->hist);
    free(app);
}

void msd_registry_free(msd_registry *reg)
{
    if (!reg)
        return;
    for (msd_app *a = reg->first, *n; a; a = n) {
        n = a->next;
        app_free(a);
    }
    free(reg);
}

int msd_registry_set_listener(msd_registry *reg, msd_event_fn fn, void *arg)
{
    if (reg->listener && fn)
        return -EBUSY;
    reg->listener = fn;
    reg->listener_arg = arg;
    return 0;
}

static void emit(msd_registry *reg, msd_event ev, const msd_app *app)
{
    if (reg->listener)
        reg->listener(reg->listener_arg, ev, app);
}

msd_app *msd_registry_add(msd_registry *reg, const msd_msg *hello)
{
    msd_app *app = calloc(1, sizeof(*app));
    if (!app)
        return NULL;
    app->name = strdup(hello->app);
    app->library = hello->library ? strdup(hello->library) : NULL;
    app->argv = hello->argv ? cJSON_Duplicate(hello->argv, 1) : NULL;
    cJSON *name = cJSON_CreateString(hello->app);
    app->name_json = name ? cJSON_PrintUnformatted(name) : NULL;
    cJSON_Delete(name);
    if (!app->name || !app->name_json || (hello->library && !app->library) || (hello->argv && !app->argv)) {
        app_free(app);
        return NULL;
    }
    msd_history_init(&app->hist, reg->cfg->history_s);
    app->id = reg->next_id++;
    app->pid = hello->pid;
    app->interval_ms = hello->interval_ms;
    app->connected = true;
    app->connected_at = msd_now_wall();
    app->gc_tokens = reg->cfg->gc_rate;
    app->gc_tokens_mono = msd_now_mono();
    app->prev = reg->last;
    if (reg->last)
        reg->last->next = app;
    else
        reg->first = app;
    reg->last = app;
    reg->count++;
    emit(reg, MSD_EV_CONNECT, app);
    return app;
}

void msd_registry_disconnect(msd_registry *reg, msd_app *app)
{
    if (!app->connected)
        return;
    app->connected = false;
    app->conn = NULL;
    app->disconnected_at = msd_now_wall();
    app->disconnected_mono = msd_now_mono();
    emit(reg, MSD_EV_DISCONNECT, app);
}

/* Members of a stats message that the document does not copy: the message type, and the names the daemon
 * sets itself. */
static bool skipped_member(const char *name)
{
    return strcmp(name, "type") == 0 || strcmp(name, "id") == 0 || strcmp(name, "pid") == 0 ||
           strcmp(name, "name") == 0 || strcmp(name, "time") == 0;
}

#define DOC_MEMBERS_MAX 64

/*
 * Builds {"id","pid","name","time", <the message's members but "type">} by copying the agent's own bytes for
 * each member (msd_json_members), which costs a memcpy instead of a cJSON_Print (whose number formatting is
 * most of the work), and swaps it in as the app's cached document. Messages with more than DOC_MEMBERS_MAX
 * members take the slow path: moving the members into a new tree and printing it.
 */
static int rebuild_document(msd_app *app, const msd_msg *m, double wall)
{
    char head[160];
    int hn = snprintf(head, sizeof(head), "{\"id\":%llu,\"pid\":%lld,\"name\":", (unsigned long long)app->id,
                      (long long)app->pid);
    char tail[64];
    int tn = snprintf(tail, sizeof(tail), ",\"time\":%.3f", wall);
    msd_span spans[DOC_MEMBERS_MAX];
    long n = msd_json_members(m->raw, m->raw_len, spans, DOC_MEMBERS_MAX);
    const cJSON *child = m->json->child;
    long k = 0;
    for (const cJSON *c = child; c; c = c->next)
        k++;
    msd_blob *b = NULL;
    if (n >= 0 && n == k) {
        size_t name_len = strlen(app->name_json);
        size_t cap = (size_t)hn + name_len + (size_t)tn + m->raw_len + (size_t)n + 2;
        b = msd_blob_new(NULL, cap);
        if (!b)
            return -ENOMEM;
        char *w = b->data;
        memcpy(w, head, (size_t)hn);
        w += hn;
        memcpy(w, app->name_json, name_len);
        w += name_len;
        memcpy(w, tail, (size_t)tn);
        w += tn;
        long i = 0;
        for (const cJSON *c = child; c; c = c->next, i++) {
            if (!c->string || skipped_member(c->string))
                continue;
            *w++ = ',';
            memcpy(w, m->raw + spans[i].start, spans[i].end - spans[i].start);
            w += spans[i].end - spans[i].start;
        }
        *w++ = '}';
        *w = '\0';
        b->len = (size_t)(w - b->data);
    } else {
        cJSON *doc = cJSON_CreateObject();
        if (!doc)
            return -ENOMEM;
        if (!cJSON_AddNumberToObject(doc, "id", (double)app->id) ||
            !cJSON_AddNumberToObject(doc, "pid", (double)app->pid) ||
            !cJSON_AddStringToObject(doc, "name", app->name) ||
            !cJSON_AddNumberToObject(doc, "time", round(wall * 1000) / 1000)) {
            cJSON_Delete(doc);
            return -ENOMEM;
        }
        for (cJSON *c = m->json->child, *next; c; c = next) {
            next = c->next;
            if (!c->string || skipped_member(c->string))
                continue;
            /* cJSON_AddItemToObject copies the key first, then frees the item's old key: passing it is safe. */
            cJSON *it = cJSON_DetachItemViaPointer(m->json, c);
            if (!cJSON_AddItemToObject(doc, it->string, it)) {
                cJSON_Delete(it);
                cJSON_Delete(doc);
                return -ENOMEM;
            }
        }
        b = msd_blob_from_string(cJSON_PrintUnformatted(doc));
        cJSON_Delete(doc);
        if (!b)
            return -ENOMEM;
    }
    msd_blob_unref(app->latest);
    app->latest = b;
    return 0;
}

int msd_registry_stats(msd_registry *reg, msd_app *app, msd_msg *msg, double mono, double wall)
{
    msd_sample s;
    msd_sample_from_stats(msg->json, &s);
    s.t = mono;
    int rc = msd_history_add(&app->hist, &s, cJSON_GetObjectItemCaseSensitive(msg->json, "types"));
    int rc2 = rebuild_document(app, msg, wall);
    app->samples++;
    app->last_update = wall;
    emit(reg, MSD_EV_STATS, app);
    return rc < 0 ? rc : rc2;
}

msd_app *msd_registry_find(msd_registry *reg, const char *key)
{
    if (!key[0] || strlen(key) > 19 || strspn(key, "0123456789") != strlen(key))
        return NULL;
    unsigned long long v = strtoull(key, NULL, 10);
    for (msd_app *a = reg->first; a; a = a->next)
        if (a->id == v)
            return a;
    msd_app *best = NULL;
    for (msd_app *a = reg->first; a; a = a->next) /* later entries are newer */
        if ((unsigned long long)a->pid == v && (!best || a->connected || !best->connected))
            best = a;
    return best;
}

void msd_registry_sweep(msd_registry *reg, double mono)
{
    for (msd_app *a = reg->first, *n; a; a = n) {
        n = a->next;
        if (a->connected || mono - a->disconnected_mono < reg->cfg->retain_s)
            continue;
        if (a->prev)
            a->prev->next = a->next;
        else
            reg->first = a->next;
        if (a->next)
            a->next->prev = a->prev;
        else
            reg->last = a->prev;
        reg->count--;
        emit(reg, MSD_EV_REMOVE, a);
        app_free(a);
    }
}

msd_app *msd_registry_first(msd_registry *reg)
{
    return reg->first;
}

msd_app *msd_registry_next(msd_app *app)
{
    return app->next;
}

size_t msd_registry_count(const msd_registry *reg)
{
    return reg->count;
}

cJSON *msd_app_summary(const msd_app *app)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = cJSON_AddNumberToObject(o, "id", (double)app->id) && cJSON_AddNumberToObject(o, "pid", (double)app->pid) &&
             cJSON_AddStringToObject(o, "name", app->name) && cJSON_AddBoolToObject(o, "connected", app->connected) &&
             cJSON_AddNumberToObject(o, "connected_at", round(app->connected_at * 1000) / 1000) &&
             (app->last_update ? cJSON_AddNumberToObject(o, "last_update", round(app->last_update * 1000) / 1000)
                               : cJSON_AddNullToObject(o, "last_update")) &&
             (app->connected ? cJSON_AddNullToObject(o, "disconnected_at")
                             : cJSON_AddNumberToObject(o, "disconnected_at",
                                                       round(app->disconnected_at * 1000) / 1000)) &&
             cJSON_AddNumberToObject(o, "interval_ms", (double)app->interval_ms) &&
             cJSON_AddNumberToObject(o, "samples", (double)app->samples) &&
             (app->library ? cJSON_AddStringToObject(o, "library", app->library)
                           : cJSON_AddNullToObject(o, "library"));
    if (ok && app->argv) {
        cJSON *argv = cJSON_Duplicate(app->argv, 1);
        ok = argv && cJSON_AddItemToObject(o, "argv", argv);
        if (!ok)
            cJSON_Delete(argv);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int msd_app_take_gc_token(msd_registry *reg, msd_app *app, double mono)
{
    double rate = reg->cfg->gc_rate;
    if (rate <= 0)
        return 0;
    /* Token bucket: refills at `rate` per second up to a depth of max(rate, 1) tokens. */
    double depth = rate > 1 ? rate : 1;
    app->gc_tokens += (mono - app->gc_tokens_mono) * rate;
    if (app->gc_tokens > depth)
        app->gc_tokens = depth;
    app->gc_tokens_mono = mono;
    if (app->gc_tokens < 1)
        return -EAGAIN;
    app->gc_tokens -= 1;
    return 0;
}

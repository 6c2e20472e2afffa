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
    free(app->doc_head);
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
    char *name_json = name ? cJSON_PrintUnformatted(name) : NULL;
    cJSON_Delete(name);
    app->id = reg->next_id;
    app->pid = hello->pid;
    int n = name_json ? asprintf(&app->doc_head, "{\"id\":%llu,\"pid\":%lld,\"name\":%s",
                                 (unsigned long long)app->id, (long long)app->pid, name_json)
                      : -1;
    free(name_json);
    if (n < 0)
        app->doc_head = NULL;
    if (!app->name || !app->doc_head || (hello->library && !app->library) || (hello->argv && !app->argv)) {
        app_free(app);
        return NULL;
    }
    app->doc_head_len = (size_t)n;
    msd_history_init(&app->hist, reg->cfg->history_s);
    reg->next_id++;
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
 * sets itself. `key` is the member's string token (compared decoded, as cJSON's key strings were). */
static bool skipped_member(msd_jval key)
{
    char k[8]; /* the longest name is 4 bytes: a longer key cannot match even when cut */
    msd_json_string(key, k, sizeof(k));
    return strcmp(k, "type") == 0 || strcmp(k, "id") == 0 || strcmp(k, "pid") == 0 || strcmp(k, "name") == 0 ||
           strcmp(k, "time") == 0;
}

/*
 * The slow path, for a message that is valid but not strict JSON (json.h: cJSON's leniencies such as "01" or a
 * raw control byte in a string): the members are parsed by cJSON, moved into a new tree and printed, so that the
 * API serves valid JSON whatever the agent sent.
 */
static msd_blob *document_reprinted(const msd_app *app, const msd_msg *m, double wall)
{
    cJSON *j = cJSON_ParseWithLength(m->raw, m->raw_len), *doc = cJSON_CreateObject();
    if (!j || !doc || !cJSON_AddNumberToObject(doc, "id", (double)app->id) ||
        !cJSON_AddNumberToObject(doc, "pid", (double)app->pid) || !cJSON_AddStringToObject(doc, "name", app->name) ||
        !cJSON_AddNumberToObject(doc, "time", round(wall * 1000) / 1000)) {
        cJSON_Delete(j);
        cJSON_Delete(doc);
        return NULL;
    }
    for (cJSON *c = j->child, *next; c; c = next) {
        next = c->next;
        if (!c->string || strcmp(c->string, "type") == 0 || strcmp(c->string, "id") == 0 ||
            strcmp(c->string, "pid") == 0 || strcmp(c->string, "name") == 0 || strcmp(c->string, "time") == 0)
            continue;
        /* cJSON_AddItemToObject copies the key first, then frees the item's old key: passing it is safe. */
        cJSON *it = cJSON_DetachItemViaPointer(j, c);
        if (!cJSON_AddItemToObject(doc, it->string, it)) {
            cJSON_Delete(it);
            cJSON_Delete(j);
            cJSON_Delete(doc);
            return NULL;
        }
    }
    msd_blob *b = msd_blob_from_string(cJSON_PrintUnformatted(doc));
    cJSON_Delete(j);
    cJSON_Delete(doc);
    return b;
}

/*
 * Writes ",\"time\":" and wall as printf's "%.3f" would, without printf (whose float formatting was a visible
 * part of each message's cost): for wall >= 2^20 (any real clock), wall - floor(wall) has at most 32 fraction bits,
 * so its product by 1000 is exact and rounding it to nearest-even is exactly printf's rounding. Other values go
 * through snprintf. Returns the length; buf holds at least 64 bytes.
 */
static int format_time(char *buf, double wall)
{
    if (!(wall >= 1048576.0 && wall < 9007199254740992.0))
        return snprintf(buf, 64, ",\"time\":%.3f", wall);
    double sec = floor(wall), ms = nearbyint((wall - sec) * 1000.0);
    if (ms >= 1000.0) {
        sec += 1;
        ms -= 1000.0;
    }
    char digits[24];
    int nd = 0;
    for (unsigned long long v = (unsigned long long)sec; v; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    int n = 0;
    memcpy(buf, ",\"time\":", 8);
    n = 8;
    while (nd)
        buf[n++] = digits[--nd];
    unsigned m = (unsigned)ms;
    buf[n++] = '.';
    buf[n++] = (char)('0' + m / 100);
    buf[n++] = (char)('0' + m / 10 % 10);
    buf[n++] = (char)('0' + m % 10);
    buf[n] = '\0';
    return n;
}

/*
 * Builds {"id","pid","name","time", <the message's members but "type">} by copying the agent's own bytes for
 * each member (read in place, json.h), which costs a memcpy instead of a cJSON parse and print (number parsing
 * and formatting were most of the work), and swaps it in as the app's cached document. Only strict JSON is
 * copied, so the document is valid JSON; other messages take document_reprinted(). When nobody else holds the
 * previous document (no response is being sent from it) and it is big enough, it is rewritten in place: no
 * malloc and free of a few KB per message.
 */
static int rebuild_document(msd_app *app, const msd_msg *m, double wall)
{
    msd_blob *b;
    if (!m->strict) {
        if (!(b = document_reprinted(app, m, wall)))
            return -ENOMEM;
    } else {
        char tail[64];
        int tn = format_time(tail, wall);
        /* Each copied member brings one comma; the object's own braces and commas (one more than its members)
         * leave room for them and the closing brace. */
        size_t need = app->doc_head_len + (size_t)tn + m->doc.n;
        b = app->latest;
        if (!b || b->refs != 1 || b->cap < need) { /* else rewritten in place: nobody else reads it */
            if (!(b = msd_blob_new(NULL, need + need / 8))) /* some room: the next message may be longer */
                return -ENOMEM;
        }
        char *w = b->data;
        memcpy(w, app->doc_head, app->doc_head_len);
        w += app->doc_head_len;
        memcpy(w, tail, (size_t)tn);
        w += tn;
        /* The members msd_msg_parse noted, or (more than it keeps) a walk over the text. */
        msd_jiter it;
        msd_jval k, v;
        bool noted = m->nmembers <= MSD_MSG_MEMBERS;
        size_t i = 0;
        if (!noted)
            msd_json_iter(m->doc, &it);
        while (noted ? i < m->nmembers : msd_json_next(&it, &k, &v)) {
            if (noted) {
                k = m->members[i].key;
                v = m->members[i].val;
                i++;
            }
            if (skipped_member(k))
                continue;
            *w++ = ',';
            size_t n = (size_t)(v.p + v.n - k.p); /* "key": value, as sent */
            memcpy(w, k.p, n);
            w += n;
        }
        *w++ = '}';
        *w = '\0';
        b->len = (size_t)(w - b->data);
    }
    if (b != app->latest) {
        msd_blob_unref(app->latest);
        app->latest = b;
    }
    return 0;
}

int msd_registry_stats(msd_registry *reg, msd_app *app, msd_msg *msg, double mono, double wall)
{
    msd_sample s;
    msd_sample_from_stats(msg, &s);
    s.t = mono;
    int rc = msd_history_add(&app->hist, &s, msg);
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

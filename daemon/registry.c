/*
 * daemon/registry.c — apps, their lifecycle, their models and the listeners. See registry.h for the contract
 * and the memory bound per app. Entry points: msd_registry_add() (hello), msd_registry_stats() (each sample),
 * msd_registry_disconnect(), msd_registry_sweep().
 *
 * Life of an app:  hello -> connected --(stats)*--> disconnected --(--retain seconds)--> removed.
 * A reconnecting process gets a new id; the API's pid lookup prefers the connected entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "registry.h"

typedef struct listener {
    msd_event_fn fn;
    void *arg;
} listener;

struct msd_registry {
    const msd_config *cfg;
    msc_list apps;          /* msd_app.link, oldest first */
    size_t count, connected;
    uint64_t next_id;
    listener *listeners;    /* called in this order; fn == NULL: removed while an event was being sent */
    size_t nlisteners, listeners_cap;
    unsigned emitting;      /* events being sent (a listener's action may cause another) */
};

msd_registry *msd_registry_new(const msd_config *cfg)
{
    msd_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    reg->cfg = cfg;
    reg->next_id = 1;
    msc_list_init(&reg->apps);
    return reg;
}

static void app_free(msd_app *app)
{
    free(app->name);
    free(app->library);
    cJSON_Delete(app->argv);
    msd_stats_delete(app->stats);
    msd_history_free(&app->hist);
    msd_blob_unref(app->doc);
    free(app);
}

void msd_registry_free(msd_registry *reg)
{
    if (!reg)
        return;
    msc_list_foreach_safe (it, next, &reg->apps)
        app_free(msc_list_entry(it, msd_app, link));
    free(reg->listeners);
    free(reg);
}

int msd_registry_listen(msd_registry *reg, msd_event_fn fn, void *arg)
{
    listener *l = msc_array_push(&reg->listeners, &reg->nlisteners, &reg->listeners_cap, sizeof(*l));
    if (!l)
        return -ENOMEM;
    *l = (listener){fn, arg};
    return 0;
}

/* Drops the entries removed while events were being sent. */
static void compact_listeners(msd_registry *reg)
{
    size_t w = 0;
    for (size_t i = 0; i < reg->nlisteners; i++)
        if (reg->listeners[i].fn)
            reg->listeners[w++] = reg->listeners[i];
    reg->nlisteners = w;
}

void msd_registry_unlisten(msd_registry *reg, msd_event_fn fn, void *arg)
{
    for (size_t i = 0; i < reg->nlisteners; i++)
        if (reg->listeners[i].fn == fn && reg->listeners[i].arg == arg) {
            reg->listeners[i].fn = NULL;
            break;
        }
    if (!reg->emitting)
        compact_listeners(reg);
}

static void emit(msd_registry *reg, msd_event ev, msd_app *app)
{
    /* The count is read once: listeners added meanwhile hear the next event first. */
    size_t n = reg->nlisteners;
    reg->emitting++;
    for (size_t i = 0; i < n; i++)
        if (reg->listeners[i].fn)
            reg->listeners[i].fn(reg->listeners[i].arg, ev, app);
    if (--reg->emitting == 0)
        compact_listeners(reg);
}

msd_app *msd_registry_add(msd_registry *reg, const msd_msg *hello)
{
    msd_app *app = calloc(1, sizeof(*app));
    if (!app)
        return NULL;
    msd_history_init(&app->hist, reg->cfg->history_s);
    app->stats = msd_stats_new();
    app->name = strdup(hello->app);
    app->library = hello->library ? strdup(hello->library) : NULL;
    app->argv = hello->argv ? cJSON_Duplicate(hello->argv, 1) : NULL;
    if (!app->stats || !app->name || (hello->library && !app->library) || (hello->argv && !app->argv)) {
        app_free(app);
        return NULL;
    }
    app->id = reg->next_id++;
    app->pid = hello->pid;
    app->interval_ms = hello->interval_ms;
    app->connected = true;
    app->connected_at = msd_now_wall();
    app->gc_tokens = reg->cfg->gc_rate;
    app->gc_tokens_mono = msd_now_mono();
    msc_list_push_back(&reg->apps, &app->link);
    reg->count++;
    reg->connected++;
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
    reg->connected--;
    emit(reg, MSD_EV_DISCONNECT, app);
}

int msd_registry_stats(msd_registry *reg, msd_app *app, msd_stats **model, double mono, double wall)
{
    msd_stats *latest = *model;
    *model = app->stats;
    app->stats = latest;
    int rc = msd_history_add(&app->hist, mono, latest);
    app->samples++;
    app->last_update = wall;
    emit(reg, MSD_EV_STATS, app);
    return rc;
}

msd_app *msd_registry_find(msd_registry *reg, const char *key)
{
    if (!key[0] || strlen(key) > 19 || strspn(key, "0123456789") != strlen(key))
        return NULL;
    unsigned long long v = strtoull(key, NULL, 10);
    msd_app *best = NULL;
    msc_list_foreach (it, &reg->apps) {
        msd_app *a = msc_list_entry(it, msd_app, link);
        if (a->id == v)
            return a;
        /* later entries are newer */
        if ((unsigned long long)a->pid == v && (!best || a->connected || !best->connected))
            best = a;
    }
    return best;
}

void msd_registry_sweep(msd_registry *reg, double mono)
{
    msc_list_foreach_safe (it, next, &reg->apps) {
        msd_app *a = msc_list_entry(it, msd_app, link);
        if (a->connected || mono - a->disconnected_mono < reg->cfg->retain_s)
            continue;
        msc_list_remove(&a->link);
        reg->count--;
        emit(reg, MSD_EV_REMOVE, a);
        app_free(a);
    }
}

msd_app *msd_registry_first(msd_registry *reg)
{
    msc_list *n = msc_list_first(&reg->apps);
    return n ? msc_list_entry(n, msd_app, link) : NULL;
}

msd_app *msd_registry_next(msd_registry *reg, msd_app *app)
{
    msc_list *n = msc_list_next(&reg->apps, &app->link);
    return n ? msc_list_entry(n, msd_app, link) : NULL;
}

size_t msd_registry_count(const msd_registry *reg)
{
    return reg->count;
}

size_t msd_registry_connected(const msd_registry *reg)
{
    return reg->connected;
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

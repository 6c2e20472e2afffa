/*
 * daemon/registry.h — the apps memscoped knows about: connected ones and those that left less than --retain
 * seconds ago, each with the typed model of its latest stats (stats.h) and its history (history.h). Modules that
 * want to know when an app comes, sends stats, leaves or is forgotten subscribe as listeners, any number of them.
 *
 * The registry holds data and says what changed; it renders nothing (the views do: appdoc.c, api.c, sse.c,
 * metrics_view.c) and knows no connection (ipc.c keeps its own pointer in app->conn).
 *
 * Loop thread only (see daemon.h). Apps are kept in connection order in a list; lookups are O(apps), a few
 * microseconds at 10,000 apps.
 *
 * Memory per app is bounded:
 *   fixed part            ~ 1 KiB (struct, name, argv copy up to the hello frame's size)
 *   latest model          its arrays, bounded by the message (MSD_FRAME_MAX); ~3 KiB for 30 types, 16 pools
 *                         plus the message's members as text (the document's body): the message's size
 *   cached document       the body + ~200 bytes, built on demand (appdoc.c)
 *   history               <= MSD_HISTORY_MAX * sizeof(msd_sample) = 1024 * 80 B = 80 KiB
 *   growth checkpoints    <= (MSD_CHECKPOINTS + 1) * MSD_TYPES_MAX * 8 B + names = 33 * 512 * 8 B + 512 * 256 B
 *                          = 264 KiB worst case (typical apps have tens of types: a few KiB)
 * plus, while connected, the connection's read buffer (ipc.c: 0 while idle).
 */
#ifndef MEMSCOPE_DAEMON_REGISTRY_H
#define MEMSCOPE_DAEMON_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "history.h"
#include "list.h"
#include "message.h"
#include "stats.h"

typedef struct msd_app {
    /* read-only after creation */
    uint64_t id;
    int64_t pid;
    char *name;
    char *library;               /* may be NULL */
    cJSON *argv;                 /* array of strings, or NULL */
    int64_t interval_ms;         /* as announced in hello; 0 if not */
    double connected_at;         /* wall */
    /* state, written by the registry */
    bool connected;
    double disconnected_at;      /* wall; 0 while connected */
    double disconnected_mono;    /* monotonic; for --retain */
    double last_update;          /* wall time of the latest stats; 0 = none yet */
    uint64_t samples;            /* stats messages received */
    msd_stats *stats;            /* the latest stats message's model (never NULL); empty (sections == 0) before
                                  * the first */
    msd_history hist;
    double gc_tokens;            /* token bucket for remote collections */
    double gc_tokens_mono;
    /* owned by other modules, kept here so that they need no map of their own */
    void *conn;                  /* ipc's connection while connected (private to ipc.c), else NULL */
    msd_blob *doc;               /* appdoc.c's cached document (built for doc_samples); released with the app */
    uint64_t doc_samples;
    msc_list link;               /* private: the registry's list */
} msd_app;

/* What listeners hear. `app` is valid during the call; for MSD_EV_REMOVE it is freed right after. */
typedef enum msd_event { MSD_EV_CONNECT, MSD_EV_DISCONNECT, MSD_EV_STATS, MSD_EV_REMOVE } msd_event;
typedef void (*msd_event_fn)(void *arg, msd_event ev, msd_app *app);

typedef struct msd_registry msd_registry;

/* NULL when out of memory. */
msd_registry *msd_registry_new(const msd_config *cfg);
void msd_registry_free(msd_registry *reg); /* frees every app; their connections must be gone */

/* Adds a listener; listeners are called in the order they were added. 0 or -ENOMEM. A listener may add or
 * remove listeners while it runs (the change applies from the next event). */
int msd_registry_listen(msd_registry *reg, msd_event_fn fn, void *arg);
void msd_registry_unlisten(msd_registry *reg, msd_event_fn fn, void *arg); /* no-op when not listening */

/* A new connected app from a validated hello. NULL when out of memory. */
msd_app *msd_registry_add(msd_registry *reg, const msd_msg *hello);

/* Marks the app disconnected (idempotent). It stays listed for --retain seconds. */
void msd_registry_disconnect(msd_registry *reg, msd_app *app);

/*
 * Takes *model, the model of a validated stats message: it becomes the app's latest and *model gets the
 * previous one in exchange, for the next message (two pointers change places: no copy, no allocation). The
 * history records it, and the listeners hear MSD_EV_STATS.
 * Returns 0 or -ENOMEM (the history may miss the sample; the model was taken either way).
 */
int msd_registry_stats(msd_registry *reg, msd_app *app, msd_stats **model, double mono, double wall);

/* The app with this id, else the most recent app with this pid (connected ones first); NULL if none.
 * `key` is the path segment: decimal digits only. O(apps). */
msd_app *msd_registry_find(msd_registry *reg, const char *key);

/* Drops disconnected apps older than --retain. O(apps). */
void msd_registry_sweep(msd_registry *reg, double mono);

/* First app in connection order, and the next one (NULL at the end); for iteration. */
msd_app *msd_registry_first(msd_registry *reg);
msd_app *msd_registry_next(msd_registry *reg, msd_app *app);
size_t msd_registry_count(const msd_registry *reg);
size_t msd_registry_connected(const msd_registry *reg);

/* Takes one token from the app's collection bucket: 0, or -EAGAIN when the rate is exceeded. */
int msd_app_take_gc_token(msd_registry *reg, msd_app *app, double mono);

#endif /* MEMSCOPE_DAEMON_REGISTRY_H */

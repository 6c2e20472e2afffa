/*
 * daemon/registry.h — the apps memscoped knows about: connected ones and those that left less than --retain
 * seconds ago, each with its latest stats (serialized once, served many times) and its history.
 *
 * Loop thread only (see daemon.h). Apps are kept in connection order in a doubly linked list; lookups are O(apps),
 * which is a few microseconds at 10,000 apps and keeps the structure trivially correct.
 *
 * Memory per app is bounded (docs: see history.h for the history part):
 *   fixed part            ~ 1 KiB (struct, name, argv copy up to the hello frame's size)
 *   latest stats document <= MSD_FRAME_MAX + 200 bytes (the agent's sections re-serialized, plus id/pid/name/time)
 *   history               <= MSD_HISTORY_MAX * sizeof(msd_sample) = 1024 * 80 B = 80 KiB
 *   growth checkpoints    <= (MSD_CHECKPOINTS + 1) * MSD_TYPES_MAX * 8 B + names = 33 * 512 * 8 B + 512 * 256 B
 *                          = 264 KiB worst case (typical apps have tens of types: a few KiB)
 * plus, while connected, the connection's read buffer (<= MSD_FRAME_MAX + 64 KiB, shrunk back to 16 KiB when idle).
 */
#ifndef MEMSCOPE_DAEMON_REGISTRY_H
#define MEMSCOPE_DAEMON_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "frame.h"
#include "history.h"

typedef struct msd_app {
    /* read-only after creation */
    uint64_t id;
    int64_t pid;
    char *name;
    char *doc_head;        /* the document's fixed start: {"id":ID,"pid":PID,"name":NAME (NAME a JSON string) */
    size_t doc_head_len;
    char *library;         /* may be NULL */
    cJSON *argv;           /* array of strings, or NULL */
    int64_t interval_ms;   /* as announced in hello; 0 if not */
    double connected_at;   /* wall */
    /* state */
    bool connected;
    double disconnected_at;      /* wall; 0 while connected */
    double disconnected_mono;    /* monotonic; for --retain */
    double last_update;          /* wall time of the latest stats; 0 = none yet */
    uint64_t samples;            /* stats messages received */
    msd_blob *latest;            /* the GET /api/v1/apps/{id} document, or NULL before the first stats */
    msd_history hist;
    double gc_tokens;            /* token bucket for remote collections */
    double gc_tokens_mono;
    void *conn;                  /* ipc's connection while connected (private to ipc.c), else NULL */
    struct msd_app *prev, *next; /* private: registry list */
} msd_app;

/* Events for listeners (the SSE stream of issue 6 subscribes here). `app` is valid during the call only. */
typedef enum msd_event { MSD_EV_CONNECT, MSD_EV_DISCONNECT, MSD_EV_STATS, MSD_EV_REMOVE } msd_event;
typedef void (*msd_event_fn)(void *arg, msd_event ev, const msd_app *app);

typedef struct msd_registry msd_registry;

/* NULL when out of memory. */
msd_registry *msd_registry_new(const msd_config *cfg);
void msd_registry_free(msd_registry *reg); /* frees every app; their connections must be gone */
int msd_registry_set_listener(msd_registry *reg, msd_event_fn fn, void *arg); /* one listener; -EBUSY if set */

/* A new connected app from a validated hello. NULL when out of memory. */
msd_app *msd_registry_add(msd_registry *reg, const msd_msg *hello);

/* Marks the app disconnected (idempotent). It stays listed for --retain seconds. */
void msd_registry_disconnect(msd_registry *reg, msd_app *app);

/*
 * Takes a validated stats message: appends to the history and rebuilds the cached document (a copy of the
 * message's members, byte for byte when the message is strict JSON; see json.h). msg is not changed.
 * Returns 0 or -ENOMEM (the app keeps its previous document; the history may have the sample or not).
 */
int msd_registry_stats(msd_registry *reg, msd_app *app, msd_msg *msg, double mono, double wall);

/* The app with this id, else the most recent app with this pid (connected ones first); NULL if none.
 * `key` is the path segment: decimal digits only. O(apps). */
msd_app *msd_registry_find(msd_registry *reg, const char *key);

/* Drops disconnected apps older than --retain. O(apps). */
void msd_registry_sweep(msd_registry *reg, double mono);

/* First app in connection order, and the next one; for iteration. */
msd_app *msd_registry_first(msd_registry *reg);
msd_app *msd_registry_next(msd_app *app);
size_t msd_registry_count(const msd_registry *reg);

/* {"id","pid","name","connected","connected_at","last_update", ...} for the apps list. NULL on ENOMEM. */
cJSON *msd_app_summary(const msd_app *app);

/* Takes one token from the app's collection bucket: 0, or -EAGAIN when the rate is exceeded. */
int msd_app_take_gc_token(msd_registry *reg, msd_app *app, double mono);

#endif /* MEMSCOPE_DAEMON_REGISTRY_H */

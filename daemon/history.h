/*
 * daemon/history.h — one app's past: a ring of main-series samples over the --history window, and sparse
 * checkpoints of every type's live count from which leak suspects ("growth") are computed. Both are fed from
 * the typed model of each stats message (stats.h) and read back as plain structs; the API renders them.
 *
 * Bounds (the invariants every function keeps):
 *   - at most MSD_HISTORY_MAX samples, at least window / MSD_HISTORY_MAX seconds apart (a faster agent is
 *     sampled down, so memory does not depend on its interval);
 *   - at most MSD_CHECKPOINTS checkpoints, at least window / MSD_CHECKPOINTS seconds apart, each with at most
 *     MSD_TYPES_MAX counts; type names are interned once per app, at most MSD_TYPES_MAX of them, each cut to
 *     MSD_TYPE_NAME_MAX bytes. Types beyond that are not tracked for growth (they are still served in stats).
 * Memory: MSD_HISTORY_MAX * sizeof(msd_sample) = 80 KiB for the ring, (MSD_CHECKPOINTS + 1) * 8 bytes per type
 * for the checkpoints, plus the names.
 */
#ifndef MEMSCOPE_DAEMON_HISTORY_H
#define MEMSCOPE_DAEMON_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define MSD_HISTORY_MAX 1024
#define MSD_CHECKPOINTS 32
#define MSD_TYPES_MAX 512
#define MSD_TYPE_NAME_MAX 255

/* The main series of one stats message (absent members read as 0). */
typedef struct msd_sample {
    double t;              /* monotonic receive time, seconds (the API converts to wall time on output) */
    double pool_bytes;     /* heap.pool_bytes_in_use */
    double system_bytes;   /* heap.system_bytes_in_use */
    double objects_alive;  /* refcount.objects_alive */
    double collections[MSC_STATS_GENERATIONS]; /* gc.generations[i].collections */
    double pause_total_ns; /* gc.pause_total_ns */
    double pause_max_ns;   /* gc.pause_max_ns */
    double garbage;        /* gc.garbage */
} msd_sample;

/* The sample of model s received at monotonic time t. Can't fail. */
void msd_sample_of(const msd_stats *s, double t, msd_sample *out);

typedef struct msd_checkpoint {
    double t;      /* monotonic */
    size_t n;      /* counts for types 0..n-1 */
    double *alive;
} msd_checkpoint;

typedef struct msd_history {
    double window;         /* seconds */
    msd_sample *ring;      /* grows by doubling up to MSD_HISTORY_MAX */
    size_t cap, head, len; /* oldest at head; invariant: len <= cap <= MSD_HISTORY_MAX */
    msc_buf names;         /* the interned type names, NUL-terminated, back to back (one block: a walk over them
                            * per message reads a few cache lines, not one allocation per name) */
    struct { uint32_t at, len; } *type_names; /* type i's name: names + at, len bytes */
    size_t ntypes, types_cap;
    msd_checkpoint cps[MSD_CHECKPOINTS]; /* ring, oldest at cp_head */
    size_t cp_head, cp_len;
    msd_checkpoint now;    /* the latest sample's counts (not yet a checkpoint) */
} msd_history;

void msd_history_init(msd_history *h, double window);
void msd_history_free(msd_history *h);

/* Records the model of one stats message received at monotonic time t (s NULL: no types, every series 0).
 * Returns 0 or -ENOMEM (the history stays consistent, the sample may be missing). O(types). */
int msd_history_add(msd_history *h, double t, const msd_stats *s);

/* The index of the first kept sample at or after monotonic time t0 (len when none), and sample i (0: oldest;
 * i < h->len). O(samples) and O(1). */
size_t msd_history_since(const msd_history *h, double t0);
const msd_sample *msd_history_at(const msd_history *h, size_t i);

/* The name of type i (i < h->ntypes), valid until the next msd_history_add(). */
const char *msd_history_type_name(const msd_history *h, size_t i);

/* A leak suspect: a type whose live count never fell and rose in at least half of the steps of the window. */
typedef struct msd_suspect {
    const char *type;      /* the history's interned name: valid until the next msd_history_add() */
    double alive, first;   /* the count at the latest point, and at the first one */
    double rate_per_s;     /* (alive - first) / span */
    size_t steps_up;       /* steps between points where the count rose */
} msd_suspect;

typedef struct msd_growth {
    double window_s, span_s; /* the history window; the time between the first and the latest point */
    size_t points;           /* checkpoints inside the window, plus the latest sample when newer */
    size_t n;                /* suspects, fastest growth first (ties: the order types were first seen) */
    msd_suspect *types;      /* malloc'ed (NULL when n == 0): msd_growth_free() */
} msd_growth;

/* The leak suspects as of monotonic time mono_now. 0, or -ENOMEM (*out then holds nothing to free).
 * O(checkpoints * types). */
int msd_history_growth(const msd_history *h, double mono_now, msd_growth *out);
void msd_growth_free(msd_growth *g);

#endif /* MEMSCOPE_DAEMON_HISTORY_H */

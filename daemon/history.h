/*
 * daemon/history.h — one app's past: a ring of main-series samples over the --history window, and sparse
 * checkpoints of every type's live count from which leak suspects ("growth") are computed.
 *
 * Bounds (the invariants every function keeps):
 *   - at most MSD_HISTORY_MAX samples, at least window / MSD_HISTORY_MAX seconds apart (a faster agent is
 *     sampled down, so memory does not depend on its interval);
 *   - at most MSD_CHECKPOINTS checkpoints, at least window / MSD_CHECKPOINTS seconds apart, each with at most
 *     MSD_TYPES_MAX counts; type names are interned once per app, at most MSD_TYPES_MAX of them, each cut to
 *     MSD_TYPE_NAME_MAX bytes. Types beyond that are not tracked for growth (they are still served in stats).
 */
#ifndef MEMSCOPE_DAEMON_HISTORY_H
#define MEMSCOPE_DAEMON_HISTORY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "frame.h"

#define MSD_HISTORY_MAX 1024
#define MSD_CHECKPOINTS 32
#define MSD_TYPES_MAX 512
#define MSD_TYPE_NAME_MAX 255

typedef struct msd_checkpoint {
    double t;      /* monotonic */
    size_t n;      /* counts for types 0..n-1 */
    double *alive;
} msd_checkpoint;

typedef struct msd_history {
    double window;         /* seconds */
    msd_sample *ring;      /* grows by doubling up to MSD_HISTORY_MAX */
    size_t cap, head, len; /* oldest at head; invariant: len <= cap <= MSD_HISTORY_MAX */
    char **type_names;
    size_t ntypes;
    msd_checkpoint cps[MSD_CHECKPOINTS]; /* ring, oldest at cp_head */
    size_t cp_head, cp_len;
    msd_checkpoint now;    /* the latest sample's counts (not yet a checkpoint) */
} msd_history;

void msd_history_init(msd_history *h, double window);
void msd_history_free(msd_history *h);

/* Records one stats sample (s from msd_sample_from_stats; the type counts from the parsed stats message, whose
 * "types" are read in place — NULL: no types). Returns 0 or -ENOMEM (the history stays consistent, the sample
 * may be missing). O(types). */
int msd_history_add(msd_history *h, const msd_sample *s, const msd_msg *stats);

/* {"seconds", "interval_s", "time": [...], "heap_bytes": [...], "pool_bytes", "system_bytes",
 *  "objects_alive", "gc_collections": [[gen0...], [gen1...], [gen2...]], "gc_pause_total_ns", "gc_pause_max_ns",
 *  "garbage"} for the samples of the last `seconds` (columns, ready for a chart). NULL on ENOMEM. */
cJSON *msd_history_json(const msd_history *h, double seconds, double mono_now, double wall_now);

/* {"window_s", "points", "types": [{"type", "alive", "first", "delta", "rate_per_s", "steps_up", "steps"}]}:
 * types whose live count never fell and rose in at least half of the steps between the checkpoints of the
 * window (plus the latest sample), fastest first. NULL on ENOMEM. O(checkpoints * types). */
cJSON *msd_history_growth(const msd_history *h, double mono_now);

#endif /* MEMSCOPE_DAEMON_HISTORY_H */

/*
 * daemon/stats.h — the typed model of one stats message: what the daemon knows about an app's memory at one
 * instant. message.c fills it from the message's text in one pass; the history, the leak suspects and /metrics
 * read its fields, and nothing reads the text again.
 *
 * The fields are generated from common/stats_schema.h, the list the agent's writer follows, so a member added
 * there is a field here. A number that was absent, not a number (or a boolean: 1 or 0), or not finite is NAN:
 * msd_stat_or0() reads it as 0 for sums and series, and /metrics leaves absent series out.
 *
 * The agent's own text of the sections is kept too, compacted (`body`): the API serves it as sent (plus id,
 * pid, name, time), which is how sections and members this daemon does not know reach the user.
 *
 * Memory: a model owns its arrays and keeps them when it is reset, so a model that is refilled every second
 * (the ipc's scratch model exchanged for the app's, registry.c) allocates only when an app grows. Bounded by
 * the message: at most one entry per byte of a 1 MiB frame, in practice tens of types and 16 or 32 pools.
 */
#ifndef MEMSCOPE_DAEMON_STATS_H
#define MEMSCOPE_DAEMON_STATS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "stats_schema.h"

#define MSD_FIELD(name) double name;
typedef struct msd_heap { MSC_STATS_HEAP(MSD_FIELD) } msd_heap;
typedef struct msd_pool { MSC_STATS_POOL(MSD_FIELD) } msd_pool;
typedef struct msd_refcount { MSC_STATS_REFCOUNT(MSD_FIELD) } msd_refcount;
typedef struct msd_gen { MSC_STATS_GEN(MSD_FIELD) } msd_gen;
typedef struct msd_trace { MSC_STATS_TRACE(MSD_FIELD) MSC_STATS_TRACE_BOOLS(MSD_FIELD) } msd_trace;
typedef struct msd_gc {
    MSC_STATS_GC(MSD_FIELD)
    MSC_STATS_GC_BOOLS(MSD_FIELD)
    size_t ngens;                         /* entries of "generations" seen, at most MSC_STATS_GENERATIONS */
    msd_gen gens[MSC_STATS_GENERATIONS];  /* an entry that is not an object has every field NAN */
} msd_gc;
typedef struct msd_type {
    const char *name; /* decoded, NUL-terminated (cut at a \u0000), in the model's name store; never NULL */
    MSC_STATS_TYPE(MSD_FIELD)
} msd_type;
typedef struct msd_cycle {
    const char *key; /* as a type's name: decoded, in the name store; "" when the entry had no string "key" */
    MSC_STATS_CYCLE(MSD_FIELD)
} msd_cycle;
#undef MSD_FIELD

/* Which sections the message had (each with the right JSON type: message.c refuses the others). */
enum {
    MSD_SEC_HEAP = 1 << 0,
    MSD_SEC_POOLS = 1 << 1,
    MSD_SEC_REFCOUNT = 1 << 2,
    MSD_SEC_TYPES = 1 << 3,
    MSD_SEC_GC = 1 << 4,
    MSD_SEC_TRACE = 1 << 5,
    MSD_SEC_CYCLES = 1 << 6,
};

typedef struct msd_stats {
    unsigned sections;      /* MSD_SEC_* */
    double seq, dropped;    /* MSC_STATS_TOP */
    msd_heap heap;
    msd_refcount refcount;
    msd_gc gc;
    msd_trace trace;
    msd_pool *pools;        /* npools entries (capacity pools_cap) */
    size_t npools, pools_cap;
    msd_type *types;        /* ntypes entries, in the message's order (capacity types_cap) */
    size_t ntypes, types_cap;
    msd_cycle *cycles;      /* ncycles entries (the agent sends at most MSC_STATS_CYCLES_MAX; more are read) */
    size_t ncycles, cycles_cap;
    msc_buf names;          /* the types' names and the cycles' keys, back to back */
    msc_buf body;           /* the message's members but "type", "id", "pid", "name", "time": `"k":v,"k":v` */
} msd_stats;

/* An empty model (no allocation). */
void msd_stats_init(msd_stats *s);
/* Empties the model for the next message, keeping its memory; every number NAN. O(1). */
void msd_stats_reset(msd_stats *s);
void msd_stats_free(msd_stats *s);
/* An empty model of its own (NULL when out of memory), and its end (NULL is fine). Models that change hands —
 * the scratch a message is read into and an app's latest — are these: they are exchanged as pointers. */
msd_stats *msd_stats_new(void);
void msd_stats_delete(msd_stats *s);
/* A new last entry of pools or types, every number NAN (a type's name is left to the caller); NULL when out
 * of memory (the model is unchanged). Amortized O(1). */
msd_pool *msd_stats_add_pool(msd_stats *s);
msd_type *msd_stats_add_type(msd_stats *s);
msd_cycle *msd_stats_add_cycle(msd_stats *s);

/* A number of the model, absent values as 0. */
static inline double msd_stat_or0(double v)
{
    return isnan(v) ? 0.0 : v;
}

#endif /* MEMSCOPE_DAEMON_STATS_H */

/*
 * memscope/gc.h — the generational cycle collector (CPython's gc module for C programs).
 *
 * Contract
 *   - Objects of MS_TYPE_GC types are tracked from ms_new() until they die (or ms_gc_untrack()). Reference
 *     counting frees everything that is not part of a cycle; the collector finds groups of tracked objects that
 *     only reference each other and frees them: finalize (at most once per object, PEP 442), re-check for
 *     resurrection, clear() to break the cycle, then reference counting does the rest.
 *   - Three generations, thresholds 700/10/10 by default. Creating a tracked object counts +1, freeing one -1;
 *     when that count exceeds threshold 0, generation 0 is collected; every collection of generation i counts
 *     +1 for generation i+1. A full collection also waits until the objects that entered generation 2 since the
 *     last full collection exceed 25% of the ones that survived it (CPython's rule). Automatic collections only
 *     happen while the collector is enabled; ms_gc_collect() works either way.
 *   - Weak references to garbage are cleared before any finalizer runs. A weak reference's callback runs only if
 *     the weak reference itself survives the collection.
 *   - A garbage cycle holding an object of a MS_TYPE_LEGACY_FINALIZER type is uncollectable: those objects go to
 *     the garbage list (gc.garbage), which keeps the cycle alive. With MS_GC_DEBUG_SAVEALL every garbage object
 *     goes there instead of being freed.
 *   - Threads: the runtime holder only (memscope/runtime.h), except the getters ms_gc_get_stats,
 *     ms_gc_get_count, ms_gc_get_threshold, ms_gc_is_enabled, ms_gc_get_debug and ms_gc_garbage_count, which any
 *     thread may call at any time (each value is read atomically).
 */
#ifndef MEMSCOPE_GC_H
#define MEMSCOPE_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <memscope/object.h>
#include <memscope/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MS_GC_GENERATIONS 3

/* Collects generations 0..generation (2 = full, as gc.collect()). Returns the number of unreachable objects found
 * (collected + uncollectable), 0 if a collection is already running, -EINVAL for a bad generation. */
MS_API ssize_t ms_gc_collect(int generation);

MS_API void ms_gc_enable(void);
MS_API void ms_gc_disable(void);
MS_API bool ms_gc_is_enabled(void);

/* gc.get_count(): out[0] = tracked allocations - deallocations since the last collection of generation 0,
 * out[i] = collections of generation i-1 since the last collection of generation i. */
MS_API void ms_gc_get_count(int out[3]);
MS_API void ms_gc_get_threshold(int out[3]);
/* A threshold0 of 0 disables automatic collection (as in CPython). Negative values: -EINVAL. */
MS_API int ms_gc_set_threshold(int threshold0, int threshold1, int threshold2);

typedef struct ms_gc_stats {
    uint64_t collections;    /* collections of this generation */
    uint64_t collected;      /* unreachable objects freed (or saved by SAVEALL) */
    uint64_t uncollectable;  /* unreachable objects put in the garbage list because of legacy finalizers */
    uint64_t pause_ns_total; /* wall time spent in these collections */
    uint64_t pause_ns_max;
} ms_gc_stats;
MS_API void ms_gc_get_stats(ms_gc_stats out[3]);

#define MS_GC_DEBUG_SAVEALL (1u << 5) /* same value as gc.DEBUG_SAVEALL */
MS_API void ms_gc_set_debug(unsigned flags);
MS_API unsigned ms_gc_get_debug(void);

/* gc.garbage: objects the collector found unreachable but did not free. The list holds a reference to each. */
MS_API size_t ms_gc_garbage_count(void);
/* Borrowed reference, NULL when i is out of range. */
MS_API ms_object *ms_gc_garbage_get(size_t i);
/* Drops the list's references (which may free the objects, or let the next collection free them). */
MS_API void ms_gc_garbage_clear(void);

/* gc.callbacks: fn(phase, info, arg) around every collection, automatic or not. */
typedef enum ms_gc_phase { MS_GC_PHASE_START, MS_GC_PHASE_STOP } ms_gc_phase;
typedef struct ms_gc_info {
    int generation;
    size_t collected;     /* 0 at start */
    size_t uncollectable; /* 0 at start */
} ms_gc_info;
typedef void (*ms_gc_callback)(ms_gc_phase phase, const ms_gc_info *info, void *arg);
/* 0, -ENOMEM. The same (fn, arg) may be added twice and is then called twice. */
MS_API int ms_gc_callback_add(ms_gc_callback fn, void *arg);
/* Removes one registration of (fn, arg): 0, or -ENOENT. */
MS_API int ms_gc_callback_remove(ms_gc_callback fn, void *arg);

MS_API bool ms_gc_is_tracked(const ms_object *o);
/* Tracks o in generation 0: 0 (also when already tracked), -EINVAL when o's type is not MS_TYPE_GC. */
MS_API int ms_gc_track(ms_object *o);
/* Stops tracking o (no-op when untracked). An untracked object is never collected: its cycles leak. */
MS_API void ms_gc_untrack(ms_object *o);

/* gc.get_referrers(): the tracked objects (frozen ones excluded) whose traverse visits target. Fills out[0..max)
 * with borrowed references and returns how many there are in all (may exceed max). O(tracked objects). */
MS_API size_t ms_gc_get_referrers(const ms_object *target, ms_object **out, size_t max);
/* gc.get_referents(): what o's traverse visits, borrowed, in visit order; returns the total (may exceed max). */
MS_API size_t ms_gc_get_referents(const ms_object *o, ms_object **out, size_t max);

/* gc.freeze(): move every tracked object to a permanent generation that collections ignore. */
MS_API void ms_gc_freeze(void);
/* gc.unfreeze(): move them back into the oldest generation. */
MS_API void ms_gc_unfreeze(void);
MS_API size_t ms_gc_get_freeze_count(void);

/* gc.get_objects(generation) count: tracked objects in generation 0..2, or all of them (frozen excluded) for -1. */
MS_API size_t ms_gc_tracked_count(int generation);

/*
 * Cycle makers: where the cycles the collector frees come from. While on (off at start, unless MEMSCOPE_GC_CYCLES=1;
 * the agent turns it on when the daemon asks for cycles), every collection groups the garbage it frees into its
 * cycles — the weakly connected components of the garbage: a cycle, or cycles that reference each other, with
 * the objects only they held — and counts, per group key, cycles, objects and bytes (ms_sizeof). The key is the
 * allocation site ("file.c:97", the first frame of the objects' tracebacks) while tracing is on and the objects
 * were traced, the most frequent one among the cycle's objects; else the multiset of the objects' type names
 * ("Folder×2+Document", most objects first). Cycles that hold each other one way count as one (bench/README.md
 * measures how far that is from strongly connected components); objects and bytes are exact. Off, it costs
 * nothing; on, it rides along the collector's passes when the garbage needs no finalizer, weak reference or type
 * code (else a walk of its own), still up to as much again as a collection of garbage (bench/gc), and work arrays
 * kept while it stays on (32 bytes an object of the largest garbage yet, 144 a cycle; freed by turning it off). A table of the MS_GC_CYCLE_KEYS
 * largest keys since start (a new key takes the smallest row's place; what rows leave goes to one "other" row,
 * its `other` set, so the rows always sum to everything), and one of the last MS_GC_CYCLE_RECENT collections.
 */
#define MS_GC_CYCLE_TYPES 8   /* type names kept per group */
#define MS_GC_CYCLE_KEYS 64   /* groups kept since start */
#define MS_GC_CYCLE_RECENT 16 /* collections in the recent table */
typedef struct ms_gc_cycle_group {
    char site[128];   /* "file.c:97"; "" for a key of type names, and for the other row */
    char key[256];    /* the site, or the type names ("Folder×2+Document"); "other" for the other row */
    bool other;       /* the row of the keys that did not fit */
    size_t ntypes;    /* types[0 .. ntypes): the objects' types, most first (at most MS_GC_CYCLE_TYPES) */
    struct {
        const char *name; /* the type's name (static storage: the type's) */
        uint64_t count;
    } types[MS_GC_CYCLE_TYPES];
    uint64_t cycles, objects, bytes;
} ms_gc_cycle_group;
MS_API void ms_gc_set_cycle_stats(bool on);
MS_API bool ms_gc_get_cycle_stats(void);
/* The groups since start (recent false) or of the last MS_GC_CYCLE_RECENT collections (true), largest `objects`
 * first, up to max of them into out; returns how many there are (more than max: the rest were left out). The
 * number of collections the table counts goes to *collections (may be NULL). The runtime holder only. */
MS_API size_t ms_gc_cycle_groups(bool recent, ms_gc_cycle_group *out, size_t max, uint64_t *collections);
/* The groups of the last collection alone (as ms_gc_cycle_groups). */
MS_API size_t ms_gc_cycle_groups_last(ms_gc_cycle_group *out, size_t max);
/* Forgets both tables. */
MS_API void ms_gc_cycle_stats_reset(void);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_GC_H */

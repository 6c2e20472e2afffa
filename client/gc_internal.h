/*
 * client/gc_internal.h — what object.c, gc.c and weakref.c share: the GC header, its state bits, the hooks the
 * object lifecycle calls into the collector and the weak reference table.
 *
 * The GC header sits in front of every object of a MS_TYPE_GC type; the block returned by the allocator starts
 * with it (so tracing, keyed by block address, sees the header address):
 *
 *     block (16-aligned)
 *     +--------------------------------------------------------------+
 *     | next   next header in the generation list | UNREACHABLE(b0)  |  0 <=> untracked
 *     | prev   prev header | COLLECTING(b1) | FINALIZED(b0)          |  during a collection: gc_refs << 2 | bits
 *     +--------------------------------------------------------------+  <- ms_object * (MS__GC_OBJ)
 *     | refcnt                                                       |
 *     | type | HAS_SIDE(b1) | HAS_WEAKREFS(b0)                      |
 *     +--------------------------------------------------------------+
 *     | the type's fields ...                                        |
 *
 * State bits (CPython 3.8+'s PyGC_Head, same meaning):
 *   FINALIZED    finalize() already ran on this object; it never runs again. Survives untracking.
 *   COLLECTING   the object belongs to the generations being collected; the upper bits of prev hold gc_refs
 *                instead of a pointer. Set by update_refs, cleared once move_unreachable proves it reachable.
 *   UNREACHABLE  (in next) the object sits in the unreachable list built by move_unreachable; cleared by the
 *                collector's next walk over that list (ms__gc_list_remove copes with it meanwhile).
 * Between collections every tracked object has next != 0, a real prev pointer and only FINALIZED possibly set.
 */
#ifndef MEMSCOPE_CLIENT_GC_INTERNAL_H
#define MEMSCOPE_CLIENT_GC_INTERNAL_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/gc_internal.h is private to libmemscope"
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <memscope/gc.h>
#include <memscope/object.h>
#include <memscope/weakref.h>

#include "internal.h"

typedef struct ms__gc_head {
    uintptr_t next;
    uintptr_t prev;
} ms__gc_head;

_Static_assert(sizeof(ms__gc_head) % 16 == 0, "the GC header must keep objects 16-byte aligned");

#define MS__GC_HEAD(o) ((ms__gc_head *)(o) - 1)
#define MS__GC_OBJ(g) ((ms_object *)((ms__gc_head *)(g) + 1))

#define MS__GC_PREV_FINALIZED ((uintptr_t)1)
#define MS__GC_PREV_COLLECTING ((uintptr_t)2)
#define MS__GC_PREV_SHIFT 2
#define MS__GC_PREV_PTR_MASK (~(uintptr_t)3)
#define MS__GC_NEXT_UNREACHABLE ((uintptr_t)1)

static inline bool ms__is_gc(const ms_object *o) { return (ms_type_of(o)->flags & MS_TYPE_GC) != 0; }
static inline bool ms__gc_head_tracked(const ms__gc_head *g) { return g->next != 0; }
static inline bool ms__gc_head_collecting(const ms__gc_head *g) { return (g->prev & MS__GC_PREV_COLLECTING) != 0; }

/* Unlinks g from the doubly linked list it is in and marks it untracked. O(1). The list may carry UNREACHABLE
 * tags (the collector's delete_garbage removes them as it goes): each remaining node keeps its own tag. */
static inline void ms__gc_list_remove(ms__gc_head *g)
{
    ms__gc_head *prev = (ms__gc_head *)(g->prev & MS__GC_PREV_PTR_MASK);
    ms__gc_head *next = (ms__gc_head *)(g->next & ~MS__GC_NEXT_UNREACHABLE);
    prev->next = (prev->next & MS__GC_NEXT_UNREACHABLE) | (uintptr_t)next;
    next->prev = (next->prev & ~MS__GC_PREV_PTR_MASK) | (uintptr_t)prev;
    g->next = 0;
    g->prev &= MS__GC_PREV_FINALIZED;
}

/* ---- gc.c ----------------------------------------------------------------------------------------------- */
/* Counts one more tracked allocation and runs the automatic collection it may trigger (before the new object
 * exists, as CPython's _PyObject_GC_Link). */
void ms__gc_on_alloc(void);
/* count[i] of gc.get_count(); [0] is updated inline on every tracked deallocation. */
extern _Atomic int ms__gc_counts[3];
/* Counts one tracked deallocation (never below 0, as CPython). */
static inline void ms__gc_on_free(void)
{
    int c = atomic_load_explicit(&ms__gc_counts[0], memory_order_relaxed);
    if (c > 0)
        atomic_store_explicit(&ms__gc_counts[0], c - 1, memory_order_relaxed);
}
/* Appends the tracked-to-be object to generation 0. */
void ms__gc_link(ms_object *o);
/* The heads of every list of tracked objects: the generations, youngest first, then the permanent one
 * (ms_gc_freeze). 0, or -EBUSY while a collection runs (its prev words hold gc_refs then, and objects move
 * between lists). The heap graph walk (heapgraph.c) borrows the prev words of every object on them meanwhile
 * and restores them before it returns. */
#define MS__GC_NLISTS (MS_GC_GENERATIONS + 1)
int ms__gc_lists(ms__gc_head *out[MS__GC_NLISTS]);

/*
 * Calls fn on every reference op owns, stopping at the first non-zero return. Always inlined so that with a
 * ref_offsets type and a static fn the whole visit compiles to a loop over fields with fn inlined.
 */
static inline __attribute__((always_inline)) int ms__gc_traverse(ms_object *op, ms_visit_fn fn, void *arg)
{
    const ms_type *t = ms_type_of(op);
    const size_t *off = t->ref_offsets;
    if (!off && !t->ref_array_offset)
        return t->traverse ? t->traverse(op, fn, arg) : 0;
    if (off) {
        for (; *off; off++) {
            ms_object *child = *(ms_object **)(void *)((char *)op + *off);
            if (child) {
                int rc = fn(child, arg);
                if (rc)
                    return rc;
            }
        }
    }
    if (t->ref_array_offset) {
        ms_object **items = *(ms_object ***)(void *)((char *)op + t->ref_array_offset);
        size_t n = *(size_t *)(void *)((char *)op + t->ref_array_len_offset);
        for (size_t i = 0; i < n; i++) {
            if (items[i]) {
                int rc = fn(items[i], arg);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* Cycle makers (gc_cycles.c): whether grouping is on, and the grouping of the garbage about to be freed. collect()
 * calls it after finalizers and resurrection, before the teardown: `garbage` holds exactly what will be freed
 * (every object COLLECTING, next words possibly tagged UNREACHABLE; about `hint` objects), and no code of the
 * program runs but the types' traverse. */
extern bool ms__cycles_on, ms__cycles_last_valid;
void ms__cycles_group(ms__gc_head *garbage, size_t hint);
/* A collection without grouping: the last collection's table is empty from now on. */
void ms__cycles_none(void);

/*
 * The grouping fused into the collector's own passes, for the garbage that free_garbage tears down (the common
 * case: nothing to finalize, no weak references, types it frees by itself); ms__cycles_group is the separate
 * walk for the rest. While the collector runs with it:
 *   move_unreachable  gives each object it sets apart a number (ms__cycles_number), kept in bits 32-62 of its
 *                     refcnt with bit 63 set, the count in the low 32 bits; an object found reachable after all
 *                     loses it. A genuine count is positive, so a negative refcnt is always a numbered one
 *   free_garbage      records each object as it tears it down (type, size) and, for each reference to
 *                     another garbage object that it drops, joins their numbers' sets (union-find): the weakly
 *                     connected components, as ms__cycles_group finds them. Its site comes as it is freed: the
 *                     lookup that drops its trace returns it (ms__trace_free), where a lookup of its own was a
 *                     third of the traced grouping
 *   ms__cycles_fused_finish  sums the records per component and the components per key, in dense arrays: no
 *                     object is read again (they are freed by then)
 * Why: a walk of its own over the garbage costs as much as the collector's (each pass is bound by the latency of
 * the objects' cache lines; bench/gc --cycles); fused, the grouping touches only lines the collector loads anyway.
 * A count must fit 32 bits and the garbage 2^31 objects for this (else the collection uses the separate walk).
 */
#define MS__CYCLES_COUNT_MASK ((intptr_t)UINT32_MAX)
#define MS__CYCLES_NUMBERED ((uint64_t)1 << 63)
#define MS__CYCLES_MAX_NUMBERS ((uint32_t)1 << 31)
typedef struct ms__cycles_work {
    uint32_t *parent;     /* union-find over the numbers; parent[i] <= i (a set's root is its smallest number) */
    uint32_t *cid;        /* a root's component, set by ms__cycles_fused_finish when it meets the root's record */
    uint32_t *num;        /* record k (free_garbage's order): its object's number */
    const ms_type **type; /* record k: the type, */
    uint64_t *bytes;      /* its ms_sizeof, */
    uint32_t *tb;         /* while tracing, by number: the traceback id of the object's trace, stored as free_done
                           * frees it (UINT32_MAX: none); by record once ms__cycles_fused_finish has begun */
    uint32_t n, nrec, cap;
    bool failed;          /* a number could not be given: this collection uses ms__cycles_group */
    bool recording;       /* free_garbage is recording: the arrays must stay (gc_cycles.c's work_free) */
    bool free_pending;    /* and were asked to go meanwhile */
    bool tracing;
} ms__cycles_work;
extern ms__cycles_work ms__cw;

/* Prepares a fused grouping (numbers from 0). */
void ms__cycles_fused_begin(void);
bool ms__cycles_grow(void);
/* Numbers op (in move_unreachable); false, and the work failed, when its count needs the high half or memory
 * is short. */
static inline bool ms__cycles_number(ms_object *op)
{
    ms__cycles_work *w = &ms__cw;
    if (MS_UNLIKELY(w->failed || (op->refcnt & ~MS__CYCLES_COUNT_MASK) != 0 ||
                    (w->n == w->cap && !ms__cycles_grow()))) {
        w->failed = true;
        return false;
    }
    uint32_t i = w->n++;
    w->parent[i] = i;
    op->refcnt = (intptr_t)((uint64_t)op->refcnt | MS__CYCLES_NUMBERED | ((uint64_t)i << 32));
    return true;
}
static inline uint32_t ms__cycles_num_of(const ms_object *op)
{
    return (uint32_t)(((uint64_t)op->refcnt & ~MS__CYCLES_NUMBERED) >> 32);
}
/* Gives a numbered object its plain count back (others are left alone). */
static inline void ms__cycles_strip(ms_object *op)
{
    if (op->refcnt < 0)
        op->refcnt &= MS__CYCLES_COUNT_MASK;
}
/* The root of i's set in a union-find forest (path halving): both groupings' (gc_cycles.c). A child of the root
 * is not written: most are (the sets grow by one object at a time), and rewriting their unchanged parents was a
 * third of the fused grouping's first pass. */
static inline uint32_t ms__uf_find(uint32_t *parent, uint32_t i)
{
    for (uint32_t p = parent[i]; p != i; p = parent[i]) {
        uint32_t gp = parent[p];
        if (gp == p)
            return p;
        parent[i] = gp;
        i = gp;
    }
    return i;
}
static inline uint32_t ms__cycles_find(uint32_t i) { return ms__uf_find(ms__cw.parent, i); }
static inline void ms__cycles_union(uint32_t a, uint32_t b)
{
    a = ms__cycles_find(a);
    b = ms__cycles_find(b);
    if (a < b)
        ms__cw.parent[b] = a;
    else if (b < a)
        ms__cw.parent[a] = b;
}
/* Records op (number and all) as free_garbage is about to tear it down; its size is taken now, before its
 * references go (a list's size counts its item array). */
static inline void ms__cycles_record(const ms_object *op, const ms_type *t)
{
    ms__cycles_work *w = &ms__cw;
    uint32_t k = w->nrec++;
    w->num[k] = ms__cycles_num_of(op);
    w->type[k] = t;
    w->bytes[k] = sizeof(ms__gc_head) + t->size + (t->size_extra ? t->size_extra(op) : 0);
    if (w->tracing)
        w->tb[w->num[k]] = UINT32_MAX; /* until free_done frees op (an object not freed has no trace to tell) */
}
/* Where free_done stores op's traceback id as it frees op, a numbered garbage object (NULL: not tracing). Read
 * before op's count is cleared: the number is in it. */
static inline uint32_t *ms__cycles_tb_slot(const ms_object *op)
{
    return ms__cw.tracing ? &ms__cw.tb[ms__cycles_num_of(op)] : NULL;
}
/* After free_garbage: the tables as ms__cycles_group would have left them. */
void ms__cycles_fused_finish(void);
/* The largest rows of the table since start, as the stats message reports them (common/stats_schema.h's
 * "cycles"): copied at the end of each grouping for the agent thread, which may read them at any time. */
typedef struct ms__cycle_row {
    char key[128];
    uint64_t cycles, objects, bytes;
} ms__cycle_row;
#define MS__CYCLES_PUBLISHED 10 /* rows kept for it (common/stats_schema.h's MSC_STATS_CYCLES_MAX) */
size_t ms__cycles_published(ms__cycle_row *out, size_t max);


/* ---- weakref.c ------------------------------------------------------------------------------------------ */
/* Weak references waiting for their callback, in call order, each holding a reference to itself. */
typedef struct ms__wr_pending {
    ms_weakref *head;
    ms_weakref **tail; /* &head when empty */
} ms__wr_pending;
#define MS__WR_PENDING_INIT(p) ((p)->head = NULL, (p)->tail = &(p)->head)
/*
 * Clears every weak reference to o (their referent becomes NULL, o loses MS__OBJ_HAS_WEAKREFS) and appends
 * those that have a callback, with a new reference each, to *pending (newest weak reference first). When
 * skip_collecting is set, weak references that are themselves being collected get no callback (CPython's rule).
 * Cannot fail. O(weak references to o).
 */
void ms__weakref_detach_all(ms_object *o, ms__wr_pending *pending, bool skip_collecting);
/* Runs the pending callbacks in order and drops their references; returns how many weak references died when
 * their reference was dropped. */
size_t ms__weakref_run_pending(ms__wr_pending *pending);

/* ---- heapgraph.c ---------------------------------------------------------------------------------------- */
/* o dies (it has MS__OBJ_HAS_SIDE): its id and label leave the side table, and the bit goes. O(1). Called where
 * an object's memory is freed: object.c's destroy() and gc.c's free_done(). */
void ms__heapgraph_forget(ms_object *o);

/* ---- object.c ------------------------------------------------------------------------------------------- */
/* Drops the references o owns: its type's clear, or the ref_offsets fields. */
void ms__object_clear(ms_object *o);
/* Counts n more objects of type t destroyed (type statistics), for objects the collector freed itself
 * (gc.c, free_garbage) instead of through ms_object_dealloc. t must have had an object created. */
void ms__object_destroyed_add(const ms_type *t, uint64_t n);

#endif /* MEMSCOPE_CLIENT_GC_INTERNAL_H */

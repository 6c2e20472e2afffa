/*
 * gc.c — the generational cycle collector. Read collect() first: it is the whole algorithm in order.
 *
 * What it solves
 *   Reference counting frees an object when nothing points to it, so a group of objects that only point to each
 *   other (n1.next = n2; n2.next = n1) never dies. The collector finds such groups among the *tracked* objects
 *   (instances of MS_TYPE_GC types, the containers: only they can form cycles) and breaks them.
 *
 * How (CPython's algorithm, Modules/gcmodule.c, with its data layout)
 *   Tracked objects live on one of three doubly linked generation lists (plus a permanent one for ms_gc_freeze).
 *   Collecting generation g merges generations 0..g into one list, `young`, and then:
 *     1. update_refs      gc_refs := refcnt for every object of young              (COLLECTING set)
 *     2. subtract_refs    for every reference from a young object to a young object, gc_refs -= 1.
 *                         Now gc_refs = references from outside young. A full collection with nothing frozen
 *                         does 1 and 2 in one walk (update_and_subtract_refs).
 *     3. move_unreachable objects with gc_refs > 0 are reachable from outside, and so is everything they
 *                         reach: one left-to-right scan marks them (COLLECTING cleared) and moves every object
 *                         not yet known reachable to `unreachable`, from where a later reference moves it back.
 *                         The scan is a loop over a list that grows at its tail: no recursion, so graph depth
 *                         costs no stack.
 *     4. survivors move to the next generation (generation 2 survivors stay there).
 *     5. legacy finalizers: garbage of a MS_TYPE_LEGACY_FINALIZER type, and all garbage it reaches, is moved to
 *        `finalizers`; it is uncollectable and ends in the garbage list (gc.garbage).
 *     6. weak references to garbage are cleared; callbacks run for those weak references that are not garbage.
 *     7. finalize() runs (at most once per object: FINALIZED bit) on garbage that has one; then steps 1-3 run
 *        again on the garbage alone, and whatever a finalizer made reachable again (resurrected) survives.
 *     8. delete_garbage: clear() each remaining object; reference counting frees the rest. When every garbage
 *        object is of a type with nothing to run (ref_offsets and no clear/dealloc, or a detach_refs hook, as
 *        list and dict have) and steps 5-7 had nothing to do, free_garbage does the same teardown itself: take
 *        each object's references, drop them, free each object when its count reaches 0, without a call to
 *        clear() or through ms_object_dealloc.
 *   Steps 5-7 are skipped when no garbage object has a legacy finalizer, a pending finalize() or a weak
 *   reference (move_unreachable notes that as it goes): the common cycle then costs three scans of young and
 *   one of the garbage, delete_garbage, which also removes the UNREACHABLE tags as it walks.
 *
 * The GC header and its state bits are drawn in gc_internal.h. During steps 1-3, the `prev` word of an object of
 * young holds gc_refs (shifted by 2) instead of a pointer, so young is singly linked; move_unreachable restores
 * prev pointers as it goes and keeps `unreachable` doubly linked but tags its `next` words (UNREACHABLE), which
 * is how visit_reachable tells "in unreachable" from "ahead of the scan". The tags are removed by the next walk
 * over the garbage (step 5's, or delete_garbage's when steps 5-7 are skipped).
 *
 * When (CPython's schedule)
 *   count[0] = tracked allocations - deallocations since the last collection of generation 0; above
 *   threshold[0] (700) generation 0 is collected. count[i] (i > 0) = collections of generation i-1 since the last
 *   collection of generation i; above threshold[i] (10) generation i is collected, the oldest that qualifies
 *   first. A full collection additionally waits until long_lived_pending (objects that entered generation 2 since
 *   the last full collection) exceeds long_lived_total / 4 (generation 2's size after it), which keeps the cost
 *   of full collections linear in the number of allocations.
 *
 * Speed
 *   Once the heap outgrows the caches every walk over it costs about one DRAM stream, so the design counts
 *   walks: a full collection of a reachable heap walks it twice (steps 1+2 fused, step 3), of a garbage heap
 *   three times (plus delete_garbage), where CPython walks 3 and 5+ times. The walks follow allocation order,
 *   which is mostly address order within pools, and prefetch the object after next. A type with ref_offsets
 *   and/or ref_array_offset is visited by an inlined loop over its fields instead of an indirect traverse call
 *   per object and an indirect visit call per reference; the commonest layouts (one or two fields, one array)
 *   are cached per walk (shape) so that the loop disappears too. The walks are bound by instructions as much
 *   as by memory (about 4 per cycle retire on cached data), so every instruction per reference counts.
 *   long_lived_total is counted by move_unreachable
 *   instead of by an extra walk of generation 2. delete_garbage never moves objects between lists one by one.
 *
 * Reentrancy: finalizers, weak reference callbacks and whatever clear() sets off run arbitrary code;
 * `collecting` makes any collection they would trigger a no-op (as in CPython). Whenever such code runs, every
 * list is doubly linked (the garbage list may still carry UNREACHABLE tags during delete_garbage, which
 * ms__gc_list_remove preserves), so it may create, free, track and untrack objects.
 *
 * Where C differs from Python: a weak reference callback receives a void *arg, which the collector cannot see.
 * Storing a reference to garbage through it is the one resurrection the collector does not re-check for (the
 * re-check of step 7 only runs after finalizers); a callback must only touch objects that are alive.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <memscope/builtins.h>
#include <memscope/gc.h>
#include <memscope/mem.h>
#include <memscope/object.h>

#include "agent_internal.h"
#include "gc_internal.h"
#include "internal.h"
#include "list_internal.h"

typedef ms__gc_head gc_head;

#define NGEN MS_GC_GENERATIONS
#define FROM_GC(g) MS__GC_OBJ(g)
#define AS_GC(o) MS__GC_HEAD(o)

/* ---- Tunables -------------------------------------------------------------------------------------------- */
#define DEFAULT_THRESHOLD0 700
#define DEFAULT_THRESHOLD1 10
#define DEFAULT_THRESHOLD2 10

typedef struct gen_state {
    gc_head head;
    _Atomic int threshold;
} gen_state;

_Atomic int ms__gc_counts[NGEN];

typedef struct gen_stats {
    ms__counter collections;
    ms__counter collected;
    ms__counter uncollectable;
    ms__counter pause_ns_total;
    ms__counter pause_ns_max;
} gen_stats;

typedef struct callback_entry {
    ms_gc_callback fn;
    void *arg;
} callback_entry;

/* Fields read by other threads without the lock (see gc.h) are atomics; the rest belongs to the runtime holder.
 * The list heads point to themselves, which a static initializer cannot express portably: ensure_init(). */
static struct {
    bool initialized;
    _Atomic bool enabled;
    bool collecting;
    _Atomic unsigned debug;
    gen_state gens[NGEN];
    gc_head permanent;
    size_t long_lived_total;
    size_t long_lived_pending;
    gen_stats stats[NGEN];
    ms_object **garbage; /* owns a reference to each */
    _Atomic size_t garbage_len;
    size_t garbage_cap;
    callback_entry *callbacks;
    size_t callbacks_len, callbacks_cap;
} gcs = {
    .enabled = true,
    .gens = { { .threshold = DEFAULT_THRESHOLD0 }, { .threshold = DEFAULT_THRESHOLD1 },
              { .threshold = DEFAULT_THRESHOLD2 } },
};

#define INC(a) atomic_store_explicit(&(a), atomic_load_explicit(&(a), memory_order_relaxed) + 1, memory_order_relaxed)
#define GET(a) atomic_load_explicit(&(a), memory_order_relaxed)
#define SET(a, v) atomic_store_explicit(&(a), (v), memory_order_relaxed)

/* ---- List primitives (well-formed lists only: no UNREACHABLE tags, prev words hold pointers) -------------- */

#define GC_NEXT(g) ((gc_head *)(g)->next)
#define GC_PREV(g) ((gc_head *)((g)->prev & MS__GC_PREV_PTR_MASK))

static inline void set_prev(gc_head *g, gc_head *p) { g->prev = (g->prev & ~MS__GC_PREV_PTR_MASK) | (uintptr_t)p; }
static inline void set_next(gc_head *g, gc_head *n) { g->next = (uintptr_t)n; }

static void list_init(gc_head *list)
{
    list->next = (uintptr_t)list;
    list->prev = (uintptr_t)list;
}

static inline bool list_is_empty(const gc_head *list) { return list->next == (uintptr_t)list; }

static inline void list_append(gc_head *node, gc_head *list)
{
    gc_head *last = GC_PREV(list);
    set_prev(node, last);
    set_next(node, list);
    set_next(last, node);
    set_prev(list, node);
}

static inline void list_move(gc_head *node, gc_head *list)
{
    gc_head *prev = GC_PREV(node), *next = GC_NEXT(node);
    set_next(prev, next);
    set_prev(next, prev);
    list_append(node, list);
}

/* Appends `from` to `to`; `from` becomes empty. O(1). */
static void list_merge(gc_head *from, gc_head *to)
{
    if (!list_is_empty(from)) {
        gc_head *tail = GC_PREV(to);
        set_next(tail, GC_NEXT(from));
        set_prev(GC_NEXT(from), tail);
        set_next(GC_PREV(from), to);
        set_prev(to, GC_PREV(from));
    }
    list_init(from);
}

static size_t list_size(const gc_head *list)
{
    size_t n = 0;
    for (const gc_head *g = GC_NEXT(list); g != list; g = GC_NEXT(g))
        n++;
    return n;
}

/*
 * The validity walker (MS_DEBUG >= 2): list is a well-formed doubly linked ring of tracked objects without
 * UNREACHABLE tags whose COLLECTING bits all equal `collecting`. O(len).
 */
static void validate_list(const gc_head *list, bool collecting)
{
    if (MS_DEBUG < 2)
        return;
    const gc_head *prev = list;
    for (const gc_head *g = GC_NEXT(list); g != list; g = GC_NEXT(g)) {
        MS_ASSERT_2((g->next & MS__GC_NEXT_UNREACHABLE) == 0);
        MS_ASSERT_2(GC_PREV(g) == prev);
        MS_ASSERT_2(ms__gc_head_collecting(g) == collecting);
        MS_ASSERT_2(FROM_GC(g)->refcnt > 0);
        MS_ASSERT_2(ms__is_gc(FROM_GC(g)));
        prev = g;
    }
    MS_ASSERT_2(GC_PREV(list) == prev);
}

/*
 * Walks are bound by memory latency: each object's address comes from the previous one's `next`. Touching the
 * object after next while working on this one overlaps the misses. g must be a tracked object or a list head
 * (its next word readable); tags are masked. A prefetch never faults, whatever the address.
 */
static inline void prefetch_after(const gc_head *g)
{
    const char *p = (const char *)(g->next & ~MS__GC_NEXT_UNREACHABLE);
    __builtin_prefetch(p, 1);
    __builtin_prefetch(p + sizeof(gc_head) + sizeof(ms_object), 1);
}

/* ---- gc_refs (valid while COLLECTING) --------------------------------------------------------------------- */

static inline intptr_t get_refs(const gc_head *g) { return (intptr_t)(g->prev >> MS__GC_PREV_SHIFT); }
static inline void set_refs(gc_head *g, intptr_t r)
{
    g->prev = (g->prev & ~MS__GC_PREV_PTR_MASK) | ((uintptr_t)r << MS__GC_PREV_SHIFT);
}
static inline void reset_refs(gc_head *g, intptr_t r)
{
    g->prev = (g->prev & MS__GC_PREV_FINALIZED) | MS__GC_PREV_COLLECTING | ((uintptr_t)r << MS__GC_PREV_SHIFT);
}
static inline void clear_collecting(gc_head *g) { g->prev &= ~MS__GC_PREV_COLLECTING; }

/* ---- Visiting references ------------------------------------------------------------------------------------ */

/*
 * The hot walks (steps 1-3) visit the references of millions of objects of a few types. A shape caches, for the
 * last type seen, which of three common layouts it has, so that an object of it costs two loads and tests
 * instead of a loop over the 0-terminated ref_offsets (measured: about a tenth of the instructions of a full
 * collection of two-field objects). Other types go through traverse_obj.
 */
enum { SHAPE_OTHER, SHAPE_OFF1, SHAPE_OFF2, SHAPE_ARRAY, SHAPE_LIST };
typedef struct shape {
    const ms_type *type;
    int kind;
    size_t a, b; /* SHAPE_OFF1/2: the field offsets; SHAPE_ARRAY: array pointer and length offsets */
} shape;

/* The list type, for shape_update and free_garbage's direct call of its detach_refs (ms_list_type() is a call
 * into list.c; read once per collection). */
static const ms_type *list_tp;

static inline void shape_update(shape *sh, const ms_type *t)
{
    if (MS_LIKELY(t == sh->type))
        return;
    sh->type = t;
    sh->kind = SHAPE_OTHER;
    if (t == list_tp) {
        sh->kind = SHAPE_LIST;
        return;
    }
    const size_t *off = t->ref_offsets;
    if (off && !t->ref_array_offset) {
        if (off[0] && !off[1]) {
            sh->kind = SHAPE_OFF1;
            sh->a = off[0];
        } else if (off[0] && off[1] && !off[2]) {
            sh->kind = SHAPE_OFF2;
            sh->a = off[0];
            sh->b = off[1];
        }
    } else if (!off && t->ref_array_offset) {
        sh->kind = SHAPE_ARRAY;
        sh->a = t->ref_array_offset;
        sh->b = t->ref_array_len_offset;
    }
}

#define FIELD(op, off) (*(ms_object **)(void *)((char *)(op) + (off)))

/* ms__gc_traverse(op, fn, arg) for the hot walks, whose fn always returns 0. */
static inline __attribute__((always_inline)) void visit_refs(shape *sh, ms_object *op, ms_visit_fn fn, void *arg)
{
    shape_update(sh, ms_type_of(op));
    switch (sh->kind) {
    case SHAPE_OFF2: {
        ms_object *c0 = FIELD(op, sh->a), *c1 = FIELD(op, sh->b);
        if (c0)
            fn(c0, arg);
        if (c1)
            fn(c1, arg);
        break;
    }
    case SHAPE_OFF1: {
        ms_object *c0 = FIELD(op, sh->a);
        if (c0)
            fn(c0, arg);
        break;
    }
    case SHAPE_ARRAY: {
        ms_object **items = *(ms_object ***)(void *)((char *)op + sh->a);
        size_t n = *(size_t *)(void *)((char *)op + sh->b);
        for (size_t i = 0; i < n; i++)
            if (items[i])
                fn(items[i], arg);
        break;
    }
    case SHAPE_LIST:
        ms__list_visit(op, fn, arg); /* inlined, fn with it (list_internal.h) */
        break;
    default:
        (void)ms__gc_traverse(op, fn, arg);
    }
}

/* ---- Steps 1-3 -------------------------------------------------------------------------------------------- */

static void update_refs(gc_head *containers)
{
    for (gc_head *g = GC_NEXT(containers); g != containers; g = GC_NEXT(g)) {
        ms_object *op = FROM_GC(g);
        MS_ASSERT_1(op->refcnt > 0);
        reset_refs(g, op->refcnt);
    }
}

static inline __attribute__((always_inline)) int visit_decref(ms_object *op, void *arg)
{
    (void)arg;
    if (ms__is_gc(op)) {
        gc_head *g = AS_GC(op);
        /* Only objects of young have COLLECTING; references to other generations do not matter. */
        if (ms__gc_head_collecting(g)) {
            MS_ASSERT_1(get_refs(g) > 0);
            g->prev -= (uintptr_t)1 << MS__GC_PREV_SHIFT;
        }
    }
    return 0;
}

static void subtract_refs(gc_head *containers)
{
    shape sh = { NULL, SHAPE_OTHER, 0, 0 };
    for (gc_head *g = GC_NEXT(containers); g != containers; g = GC_NEXT(g))
        visit_refs(&sh, FROM_GC(g), visit_decref, NULL);
}

/* Objects visit_reachable took back out of unreachable during the current move_unreachable. */
static size_t moved_back;

static inline __attribute__((always_inline)) int visit_reachable_impl(ms_object *op, void *arg, bool numbered)
{
    gc_head *reachable = arg;
    if (!ms__is_gc(op))
        return 0;
    gc_head *g = AS_GC(op);
    /* Not COLLECTING: another generation, or already scanned (left of the scan position). */
    if (!ms__gc_head_collecting(g))
        return 0;
    if (g->next & MS__GC_NEXT_UNREACHABLE) {
        /* Scanned earlier with gc_refs 0, reachable after all: unlink it from unreachable by hand (the list
         * primitives do not understand the tags) and append it to young, where the scan will reach it again. */
        gc_head *prev = GC_PREV(g);
        gc_head *next = (gc_head *)(g->next & ~MS__GC_NEXT_UNREACHABLE);
        prev->next = g->next; /* keeps the tag */
        set_prev(next, prev);
        list_append(g, reachable);
        set_refs(g, 1);
        moved_back++;
        if (numbered)
            ms__cycles_strip(op); /* not garbage after all: its plain count back (gc_internal.h) */
    } else if (get_refs(g) == 0) {
        /* Ahead of the scan: the scan will treat it as reachable when it gets there. */
        set_refs(g, 1);
    }
    return 0;
}

static inline __attribute__((always_inline)) int visit_reachable(ms_object *op, void *arg)
{
    return visit_reachable_impl(op, arg, false);
}
static inline __attribute__((always_inline)) int visit_reachable_numbered(ms_object *op, void *arg)
{
    return visit_reachable_impl(op, arg, true);
}

/*
 * Steps 1 and 2 in one walk, for a full collection with nothing frozen. Then every tracked object is in young,
 * so "tracked" means "in young", and an object's gc_refs can be initialized the first time it is met, as the
 * walked object or as a referent (COLLECTING says whether that happened). One walk over the heap instead of two:
 * the walks are bound by memory bandwidth once the heap outgrows the caches.
 */
static inline __attribute__((always_inline)) int visit_decref_whole(ms_object *op, void *arg)
{
    (void)arg;
    if (ms__is_gc(op)) {
        gc_head *g = AS_GC(op);
        uintptr_t prev = g->prev;
        if (MS_LIKELY(prev & MS__GC_PREV_COLLECTING)) {
            MS_ASSERT_1(get_refs(g) > 0);
            g->prev = prev - ((uintptr_t)1 << MS__GC_PREV_SHIFT);
        } else if (ms__gc_head_tracked(g)) {
            /* First touch in this collection (untracked objects never get COLLECTING). */
            MS_ASSERT_1(op->refcnt > 0);
            g->prev = (prev & MS__GC_PREV_FINALIZED) | MS__GC_PREV_COLLECTING |
                      ((uintptr_t)(op->refcnt - 1) << MS__GC_PREV_SHIFT);
        }
    }
    return 0;
}

static void update_and_subtract_refs(gc_head *containers)
{
    shape sh = { NULL, SHAPE_OTHER, 0, 0 };
    for (gc_head *g = GC_NEXT(containers); g != containers; g = GC_NEXT(g)) {
        ms_object *op = FROM_GC(g);
        prefetch_after(GC_NEXT(g));
        if (!ms__gc_head_collecting(g)) {
            MS_ASSERT_1(op->refcnt > 0);
            reset_refs(g, op->refcnt);
        }
        visit_refs(&sh, op, visit_decref_whole, NULL);
    }
}

/* What move_unreachable found. */
typedef struct scan_result {
    size_t reachable;   /* objects left in young */
    size_t unreachable; /* objects in unreachable */
    /* Some object that went to unreachable (maybe only for a while: an over-approximation) has a legacy
     * finalizer, a finalize() not yet run or weak references. When false, steps 5-7 have nothing to do and
     * unreachable may go straight to delete_garbage, tags and all. */
    bool needs_walk;
    /* Every object that went to unreachable (the same over-approximation) is of a type whose teardown
     * free_garbage does by itself (teardown_is_simple). */
    bool all_simple;
} scan_result;

/*
 * A type whose instances free_garbage may tear down without calling its clear(): its references are taken by
 * its detach_refs (memscope/object.h), or are its ref_offsets fields with no clear() to run, and there is no
 * dealloc, variable part or legacy finalizer. finalize() and weak references are per object:
 * needs_special_handling.
 */
static inline bool teardown_is_simple(const ms_type *t)
{
    if (t->dealloc || (t->flags & (MS_TYPE_LEGACY_FINALIZER | MS_TYPE_VAR)))
        return false;
    return t->detach_refs || (t->ref_offsets && !t->clear && !t->ref_array_offset);
}

static inline bool needs_special_handling(const ms_object *op, const gc_head *g)
{
    const ms_type *t = ms_type_of(op);
    return (op->type_bits & MS__OBJ_HAS_WEAKREFS) || (t->flags & MS_TYPE_LEGACY_FINALIZER) ||
           (t->finalize && !(g->prev & MS__GC_PREV_FINALIZED));
}

/*
 * Moves the objects of young not reachable from outside young to unreachable (tagged, see the top). Invariant
 * of the loop: everything left of g in young is reachable and scanned (COLLECTING clear, prev a pointer);
 * everything from g on is unscanned; everything scanned and not (yet) known reachable is in unreachable.
 */
static inline __attribute__((always_inline)) scan_result move_unreachable_impl(gc_head *young, gc_head *unreachable,
                                                                             bool number)
{
    gc_head *prev = young;
    gc_head *g = GC_NEXT(young);
    scan_result res = { 0, 0, false, true };
    shape sh = { NULL, SHAPE_OTHER, 0, 0 };
    moved_back = 0;
    while (g != young) {
        prefetch_after((gc_head *)(g->next & ~MS__GC_NEXT_UNREACHABLE));
        if (get_refs(g)) {
            /* visit_reachable may append to young, changing g->next when g is the last: read it afterwards. */
            if (number)
                visit_refs(&sh, FROM_GC(g), visit_reachable_numbered, young);
            else
                visit_refs(&sh, FROM_GC(g), visit_reachable, young);
            set_prev(g, prev);
            clear_collecting(g);
            prev = g;
            res.reachable++;
        } else {
            /* Tentatively unreachable. young is singly linked here, so only prev->next needs fixing. */
            prev->next = g->next;
            gc_head *last = GC_PREV(unreachable);
            /* Tagging the head's next too is harmless and repaired below. */
            last->next = MS__GC_NEXT_UNREACHABLE | (uintptr_t)g;
            set_prev(g, last);
            g->next = MS__GC_NEXT_UNREACHABLE | (uintptr_t)unreachable;
            unreachable->prev = (uintptr_t)g;
            res.unreachable++;
            res.needs_walk |= needs_special_handling(FROM_GC(g), g);
            res.all_simple &= teardown_is_simple(ms_type_of(FROM_GC(g)));
            if (number)
                (void)ms__cycles_number(FROM_GC(g)); /* a failure is noted in the work: collect() sees it */
        }
        g = (gc_head *)prev->next;
    }
    young->prev = (uintptr_t)prev;
    unreachable->next &= ~MS__GC_NEXT_UNREACHABLE;
    res.unreachable -= moved_back;
    return res;
}

static scan_result move_unreachable(gc_head *young, gc_head *unreachable)
{
    return move_unreachable_impl(young, unreachable, false);
}
/* The same, numbering what it sets apart for the fused grouping (gc_internal.h). */
static scan_result move_unreachable_numbered(gc_head *young, gc_head *unreachable)
{
    return move_unreachable_impl(young, unreachable, true);
}

/* Steps 1-3 on base. whole_heap: base holds every tracked object (a full collection, nothing frozen). number:
 * the garbage gets the fused grouping's numbers. */
static scan_result deduce_unreachable(gc_head *base, gc_head *unreachable, bool whole_heap, bool number)
{
    if (whole_heap) {
        update_and_subtract_refs(base);
    } else {
        update_refs(base);
        subtract_refs(base);
    }
    list_init(unreachable);
    return number ? move_unreachable_numbered(base, unreachable) : move_unreachable(base, unreachable);
}

/* ---- Steps 5-8 ------------------------------------------------------------------------------------------------ */

static int visit_move(ms_object *op, void *arg)
{
    if (ms__is_gc(op)) {
        gc_head *g = AS_GC(op);
        if (ms__gc_head_collecting(g)) {
            list_move(g, arg);
            clear_collecting(g);
        }
    }
    return 0;
}

/* Everything reachable from the legacy-finalizer objects joins them (the list grows while it is walked). */
static void move_legacy_finalizer_reachable(gc_head *finalizers)
{
    for (gc_head *g = GC_NEXT(finalizers); g != finalizers; g = GC_NEXT(g))
        ms__gc_traverse(FROM_GC(g), visit_move, finalizers);
}

static bool garbage_append(ms_object *op)
{
    if (gcs.garbage_len == gcs.garbage_cap) {
        size_t cap = gcs.garbage_cap ? gcs.garbage_cap * 2 : 16;
        ms_object **a = realloc(gcs.garbage, cap * sizeof(*a));
        if (!a)
            return false;
        gcs.garbage = a;
        gcs.garbage_cap = cap;
    }
    ms_incref(op);
    gcs.garbage[gcs.garbage_len++] = op;
    return true;
}

/* PEP 442: run finalize() once on each object that has one. Objects may die meanwhile (untracking unlinks them
 * from `seen`), so each is moved out before its finalizer runs. */
static void finalize_garbage(gc_head *collectable)
{
    gc_head seen;
    list_init(&seen);
    while (!list_is_empty(collectable)) {
        gc_head *g = GC_NEXT(collectable);
        ms_object *op = FROM_GC(g);
        const ms_type *t = ms_type_of(op);
        list_move(g, &seen);
        if (t->finalize && !(g->prev & MS__GC_PREV_FINALIZED)) {
            g->prev |= MS__GC_PREV_FINALIZED;
            ms_incref(op);
            t->finalize(op);
            ms_decref(op);
        }
    }
    list_merge(&seen, collectable);
}

static void clear_unreachable_tags(gc_head *list)
{
    for (gc_head *g = GC_NEXT(list); g != list; g = GC_NEXT(g))
        g->next &= ~MS__GC_NEXT_UNREACHABLE;
}

/* Re-runs steps 1-3 on the garbage alone: whatever a finalizer made reachable goes to old; the rest stays. */
static void handle_resurrected(gc_head *unreachable, gc_head *still_unreachable, gc_head *old)
{
    validate_list(unreachable, true);
    (void)deduce_unreachable(unreachable, still_unreachable, false, false); /* update_refs re-sets what it needs */
    clear_unreachable_tags(still_unreachable);
    list_merge(unreachable, old);
}

/*
 * clear() each object; reference counting frees them, and each leaves collectable as it dies, in any order.
 * The walk holds a reference to the object it clears and takes one on the next before letting go of the
 * current, so the cursor never points to freed memory and objects never move between lists one by one (CPython
 * moves each survivor of clear() to old; here the survivors — SAVEALL, or kept alive from outside the
 * collector's view — join old in one merge at the end). If code run by clear() untracks the cursor's object,
 * the walk restarts from the head: clear() is idempotent, so that only costs time.
 * collectable may still carry move_unreachable's tags (when steps 5-7 were skipped): the walk removes each
 * object's tag before looking at its links, and ms__gc_list_remove preserves the others' tags meanwhile.
 */
static void delete_garbage(gc_head *collectable, gc_head *old)
{
    bool saveall = (gcs.debug & MS_GC_DEBUG_SAVEALL) != 0;
    gc_head *g = GC_NEXT(collectable);
    if (g != collectable)
        ms_incref(FROM_GC(g));
    while (g != collectable) {
        ms_object *op = FROM_GC(g);
        g->next &= ~MS__GC_NEXT_UNREACHABLE;
        if (saveall)
            garbage_append(op); /* on out-of-memory it simply stays alive in old */
        else
            ms__object_clear(op);
        gc_head *next = ms__gc_head_tracked(g) ? GC_NEXT(g) : GC_NEXT(collectable);
        if (next != collectable) {
            ms_incref(FROM_GC(next));
            prefetch_after(next);
        }
        ms_decref(op);
        if (next != collectable && !ms__gc_head_tracked(next)) {
            ms_decref(FROM_GC(next));
            next = GC_NEXT(collectable);
            if (next != collectable)
                ms_incref(FROM_GC(next));
        }
        g = next;
    }
    for (g = GC_NEXT(collectable); g != collectable; g = GC_NEXT(g)) {
        g->next &= ~MS__GC_NEXT_UNREACHABLE;
        clear_collecting(g);
    }
    list_merge(collectable, old);
}

/*
 * delete_garbage for the common case, where nothing of the garbage's types needs to run: every object of
 * collectable is of a teardown_is_simple type, none has weak references or a pending finalize(), SAVEALL is off,
 * and collectable still carries move_unreachable's UNREACHABLE tags on every object.
 *
 * Why it may skip the types' code: an object of collectable is referenced only by objects of collectable (any
 * other reference would have made it reachable), and nothing of collectable runs code, so nothing but this walk
 * can reach them until they are freed; the order in which they die is not observable. Code does run when a
 * reference to an object *outside* collectable is dropped (ms_decref, in the same order as clear() would), but
 * that code cannot reach collectable either.
 *
 * One walk: drop each object's references (a reference to a member of collectable, recognized by COLLECTING,
 * only decrements its count), mark the object done (its tag removed), and free every done member whose count
 * reaches 0 — the object itself when nothing refers to it any more, or later, when the last done referrer
 * lets go. Invariants: a member is freed only when done and at count 0, so the walk's cursor (never done) is
 * never freed under it; freed members are unlinked, so collectable always holds exactly the members alive.
 * What is left at the end survives (it cannot happen with correct C code, but costs nothing to handle) and
 * joins old, as delete_garbage's survivors do.
 */
/* Objects of type pend_type freed by free_garbage and not yet counted in the type statistics: one counter update
 * per run of objects of one type instead of one per object. Flushed before any code outside the collector can
 * run (a drop of a reference to an object outside collectable) and at the end. */
static const ms_type *pend_type;
static uint64_t pend_destroyed;

static inline void flush_destroyed(void)
{
    if (pend_destroyed) {
        ms__object_destroyed_add(pend_type, pend_destroyed);
        pend_destroyed = 0;
    }
}

/* The end of ms_object_dealloc for a member of collectable that is done (holds no references) and at count 0:
 * nothing of its type runs (teardown_is_simple, no weak references, no pending finalize). */
static inline void free_done(gc_head *g, const ms_type *t, uint32_t *tb)
{
    MS_ASSERT_1(FROM_GC(g)->refcnt == 0 && !(FROM_GC(g)->type_bits & MS__OBJ_HAS_WEAKREFS));
    ms__gc_list_remove(g);
    if (MS_UNLIKELY(FROM_GC(g)->type_bits & MS__OBJ_HAS_SIDE))
        ms__heapgraph_forget(FROM_GC(g)); /* runs no code: a table removal */
    if (MS_UNLIKELY(t != pend_type)) {
        flush_destroyed();
        pend_type = t;
    }
    pend_destroyed++;
    ms__gc_on_free();
    if (tb) /* the grouping wants its trace: taken as it goes (gc_internal.h) */
        *tb = ms__trace_free(g);
    else
        ms_free(g);
}

/* Drops the reference from the garbage object numbered `from` to c. grouped: the garbage is numbered (counts in
 * the low half of refcnt, gc_internal.h), and a reference between two garbage objects joins their sets. */
static inline __attribute__((always_inline)) void drop_ref(ms_object *c, bool grouped, uint32_t from)
{
    const ms_type *t = ms_type_of(c);
    if (t->flags & MS_TYPE_GC) {
        gc_head *cg = AS_GC(c);
        if (cg->prev & MS__GC_PREV_COLLECTING) {
            if (grouped) {
                MS_ASSERT_1((c->refcnt & MS__CYCLES_COUNT_MASK) > 0);
                ms__cycles_union(from, ms__cycles_num_of(c));
                if ((--c->refcnt & MS__CYCLES_COUNT_MASK) == 0 && !(cg->next & MS__GC_NEXT_UNREACHABLE)) {
                    uint32_t *tb = ms__cycles_tb_slot(c);
                    c->refcnt = 0;
                    free_done(cg, t, tb);
                }
                return;
            }
            MS_ASSERT_1(c->refcnt > 0);
            if (--c->refcnt == 0 && !(cg->next & MS__GC_NEXT_UNREACHABLE))
                free_done(cg, t, NULL);
            return;
        }
    }
    if (c->refcnt == 1)
        flush_destroyed(); /* c dies: code may run */
    ms_decref(c);
}

static inline __attribute__((always_inline)) void free_garbage_impl(gc_head *collectable, gc_head *old,
                                                                      bool grouped)
{
    gc_head *g = GC_NEXT(collectable);
    while (g != collectable) {
        gc_head *next = (gc_head *)(g->next & ~MS__GC_NEXT_UNREACHABLE);
        prefetch_after(next);
        ms_object *op = FROM_GC(g);
        const ms_type *t = ms_type_of(op);
        MS_ASSERT_1(g->next & MS__GC_NEXT_UNREACHABLE);
        MS_ASSERT_1(teardown_is_simple(t));
        uint32_t me = 0;
        if (grouped) {
            ms__cycles_record(op, t); /* before its references go: its size may count them */
            me = ms__cycles_num_of(op);
        }
        if (t == list_tp || t->detach_refs) {
            /* The array may lie inside op: op is not freed before it is done (its tag is still set), and nothing
             * that the drops run can reach it. A list's hook is called directly, inlined (list_internal.h): the
             * indirect call cost 4% of a garbage list's teardown (bench/gc). */
            size_t n = 0;
            void *buffer = NULL;
            ms_object **refs =
                t == list_tp ? ms__list_detach_refs(op, &n, &buffer) : t->detach_refs(op, &n, &buffer);
            for (size_t i = n; i > 0; i--)
                drop_ref(refs[i - 1], grouped, me);
            if (buffer)
                ms_free(buffer);
        } else {
            for (const size_t *off = t->ref_offsets; *off; off++) {
                ms_object **field = (ms_object **)(void *)((char *)op + *off);
                ms_object *c = *field;
                if (c) {
                    *field = NULL;
                    drop_ref(c, grouped, me);
                }
            }
        }
        g->next &= ~MS__GC_NEXT_UNREACHABLE; /* done */
        if (grouped ? (op->refcnt & MS__CYCLES_COUNT_MASK) == 0 : op->refcnt == 0) {
            uint32_t *tb = grouped ? ms__cycles_tb_slot(op) : NULL;
            op->refcnt = 0;
            free_done(g, t, tb);
        }
        g = next;
    }
    flush_destroyed();
    for (g = GC_NEXT(collectable); g != collectable; g = GC_NEXT(g)) {
        if (grouped)
            ms__cycles_strip(FROM_GC(g));
        clear_collecting(g);
    }
    list_merge(collectable, old);
}

static void free_garbage(gc_head *collectable, gc_head *old) { free_garbage_impl(collectable, old, false); }
/* The same with the cycle makers' grouping fused in (gc_internal.h); ms__cycles_fused_finish sums it after. */
static void free_garbage_grouped(gc_head *collectable, gc_head *old) { free_garbage_impl(collectable, old, true); }

/* Collects generations 0..generation. The caller set gcs.collecting. */
static size_t collect(int generation, size_t *out_uncollectable)
{
    uint64_t t0 = ms__now_ns();
    list_tp = ms_list_type();

    if (generation + 1 < NGEN)
        INC(ms__gc_counts[generation + 1]);
    for (int i = 0; i <= generation; i++)
        SET(ms__gc_counts[i], 0);
    for (int i = 0; i < generation; i++)
        list_merge(&gcs.gens[i].head, &gcs.gens[generation].head);
    gc_head *young = &gcs.gens[generation].head;
    gc_head *old = generation < NGEN - 1 ? &gcs.gens[generation + 1].head : young;

    validate_list(young, false);
    validate_list(old, false);
    gc_head unreachable;
    /* The cycle makers' grouping rides along the collector's passes when the garbage turns out to be of the kind
     * free_garbage tears down (gc_internal.h); otherwise the numbers come off again at once, before anything
     * reads a count, and the grouping walks the garbage itself (ms__cycles_group). */
    bool fused = MS_UNLIKELY(ms__cycles_on);
    if (fused)
        ms__cycles_fused_begin();
    scan_result scan = deduce_unreachable(young, &unreachable, young == old && list_is_empty(&gcs.permanent), fused);
    bool simple = !scan.needs_walk && scan.all_simple && !(gcs.debug & MS_GC_DEBUG_SAVEALL);
    if (fused && (!simple || ms__cw.failed)) {
        for (gc_head *g = GC_NEXT(&unreachable); g != &unreachable; g = (gc_head *)(g->next & ~MS__GC_NEXT_UNREACHABLE))
            ms__cycles_strip(FROM_GC(g));
        fused = false;
    }
    validate_list(young, false);
    if (young != old) {
        if (generation == NGEN - 2)
            gcs.long_lived_pending += scan.reachable;
        list_merge(young, old);
    } else {
        gcs.long_lived_pending = 0;
        gcs.long_lived_total = scan.reachable;
    }

    /* One walk over the garbage: remove the tags, set legacy-finalizer objects apart, note what later steps
     * will have to do. */
    gc_head finalizers;
    list_init(&finalizers);
    bool any_finalize = false, any_weakrefs = false;
    size_t ngarbage = scan.unreachable;
    gc_head *next = &unreachable;
    if (scan.needs_walk) {
        ngarbage = 0;
        next = GC_NEXT(&unreachable);
    }
    for (gc_head *g = next; g != &unreachable; g = next) {
        g->next &= ~MS__GC_NEXT_UNREACHABLE;
        next = GC_NEXT(g);
        ngarbage++;
        ms_object *op = FROM_GC(g);
        const ms_type *t = ms_type_of(op);
        if (t->flags & MS_TYPE_LEGACY_FINALIZER) {
            clear_collecting(g);
            list_move(g, &finalizers);
            continue;
        }
        any_finalize |= t->finalize && !(g->prev & MS__GC_PREV_FINALIZED);
        any_weakrefs |= (op->type_bits & MS__OBJ_HAS_WEAKREFS) != 0;
    }
    if (!list_is_empty(&finalizers)) {
        move_legacy_finalizer_reachable(&finalizers);
        ngarbage -= list_size(&finalizers);
    }
    if (scan.needs_walk)
        validate_list(&unreachable, true);
    validate_list(&finalizers, false);

    size_t collected = 0;
    if (any_weakrefs) {
        ms__wr_pending pending;
        MS__WR_PENDING_INIT(&pending);
        for (gc_head *g = GC_NEXT(&unreachable); g != &unreachable; g = GC_NEXT(g))
            ms__weakref_detach_all(FROM_GC(g), &pending, true);
        collected += ms__weakref_run_pending(&pending);
    }

    gc_head final_unreachable;
    gc_head *garbage = &unreachable;
    if (any_finalize) {
        finalize_garbage(&unreachable);
        handle_resurrected(&unreachable, &final_unreachable, old);
        garbage = &final_unreachable;
        ngarbage = list_size(garbage);
    }
    if (MS_UNLIKELY(ms__cycles_on) && !fused)
        ms__cycles_group(garbage, ngarbage); /* what is about to be freed, by what made it (gc_cycles.c) */
    else if (MS_UNLIKELY(ms__cycles_last_valid) && !fused)
        ms__cycles_none();
    /* Counted before deleting: objects leave the list as they die, in any order (CPython counts the same). */
    collected += ngarbage;
    if (fused) {
        ms__cw.recording = true;
        free_garbage_grouped(garbage, old);
        ms__cycles_fused_finish();
    } else if (simple) {
        free_garbage(garbage, old);
    } else {
        delete_garbage(garbage, old);
    }

    size_t uncollectable = 0;
    for (gc_head *g = GC_NEXT(&finalizers); g != &finalizers; g = GC_NEXT(g)) {
        ms_object *op = FROM_GC(g);
        uncollectable++;
        if ((gcs.debug & MS_GC_DEBUG_SAVEALL) || (ms_type_of(op)->flags & MS_TYPE_LEGACY_FINALIZER))
            garbage_append(op);
    }
    list_merge(&finalizers, old);
    validate_list(old, false);

    uint64_t pause = ms__now_ns() - t0;
    gen_stats *s = &gcs.stats[generation];
    MS__STAT_ADD(s->collections, 1);
    MS__STAT_ADD(s->collected, collected);
    MS__STAT_ADD(s->uncollectable, uncollectable);
    MS__STAT_ADD(s->pause_ns_total, pause);
    if (pause > MS__STAT_GET(s->pause_ns_max))
        MS__STAT_SET(s->pause_ns_max, pause);
    *out_uncollectable = uncollectable;
    return collected;
}

static void invoke_callbacks(ms_gc_phase phase, int generation, size_t collected, size_t uncollectable)
{
    ms_gc_info info = { .generation = generation, .collected = collected, .uncollectable = uncollectable };
    /* By index: a callback may add or remove callbacks. */
    for (size_t i = 0; i < gcs.callbacks_len; i++) {
        callback_entry e = gcs.callbacks[i];
        e.fn(phase, &info, e.arg);
    }
}

static size_t collect_with_callbacks(int generation)
{
    size_t uncollectable = 0;
    gcs.collecting = true;
    invoke_callbacks(MS_GC_PHASE_START, generation, 0, 0);
    size_t collected = collect(generation, &uncollectable);
    invoke_callbacks(MS_GC_PHASE_STOP, generation, collected, uncollectable);
    gcs.collecting = false;
    if (MS_DEBUG >= 3)
        (void)ms_mem_validate(); /* debug_level 3: a full heap walk after every collection (reported if broken) */
    return collected + uncollectable;
}

static void collect_generations(void)
{
    /* The oldest generation whose count exceeds its threshold. */
    for (int i = NGEN - 1; i >= 0; i--) {
        if (GET(ms__gc_counts[i]) > GET(gcs.gens[i].threshold)) {
            /* Full collections wait until enough new objects reached generation 2 (see the top). */
            if (i == NGEN - 1 && gcs.long_lived_pending < gcs.long_lived_total / 4)
                continue;
            collect_with_callbacks(i);
            break;
        }
    }
}

/* ---- Hooks for object.c ---------------------------------------------------------------------------------------- */

static void ensure_init(void)
{
    if (MS_LIKELY(gcs.initialized))
        return;
    for (int i = 0; i < NGEN; i++)
        list_init(&gcs.gens[i].head);
    list_init(&gcs.permanent);
    const char *cycles = getenv("MEMSCOPE_GC_CYCLES"); /* cycle makers from the start (memscope/gc.h) */
    if (cycles && cycles[0] == '1' && !cycles[1])
        ms__cycles_on = true;
    gcs.initialized = true;
}

void ms__gc_on_alloc(void)
{
    ensure_init();
    /* Allocating a tracked object is where a collection may run anyway, so it is also a safe point for the
     * daemon's requests (agent.h). Not from inside a collection: finalizers allocate too. */
    if (!gcs.collecting)
        ms__agent_safepoint();
    INC(ms__gc_counts[0]);
    int threshold = GET(gcs.gens[0].threshold);
    if (GET(ms__gc_counts[0]) > threshold && threshold && gcs.enabled && !gcs.collecting)
        collect_generations();
}


int ms__gc_lists(gc_head *out[MS__GC_NLISTS])
{
    ensure_init();
    if (gcs.collecting)
        return -EBUSY;
    for (int i = 0; i < NGEN; i++)
        out[i] = &gcs.gens[i].head;
    out[NGEN] = &gcs.permanent;
    return 0;
}

void ms__gc_link(ms_object *o)
{
    ensure_init();
    gc_head *g = AS_GC(o);
    g->prev &= MS__GC_PREV_FINALIZED;
    list_append(g, &gcs.gens[0].head);
}

/* ---- Public API ------------------------------------------------------------------------------------------------ */

ssize_t ms_gc_collect(int generation)
{
    if (generation < 0 || generation >= NGEN)
        return -EINVAL;
    ensure_init();
    if (gcs.collecting)
        return 0;
    return (ssize_t)collect_with_callbacks(generation);
}

void ms_gc_enable(void) { gcs.enabled = true; }
void ms_gc_disable(void) { gcs.enabled = false; }
bool ms_gc_is_enabled(void) { return gcs.enabled; }

void ms_gc_get_count(int out[3])
{
    for (int i = 0; i < NGEN; i++)
        out[i] = GET(ms__gc_counts[i]);
}

void ms_gc_get_threshold(int out[3])
{
    for (int i = 0; i < NGEN; i++)
        out[i] = GET(gcs.gens[i].threshold);
}

int ms_gc_set_threshold(int threshold0, int threshold1, int threshold2)
{
    if (threshold0 < 0 || threshold1 < 0 || threshold2 < 0)
        return -EINVAL;
    SET(gcs.gens[0].threshold, threshold0);
    SET(gcs.gens[1].threshold, threshold1);
    SET(gcs.gens[2].threshold, threshold2);
    return 0;
}

void ms_gc_get_stats(ms_gc_stats out[3])
{
    for (int i = 0; i < NGEN; i++) {
        const gen_stats *s = &gcs.stats[i];
        out[i].collections = MS__STAT_GET(s->collections);
        out[i].collected = MS__STAT_GET(s->collected);
        out[i].uncollectable = MS__STAT_GET(s->uncollectable);
        out[i].pause_ns_total = MS__STAT_GET(s->pause_ns_total);
        out[i].pause_ns_max = MS__STAT_GET(s->pause_ns_max);
    }
}

void ms_gc_set_debug(unsigned flags) { gcs.debug = flags; }
unsigned ms_gc_get_debug(void) { return gcs.debug; }

size_t ms_gc_garbage_count(void) { return gcs.garbage_len; }

ms_object *ms_gc_garbage_get(size_t i) { return i < gcs.garbage_len ? gcs.garbage[i] : NULL; }

void ms_gc_garbage_clear(void)
{
    /* Detach the array first: dropping references runs code that may collect and append again. */
    ms_object **a = gcs.garbage;
    size_t n = gcs.garbage_len;
    gcs.garbage = NULL;
    gcs.garbage_len = gcs.garbage_cap = 0;
    for (size_t i = 0; i < n; i++)
        ms_decref(a[i]);
    free(a);
}

int ms_gc_callback_add(ms_gc_callback fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    if (gcs.callbacks_len == gcs.callbacks_cap) {
        size_t cap = gcs.callbacks_cap ? gcs.callbacks_cap * 2 : 4;
        callback_entry *a = realloc(gcs.callbacks, cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        gcs.callbacks = a;
        gcs.callbacks_cap = cap;
    }
    gcs.callbacks[gcs.callbacks_len++] = (callback_entry){ fn, arg };
    return 0;
}

int ms_gc_callback_remove(ms_gc_callback fn, void *arg)
{
    for (size_t i = 0; i < gcs.callbacks_len; i++) {
        if (gcs.callbacks[i].fn == fn && gcs.callbacks[i].arg == arg) {
            for (size_t j = i + 1; j < gcs.callbacks_len; j++)
                gcs.callbacks[j - 1] = gcs.callbacks[j];
            gcs.callbacks_len--;
            if (gcs.callbacks_len == 0) {
                free(gcs.callbacks);
                gcs.callbacks = NULL;
                gcs.callbacks_cap = 0;
            }
            return 0;
        }
    }
    return -ENOENT;
}

bool ms_gc_is_tracked(const ms_object *o) { return ms__is_gc(o) && ms__gc_head_tracked(AS_GC(o)); }

int ms_gc_track(ms_object *o)
{
    if (!ms__is_gc(o))
        return -EINVAL;
    if (!ms__gc_head_tracked(AS_GC(o)))
        ms__gc_link(o);
    return 0;
}

void ms_gc_untrack(ms_object *o)
{
    if (ms__is_gc(o) && ms__gc_head_tracked(AS_GC(o)))
        ms__gc_list_remove(AS_GC(o));
}

typedef struct referrers_arg {
    const ms_object *target;
} referrers_arg;

static int visit_referrer(ms_object *op, void *arg) { return op == ((referrers_arg *)arg)->target; }

size_t ms_gc_get_referrers(const ms_object *target, ms_object **out, size_t max)
{
    ensure_init();
    referrers_arg ra = { target };
    size_t n = 0;
    for (int i = 0; i < NGEN; i++) {
        gc_head *list = &gcs.gens[i].head;
        for (gc_head *g = GC_NEXT(list); g != list; g = GC_NEXT(g)) {
            if (ms__gc_traverse(FROM_GC(g), visit_referrer, &ra)) {
                if (n < max)
                    out[n] = FROM_GC(g);
                n++;
            }
        }
    }
    return n;
}

typedef struct referents_arg {
    ms_object **out;
    size_t max, n;
} referents_arg;

static int visit_referent(ms_object *op, void *arg)
{
    referents_arg *ra = arg;
    if (ra->n < ra->max)
        ra->out[ra->n] = op;
    ra->n++;
    return 0;
}

size_t ms_gc_get_referents(const ms_object *o, ms_object **out, size_t max)
{
    referents_arg ra = { out, max, 0 };
    ms__gc_traverse((ms_object *)o, visit_referent, &ra);
    return ra.n;
}

void ms_gc_freeze(void)
{
    ensure_init();
    for (int i = 0; i < NGEN; i++)
        list_merge(&gcs.gens[i].head, &gcs.permanent);
    SET(ms__gc_counts[0], 0);
}

void ms_gc_unfreeze(void)
{
    ensure_init();
    list_merge(&gcs.permanent, &gcs.gens[NGEN - 1].head);
}

size_t ms_gc_get_freeze_count(void)
{
    ensure_init();
    return list_size(&gcs.permanent);
}

size_t ms_gc_tracked_count(int generation)
{
    ensure_init();
    if (generation >= 0 && generation < NGEN)
        return list_size(&gcs.gens[generation].head);
    size_t n = 0;
    for (int i = 0; i < NGEN; i++)
        n += list_size(&gcs.gens[i].head);
    return n;
}

/*
 * object.c — object creation, destruction through the type, and the per-type statistics.
 *
 * Entry points: ms_new_at() and ms_object_dealloc() (called by the inline ms_decref when a count reaches 0).
 *
 * Destruction and the trashcan
 *   Freeing an object drops the references it owns, which may free more objects: freeing the head of a
 *   10-million-node list would recurse 10 million times. As CPython's trashcan does, ms_object_dealloc counts
 *   how deep destructions are nested; past TRASH_DEPTH it only parks the dying object on a LIFO list and
 *   returns, and the outermost destruction empties that list in a loop. The parked object's count is 0 and
 *   nobody may take a reference any more, so the list is threaded through `refcnt`, stored negated (bit 0 of
 *   the link remembers "was tracked"): a weak reference reads any count <= 0 as dead. Parked objects are
 *   untracked first: a collection that runs while they wait must not see them.
 *   Invariant: trash_head != NULL implies trash_depth > 0 (someone up the stack will drain it).
 *
 * Type statistics
 *   Types are declared by applications as (possibly const) statics, so their counters cannot live inside the
 *   ms_type. Each type gets an entry, on its first ms_new, in chunks that never move: an agent thread reads
 *   entries [0, ntypes) without the lock while the runtime holder keeps adding. The holder finds a type's entry
 *   through a private hash map (pointer -> entry, hashtable.h) fronted by a one-entry cache, which is all it
 *   takes for the usual long runs of objects of one type. An entry holds two counters, created and destroyed; everything
 *   else (live count and bytes, the process-wide totals) is derived by the readers, so the hot paths update one
 *   counter each. Library metadata comes from libc, not the memscope heap, so heap statistics show only the
 *   application's blocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/gc.h>
#include <memscope/mem.h>
#include <memscope/object.h>

#include "gc_internal.h"
#include "hashtable.h"
#include "internal.h"

static size_t header_size(const ms_type *t) { return (t->flags & MS_TYPE_GC) ? sizeof(ms__gc_head) : 0; }

/* ---- Type registry ---------------------------------------------------------------------------------------- */

#define TYPE_CHUNK 64
#define TYPE_CHUNKS_MAX 1024 /* 65536 types */

/* Only two counters per type, so that creating and destroying an object cost one counter update each: live
 * count = created - destroyed, and every object of a type has the same size. */
typedef struct type_entry {
    const ms_type *type;
    uint64_t object_bytes; /* GC header + instance size */
    ms__counter created;
    ms__counter destroyed;
    ms__counter var_bytes; /* the variable parts of live MS_TYPE_VAR instances */
} type_entry;

static type_entry *_Atomic type_chunks[TYPE_CHUNKS_MAX];
static _Atomic size_t type_count;

/* Writer-side map type -> entry (hashtable.h), fronted by a one-entry cache. */
static const msc_ht_type type_map_type = MSC_HT_PTR_TYPE(64, &msc_libc_mem);
static msc_hashtable type_map = MSC_HASHTABLE_INIT;
static const ms_type *cached_type;
static type_entry *cached_entry;

/* The entry of t, registering t on first use. NULL on out-of-memory or when the registry is full. O(1). */
static type_entry *type_entry_slow(const ms_type *t)
{
    msc_ht_ptr_slot *slot = msc_ht_ptr_find(&type_map, &type_map_type, t);
    if (slot) {
        cached_type = t;
        cached_entry = slot->value;
        return cached_entry;
    }
    size_t n = atomic_load_explicit(&type_count, memory_order_relaxed);
    if (n / TYPE_CHUNK >= TYPE_CHUNKS_MAX || msc_ht_reserve(&type_map, &type_map_type) < 0)
        return NULL;
    type_entry *chunk = atomic_load_explicit(&type_chunks[n / TYPE_CHUNK], memory_order_relaxed);
    if (!chunk) {
        chunk = calloc(TYPE_CHUNK, sizeof(*chunk));
        if (!chunk)
            return NULL;
        atomic_store_explicit(&type_chunks[n / TYPE_CHUNK], chunk, memory_order_release);
    }
    type_entry *e = &chunk[n % TYPE_CHUNK];
    e->type = t;
    e->object_bytes = header_size(t) + t->size;
    slot = msc_ht_ptr_probe(&type_map, &type_map_type, t);
    *slot = (msc_ht_ptr_slot){t, e};
    msc_ht_added(&type_map);
    /* Publish only after the entry is filled in: readers load type_count with acquire. */
    atomic_store_explicit(&type_count, n + 1, memory_order_release);
    cached_type = t;
    cached_entry = e;
    return e;
}

static inline type_entry *type_entry_for(const ms_type *t)
{
    return MS_LIKELY(t == cached_type) ? cached_entry : type_entry_slow(t);
}

static void fill_stats(const type_entry *e, ms_type_stats *out)
{
    /* Read from another thread, the two counters are a moment apart (and, in C11 terms, unordered):
     * ms__in_use_totals reads destroyed first and never lets the difference go below 0 (it used to wrap to
     * ~2^64, which the daemon's leak suspects took for growth). */
    uint64_t created = 0, destroyed = 0;
    uint64_t live = ms__in_use_totals(&e->created, &e->destroyed, &created, &destroyed);
    out->type = e->type;
    out->name = e->type->name;
    out->live_count = live;
    out->live_bytes = live * e->object_bytes + MS__STAT_GET(e->var_bytes);
    out->created_total = created;
    out->destroyed_total = destroyed;
}

size_t ms_type_stats_count(void) { return atomic_load_explicit(&type_count, memory_order_acquire); }

int ms_type_stats_get(size_t i, ms_type_stats *out)
{
    if (i >= ms_type_stats_count())
        return -ENOENT;
    type_entry *chunk = atomic_load_explicit(&type_chunks[i / TYPE_CHUNK], memory_order_acquire);
    fill_stats(&chunk[i % TYPE_CHUNK], out);
    return 0;
}

int ms_type_stats_find(const ms_type *t, ms_type_stats *out)
{
    size_t n = ms_type_stats_count();
    for (size_t i = 0; i < n; i++) {
        type_entry *chunk = atomic_load_explicit(&type_chunks[i / TYPE_CHUNK], memory_order_acquire);
        if (chunk[i % TYPE_CHUNK].type == t) {
            fill_stats(&chunk[i % TYPE_CHUNK], out);
            return 0;
        }
    }
    return -ENOENT;
}

/* The sums over the types. O(types). */
void ms_object_stats_get(ms_object_stats *out)
{
    out->alive = out->created = out->destroyed = 0;
    size_t n = ms_type_stats_count();
    for (size_t i = 0; i < n; i++) {
        ms_type_stats ts;
        if (ms_type_stats_get(i, &ts) != 0)
            continue;
        out->alive += ts.live_count;
        out->created += ts.created_total;
        out->destroyed += ts.destroyed_total;
    }
}

/* ---- Creation ------------------------------------------------------------------------------------------- */

/* Cost: one pool allocation, a memset of the instance, a counter; plus, for tracked types, whatever automatic
 * collection this allocation triggers. */
static ms_object *new_object(const ms_type *t, size_t extra, const char *file, int line)
{
    if (!t || t->size < sizeof(ms_object) || ((uintptr_t)t & MS__OBJ_FLAGS_MASK)) {
        errno = EINVAL;
        return NULL;
    }
    type_entry *e = type_entry_for(t);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    bool gc = (t->flags & MS_TYPE_GC) != 0;
    size_t pre = header_size(t);
    if (extra > SIZE_MAX / 2 - pre - t->size) {
        errno = ENOMEM;
        return NULL;
    }
    if (gc)
        ms__gc_on_alloc();
    char *block = ms_malloc_at(pre + t->size + extra, file, line);
    if (!block) {
        if (gc)
            ms__gc_on_free();
        errno = ENOMEM;
        return NULL;
    }
    memset(block, 0, pre + t->size + extra);
    if (extra)
        MS__STAT_ADD(e->var_bytes, extra);
    ms_object *o = (ms_object *)(void *)(block + pre);
    o->refcnt = 1;
    o->type_bits = (uintptr_t)t;
    if (gc)
        ms__gc_link(o);
    MS__STAT_ADD(e->created, 1);
    return o;
}

ms_object *ms_new_at(const ms_type *t, const char *file, int line) { return new_object(t, 0, file, line); }

ms_object *ms_new_var_at(const ms_type *t, size_t extra, const char *file, int line)
{
    if (t && (!(t->flags & MS_TYPE_VAR) || !t->size_extra)) {
        errno = EINVAL;
        return NULL;
    }
    return new_object(t, extra, file, line);
}

#undef ms_new
#undef ms_new_var
ms_object *(ms_new)(const ms_type *t) { return ms_new_at(t, NULL, 0); }
ms_object *(ms_new_var)(const ms_type *t, size_t extra) { return ms_new_var_at(t, extra, NULL, 0); }

const char *ms_type_name(const ms_object *o) { return ms_type_of(o)->name; }

size_t ms_sizeof(const ms_object *o)
{
    const ms_type *t = ms_type_of(o);
    return header_size(t) + t->size + (t->size_extra ? t->size_extra(o) : 0);
}

/* ---- Destruction ---------------------------------------------------------------------------------------- */

#define TRASH_DEPTH 50

static unsigned trash_depth;
static ms_object *trash_head;

static inline void object_clear(ms_object *o, const ms_type *t)
{
    if (t->clear) {
        t->clear(o);
    } else if (t->ref_offsets) {
        for (const size_t *off = t->ref_offsets; *off; off++) {
            ms_object **field = (ms_object **)(void *)((char *)o + *off);
            MS_CLEAR(*field);
        }
    }
}

void ms__object_clear(ms_object *o) { object_clear(o, ms_type_of(o)); }

static void run_weakref_callbacks(ms_object *o)
{
    ms__wr_pending pending;
    MS__WR_PENDING_INIT(&pending);
    ms__weakref_detach_all(o, &pending, false);
    ms__weakref_run_pending(&pending);
}

/* Tears o down (count 0, already untracked; was_tracked says whether to re-track it on resurrection). */
static inline __attribute__((always_inline)) void destroy(ms_object *o, const ms_type *t, bool was_tracked)
{
    bool gc = (t->flags & MS_TYPE_GC) != 0;

    if (MS_UNLIKELY(t->finalize != NULL) && !(gc && (MS__GC_HEAD(o)->prev & MS__GC_PREV_FINALIZED))) {
        if (gc)
            MS__GC_HEAD(o)->prev |= MS__GC_PREV_FINALIZED;
        /* PEP 442: the finalizer runs on a live object (count 1); whatever count it leaves beyond ours are new
         * references, and the object lives on. */
        o->refcnt = 1;
        t->finalize(o);
        if (--o->refcnt != 0) {
            if (gc && was_tracked && !ms__gc_head_tracked(MS__GC_HEAD(o)))
                ms__gc_link(o);
            return;
        }
    }
    if (MS_UNLIKELY(o->type_bits & MS__OBJ_HAS_WEAKREFS))
        run_weakref_callbacks(o);
    object_clear(o, t);
    if (t->dealloc)
        t->dealloc(o);
    /* clear or dealloc may have created a weak reference to o: it must not outlive the memory. */
    if (MS_UNLIKELY(o->type_bits & MS__OBJ_HAS_WEAKREFS))
        run_weakref_callbacks(o);
    /* Its heap snapshot id and label go with the memory: a new object at this address is someone else. */
    if (MS_UNLIKELY(o->type_bits & MS__OBJ_HAS_SIDE))
        ms__heapgraph_forget(o);

    type_entry *e = type_entry_for(t); /* cannot fail: registered by ms_new */
    if (MS_UNLIKELY(t->flags & MS_TYPE_VAR))
        MS__STAT_SUB(e->var_bytes, t->size_extra(o));
    MS__STAT_ADD(e->destroyed, 1);
    if (gc) {
        ms__gc_on_free();
        ms_free(MS__GC_HEAD(o));
    } else {
        ms_free(o);
    }
}

void ms__object_destroyed_add(const ms_type *t, uint64_t n)
{
    type_entry *e = type_entry_for(t); /* cannot fail: registered by ms_new */
    MS__STAT_ADD(e->destroyed, n);
}

static void destroy_parked(ms_object *o, bool was_tracked) { destroy(o, ms_type_of(o), was_tracked); }

void ms_object_dealloc(ms_object *o)
{
    const ms_type *t = ms_type_of(o);
    bool tracked = false;
    if (t->flags & MS_TYPE_GC) {
        ms__gc_head *g = MS__GC_HEAD(o);
        if (ms__gc_head_tracked(g)) {
            ms__gc_list_remove(g);
            tracked = true;
        }
    }
    if (trash_depth >= TRASH_DEPTH) {
        o->refcnt = -(intptr_t)((uintptr_t)trash_head | (uintptr_t)tracked);
        trash_head = o;
        return;
    }
    trash_depth++;
    destroy(o, t, tracked);
    trash_depth--;
    if (trash_depth == 0) {
        /* Loop invariant: every object on the list has count 0 and waits for destroy(); destroying one may
         * park more, which this same loop picks up. */
        while (trash_head) {
            ms_object *p = trash_head;
            uintptr_t link = (uintptr_t)-p->refcnt;
            trash_head = (ms_object *)(link & ~(uintptr_t)1);
            p->refcnt = 0;
            trash_depth++;
            destroy_parked(p, (link & 1) != 0);
            trash_depth--;
        }
    }
}

/*
 * weakref.c — weak references.
 *
 * Objects have no slot for a weak reference list (the header is two words), so the lists live in a side table:
 * referent address -> newest weak reference, the others chained through prev/next inside the weak references.
 * The referent's MS__OBJ_HAS_WEAKREFS bit (in type_bits) says whether it has an entry, so the destruction of an
 * object without weak references costs one bit test and never touches the table.
 * Invariant: bit set <=> the table has an entry for the object <=> its list is non-empty.
 *
 * A weak reference is GC-tracked (as in CPython) so that the collector can tell whether it is itself garbage,
 * but it owns no references: the collector never needs its traverse.
 */
#include <errno.h>
#include <stdlib.h>

#include <memscope/object.h>
#include <memscope/weakref.h>

#include "gc_internal.h"
#include "hashtable.h"
#include "internal.h"

struct ms_weakref {
    MS_OBJECT_HEAD;
    ms_object *referent; /* borrowed; NULL once the referent died */
    ms_weakref_callback cb;
    void *arg;
    ms_weakref *prev, *next;  /* weak references to the same referent, newest first */
    ms_weakref *pending_next; /* in an ms__wr_pending list */
};

static void weakref_dealloc(ms_object *self);

MS__BUILTIN_TYPE(weakref_type, ms_weakref_type, is_weakref,
    .name = "weakref",
    .size = sizeof(ms_weakref),
    .flags = MS_TYPE_GC,
    .dealloc = weakref_dealloc);

/* ---- The side table: referent -> newest weak reference (hashtable.h) ------------------------------------- */

static const msc_ht_type table_type = MSC_HT_PTR_TYPE(64, &msc_libc_mem);
static msc_hashtable table = MSC_HASHTABLE_INIT;

/* o's slot; o must have the MS__OBJ_HAS_WEAKREFS bit (so it has one). */
static msc_ht_ptr_slot *slot_of(const ms_object *o) { return msc_ht_ptr_find(&table, &table_type, o); }

static ms_weakref *list_head(const ms_object *o)
{
    if (!(o->type_bits & MS__OBJ_HAS_WEAKREFS))
        return NULL;
    return slot_of(o)->value;
}

/* ---- Public ------------------------------------------------------------------------------------------------ */

ms_weakref *ms_weakref_new(ms_object *referent, ms_weakref_callback cb, void *arg)
{
    if (!referent) {
        errno = EINVAL;
        return NULL;
    }
    if (msc_ht_reserve(&table, &table_type) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    /* May run a collection, which may clear weak references but never frees the caller's referent. */
    ms_weakref *w = (ms_weakref *)ms_new_at(&weakref_type, NULL, 0);
    if (!w)
        return NULL;
    w->referent = referent;
    w->cb = cb;
    w->arg = arg;
    if (msc_ht_reserve(&table, &table_type) < 0) { /* the collection may have added entries */
        w->referent = NULL;
        ms_decref((ms_object *)w);
        errno = ENOMEM;
        return NULL;
    }
    msc_ht_ptr_slot *slot = msc_ht_ptr_probe(&table, &table_type, referent);
    if (slot->key) {
        w->next = slot->value;
        w->next->prev = w;
    } else {
        slot->key = referent;
        msc_ht_added(&table);
        referent->type_bits |= MS__OBJ_HAS_WEAKREFS;
    }
    slot->value = w;
    return w;
}

/* A referent whose count is <= 0 is being destroyed (or parked in the trashcan, see object.c): dead already. */
ms_object *ms_weakref_peek(ms_weakref *w)
{
    ms_object *o = w->referent;
    return o && o->refcnt > 0 ? o : NULL;
}

ms_object *ms_weakref_get(ms_weakref *w)
{
    ms_object *o = ms_weakref_peek(w);
    ms_xincref(o);
    return o;
}

size_t ms_weakref_count(const ms_object *o)
{
    size_t n = 0;
    for (ms_weakref *w = list_head(o); w; w = w->next)
        n++;
    return n;
}

/* A weak reference dies: leave its referent's list. */
static void weakref_dealloc(ms_object *self)
{
    ms_weakref *w = (ms_weakref *)self;
    if (!w->referent)
        return;
    if (w->next)
        w->next->prev = w->prev;
    if (w->prev) {
        w->prev->next = w->next;
    } else {
        msc_ht_ptr_slot *slot = slot_of(w->referent);
        if (w->next) {
            slot->value = w->next;
        } else {
            msc_ht_remove(&table, &table_type, slot);
            w->referent->type_bits &= ~MS__OBJ_HAS_WEAKREFS;
        }
    }
    w->referent = NULL;
}

/* ---- For the object lifecycle and the collector --------------------------------------------------------- */

void ms__weakref_detach_all(ms_object *o, ms__wr_pending *pending, bool skip_collecting)
{
    if (!(o->type_bits & MS__OBJ_HAS_WEAKREFS))
        return;
    msc_ht_ptr_slot *slot = slot_of(o);
    ms_weakref *w = slot->value;
    msc_ht_remove(&table, &table_type, slot);
    o->type_bits &= ~MS__OBJ_HAS_WEAKREFS;
    while (w) {
        ms_weakref *next = w->next;
        w->referent = NULL;
        w->prev = w->next = NULL;
        if (w->cb && !(skip_collecting && ms__gc_head_collecting(MS__GC_HEAD(w)))) {
            ms_incref((ms_object *)w);
            w->pending_next = NULL;
            *pending->tail = w;
            pending->tail = &w->pending_next;
        }
        w = next;
    }
}

size_t ms__weakref_run_pending(ms__wr_pending *pending)
{
    size_t freed = 0;
    ms_weakref *w = pending->head;
    MS__WR_PENDING_INIT(pending);
    while (w) {
        ms_weakref *next = w->pending_next;
        w->pending_next = NULL;
        w->cb(w, w->arg);
        if (ms_refcount((ms_object *)w) == 1)
            freed++;
        ms_decref((ms_object *)w);
        w = next;
    }
    return freed;
}

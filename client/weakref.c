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

static const ms_type weakref_type = {
    .name = "weakref",
    .size = sizeof(ms_weakref),
    .flags = MS_TYPE_GC,
    .dealloc = weakref_dealloc,
};

const ms_type *ms_weakref_type(void) { return &weakref_type; }

/* ---- The side table: open addressing, linear probing, backward-shift deletion, load <= 1/2 --------------- */

typedef struct wr_slot {
    ms_object *key;
    ms_weakref *head;
} wr_slot;

static wr_slot *table;
static size_t table_cap; /* 0 or a power of two */
static size_t table_used;

static size_t slot_of(const ms_object *o) { return (size_t)(((uintptr_t)o >> 4) * 0x9E3779B97F4A7C15ull); }

/* Index of o's slot, or of the empty slot where it would go. Needs table_cap > 0. */
static size_t table_find(const ms_object *o)
{
    size_t mask = table_cap - 1;
    size_t i = slot_of(o) & mask;
    while (table[i].key && table[i].key != o)
        i = (i + 1) & mask;
    return i;
}

static int table_grow(void)
{
    size_t cap = table_cap ? table_cap * 2 : 64;
    wr_slot *t = calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < table_cap; i++) {
        if (!table[i].key)
            continue;
        size_t j = slot_of(table[i].key) & (cap - 1);
        while (t[j].key)
            j = (j + 1) & (cap - 1);
        t[j] = table[i];
    }
    free(table);
    table = t;
    table_cap = cap;
    return 0;
}

static void table_delete_at(size_t i)
{
    size_t mask = table_cap - 1;
    table[i].key = NULL;
    table[i].head = NULL;
    table_used--;
    /* Backward shift: move later members of the probe run into the hole when their home allows it. */
    for (size_t j = (i + 1) & mask; table[j].key; j = (j + 1) & mask) {
        size_t home = slot_of(table[j].key) & mask;
        /* j's entry may move to i iff home is not cyclically in (i, j]. */
        bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            table[i] = table[j];
            table[j].key = NULL;
            table[j].head = NULL;
            i = j;
        }
    }
}

static ms_weakref *list_head(const ms_object *o)
{
    if (!(o->type_bits & MS__OBJ_HAS_WEAKREFS))
        return NULL;
    return table[table_find(o)].head;
}

/* ---- Public ------------------------------------------------------------------------------------------------ */

ms_weakref *ms_weakref_new(ms_object *referent, ms_weakref_callback cb, void *arg)
{
    if (!referent) {
        errno = EINVAL;
        return NULL;
    }
    if ((table_used + 1) * 2 > table_cap && table_grow() < 0) {
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
    if ((table_used + 1) * 2 > table_cap && table_grow() < 0) { /* the collection may have added entries */
        w->referent = NULL;
        ms_decref((ms_object *)w);
        errno = ENOMEM;
        return NULL;
    }
    size_t i = table_find(referent);
    if (table[i].key) {
        w->next = table[i].head;
        w->next->prev = w;
    } else {
        table[i].key = referent;
        table_used++;
        referent->type_bits |= MS__OBJ_HAS_WEAKREFS;
    }
    table[i].head = w;
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
        size_t i = table_find(w->referent);
        if (w->next) {
            table[i].head = w->next;
        } else {
            table_delete_at(i);
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
    size_t i = table_find(o);
    ms_weakref *w = table[i].head;
    table_delete_at(i);
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

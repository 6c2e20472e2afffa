/*
 * client/list_internal.h — the list's layout (list.c owns it; read its invariants there), and the one visit the
 * collector's hot walks make of a list's items without a call (gc.c, visit_refs). Nothing outside list.c reads
 * the fields: the collector's teardown of garbage lists goes through the type's detach_refs like any other
 * container's (memscope/object.h), only inlined.
 */
#ifndef MEMSCOPE_CLIENT_LIST_INTERNAL_H
#define MEMSCOPE_CLIENT_LIST_INTERNAL_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/list_internal.h is private to libmemscope"
#endif

#include <stddef.h>

#include <memscope/object.h>

#include "gc_internal.h"

#define MS__LIST_INLINE_SLOTS 2
typedef struct ms__list_object {
    MS_OBJECT_HEAD;
    size_t len;
    size_t cap; /* 0: the items are inline (room for MS__LIST_INLINE_SLOTS); else the separate array's slots */
    union {
        ms_object *inline_items[MS__LIST_INLINE_SLOTS]; /* cap == 0 */
        ms_object **items;                              /* cap > 0 */
    } u;
} ms__list_object;

_Static_assert(sizeof(ms__gc_head) + sizeof(ms__list_object) == 64, "a small list is one cache line");

static inline ms_object **ms__list_items(const ms__list_object *l)
{
    return l->cap ? l->u.items : (ms_object **)l->u.inline_items;
}

/*
 * Calls fn(item, arg) on every item of list op, in order (items are never NULL), ignoring fn's result: the
 * collector's visit. Always inlined, so that the collector's fn is inlined too. The inline case is unrolled: a
 * loop of one or two trips cost 1 ns per list of the GC benchmark's two-item lists (bench/gc), and this exact
 * shape of branches measured best (testing the item count before the layout cost 4% at 100,000 lists).
 */
static inline __attribute__((always_inline)) void ms__list_visit(const ms_object *op, int (*fn)(ms_object *, void *),
                                                                 void *arg)
{
    _Static_assert(MS__LIST_INLINE_SLOTS == 2, "the inline case below visits at most two items");
    const ms__list_object *l = (const ms__list_object *)(const void *)op;
    size_t n = l->len;
    if (!l->cap) {
        if (n) {
            fn(l->u.inline_items[0], arg);
            if (n == 2)
                fn(l->u.inline_items[1], arg);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            fn(l->u.items[i], arg);
    }
}

/*
 * The list type's detach_refs (memscope/object.h), inline: the list lets go of its items without dropping them.
 * Inline items are handed over where they are (they stay readable inside the object until the collector frees
 * it); a separate array is the block to free afterwards. list.c declares it as the type's hook; the collector
 * calls it directly for lists, its commonest garbage, so that the call is inlined. O(1).
 */
static inline ms_object **ms__list_detach_refs(ms_object *op, size_t *n, void **buffer)
{
    ms__list_object *l = (ms__list_object *)(void *)op;
    ms_object **items = ms__list_items(l);
    *n = l->len;
    *buffer = l->cap ? (void *)items : NULL;
    l->len = 0;
    l->cap = 0; /* the inline slots keep their stale pointers: garbage past len */
    return items;
}

#endif /* MEMSCOPE_CLIENT_LIST_INTERNAL_H */

/*
 * list.c — the list type: a growable array of object references (CPython's Objects/listobject.c).
 *
 * Entry points: list_grow() (where the items live) and list_clear() (how a list lets go of its items).
 *
 * Layout: {header, len, cap, items | inline_items[2]}, 48 bytes: with the GC header in front, a list of up to two
 * items is exactly one 64-byte block, i.e. one cache line. The first two items live inside the object, in the same
 * 16 bytes that hold the pointer to a separate ms_malloc'd array once the list grows past them:
 *
 *     0        16       24     32    40    48                  64
 *     +--------+--------+------+-----+-----+-------------------+
 *     | GC hdr | refcnt | type | len | cap | inline_items[2]   |   cap == 0
 *     +--------+--------+------+-----+-----+-------------------+
 *                                          | items --+  (unused)  cap > 0
 *                                                    +--> separate array of cap slots
 *
 * Why: the cycle collector reads every tracked object's header and items in each of its scans; a small list that
 * fills exactly one line costs one cache line per scan instead of two (the former 96-byte layout with 4 inline
 * slots straddled lines), and its items need no load of an array pointer, so gc.c visits them unrolled. On the GC
 * benchmark's two-item lists (bench/gc, 100,000 lists) a full collection went from 7.5 to 6.4 ns per list when
 * reachable (the layout alone: 7.4; unrolled: 6.4) and from 13.5 to 12.2 as garbage; at 3M lists, 8.6 -> 6.7 and
 * 15.9 -> 13.0. The price: a list of 3 or 4 items has a separate array (CPython's layout always has one; it
 * allocates 4 slots on the first append), and an empty list takes 64 bytes (CPython: 56). ms_sizeof() reports the
 * real size: 64, plus 8 bytes per slot of a separate array.
 *
 * Invariants
 *   - With items = ms__list_items(l) and room = cap ? cap : INLINE_SLOTS: len <= room; items[0 .. len) are
 *     non-NULL owned references; items[len .. room) are unused garbage.
 *   - cap == 0: the items are inline; cap > 0: u.items is a separate block of cap (> INLINE_SLOTS) slots.
 *   - Whenever a reference is dropped (which may run arbitrary code: finalizers, weakref callbacks, and through
 *     them any list operation on this very list), the list is already in a consistent state that no longer
 *     holds that reference.
 *
 * Growth past the inline slots follows CPython 3.11's list_resize: new capacity = (n + n/8 + 6) & ~3, i.e. 8, 16,
 * 24, 32, 40, 52, ... (CPython: 0, 4, 8, 16, ...), so a list of 100,000 appended items resizes about 100 times
 * and over-allocates by about 12%. Every resize is an ms_malloc_at/ms_realloc_at() at the caller's file:line, so
 * tracing charges the item array to the line that appends (the object itself is charged to the line that created
 * the list).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <memscope/builtins.h>
#include <memscope/mem.h>
#include <memscope/object.h>

#include "internal.h"
#include "list_internal.h"

#define INLINE_SLOTS MS__LIST_INLINE_SLOTS

/* The layout is in list_internal.h (ms__list_object), for the collector's inline visit of the items. */
typedef ms__list_object list_object;

static inline size_t room(const list_object *l) { return l->cap ? l->cap : INLINE_SLOTS; }

static int list_traverse(ms_object *self, ms_visit_fn visit, void *arg)
{
    list_object *l = (list_object *)self;
    /* Visit by index, re-reading len: visit never changes the list, but this costs nothing and is robust. */
    for (size_t i = 0; i < l->len; i++)
        MS_VISIT(ms__list_items(l)[i]);
    return 0;
}

/*
 * Drops every item and frees the array. Idempotent, as object.h requires of clear(). The items are detached from
 * the list before any reference is dropped (inline ones are copied out first: code run by the decrefs may append
 * to this list and so reuse the inline slots); if that code appends to this list again (possible while the
 * collector clears a cycle), the loop lets go of the new items too, so the list ends empty. O(len). Cannot fail.
 */
static void list_clear(ms_object *self)
{
    list_object *l = (list_object *)self;
    while (l->len || l->cap) {
        size_t n = l->len;
        ms_object *copy[INLINE_SLOTS];
        bool separate = l->cap != 0;
        if (!separate)
            memcpy(copy, l->u.inline_items, n * sizeof *copy);
        ms_object **items = separate ? l->u.items : copy;
        l->len = 0;
        l->cap = 0;
        /* Drop from the end, as CPython's list_clear does. */
        while (n > 0)
            ms_decref(items[--n]);
        if (separate)
            ms_free(items);
    }
}

/* The collector's teardown of a garbage list (detach_refs): list_internal.h, where the collector inlines it. */
static ms_object **list_detach_refs(ms_object *self, size_t *n, void **buffer)
{
    return ms__list_detach_refs(self, n, buffer);
}

static size_t list_size_extra(const ms_object *self)
{
    const list_object *l = (const list_object *)self;
    return l->cap * sizeof(ms_object *);
}

MS__BUILTIN_TYPE(list_type, ms_list_type, is_list,
    .name = "list",
    .size = sizeof(list_object),
    .flags = MS_TYPE_GC,
    .traverse = list_traverse,
    .clear = list_clear,
    /* The collector walks the items inline instead of calling list_traverse (gc.c, visit_refs), and tears
     * garbage lists down through detach_refs. */
    .detach_refs = list_detach_refs,
    /* No dealloc: clear() already freed the item array (it runs before dealloc would). */
    /* size_extra: a separate item array; the inline slots are part of .size. */
    .size_extra = list_size_extra);

ms_object *ms_list_new_at(const char *file, int line) { return ms_new_at(&list_type, file, line); }

ms_object *(ms_list_new)(void) { return ms_list_new_at(NULL, 0); }

/* Makes room for one more item in a full list: a separate array that grows as CPython's. 0 or -ENOMEM (the list
 * unchanged). Amortized O(1). */
static int list_grow(list_object *l, const char *file, int line)
{
    size_t n = l->len + 1;
    size_t cap = (n + (n >> 3) + 6) & ~(size_t)3; /* > INLINE_SLOTS: n > INLINE_SLOTS here */
    if (cap < n || cap > SIZE_MAX / sizeof(ms_object *))
        return -ENOMEM;
    ms_object **items;
    if (l->cap == 0) {
        items = ms_malloc_at(cap * sizeof(ms_object *), file, line);
        if (items)
            memcpy(items, l->u.inline_items, l->len * sizeof(ms_object *));
    } else {
        items = ms_realloc_at(l->u.items, cap * sizeof(ms_object *), file, line);
    }
    if (!items)
        return -ENOMEM;
    l->u.items = items;
    l->cap = cap;
    return 0;
}

int ms_list_append_at(ms_object *list, ms_object *item, const char *file, int line)
{
    if (!is_list(list) || !item)
        return -EINVAL;
    list_object *l = (list_object *)list;
    if (l->len == room(l)) {
        int rc = list_grow(l, file, line);
        if (rc < 0)
            return rc;
    }
    ms_incref(item);
    ms__list_items(l)[l->len++] = item;
    return 0;
}

int(ms_list_append)(ms_object *list, ms_object *item) { return ms_list_append_at(list, item, NULL, 0); }

int ms_list_append_take_at(ms_object *list, ms_object *item, const char *file, int line)
{
    if (!item)
        return -ENOMEM;
    int rc = ms_list_append_at(list, item, file, line);
    ms_decref(item); /* the list holds its own reference on success; on failure this frees the item */
    return rc;
}

int(ms_list_append_take)(ms_object *list, ms_object *item) { return ms_list_append_take_at(list, item, NULL, 0); }

ms_object *ms_list_get(const ms_object *list, size_t i)
{
    if (!is_list(list))
        return NULL;
    const list_object *l = (const list_object *)list;
    return i < l->len ? ms__list_items(l)[i] : NULL;
}

int ms_list_set_at(ms_object *list, size_t i, ms_object *item, const char *file, int line)
{
    (void)file;
    (void)line;
    if (!is_list(list) || !item)
        return -EINVAL;
    list_object *l = (list_object *)list;
    if (i >= l->len)
        return -ERANGE;
    ms_incref(item);
    ms_object **items = ms__list_items(l);
    ms_object *old = items[i];
    items[i] = item;
    ms_decref(old); /* last: the list is consistent whatever this runs */
    return 0;
}

int(ms_list_set)(ms_object *list, size_t i, ms_object *item) { return ms_list_set_at(list, i, item, NULL, 0); }

ms_object *ms_list_pop(ms_object *list)
{
    if (!is_list(list))
        return NULL;
    list_object *l = (list_object *)list;
    if (l->len == 0)
        return NULL;
    return ms__list_items(l)[--l->len]; /* the list's reference passes to the caller */
}

void ms_list_clear(ms_object *list)
{
    if (is_list(list))
        list_clear(list);
}

ssize_t ms_list_len(const ms_object *list)
{
    return is_list(list) ? (ssize_t)((const list_object *)list)->len : -EINVAL;
}

/*
 * list.c — the list type: a growable array of object references (CPython's Objects/listobject.c).
 *
 * Entry points: list_grow() (where the items live) and list_clear() (how a list lets go of its items).
 *
 * Layout: {header, len, cap, items, inline_items[4]}. The first four slots live inside the object; a list that
 * grows past them moves its items to a separate ms_malloc'd array:
 *
 *     GC header | refcnt | type | len | cap | items --+      items == NULL            (cap 0, never appended)
 *                                                     |      items == inline_items    (cap 4)
 *                                  inline_items[4] <--+      items == separate array  (cap > 4)
 *
 * Why inline: CPython's first growth step allocates exactly 4 slots (32 bytes) in a block of their own. Keeping
 * them in the object costs the same bytes for 1 to 4 items (ms_sizeof = 88, as CPython's sys.getsizeof([1])) in
 * one block instead of two, and saves the cycle collector a dependent cache miss per small list in each of its
 * scans: on the GC benchmark's two-item lists (bench/gc) a full collection takes 12 instead of 20 ns per list.
 * The price: an empty list takes 88 bytes (CPython: 56), and a list past 4 items carries 32 unused bytes.
 * ms_sizeof() reports the real size: 88, plus 8 bytes per slot of a separate array.
 *
 * Invariants
 *   - len <= cap; items[0 .. len) are non-NULL owned references; items[len .. cap) are unused garbage.
 *   - cap == 0 <=> items == NULL; cap == INLINE_SLOTS <=> items == inline_items; otherwise items is a separate
 *     block of cap slots, and inline_items is unused.
 *   - Whenever a reference is dropped (which may run arbitrary code: finalizers, weakref callbacks, and through
 *     them any list operation on this very list), the list is already in a consistent state that no longer
 *     holds that reference.
 *
 * Growth follows CPython 3.11's list_resize: new capacity = (n + n/8 + 6) & ~3, i.e. 0, 4, 8, 16, 24, 32, 40, 52,
 * ... so a list of 100,000 appended items resizes about 100 times and over-allocates by about 12%. Every resize is
 * an ms_malloc_at/ms_realloc_at() at the caller's file:line, so tracing charges the item array to the line that
 * appends (the object itself is charged to the line that created the list).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <memscope/builtins.h>
#include <memscope/mem.h>
#include <memscope/object.h>

#include "gc_internal.h"
#include "internal.h"

/* CPython's first capacity: (1 + 0 + 6) & ~3. */
#define INLINE_SLOTS MS__LIST_INLINE_SLOTS

/* The layout is in gc_internal.h (ms__list_object): the collector's teardown of garbage empties lists itself. */
typedef ms__list_object list_object;

static int list_traverse(ms_object *self, ms_visit_fn visit, void *arg)
{
    list_object *l = (list_object *)self;
    /* Visit by index, re-reading len: visit never changes the list, but this costs nothing and is robust. */
    for (size_t i = 0; i < l->len; i++)
        MS_VISIT(l->items[i]);
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
    while (l->items) {
        ms_object **items = l->items;
        size_t n = l->len;
        ms_object *copy[INLINE_SLOTS];
        bool separate = items != l->inline_items;
        if (!separate) {
            memcpy(copy, items, n * sizeof *copy);
            items = copy;
        }
        l->items = NULL;
        l->len = 0;
        l->cap = 0;
        /* Drop from the end, as CPython's list_clear does. */
        while (n > 0)
            ms_decref(items[--n]);
        if (separate)
            ms_free(items);
    }
}

static size_t list_size_extra(const ms_object *self)
{
    const list_object *l = (const list_object *)self;
    return l->cap > INLINE_SLOTS ? l->cap * sizeof(ms_object *) : 0;
}

static const ms_type list_type = {
    .name = "list",
    .size = sizeof(list_object),
    .flags = MS_TYPE_GC,
    .traverse = list_traverse,
    .clear = list_clear,
    /* The collector walks items[0..len) inline instead of calling list_traverse (gc.c, visit_refs). */
    .ref_array_offset = offsetof(list_object, items),
    .ref_array_len_offset = offsetof(list_object, len),
    /* No dealloc: clear() already freed the item array (it runs before dealloc would). */
    /* size_extra: a separate item array; the inline slots are part of .size. */
    .size_extra = list_size_extra,
};

const ms_type *ms_list_type(void) { return &list_type; }

/* ms_list_check() without the call through ms_list_type(). */
static inline bool is_list(const ms_object *o) { return o && ms_type_of(o) == &list_type; }

ms_object *ms_list_new_at(const char *file, int line) { return ms_new_at(&list_type, file, line); }

ms_object *(ms_list_new)(void) { return ms_list_new_at(NULL, 0); }

/* Makes room for one more item: the inline slots first, then a separate array that grows as CPython's.
 * 0 or -ENOMEM (the list unchanged). Amortized O(1). */
static int list_grow(list_object *l, const char *file, int line)
{
    size_t n = l->len + 1;
    size_t cap = (n + (n >> 3) + 6) & ~(size_t)3;
    if (cap <= INLINE_SLOTS) {
        /* Only from cap 0: a list with inline slots has room for INLINE_SLOTS items. */
        l->items = l->inline_items;
        l->cap = INLINE_SLOTS;
        return 0;
    }
    if (cap < n || cap > SIZE_MAX / sizeof(ms_object *))
        return -ENOMEM;
    ms_object **items;
    if (l->items == l->inline_items) {
        items = ms_malloc_at(cap * sizeof(ms_object *), file, line);
        if (items)
            memcpy(items, l->inline_items, l->len * sizeof(ms_object *));
    } else {
        items = ms_realloc_at(l->items, cap * sizeof(ms_object *), file, line);
    }
    if (!items)
        return -ENOMEM;
    l->items = items;
    l->cap = cap;
    return 0;
}

int ms_list_append_at(ms_object *list, ms_object *item, const char *file, int line)
{
    if (!is_list(list) || !item)
        return -EINVAL;
    list_object *l = (list_object *)list;
    if (l->len == l->cap) {
        int rc = list_grow(l, file, line);
        if (rc < 0)
            return rc;
    }
    ms_incref(item);
    l->items[l->len++] = item;
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
    return i < l->len ? l->items[i] : NULL;
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
    ms_object *old = l->items[i];
    l->items[i] = item;
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
    return l->items[--l->len]; /* the list's reference passes to the caller */
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

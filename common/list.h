/*
 * common/list.h — the one intrusive doubly linked list of memscope (libuv's queue.h, with types).
 *
 * A list is a circular chain through a sentinel head; an element embeds an msc_list node and is recovered from
 * it with msc_list_entry(). Nothing here allocates, fails or knows the element type.
 *
 *      head <-> a <-> b <-> c <-> (head)          empty: head.next == head.prev == &head
 *
 * Invariants: for every node n on a list, n->next->prev == n and n->prev->next == n. A node that is on no list
 * points at itself (after msc_list_init() or msc_list_remove()), so removing it again is harmless.
 * Header-only (static inline): client/, daemon/ and cli/ each compile it; it defines no symbol. O(1) throughout.
 */
#ifndef MEMSCOPE_COMMON_LIST_H
#define MEMSCOPE_COMMON_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct msc_list {
    struct msc_list *prev, *next;
} msc_list;

/* The element of type `type` whose member `field` is the node `node`. */
#define msc_list_entry(node, type, field) ((type *)(void *)((char *)(node) - offsetof(type, field)))

/* Walks the nodes of list `head` front to back; `it` is an msc_list *. Safe against removing `it` when `next`
 * is used (msc_list_foreach_safe): the walk has already read the following node. */
#define msc_list_foreach(it, head) for (msc_list *it = (head)->next; it != (head); it = it->next)
#define msc_list_foreach_safe(it, next, head)                                                                  \
    for (msc_list *it = (head)->next, *next = it->next; it != (head); it = next, next = it->next)

static inline void msc_list_init(msc_list *n)
{
    n->prev = n->next = n;
}

static inline bool msc_list_empty(const msc_list *head)
{
    return head->next == head;
}

/* True when node n is on some list (it was inserted and not removed since). */
static inline bool msc_list_linked(const msc_list *n)
{
    return n->next != n;
}

static inline msc_list *msc_list_first(const msc_list *head)
{
    return head->next == head ? NULL : head->next;
}

static inline msc_list *msc_list_last(const msc_list *head)
{
    return head->prev == head ? NULL : head->prev;
}

/* The node after n on list head, or NULL at the end. */
static inline msc_list *msc_list_next(const msc_list *head, const msc_list *n)
{
    return n->next == head ? NULL : n->next;
}

static inline void msc_list_insert_after(msc_list *at, msc_list *n)
{
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
}

static inline void msc_list_push_front(msc_list *head, msc_list *n)
{
    msc_list_insert_after(head, n);
}

static inline void msc_list_push_back(msc_list *head, msc_list *n)
{
    msc_list_insert_after(head->prev, n);
}

/* Takes n off its list and leaves it pointing at itself; a node on no list is left as it is. */
static inline void msc_list_remove(msc_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#endif /* MEMSCOPE_COMMON_LIST_H */

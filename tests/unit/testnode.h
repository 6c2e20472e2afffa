/*
 * testnode.h — the node of the object, collector, weak reference and agent tests: a struct with two owned
 * references (next, other) and a value, the traverse and clear that callback-based types use, the offsets that
 * fixed-layout types use (each test file declares the ms_types it needs from these), and the helpers every such
 * file wanted: a checked constructor and the type statistics.
 */
#ifndef MEMSCOPE_TESTS_TESTNODE_H
#define MEMSCOPE_TESTS_TESTNODE_H

#include <stddef.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *next;  /* strong; may hold an ms_weakref */
    ms_object *other; /* strong */
    long value;
} node;

static inline int node_traverse(ms_object *self, ms_visit_fn visit, void *arg)
{
    MS_VISIT(((node *)self)->next);
    MS_VISIT(((node *)self)->other);
    return 0;
}

static inline void node_clear(ms_object *self)
{
    MS_CLEAR(((node *)self)->next);
    MS_CLEAR(((node *)self)->other);
}

/* For fixed-layout types: every reference a node owns. */
static const size_t node_refs[] = {offsetof(node, next), offsetof(node, other), 0};

/* A new node of type t (a node-sized type) with the given value; the test fails if it cannot be made. */
static inline node *new_node(const ms_type *t, long value)
{
    node *n = (node *)ms_new(t);
    cr_assert_not_null(n);
    n->value = value;
    return n;
}

/* a.next = b; b.next = a (a cycle), and the caller keeps its references to both. */
static inline void link_pair(node *a, node *b)
{
    ms_incref((ms_object *)b);
    a->next = (ms_object *)b;
    ms_incref((ms_object *)a);
    b->next = (ms_object *)a;
}

/* The statistics of type t (zeroes while no object of it was made). */
static inline ms_type_stats type_stats(const ms_type *t)
{
    ms_type_stats ts;
    memset(&ts, 0, sizeof ts);
    ms_type_stats_find(t, &ts);
    return ts;
}

/* Objects of type t alive now. */
static inline uint64_t live(const ms_type *t) { return type_stats(t).live_count; }

#endif /* MEMSCOPE_TESTS_TESTNODE_H */

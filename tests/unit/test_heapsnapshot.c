/*
 * test_heapsnapshot.c — the heap graph walk (client/heapgraph.c) on graphs with a known answer: chains, diamonds,
 * cycles held by one root or only weakly, labelled roots, objects with several roots, dicts and lists and their
 * edge names, external_refs, stable ids; ms_root_name's errors; -EBUSY inside a collection; the .heapsnapshot that
 * ms_heapsnapshot_write leaves, read back with cJSON; the wire image through msc_hg_parse, and hostile wire images
 * refused by it. Every test ends with nothing leaked.
 *
 * The graph is read through the library's internal builder (heapgraph_internal.h), objects are found in it by
 * their node id (ms__heapgraph_id_of).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "heapgraph_internal.h"
#include "leakcheck.h"
#include "testnode.h"

static const char *const node_names[] = {"next", "other"};
/* Named fields, fixed layout. */
static const ms_type named_type = {
    .name = "HNode", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs, .ref_names = node_names};
/* Fields without names. */
static const ms_type plain_type = {
    .name = "HPlain", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs};
/* Only a traverse. */
static const ms_type trav_type = {.name = "HTrav", .size = sizeof(node), .flags = MS_TYPE_GC,
                                  .traverse = node_traverse, .clear = node_clear};
/* Not tracked, but it owns references. */
static const ms_type leaf_type = {.name = "HLeaf", .size = sizeof(node), .ref_offsets = node_refs,
                                  .ref_names = node_names};

LEAK_CHECKED_SUITE(heapsnapshot);

static void no_leaks(void)
{
    ms_gc_enable();
    leak_check(leak_start);
}

/* ---- Reading a graph ------------------------------------------------------------------------------------------ */

typedef struct graph {
    ms__heapgraph *hg;
    const msc_hg *g;
    uint32_t *first; /* first[i]: index of node i's first edge; first[node_count] = edge_count */
} graph;

static void *finish_thread(void *hg) { return (void *)(intptr_t)ms__heapgraph_finish(hg); }

/* A graph of the heap now: its walk with the memory of a reserve (the agent's way) or without (the one of
 * ms_heapsnapshot_write), finished on this thread or, as the agent does, on another one. */
static graph snap_as(bool reserve, bool other_thread)
{
    graph gr = {0};
    ms__heapgraph_reserve *rs = reserve ? ms__heapgraph_reserve_new() : NULL;
    cr_assert(!reserve || rs, "a reserve");
    cr_assert_eq(ms__heapgraph_build(rs, &gr.hg), 0);
    ms__heapgraph_reserve_free(rs);
    if (other_thread) {
        pthread_t t;
        void *rc;
        cr_assert_eq(pthread_create(&t, NULL, finish_thread, gr.hg), 0);
        cr_assert_eq(pthread_join(t, &rc), 0);
        cr_assert_eq((intptr_t)rc, 0);
    } else {
        cr_assert_eq(ms__heapgraph_finish(gr.hg), 0);
    }
    cr_assert_eq(ms__heapgraph_finish(gr.hg), 0, "a second finish changes nothing");
    gr.g = &gr.hg->g;
    gr.first = malloc((gr.g->node_count + 1) * sizeof *gr.first);
    cr_assert_not_null(gr.first);
    uint32_t at = 0;
    for (uint32_t i = 0; i < gr.g->node_count; i++) {
        gr.first[i] = at;
        at += gr.g->nodes[i].edge_count;
    }
    gr.first[gr.g->node_count] = at;
    cr_assert_eq(at, gr.g->edge_count, "the nodes own every edge");
    return gr;
}

static graph snap(void) { return snap_as(false, false); }

static void unsnap(graph *gr)
{
    ms__heapgraph_free(gr->hg);
    free(gr->first);
}

/* Node index of o (by its id); the test fails when o is not in the graph. */
static uint32_t node_at(const graph *gr, const void *o)
{
    uint32_t id = ms__heapgraph_id_of(o);
    cr_assert_neq(id, 0, "the object has an id");
    for (uint32_t i = 2; i < gr->g->node_count; i++)
        if (gr->g->nodes[i].id == id)
            return i;
    cr_assert_fail("no node has id %u", id);
    return 0;
}

static const msc_hg_node *node_of(const graph *gr, const void *o) { return &gr->g->nodes[node_at(gr, o)]; }

static bool str_is(const graph *gr, uint32_t s, const char *want)
{
    size_t len;
    const char *p = msc_hg_string(gr->g, s, &len);
    return len == strlen(want) && memcmp(p, want, len) == 0;
}

/* The nth edge from node `from` to node `to` (n from 0), or NULL. */
static const msc_hg_edge *nth_edge(const graph *gr, uint32_t from, uint32_t to, int n)
{
    for (uint32_t k = gr->first[from]; k < gr->first[from + 1]; k++)
        if (gr->g->edges[k].to == to && n-- == 0)
            return &gr->g->edges[k];
    return NULL;
}

static const msc_hg_edge *edge(const graph *gr, uint32_t from, uint32_t to) { return nth_edge(gr, from, to, 0); }

static int edges_between(const graph *gr, uint32_t from, uint32_t to)
{
    int n = 0;
    while (nth_edge(gr, from, to, n))
        n++;
    return n;
}

/* The edge from a to b exists, has type `type` and (for named types) name `name`, (for elements) index. */
static void expect_edge(const graph *gr, const void *a, const void *b, uint32_t type, const char *name,
                        uint32_t index)
{
    const msc_hg_edge *e = edge(gr, node_at(gr, a), node_at(gr, b));
    cr_assert_not_null(e, "an edge %s -> %s", ms_type_name(a), ms_type_name(b));
    cr_expect_eq(e->type, type, "edge type %u, want %u", e->type, type);
    if (type == MSC_HG_EDGE_ELEMENT)
        cr_expect_eq(e->name_or_index, index);
    else
        cr_expect(str_is(gr, e->name_or_index, name), "edge named '%s'", name);
}

static bool is_root(const graph *gr, const void *o) { return edge(gr, MSC_HG_ROOT, node_at(gr, o)) != NULL; }
static bool is_unreachable(const graph *gr, const void *o)
{
    return edge(gr, MSC_HG_UNREACHABLE, node_at(gr, o)) != NULL;
}

/* The invariants of every graph: synthetic nodes 0 and 1, odd ids, node 0 -> node 1, every object exactly once
 * either reachable from a root or under node 1. */
static void expect_well_formed(const graph *gr)
{
    const msc_hg *g = gr->g;
    cr_assert_geq(g->node_count, 2);
    cr_expect_eq(g->nodes[0].type, MSC_HG_NODE_SYNTHETIC);
    cr_expect_eq(g->nodes[1].type, MSC_HG_NODE_SYNTHETIC);
    cr_expect(str_is(gr, g->nodes[0].name, "(roots)"));
    cr_expect(str_is(gr, g->nodes[1].name, "(unreachable)"));
    cr_expect_eq(g->nodes[0].id, 1);
    cr_expect_eq(g->nodes[1].id, 3);
    cr_expect(str_is(gr, 0, "<dummy>"));
    cr_expect_not_null(edge(gr, 0, 1), "the root reaches (unreachable)");
    for (uint32_t i = 2; i < g->node_count; i++) {
        cr_expect_eq(g->nodes[i].type, MSC_HG_NODE_OBJECT);
        cr_expect(g->nodes[i].id >= 5 && g->nodes[i].id % 2 == 1, "object ids are odd, from 5");
        for (uint32_t j = 2; j < i; j++)
            cr_assert_neq(g->nodes[i].id, g->nodes[j].id, "ids are unique");
    }
    for (uint32_t k = 0; k < g->edge_count; k++) {
        cr_expect_lt(g->edges[k].to, g->node_count);
        if (g->edges[k].type != MSC_HG_EDGE_ELEMENT)
            cr_expect_lt(g->edges[k].name_or_index, g->string_count);
    }
}

static node *mk(const ms_type *t) { return new_node(t, 0); }
#define O(p) ((ms_object *)(p))

/* ---- Graphs with a known answer ----------------------------------------------------------------------------- */

CHECKED_TEST(heapsnapshot, a_chain_has_one_root)
{
    node *a = mk(&named_type), *b = mk(&named_type), *c = mk(&named_type);
    a->next = O(b);
    b->next = O(c); /* the chain owns b and c now */
    graph gr = snap();
    expect_well_formed(&gr);
    cr_expect_eq(gr.g->node_count, 2 + 3);
    cr_expect_eq(gr.g->nodes[0].edge_count, 2, "a and (unreachable)");
    cr_expect_eq(gr.g->nodes[1].edge_count, 0);
    cr_expect(is_root(&gr, a));
    cr_expect_not(is_root(&gr, b));
    cr_expect_not(is_root(&gr, c));
    cr_expect_eq(node_of(&gr, a)->external_refs, 1);
    cr_expect_eq(node_of(&gr, b)->external_refs, 0);
    cr_expect_eq(node_of(&gr, c)->external_refs, 0);
    expect_edge(&gr, a, b, MSC_HG_EDGE_PROPERTY, "next", 0);
    expect_edge(&gr, b, c, MSC_HG_EDGE_PROPERTY, "next", 0);
    cr_expect_eq(node_of(&gr, c)->edge_count, 0);
    cr_expect_eq(node_of(&gr, a)->self_size, ms_sizeof(O(a)));
    cr_expect(str_is(&gr, node_of(&gr, a)->name, "HNode"));
    unsnap(&gr);
    ms_decref(O(a));
}

CHECKED_TEST(heapsnapshot, a_diamond_counts_both_references)
{
    node *a = mk(&named_type), *b = mk(&named_type), *c = mk(&named_type), *d = mk(&named_type);
    a->next = O(b);
    a->other = O(c);
    b->next = O(d);
    ms_incref(O(d));
    c->next = O(d);
    graph gr = snap();
    expect_well_formed(&gr);
    cr_expect_eq(gr.g->nodes[0].edge_count, 2);
    cr_expect(is_root(&gr, a));
    cr_expect_eq(node_of(&gr, d)->external_refs, 0, "both of d's references are b's and c's");
    expect_edge(&gr, a, c, MSC_HG_EDGE_PROPERTY, "other", 0);
    expect_edge(&gr, b, d, MSC_HG_EDGE_PROPERTY, "next", 0);
    expect_edge(&gr, c, d, MSC_HG_EDGE_PROPERTY, "next", 0);
    cr_expect_eq(node_of(&gr, a)->edge_count, 2);
    unsnap(&gr);
    ms_decref(O(a));
}

CHECKED_TEST(heapsnapshot, a_cycle_held_by_one_root)
{
    node *r = mk(&named_type), *x = mk(&named_type), *y = mk(&named_type);
    r->next = O(x);
    x->next = O(y);
    ms_incref(O(x));
    y->next = O(x);
    graph gr = snap();
    expect_well_formed(&gr);
    cr_expect(is_root(&gr, r));
    cr_expect_not(is_root(&gr, x));
    cr_expect_not(is_root(&gr, y));
    cr_expect_eq(node_of(&gr, x)->external_refs, 0);
    cr_expect_eq(gr.g->nodes[1].edge_count, 0, "the root reaches the cycle");
    expect_edge(&gr, y, x, MSC_HG_EDGE_PROPERTY, "next", 0);
    unsnap(&gr);
    ms_decref(O(r));
    cr_expect_eq(ms_gc_collect(2), 2, "the cycle, once its root let go");
}

CHECKED_TEST(heapsnapshot, a_cycle_held_only_weakly_is_unreachable)
{
    ms_gc_disable();
    node *x = mk(&named_type), *y = mk(&named_type);
    link_pair(x, y);
    ms_weakref *w = ms_weakref_new(O(x), NULL, NULL);
    cr_assert_not_null(w);
    ms_decref(O(x));
    ms_decref(O(y)); /* now only the cycle and the weak reference hold them */
    graph gr = snap();
    expect_well_formed(&gr);
    cr_expect(is_root(&gr, w), "the test holds the weak reference");
    cr_expect_not(is_root(&gr, x));
    cr_expect_not(is_root(&gr, y));
    cr_expect(is_unreachable(&gr, x));
    cr_expect(is_unreachable(&gr, y));
    cr_expect_not(is_unreachable(&gr, w));
    cr_expect_eq(gr.g->nodes[1].edge_count, 2);
    expect_edge(&gr, w, x, MSC_HG_EDGE_WEAK, "<weak>", 0);
    cr_expect(str_is(&gr, node_of(&gr, w)->name, "weakref"));
    cr_expect_eq(node_of(&gr, x)->external_refs, 0, "a weak edge is no reference");
    unsnap(&gr);
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_null(ms_weakref_peek(w));
    ms_decref(O(w));
}

static const msc_hg_edge *root_edge(const graph *gr, const void *o) { return edge(gr, MSC_HG_ROOT, node_at(gr, o)); }

CHECKED_TEST(heapsnapshot, labelled_roots_are_named_by_their_label)
{
    size_t side0 = ms__heapgraph_side_count();
    node *a = mk(&named_type), *b = mk(&named_type);
    char name[16] = "audit";
    cr_assert_eq(ms_root_name(O(a), name), 0);
    strcpy(name, "changed"); /* the label is a copy */
    graph gr = snap();
    expect_well_formed(&gr);
    const msc_hg_edge *e = root_edge(&gr, a);
    cr_assert_not_null(e);
    cr_expect_eq(e->type, MSC_HG_EDGE_PROPERTY);
    cr_expect(str_is(&gr, e->name_or_index, "audit"));
    e = root_edge(&gr, b);
    cr_assert_not_null(e);
    cr_expect_eq(e->type, MSC_HG_EDGE_ELEMENT, "an unlabelled root is numbered");
    cr_expect_eq(e->name_or_index, 0);
    cr_expect_eq(ms_refcount(O(a)), 1, "a label adds no reference");
    unsnap(&gr);

    cr_assert_eq(ms_root_name(O(a), "registry 'audit'"), 0, "a new label replaces the old");
    gr = snap();
    e = root_edge(&gr, a);
    cr_assert_not_null(e);
    cr_expect(str_is(&gr, e->name_or_index, "registry 'audit'"));
    unsnap(&gr);
    cr_expect_eq(ms__heapgraph_side_count(), side0 + 2);

    /* The label dies with a; a new object in the same block has none, and a new id. */
    uint32_t old_id = ms__heapgraph_id_of(O(a));
    void *addr = a;
    ms_decref(O(a));
    cr_expect_eq(ms__heapgraph_side_count(), side0 + 1, "a's entry went with it");
    node *c = mk(&named_type);
    cr_assert_eq((void *)c, addr, "the pool hands the freed block back (the test needs the same address)");
    cr_expect_eq(ms__heapgraph_id_of(O(c)), 0);
    gr = snap();
    const msc_hg_edge *ec = root_edge(&gr, c);
    cr_assert_not_null(ec);
    cr_expect_eq(ec->type, MSC_HG_EDGE_ELEMENT, "no label");
    cr_expect_neq(node_of(&gr, c)->id, old_id, "a new object, a new id");
    for (uint32_t k = 0; k < gr.g->edge_count; k++)
        cr_expect(gr.g->edges[k].type == MSC_HG_EDGE_ELEMENT || !str_is(&gr, gr.g->edges[k].name_or_index,
                                                                         "registry 'audit'"),
                  "the label is gone");
    unsnap(&gr);
    ms_decref(O(c));
    ms_decref(O(b));
    cr_expect_eq(ms__heapgraph_side_count(), side0, "every entry went with its object");
}

CHECKED_TEST(heapsnapshot, root_name_errors)
{
    node *a = mk(&named_type);
    cr_expect_eq(ms_root_name(NULL, "x"), -EINVAL);
    cr_expect_eq(ms_root_name(O(a), NULL), -EINVAL);
    cr_expect_eq(ms_root_name(O(a), ""), -EINVAL);
    cr_expect_eq(ms__heapgraph_id_of(O(a)), 0, "a refused label leaves nothing");
    cr_expect_eq(ms_root_name(O(a), "ok"), 0);
    cr_expect_neq(ms__heapgraph_id_of(O(a)), 0);
    ms_decref(O(a));
}

CHECKED_TEST(heapsnapshot, objects_with_several_roots)
{
    node *shared = mk(&named_type), *r1 = mk(&named_type), *r2 = mk(&plain_type);
    ms_incref(O(shared));
    r1->next = O(shared);
    ms_incref(O(shared));
    r2->other = O(shared);
    /* shared: 3 references, 2 of them from r1 and r2, 1 the test's own */
    graph gr = snap();
    expect_well_formed(&gr);
    cr_expect(is_root(&gr, r1));
    cr_expect(is_root(&gr, r2));
    cr_expect(is_root(&gr, shared), "the test's own reference is external");
    cr_expect_eq(node_of(&gr, shared)->external_refs, 1);
    cr_expect_eq(gr.g->nodes[0].edge_count, 4);
    /* Unlabelled roots are numbered 0, 1, 2 in node order, and the edge to (unreachable) comes last. */
    bool idx[4] = {false};
    for (uint32_t k = gr.first[0]; k < gr.first[1]; k++) {
        cr_expect_eq(gr.g->edges[k].type, MSC_HG_EDGE_ELEMENT);
        cr_assert_lt(gr.g->edges[k].name_or_index, 4);
        idx[gr.g->edges[k].name_or_index] = true;
    }
    cr_expect(idx[0] && idx[1] && idx[2] && idx[3]);
    cr_expect_eq(gr.g->edges[gr.first[1] - 1].to, MSC_HG_UNREACHABLE);
    expect_edge(&gr, r2, shared, MSC_HG_EDGE_INTERNAL, "<ref 1>", 0);
    unsnap(&gr);

    ms_incref(O(shared));
    gr = snap();
    cr_expect_eq(node_of(&gr, shared)->external_refs, 2, "refcount 4 - 2 references from the graph");
    cr_expect_eq(node_of(&gr, r1)->external_refs, 1);
    unsnap(&gr);
    ms_decref(O(shared));
    ms_decref(O(shared));
    ms_decref(O(r1));
    ms_decref(O(r2));
}

CHECKED_TEST(heapsnapshot, a_self_reference_is_not_external)
{
    ms_gc_disable();
    node *a = mk(&named_type);
    ms_incref(O(a));
    a->next = O(a);
    graph gr = snap();
    cr_expect_eq(node_of(&gr, a)->external_refs, 1);
    expect_edge(&gr, a, a, MSC_HG_EDGE_PROPERTY, "next", 0);
    unsnap(&gr);
    ms_decref(O(a));
    gr = snap();
    cr_expect(is_unreachable(&gr, a), "held by itself only: garbage");
    cr_expect_eq(node_of(&gr, a)->external_refs, 0);
    unsnap(&gr);
    cr_expect_eq(ms_gc_collect(2), 1);
}

CHECKED_TEST(heapsnapshot, dict_edges_are_named_by_their_keys)
{
    ms_object *d = ms_dict_new();
    node *v1 = mk(&named_type), *v2 = mk(&named_type), *v3 = mk(&named_type);
    ms_object *k1 = ms_str_new("cache"), *k2 = ms_int_new(42), *k3 = ms_int_new(100000);
    static const char odd[] = {'a', '\'', 'b', (char)0xff};
    ms_object *k4 = ms_str_new_len(odd, sizeof odd);
    cr_assert(d && k1 && k2 && k3 && k4);
    cr_assert_eq(ms_dict_set(d, k1, O(v1)), 0);
    cr_assert_eq(ms_dict_set(d, k2, O(v2)), 0);
    cr_assert_eq(ms_dict_set(d, k3, O(v3)), 0);
    cr_assert_eq(ms_dict_set(d, k4, O(v3)), 0);
    graph gr = snap();
    expect_well_formed(&gr);
    expect_edge(&gr, d, v1, MSC_HG_EDGE_PROPERTY, "['cache']", 0);
    expect_edge(&gr, d, v2, MSC_HG_EDGE_PROPERTY, "[<int>]", 0);
    expect_edge(&gr, d, k1, MSC_HG_EDGE_INTERNAL, "<key>", 0);
    expect_edge(&gr, d, k2, MSC_HG_EDGE_INTERNAL, "<key>", 0);
    const msc_hg_edge *e = nth_edge(&gr, node_at(&gr, d), node_at(&gr, v3), 1);
    cr_assert_not_null(e, "v3 under its second key");
    size_t len;
    const char *s = msc_hg_string(gr.g, e->name_or_index, &len);
    cr_expect(len == 8 && memcmp(s, "['a'b\xff']", 8) == 0, "the key's bytes as they are");
    cr_expect_eq(node_of(&gr, d)->edge_count, 8, "a key and a value per entry");
    cr_expect_eq(edges_between(&gr, node_at(&gr, d), node_at(&gr, v3)), 2);
    cr_expect(str_is(&gr, node_of(&gr, k1)->name, "str"));
    cr_expect(str_is(&gr, node_of(&gr, k2)->name, "int"));
    cr_expect_eq(node_of(&gr, k1)->self_size, ms_sizeof(k1));
    cr_expect_eq(node_of(&gr, v1)->external_refs, 1, "the test still holds v1");
    unsnap(&gr);
    ms_decref(d);
    ms_decref(O(v1));
    ms_decref(O(v2));
    ms_decref(O(v3));
    ms_decref(k1);
    ms_decref(k2);
    ms_decref(k3);
    ms_decref(k4);
}

CHECKED_TEST(heapsnapshot, list_edges_are_indices)
{
    for (int n = 1; n <= 5; n++) { /* inline items (up to 2) and a separate array */
        ms_object *l = ms_list_new();
        cr_assert_not_null(l);
        node *items[5];
        for (int i = 0; i < n; i++) {
            items[i] = mk(&named_type);
            cr_assert_eq(ms_list_append_take(l, O(items[i])), 0);
        }
        cr_assert_eq(ms_list_append(l, O(items[0])), 0); /* the first item twice */
        graph gr = snap();
        expect_well_formed(&gr);
        cr_expect_eq(node_of(&gr, l)->edge_count, (uint32_t)n + 1);
        for (int i = 1; i < n; i++)
            expect_edge(&gr, l, items[i], MSC_HG_EDGE_ELEMENT, NULL, (uint32_t)i);
        const msc_hg_edge *e = nth_edge(&gr, node_at(&gr, l), node_at(&gr, items[0]), 1);
        cr_assert_not_null(e);
        cr_expect_eq(e->name_or_index, (uint32_t)n);
        cr_expect_eq(node_of(&gr, items[0])->external_refs, 0);
        cr_expect(is_root(&gr, l));
        cr_expect_eq(node_of(&gr, l)->self_size, ms_sizeof(l));
        unsnap(&gr);
        ms_decref(l);
    }
}

CHECKED_TEST(heapsnapshot, traverse_and_unnamed_fields_are_ref_i)
{
    node *t = mk(&trav_type), *p = mk(&plain_type), *x = mk(&named_type);
    t->other = O(x); /* next is NULL: the traverse reports x first */
    ms_incref(O(x));
    p->next = O(x);
    graph gr = snap();
    expect_edge(&gr, t, x, MSC_HG_EDGE_INTERNAL, "<ref 0>", 0);
    expect_edge(&gr, p, x, MSC_HG_EDGE_INTERNAL, "<ref 0>", 0);
    unsnap(&gr);
    ms_incref(O(x));
    t->next = O(x);
    gr = snap();
    expect_edge(&gr, t, x, MSC_HG_EDGE_INTERNAL, "<ref 0>", 0);
    const msc_hg_edge *e = nth_edge(&gr, node_at(&gr, t), node_at(&gr, x), 1);
    cr_assert_not_null(e);
    cr_expect(str_is(&gr, e->name_or_index, "<ref 1>"));
    unsnap(&gr);
    ms_decref(O(t));
    ms_decref(O(p));
}

/* An object no GC list holds is in the graph when a reference reaches it, and its own references are walked. */
CHECKED_TEST(heapsnapshot, untracked_objects_are_found_through_their_referrers)
{
    node *root = mk(&named_type), *leaf = mk(&leaf_type), *deep = mk(&named_type), *lonely = mk(&leaf_type);
    ms_object *s = ms_str_new("x");
    root->next = O(leaf);
    leaf->other = O(deep);
    deep->next = s;
    graph gr = snap();
    expect_well_formed(&gr);
    expect_edge(&gr, root, leaf, MSC_HG_EDGE_PROPERTY, "next", 0);
    expect_edge(&gr, leaf, deep, MSC_HG_EDGE_PROPERTY, "other", 0);
    expect_edge(&gr, deep, s, MSC_HG_EDGE_PROPERTY, "next", 0);
    cr_expect_eq(node_of(&gr, leaf)->external_refs, 0);
    cr_expect_eq(gr.g->node_count, 2 + 4, "root, leaf, deep, s; not the unreferenced untracked object");
    cr_expect_eq(ms__heapgraph_id_of(O(lonely)), 0);
    unsnap(&gr);
    ms_decref(O(root));
    ms_decref(O(lonely));
}

/* The walk keeps an untracked object's node in its refcnt (flag MS__OBJ_IN_WALK) and a tracked one's in its GC
 * header: afterwards every count, flag and list is as it was, also for objects met many times and untracked
 * containers whose own references were walked. */
CHECKED_TEST(heapsnapshot, the_walk_leaves_every_header_as_it_was)
{
    ms_object *shared = ms_str_new("shared"), *big = ms_int_new(1L << 40), *l = ms_list_new(), *d = ms_dict_new();
    node *holder = mk(&leaf_type), *inner = mk(&named_type);
    cr_assert(shared && big && l && d && holder && inner);
    holder->next = O(inner); /* an untracked container with a reference to a tracked object */
    inner->next = shared;
    ms_incref(shared);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(ms_list_append(l, shared), 0);
        cr_assert_eq(ms_list_append(l, big), 0);
    }
    cr_assert_eq(ms_dict_set(d, shared, big), 0);
    cr_assert_eq(ms_list_append(l, O(holder)), 0);
    cr_assert_eq(ms_list_append(l, d), 0);
    ms_object *objs[] = {shared, big, l, d, O(holder), O(inner)};
    intptr_t counts[6];
    for (int i = 0; i < 6; i++)
        counts[i] = ms_refcount(objs[i]);
    size_t tracked = ms_gc_tracked_count(-1);
    for (int round = 0; round < 2; round++) { /* without, then with a reserve */
        graph gr = snap_as(round == 1, false);
        expect_well_formed(&gr);
        cr_expect_eq(node_of(&gr, shared)->external_refs, 1, "this test's own reference");
        cr_expect_eq(edges_between(&gr, node_at(&gr, l), node_at(&gr, shared)), 50);
        expect_edge(&gr, holder, inner, MSC_HG_EDGE_PROPERTY, "next", 0);
        unsnap(&gr);
        for (int i = 0; i < 6; i++) {
            cr_expect_eq(ms_refcount(objs[i]), counts[i], "object %d: count %ld, was %ld", i,
                         (long)ms_refcount(objs[i]), (long)counts[i]);
            cr_expect_eq(objs[i]->type_bits & MS__OBJ_IN_WALK, 0, "object %d: the walk's flag is gone", i);
        }
        cr_expect_eq(ms_gc_tracked_count(-1), tracked);
    }
    cr_expect_eq(ms_mem_validate(), 0, "the heap is consistent");
    ms_decref(l);
    ms_decref(d);
    ms_decref(O(holder));
    ms_decref(big);
    ms_decref(shared);
    cr_expect_eq(ms_gc_collect(2), 0, "the lists are intact, and nothing became garbage");
}

/* The agent's way (a reserve made beforehand, the graph finished on the agent thread) gives the graph the
 * direct way gives, byte for byte: same nodes, ids included, same edges, same strings. Also when the reserve is
 * too small for the heap (objects made after it): the walk grows its arrays. */
CHECKED_TEST(heapsnapshot, a_reserve_and_another_thread_give_the_same_graph)
{
    ms_gc_disable();
    ms_object *reg = ms_list_new(), *cache = ms_dict_new();
    cr_assert(reg && cache);
    cr_assert_eq(ms_root_name(reg, "registry") | ms_root_name(cache, "cache"), 0);
    node *garbage = mk(&named_type), *peer = mk(&named_type);
    link_pair(garbage, peer);
    ms_decref(O(garbage));
    ms_decref(O(peer));
    for (int round = 0; round < 2; round++) {
        ms__heapgraph_reserve *small = round ? ms__heapgraph_reserve_new() : NULL;
        for (int i = 0; i < 3000; i++) { /* round 1: many more objects than its reserve was made for */
            char k[32];
            snprintf(k, sizeof k, "k%d-%d", round, i);
            ms_object *key = ms_str_new(k), *v = (ms_object *)mk(i % 2 ? &named_type : &leaf_type);
            cr_assert(key && v);
            cr_assert_eq(ms_dict_set(cache, key, v), 0);
            cr_assert_eq(ms_list_append(reg, key), 0);
            if (i % 7 == 0)
                cr_assert_eq(ms_list_append_take(reg, (ms_object *)ms_weakref_new(v, NULL, NULL)), 0);
            ms_decref(key);
            ms_decref(v);
        }
        graph direct = snap_as(false, false), agent;
        if (small) {
            agent = (graph){0};
            cr_assert_eq(ms__heapgraph_build(small, &agent.hg), 0);
            ms__heapgraph_reserve_free(small);
            cr_assert_eq(ms__heapgraph_finish(agent.hg), 0);
            agent.g = &agent.hg->g;
        } else {
            agent = snap_as(true, true);
        }
        const msc_hg *a = direct.g, *b = agent.g;
        cr_assert_eq(a->node_count, b->node_count);
        cr_assert_eq(a->edge_count, b->edge_count);
        cr_assert_eq(a->string_count, b->string_count);
        cr_expect_eq(memcmp(a->nodes, b->nodes, a->node_count * sizeof *a->nodes), 0, "the same nodes");
        cr_expect_eq(memcmp(a->edges, b->edges, a->edge_count * sizeof *a->edges), 0, "the same edges");
        cr_expect_eq(memcmp(a->string_offsets, b->string_offsets, (a->string_count + 1) * sizeof(uint32_t)), 0);
        cr_expect_eq(memcmp(a->string_bytes, b->string_bytes, a->string_offsets[a->string_count]), 0);
        cr_expect_gt(a->nodes[MSC_HG_UNREACHABLE].edge_count, 0, "the garbage pair is under (unreachable)");
        cr_expect_geq(a->node_count, 2 + 2 + 2 + 3000 * (round + 1) * 2);
        unsnap(&agent); /* first is NULL for the graph built here by hand: free(NULL) */
        unsnap(&direct);
    }
    ms_decref(reg);
    ms_decref(cache);
    ms_gc_enable();
    cr_expect_eq(ms_gc_collect(2), 2, "the garbage pair");
}

CHECKED_TEST(heapsnapshot, frozen_and_old_objects_are_in_the_graph)
{
    node *a = mk(&named_type);
    ms_gc_collect(0); /* a to generation 1 */
    ms_gc_freeze();
    node *b = mk(&named_type);
    graph gr = snap();
    cr_expect_eq(gr.g->node_count, 2 + 2);
    cr_expect(is_root(&gr, a));
    cr_expect(is_root(&gr, b));
    unsnap(&gr);
    ms_gc_unfreeze();
    cr_expect_eq(ms_gc_get_freeze_count(), 0);
    /* The lists are intact after the walk: the collector works on them. */
    node *x = mk(&named_type), *y = mk(&named_type);
    link_pair(x, y);
    ms_decref(O(x));
    ms_decref(O(y));
    cr_expect_eq(ms_gc_collect(2), 2);
    ms_decref(O(a));
    ms_decref(O(b));
}

CHECKED_TEST(heapsnapshot, ids_are_stable_and_new_objects_get_new_ones)
{
    size_t side0 = ms__heapgraph_side_count();
    node *a = mk(&named_type), *b = mk(&named_type);
    a->next = O(b);
    graph g1 = snap();
    uint32_t ia = node_of(&g1, a)->id, ib = node_of(&g1, b)->id;
    unsnap(&g1);
    node *c = mk(&named_type);
    ms_gc_collect(2); /* objects move between generations: their ids do not change */
    graph g2 = snap();
    cr_expect_eq(node_of(&g2, a)->id, ia);
    cr_expect_eq(node_of(&g2, b)->id, ib);
    uint32_t ic = node_of(&g2, c)->id;
    cr_expect(ic != ia && ic != ib);
    cr_expect_gt(ic, ia > ib ? ia : ib, "ids grow");
    unsnap(&g2);
    cr_expect_eq(ms__heapgraph_side_count(), side0 + 3);
    ms_decref(O(a));
    ms_decref(O(c));
    cr_expect_eq(ms__heapgraph_side_count(), side0);
}

/* The collector's own teardown (free_garbage, gc.c) frees simple garbage without ms_object_dealloc: the ids of
 * such objects must go too. */
CHECKED_TEST(heapsnapshot, ids_of_collected_garbage_go_with_it)
{
    ms_gc_disable();
    size_t side0 = ms__heapgraph_side_count();
    node *x = mk(&named_type), *y = mk(&named_type);
    ms_object *l = ms_list_new();
    link_pair(x, y);
    cr_assert_eq(ms_list_append(l, O(x)), 0);
    cr_assert_eq(ms_list_append(l, l), 0);
    cr_assert_eq(ms_root_name(l, "garbage"), 0);
    graph gr = snap();
    unsnap(&gr);
    cr_expect_eq(ms__heapgraph_side_count(), side0 + 3);
    ms_decref(O(x));
    ms_decref(O(y));
    ms_decref(l);
    cr_expect_eq(ms_gc_collect(2), 3);
    cr_expect_eq(ms__heapgraph_side_count(), side0);
}

/* ---- -EBUSY inside a collection ----------------------------------------------------------------------------- */

static int busy_rc = 1, busy_build_rc = 1;

static void snapshot_finalizer(ms_object *self)
{
    (void)self;
    ms__heapgraph *hg = NULL;
    busy_rc = ms_heapsnapshot_write("/nonexistent/never-written.heapsnapshot");
    busy_build_rc = ms__heapgraph_build(NULL, &hg);
    ms__heapgraph_free(hg);
}

static const ms_type finalizing_type = {.name = "HFinal", .size = sizeof(node), .flags = MS_TYPE_GC,
                                        .ref_offsets = node_refs, .finalize = snapshot_finalizer};

CHECKED_TEST(heapsnapshot, busy_inside_a_collection)
{
    ms_gc_disable();
    node *x = mk(&finalizing_type), *y = mk(&named_type);
    link_pair(x, y);
    ms_decref(O(x));
    ms_decref(O(y));
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(busy_rc, -EBUSY);
    cr_expect_eq(busy_build_rc, -EBUSY);

    /* Outside a collection a finalizer may take one (count 0, an ordinary decref). */
    busy_rc = busy_build_rc = 1;
    ms_decref(O(mk(&finalizing_type)));
    cr_expect_eq(busy_build_rc, 0);
    cr_expect_eq(busy_rc, -ENOENT, "the directory does not exist");
}

/* ---- ms_heapsnapshot_write --------------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int index_of(const cJSON *arr, const char *s)
{
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0)
            return i;
        i++;
    }
    return -1;
}

CHECKED_TEST(heapsnapshot, write_produces_a_v8_heapsnapshot)
{
    char dir[] = "/tmp/ms-hs-XXXXXX", path[64], tmp[80];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.heapsnapshot", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    node *a = mk(&named_type), *b = mk(&named_type);
    a->next = O(b);
    cr_assert_eq(ms_root_name(O(a), "the \"root\"\n"), 0);
    cr_assert_eq(ms_heapsnapshot_write(path), 0);
    cr_expect_neq(access(tmp, F_OK), 0, "the temporary file is renamed");

    size_t len;
    char *text = slurp(path, &len);
    cJSON *j = cJSON_ParseWithLength(text, len);
    cr_assert_not_null(j, "the file is JSON");
    const cJSON *snapshot = cJSON_GetObjectItemCaseSensitive(j, "snapshot");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(snapshot, "meta");
    const cJSON *node_fields = cJSON_GetObjectItemCaseSensitive(meta, "node_fields");
    const cJSON *edge_fields = cJSON_GetObjectItemCaseSensitive(meta, "edge_fields");
    cr_assert(cJSON_IsArray(node_fields) && cJSON_IsArray(edge_fields));
    int nf = cJSON_GetArraySize(node_fields), ef = cJSON_GetArraySize(edge_fields);
    cr_expect_eq(index_of(node_fields, "type"), 0);
    cr_expect_eq(index_of(node_fields, "name"), 1);
    cr_expect_eq(index_of(node_fields, "id"), 2);
    cr_expect_eq(index_of(node_fields, "self_size"), 3);
    cr_expect_eq(index_of(node_fields, "edge_count"), 4);
    int ext = index_of(node_fields, "external_refs");
    cr_expect_geq(ext, 0);
    cr_expect_eq(ef, 3);
    const cJSON *node_types = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(meta, "node_types"), 0);
    const cJSON *edge_types = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(meta, "edge_types"), 0);
    cr_expect_eq(index_of(node_types, "object"), MSC_HG_NODE_OBJECT);
    cr_expect_eq(index_of(node_types, "synthetic"), MSC_HG_NODE_SYNTHETIC);
    cr_expect_eq(index_of(edge_types, "property"), MSC_HG_EDGE_PROPERTY);
    cr_expect_eq(index_of(edge_types, "weak"), MSC_HG_EDGE_WEAK);

    int node_count = (int)cJSON_GetObjectItemCaseSensitive(snapshot, "node_count")->valuedouble;
    int edge_count = (int)cJSON_GetObjectItemCaseSensitive(snapshot, "edge_count")->valuedouble;
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(j, "nodes");
    const cJSON *edges = cJSON_GetObjectItemCaseSensitive(j, "edges");
    const cJSON *strings = cJSON_GetObjectItemCaseSensitive(j, "strings");
    cr_expect_eq(node_count, 4);
    cr_expect_eq(edge_count, 2 + 1, "root -> a, root -> (unreachable), a -> b");
    cr_expect_eq(cJSON_GetArraySize(nodes), node_count * nf);
    cr_expect_eq(cJSON_GetArraySize(edges), edge_count * ef);
    cr_expect_str_eq(cJSON_GetArrayItem(strings, 0)->valuestring, "<dummy>");
    cr_expect_geq(index_of(strings, "the \"root\"\n"), 0, "the label, escaped and read back");
    cr_expect_geq(index_of(strings, "HNode"), 0);
    /* Node 0's first edge: to a (node 2, offset 2 * nf), named by the label. */
    cr_expect_eq((int)cJSON_GetArrayItem(edges, 0)->valuedouble, MSC_HG_EDGE_PROPERTY);
    cr_expect_str_eq(cJSON_GetArrayItem(strings, (int)cJSON_GetArrayItem(edges, 1)->valuedouble)->valuestring,
                     "the \"root\"\n");
    int to = (int)cJSON_GetArrayItem(edges, 2)->valuedouble;
    cr_expect_eq(to % nf, 0, "to_node is an offset into nodes");
    cr_expect_eq((int)cJSON_GetArrayItem(nodes, to + 2)->valuedouble, (int)ms__heapgraph_id_of(O(a)));
    cr_expect_eq((int)cJSON_GetArrayItem(nodes, to + ext)->valuedouble, 1, "a's external_refs");
    cJSON_Delete(j);
    free(text);

    cr_expect_eq(ms_heapsnapshot_write(NULL), -EINVAL);
    cr_expect_eq(ms_heapsnapshot_write(""), -EINVAL);
    char missing[96];
    snprintf(missing, sizeof missing, "%s/no/such/dir.heapsnapshot", dir);
    cr_expect_eq(ms_heapsnapshot_write(missing), -ENOENT);
    unlink(path);
    cr_expect_eq(rmdir(dir), 0, "nothing else was left in the directory");
    ms_decref(O(a));
}

/* ---- The wire image ------------------------------------------------------------------------------------------ */

/* The wire image of g, in a 4-byte aligned buffer of *len bytes. */
static uint32_t *wire_of(const msc_hg *g, size_t *len)
{
    *len = (size_t)msc_hg_wire_size(g);
    uint32_t *buf = malloc(*len);
    cr_assert_not_null(buf);
    /* In pieces of odd sizes, as the agent copies it into frames. */
    for (size_t off = 0; off < *len;) {
        size_t n = *len - off < 7 ? *len - off : 7;
        msc_hg_wire_copy(g, off, (char *)buf + off, n);
        off += n;
    }
    return buf;
}

static void make_some_heap(node **root)
{
    *root = mk(&named_type);
    ms_object *d = ms_dict_new(), *k = ms_str_new("key"), *l = ms_list_new();
    cr_assert(d && k && l);
    cr_assert_eq(ms_dict_set(d, k, l), 0);
    ms_decref(k);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(ms_list_append_take(l, ms_int_new(1000 + i)), 0);
    ms_decref(l);
    (*root)->next = d;
    cr_assert_eq(ms_root_name(O(*root), "root"), 0);
}

CHECKED_TEST(heapsnapshot, the_wire_image_round_trips)
{
    node *root;
    make_some_heap(&root);
    graph gr = snap();
    size_t len;
    uint32_t *buf = wire_of(gr.g, &len);
    msc_hg p;
    char err[200] = "";
    cr_assert_eq(msc_hg_parse(buf, len, &p, err, sizeof err), 0, "parse: %s", err);
    const msc_hg *g = gr.g;
    cr_expect_eq(p.node_count, g->node_count);
    cr_expect_eq(p.edge_count, g->edge_count);
    cr_expect_eq(p.string_count, g->string_count);
    cr_expect_eq(memcmp(p.nodes, g->nodes, g->node_count * sizeof *g->nodes), 0);
    cr_expect_eq(memcmp(p.edges, g->edges, g->edge_count * sizeof *g->edges), 0);
    cr_expect_eq(memcmp(p.string_offsets, g->string_offsets, (g->string_count + 1) * sizeof(uint32_t)), 0);
    cr_expect_eq(memcmp(p.string_bytes, g->string_bytes, g->string_offsets[g->string_count]), 0);
    cr_expect_eq(memcmp(buf, "MSHG", 4), 0);
    free(buf);
    unsnap(&gr);
    ms_decref(O(root));
}

/* Parses a copy of the image with one word changed (word index w, new value v): must be refused. */
static void expect_refused(const uint32_t *img, size_t len, size_t w, uint32_t v, const char *why)
{
    uint32_t *copy = malloc(len);
    cr_assert_not_null(copy);
    memcpy(copy, img, len);
    copy[w] = v;
    msc_hg p;
    char err[200] = "";
    cr_expect_eq(msc_hg_parse(copy, len, &p, err, sizeof err), -EINVAL, "%s is refused", why);
    cr_expect_neq(err[0], '\0', "%s: the error says why", why);
    free(copy);
}

CHECKED_TEST(heapsnapshot, hostile_wire_images_are_refused)
{
    node *root;
    make_some_heap(&root);
    graph gr = snap();
    const msc_hg *g = gr.g;
    size_t len;
    uint32_t *img = wire_of(g, &len);
    msc_hg p;
    char err[200];

    /* Truncated anywhere, or longer than the header says. */
    for (size_t cut = 0; cut < len; cut += cut < 64 ? 1 : 61) {
        err[0] = '\0';
        cr_expect_eq(msc_hg_parse(img, cut, &p, err, sizeof err), -EINVAL, "%zu of %zu bytes", cut, len);
        cr_expect_neq(err[0], '\0');
    }
    uint32_t *longer = calloc(1, len + 4);
    memcpy(longer, img, len);
    cr_expect_eq(msc_hg_parse(longer, len + 4, &p, err, sizeof err), -EINVAL);
    free(longer);
    cr_expect_eq(msc_hg_parse((char *)img + 1, len - 1, &p, err, sizeof err), -EINVAL, "misaligned");

    /* Word offsets of the sections (header: magic, version, nodes, edges, strings, string bytes). */
    size_t ns = g->string_count, sb = g->string_offsets[ns];
    size_t w_off = 6, w_nodes = w_off + ns + 1 + (sb + 3) / 4, w_edges = w_nodes + g->node_count * 6;
    expect_refused(img, len, 0, 0x47485358, "a bad magic");
    expect_refused(img, len, 1, 2, "another version");
    expect_refused(img, len, 2, 1, "fewer than 2 nodes");
    expect_refused(img, len, 2, g->node_count + 1, "a node count that does not add up");
    expect_refused(img, len, 3, g->edge_count + 1, "an edge count that does not add up");
    expect_refused(img, len, 5, (uint32_t)sb + 4, "string bytes that do not add up");
    expect_refused(img, len, w_off, 1, "offsets that do not start at 0");
    expect_refused(img, len, w_off + 2, g->string_offsets[1] - 1 > g->string_offsets[3]
                                            ? g->string_offsets[1] - 1
                                            : g->string_offsets[3] + 1,
                   "offsets that descend");
    expect_refused(img, len, w_off + ns, (uint32_t)sb + 1, "offsets past the bytes");
    expect_refused(img, len, w_nodes + 0, 99, "a node type out of range");
    expect_refused(img, len, w_nodes + 1, (uint32_t)ns, "a node name out of range");
    expect_refused(img, len, w_nodes + 0, MSC_HG_NODE_OBJECT, "a node 0 that is not synthetic");
    expect_refused(img, len, w_nodes + 6 + 0, MSC_HG_NODE_OBJECT, "a node 1 that is not synthetic");
    expect_refused(img, len, w_nodes + 4, g->nodes[0].edge_count + 1, "nodes that own more edges than there are");
    expect_refused(img, len, w_edges + 2, g->node_count, "an edge to a missing node");
    expect_refused(img, len, w_edges + 2, UINT32_MAX, "an edge to node 2^32 - 1");
    expect_refused(img, len, w_edges + 0, MSC_HG_EDGE_TYPES, "an edge type out of range");
    /* A property edge with a string index out of range (the root's label edge is one). */
    cr_assert_eq(g->edges[0].type, MSC_HG_EDGE_PROPERTY);
    expect_refused(img, len, w_edges + 1, (uint32_t)ns, "an edge name out of range");
    cr_expect_eq(msc_hg_parse(img, len, &p, err, sizeof err), 0, "the original still parses");
    free(img);
    unsnap(&gr);
    ms_decref(O(root));
}

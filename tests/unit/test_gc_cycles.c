/*
 * test_gc_cycles.c — cycle makers (client/gc_cycles.c, memscope/gc.h) on garbage with a known answer: rings of
 * known types counted by their multiset of type names, the sites of traced cycles (the line that made most of a
 * cycle's objects), tails counted with their cycle, cycles that reference each other counted as one, what
 * the garbage referenced outside it untouched, the slow paths (weak references, finalizers), the bounded tables
 * (space-saving past MS_GC_CYCLE_KEYS keys, the ring of MS_GC_CYCLE_RECENT collections), and off costing nothing
 * and counting nothing. Every test ends with nothing leaked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "../xorshift.h"
#include "leakcheck.h"
#include "testnode.h"

static const char *const names[] = {"next", "other"};
static const ms_type folder_type = {.name = "Folder", .size = sizeof(node), .flags = MS_TYPE_GC,
                                    .ref_offsets = node_refs, .ref_names = names};
static const ms_type doc_type = {.name = "Document", .size = sizeof(node), .flags = MS_TYPE_GC,
                                 .ref_offsets = node_refs, .ref_names = names};
static const ms_type cnode_type = {.name = "CNode", .size = sizeof(node), .flags = MS_TYPE_GC,
                                   .traverse = node_traverse, .clear = node_clear};
static int finalized;
static void count_finalize(ms_object *self)
{
    (void)self;
    finalized++;
}
static const ms_type final_type = {.name = "Finalized", .size = sizeof(node), .flags = MS_TYPE_GC,
                                   .ref_offsets = node_refs, .finalize = count_finalize};

LEAK_CHECKED_SUITE(gc_cycles);

static void no_leaks(void)
{
    ms_trace_stop();
    ms_gc_set_cycle_stats(false);
    ms_gc_cycle_stats_reset();
    ms_gc_enable();
    leak_check(leak_start);
}

#define O(p) ((ms_object *)(p))

/* a.next = b (a reference moved in: the caller's reference to b now belongs to a). */
static void link_to(node *a, node *b) { a->next = O(b); }

/* A ring Folder -> Folder -> Document -> (the first Folder), garbage once made. */
static void folder_ring(void)
{
    node *f1 = new_node(&folder_type, 1), *f2 = new_node(&folder_type, 2), *d = new_node(&doc_type, 3);
    link_to(f1, f2);
    link_to(f2, d);
    ms_incref(O(f1));
    link_to(d, f1);
    ms_decref(O(f1));
}

/* A self-cycle of one CNode. */
static void self_cycle(void)
{
    node *n = new_node(&cnode_type, 0);
    ms_incref(O(n));
    n->next = O(n);
    ms_decref(O(n));
}

static size_t groups_last(ms_gc_cycle_group *g, size_t max) { return ms_gc_cycle_groups_last(g, max); }

static const ms_gc_cycle_group *by_key(const ms_gc_cycle_group *g, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(g[i].key, key) == 0)
            return &g[i];
    return NULL;
}

CHECKED_TEST(gc_cycles, off_counts_nothing)
{
    ms_gc_disable();
    cr_expect(!ms_gc_get_cycle_stats(), "off at start");
    folder_ring();
    cr_expect_eq(ms_gc_collect(2), 3);
    ms_gc_cycle_group g[4];
    uint64_t colls = 99;
    cr_expect_eq(ms_gc_cycle_groups(false, g, 4, &colls), 0);
    cr_expect_eq(colls, 0);
    cr_expect_eq(groups_last(g, 4), 0);
}

CHECKED_TEST(gc_cycles, rings_are_counted_by_their_types)
{
    ms_gc_disable();
    ms_gc_set_cycle_stats(true);
    for (int i = 0; i < 3; i++)
        folder_ring();
    for (int i = 0; i < 5; i++)
        self_cycle();
    cr_assert_eq(ms_gc_collect(2), 3 * 3 + 5);
    ms_gc_cycle_group g[8];
    size_t n = groups_last(g, 8);
    cr_assert_eq(n, 2);
    const ms_gc_cycle_group *rings = &g[0], *selfs = &g[1];
    cr_expect_str_eq(rings->key, "Folder\u00d72+Document", "the multiset, most objects first");
    cr_expect_str_eq(rings->site, "", "no site: not traced");
    cr_expect(!rings->other);
    cr_expect_eq(rings->cycles, 3);
    cr_expect_eq(rings->objects, 9);
    cr_expect_eq(rings->bytes, 9 * (sizeof(node) + 16), "ms_sizeof: the object and its GC header");
    cr_assert_eq(rings->ntypes, 2);
    cr_expect_str_eq(rings->types[0].name, "Folder");
    cr_expect_eq(rings->types[0].count, 6);
    cr_expect_str_eq(rings->types[1].name, "Document");
    cr_expect_eq(rings->types[1].count, 3);
    cr_expect_str_eq(selfs->key, "CNode");
    cr_expect_eq(selfs->cycles, 5);
    cr_expect_eq(selfs->objects, 5);
    uint64_t colls = 0;
    cr_expect_eq(ms_gc_cycle_groups(false, g, 8, &colls), 2);
    cr_expect_eq(colls, 1);
    cr_expect_eq(g[0].objects, 9, "the table since start has the same rows");
}

/* Line A makes most of each cycle's objects, line B the rest; line C makes a cycle of its own. */
static int line_a, line_b, line_c;
static void traced_cycles(int n)
{
    for (int i = 0; i < n; i++) {
        line_a = __LINE__ + 1;
        node *x = (node *)ms_new(&folder_type), *y = (node *)ms_new(&folder_type);
        line_b = __LINE__ + 1;
        node *z = (node *)ms_new(&doc_type);
        cr_assert(x && y && z);
        link_to(x, y);
        link_to(y, z);
        ms_incref(O(x));
        link_to(z, x);
        ms_decref(O(x));
    }
    line_c = __LINE__ + 1;
    node *s = (node *)ms_new(&cnode_type);
    cr_assert_not_null(s);
    ms_incref(O(s));
    s->next = O(s);
    ms_decref(O(s));
}

CHECKED_TEST(gc_cycles, traced_cycles_are_named_by_the_line_that_made_most_of_them)
{
    ms_gc_disable();
    cr_assert_eq(ms_trace_start(1), 0);
    ms_gc_set_cycle_stats(true);
    traced_cycles(40);
    cr_assert_eq(ms_gc_collect(2), 40 * 3 + 1);
    ms_gc_cycle_group g[8];
    size_t n = groups_last(g, 8);
    cr_assert_eq(n, 2);
    char want[160];
    snprintf(want, sizeof want, "%s:%d", __FILE__, line_a);
    cr_expect_str_eq(g[0].site, want, "line A made two of each cycle's three objects");
    cr_expect_str_eq(g[0].key, want);
    cr_expect_eq(g[0].cycles, 40);
    cr_expect_eq(g[0].objects, 120);
    cr_expect_eq(g[0].ntypes, 2, "and its types are still told");
    snprintf(want, sizeof want, "%s:%d", __FILE__, line_c);
    cr_expect_str_eq(g[1].site, want);
    cr_expect_eq(g[1].objects, 1);
    /* Made before tracing started: the types again. */
    ms_trace_stop();
    traced_cycles(2);
    cr_assert_eq(ms_trace_start(1), 0);
    cr_assert_eq(ms_gc_collect(2), 7);
    n = groups_last(g, 8);
    cr_expect_not_null(by_key(g, n, "Folder\u00d72+Document"), "untraced objects: the type names");
    (void)line_b;
}

CHECKED_TEST(gc_cycles, a_tail_and_a_linked_cycle_belong_to_their_cycle)
{
    ms_gc_disable();
    ms_gc_set_cycle_stats(true);
    /* A ring of two Folders; the first also holds a Document that nothing else holds (a tail), and the second
     * holds another ring of two CNodes (one way: the CNodes do not point back). */
    node *a = new_node(&folder_type, 0), *b = new_node(&folder_type, 0), *tail = new_node(&doc_type, 0);
    node *c = new_node(&cnode_type, 0), *d = new_node(&cnode_type, 0);
    link_to(a, b);
    ms_incref(O(a));
    link_to(b, a);
    a->other = O(tail);
    link_to(c, d);
    ms_incref(O(c));
    link_to(d, c);
    b->other = O(c);
    /* A live object the garbage references: its count must come out right. */
    node *live = new_node(&doc_type, 0);
    ms_incref(O(live));
    tail->next = O(live);
    ms_decref(O(a));
    cr_assert_eq(ms_gc_collect(2), 5);
    ms_gc_cycle_group g[4];
    size_t n = groups_last(g, 4);
    cr_assert_eq(n, 1, "one weakly connected component");
    cr_expect_eq(g[0].cycles, 1, "two cycles linked one way count as one (gc.h)");
    cr_expect_eq(g[0].objects, 5, "the tail counts with its cycle");
    cr_expect_str_eq(g[0].key, "CNode\u00d72+Folder\u00d72+Document");
    cr_expect_eq(ms_refcount(O(live)), 1, "the garbage's reference to a live object was dropped once");
    ms_decref(O(live));
}

static void weak_cb(ms_weakref *w, void *arg)
{
    (void)w;
    (*(int *)arg)++;
}

CHECKED_TEST(gc_cycles, weak_references_and_finalizers_take_the_slow_path_and_still_count)
{
    ms_gc_disable();
    ms_gc_set_cycle_stats(true);
    folder_ring();
    node *f = new_node(&final_type, 0), *g2 = new_node(&final_type, 0);
    link_to(f, g2);
    ms_incref(O(f));
    link_to(g2, f);
    int called = 0;
    ms_weakref *w = ms_weakref_new(O(f), weak_cb, &called);
    cr_assert_not_null(w);
    ms_decref(O(f));
    finalized = 0;
    cr_assert_eq(ms_gc_collect(2), 5);
    cr_expect_eq(finalized, 2);
    cr_expect_eq(called, 1);
    ms_gc_cycle_group g[4];
    size_t n = groups_last(g, 4);
    cr_assert_eq(n, 2);
    const ms_gc_cycle_group *fin = by_key(g, n, "Finalized\u00d72");
    cr_assert_not_null(fin);
    cr_expect_eq(fin->objects, 2);
    cr_expect_not_null(by_key(g, n, "Folder\u00d72+Document"));
    ms_decref(O(w));
}

/* A ring of k CNodes: key "CNode×k", one per length. */
static void ring(int k)
{
    node *first = new_node(&cnode_type, 0), *p = first;
    for (int i = 1; i < k; i++) {
        node *x = new_node(&cnode_type, 0);
        link_to(p, x);
        p = x;
    }
    ms_incref(O(first));
    link_to(p, first);
    ms_decref(O(first));
}

CHECKED_TEST(gc_cycles, the_tables_are_bounded)
{
    ms_gc_disable();
    ms_gc_set_cycle_stats(true);
    /* MS_GC_CYCLE_KEYS + 6 keys in one collection: rings of 1 .. KEYS + 6 nodes. The largest stay. */
    int keys = MS_GC_CYCLE_KEYS + 6;
    size_t objects = 0;
    for (int k = 1; k <= keys; k++) {
        ring(k);
        objects += (size_t)k;
    }
    cr_assert_eq(ms_gc_collect(2), (ssize_t)objects);
    static ms_gc_cycle_group g[MS_GC_CYCLE_KEYS + 2];
    size_t n = groups_last(g, MS_GC_CYCLE_KEYS + 2);
    cr_assert_eq(n, MS_GC_CYCLE_KEYS + 1, "the keys that fit and the other row");
    cr_expect(g[n - 1].other);
    cr_expect_str_eq(g[n - 1].key, "other");
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += g[i].objects;
    cr_expect_eq(sum, objects, "nothing lost: what did not fit is in the other row");
    char want[32];
    snprintf(want, sizeof want, "CNode\u00d7%d", keys);
    cr_expect_str_eq(g[0].key, want, "the largest first");
    cr_expect_eq(g[n - 1].cycles, 6, "six rings went to the other row, each a row's place");
    for (size_t i = 0; i + 2 < n; i++)
        cr_expect_geq(g[i].objects, g[i + 1].objects, "largest objects first");

    /* The ring keeps the last MS_GC_CYCLE_RECENT collections. */
    for (int i = 0; i < MS_GC_CYCLE_RECENT + 4; i++) {
        self_cycle();
        cr_assert_eq(ms_gc_collect(2), 1);
    }
    uint64_t colls = 0;
    n = ms_gc_cycle_groups(true, g, MS_GC_CYCLE_KEYS + 2, &colls);
    cr_expect_eq(colls, MS_GC_CYCLE_RECENT);
    cr_assert_eq(n, 1, "the big collection left the ring");
    cr_expect_eq(g[0].cycles, MS_GC_CYCLE_RECENT);
    n = ms_gc_cycle_groups(false, g, MS_GC_CYCLE_KEYS + 2, &colls);
    cr_expect_eq(colls, 1 + MS_GC_CYCLE_RECENT + 4);
    const ms_gc_cycle_group *one = by_key(g, n, "CNode");
    cr_assert_not_null(one, "since start: a key that keeps coming gets a row in a full table");
    cr_expect_eq(one->cycles, MS_GC_CYCLE_RECENT + 4);
    sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += g[i].objects;
    cr_expect_eq(sum, objects + MS_GC_CYCLE_RECENT + 4, "and the table still sums to everything");

    /* Off again: the last collection's table empties, the others stay. */
    ms_gc_set_cycle_stats(false);
    self_cycle();
    cr_assert_eq(ms_gc_collect(2), 1);
    cr_expect_eq(groups_last(g, 4), 0);
    cr_expect_gt(ms_gc_cycle_groups(false, g, 4, NULL), 0);
    ms_gc_cycle_stats_reset();
    cr_expect_eq(ms_gc_cycle_groups(false, g, 4, &colls), 0);
    cr_expect_eq(colls, 0);
}

/* Two sites with as many objects each: the cycle is named by the one whose object is older (met first). */
static int tie_first, tie_second;
static void tie_cycle(void)
{
    tie_first = __LINE__ + 1;
    node *a = (node *)ms_new(&folder_type), *b = (node *)ms_new(&folder_type);
    tie_second = __LINE__ + 1;
    node *c = (node *)ms_new(&doc_type), *d = (node *)ms_new(&doc_type);
    cr_assert(a && b && c && d);
    link_to(a, b);
    link_to(b, c);
    link_to(c, d);
    ms_incref(O(a));
    link_to(d, a);
    ms_decref(O(a));
}

CHECKED_TEST(gc_cycles, a_tie_between_sites_goes_to_the_oldest_object)
{
    ms_gc_disable();
    cr_assert_eq(ms_trace_start(1), 0);
    ms_gc_set_cycle_stats(true);
    tie_cycle();
    cr_assert_eq(ms_gc_collect(2), 4);
    ms_gc_cycle_group g[2];
    cr_assert_eq(groups_last(g, 2), 1);
    char want[160];
    snprintf(want, sizeof want, "%s:%d", __FILE__, tie_first);
    cr_expect_str_eq(g[0].site, want, "two objects each: the first line's, whose objects are older");
    cr_expect_eq(g[0].objects, 4);
    (void)tie_second;
}

/* A random heap of Folders and Documents (types free_garbage tears down itself, so the grouping is fused into
 * the collection), n nodes with random links and `nroots` of them held from outside; made at two lines. */
static void random_heap(uint64_t seed, int n, node **roots, int nroots)
{
    node **all = malloc((size_t)n * sizeof *all);
    cr_assert(all);
    uint64_t x = seed;
    for (int i = 0; i < n; i++) {
        const ms_type *t = test_xorshift64(&x) % 3 ? &folder_type : &doc_type;
        if (test_xorshift64(&x) & 1) {
            line_a = __LINE__ + 1;
            all[i] = (node *)ms_new(t);
        } else {
            line_b = __LINE__ + 1;
            all[i] = (node *)ms_new(t);
        }
        cr_assert(all[i]);
    }
    for (int i = 0; i < n; i++) {
        node *a = all[i];
        node *b = all[test_xorshift64(&x) % (uint64_t)n], *c = all[test_xorshift64(&x) % (uint64_t)n];
        if (test_xorshift64(&x) % 4) {
            ms_incref(O(b));
            a->next = O(b);
        }
        if (test_xorshift64(&x) % 3 == 0) {
            ms_incref(O(c));
            a->other = O(c);
        }
    }
    for (int i = 0; i < nroots; i++) {
        roots[i] = all[test_xorshift64(&x) % (uint64_t)n];
        ms_incref(O(roots[i]));
    }
    for (int i = 0; i < n; i++)
        ms_decref(O(all[i]));
    free(all);
}

/* The groups of one collection of random_heap(seed), with the grouping fused (saveall false) or walked
 * separately (saveall: the garbage goes to ms_gc_garbage, which forces the collector's general teardown). */
static size_t groups_of_random_heap(uint64_t seed, bool saveall, ms_gc_cycle_group *g, size_t max, size_t *freed)
{
    node *roots[8];
    random_heap(seed, 600, roots, 3);
    ms_gc_set_debug(saveall ? MS_GC_DEBUG_SAVEALL : 0);
    *freed = ms_gc_collect(2);
    ms_gc_set_debug(0);
    size_t n = groups_last(g, max);
    ms_gc_garbage_clear();
    for (int i = 0; i < 3; i++)
        ms_decref(O(roots[i]));
    ms_gc_set_cycle_stats(false);
    (void)ms_gc_collect(2); /* what the roots held, and the saved garbage, uncounted */
    ms_gc_set_cycle_stats(true);
    return n;
}

CHECKED_TEST(gc_cycles, fused_grouping_agrees_with_the_separate_walk)
{
    ms_gc_disable();
    ms_gc_set_cycle_stats(true);
    int with_garbage = 0;
    for (int traced = 0; traced < 2; traced++) {
        if (traced)
            cr_assert_eq(ms_trace_start(1), 0);
        for (uint64_t seed = 1; seed <= 40; seed++) {
            ms_gc_cycle_group a[66], b[66];
            size_t fa, fb, before, after, peak;
            ms_trace_get_traced_memory(&before, &peak);
            size_t na = groups_of_random_heap(seed, false, a, 66, &fa);
            ms_trace_get_traced_memory(&after, &peak);
            /* The fused teardown drops each trace itself (ms__trace_free): the traced memory must come back. */
            cr_assert_eq(after, before, "seed %llu: traced memory %zu before, %zu after", (unsigned long long)seed,
                         before, after);
            size_t nb = groups_of_random_heap(seed, true, b, 66, &fb);
            cr_assert_eq(fa, fb, "seed %llu: the same garbage", (unsigned long long)seed);
            with_garbage += fa > 0;
            cr_assert_eq(na, nb, "seed %llu traced %d: %zu groups fused, %zu walked", (unsigned long long)seed,
                         traced, na, nb);
            for (size_t i = 0; i < na; i++) {
                cr_assert_str_eq(a[i].key, b[i].key, "seed %llu row %zu", (unsigned long long)seed, i);
                cr_assert_eq(a[i].cycles, b[i].cycles, "seed %llu row %zu (%s)", (unsigned long long)seed, i, a[i].key);
                cr_assert_eq(a[i].objects, b[i].objects);
                cr_assert_eq(a[i].bytes, b[i].bytes);
            }
            if (traced && fa)
                cr_assert(a[0].site[0], "seed %llu: sites while tracing", (unsigned long long)seed);
        }
    }
    cr_assert_geq(with_garbage, 40, "most random heaps leave garbage: %d of 80", with_garbage);
}

/* An untracked object whose dealloc turns the grouping off: held only by a garbage ring, it dies while the
 * collector records the ring into the fused grouping's work, which must outlive that (ASan watches). */
static void stop_counting(ms_object *self)
{
    (void)self;
    ms_gc_set_cycle_stats(false);
}
static const ms_type stopper_type = {.name = "Stopper", .size = sizeof(ms_object), .dealloc = stop_counting};

CHECKED_TEST(gc_cycles, turning_it_off_during_the_teardown_is_safe)
{
    ms_gc_disable();
    ms_gc_set_cycle_stats(true);
    node *a = new_node(&folder_type, 0), *b = new_node(&folder_type, 0);
    link_to(a, b);
    ms_incref(O(a));
    link_to(b, a);
    b->other = ms_new(&stopper_type);
    cr_assert_not_null(b->other);
    ms_decref(O(a));
    cr_assert_eq(ms_gc_collect(2), 2);
    cr_expect(!ms_gc_get_cycle_stats(), "the dealloc turned it off");
    ms_gc_cycle_group g[4];
    cr_assert_eq(groups_last(g, 4), 1, "the collection began counting: its ring is counted");
    cr_expect_eq(g[0].cycles, 1);
    cr_expect_eq(g[0].objects, 2);
}

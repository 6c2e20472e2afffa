/*
 * test_weakref.c — weak references: the seed's cycle broken with weak references, get/count, callback order,
 * and the collector's rules (cleared before finalizers, no callback for garbage weak references, uncollectable
 * objects keep theirs). Every test ends with nothing leaked.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "leakcheck.h"
#include "testnode.h"

static const ms_type node_type = {
    .name = "Node", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs,
};
static const ms_type plain_type = { .name = "Plain", .size = sizeof(node), .ref_offsets = node_refs };
static const ms_type legacy_type = {
    .name = "Legacy", .size = sizeof(node), .flags = MS_TYPE_GC | MS_TYPE_LEGACY_FINALIZER,
    .ref_offsets = node_refs,
};

LEAK_CHECKED_SUITE(weakref);

static void no_leaks(void)
{
    leak_check(leak_start);
}




/* The callback log: which weakref (by its arg, an int) was called, and whether it still saw a referent. */
static int calls[16];
static int ncalls;
static int saw_referent;
static void record(ms_weakref *ref, void *arg)
{
    if (ncalls < 16)
        calls[ncalls] = (int)(intptr_t)arg;
    ncalls++;
    ms_object *o = ms_weakref_get(ref);
    if (o) {
        saw_referent++;
        ms_decref(o);
    }
}

/* Seed section 4: n1.next = weakref.ref(n2); n2.next = weakref.ref(n1) — no cycle, refcounting frees both. */
CHECKED_TEST(weakref, weak_links_break_the_cycle)
{
    node *n1 = new_node(&node_type, 1), *n2 = new_node(&node_type, 2);
    n1->next = (ms_object *)ms_weakref_new((ms_object *)n2, NULL, NULL);
    n2->next = (ms_object *)ms_weakref_new((ms_object *)n1, NULL, NULL);
    cr_assert_not_null(n1->next);
    cr_assert_not_null(n2->next);
    cr_expect_eq(ms_refcount((ms_object *)n1), 1, "a weak reference does not count");
    cr_expect_eq(ms_weakref_count((ms_object *)n1), 1);

    ms_object *back = ms_weakref_get((ms_weakref *)n1->next);
    cr_expect_eq(back, (ms_object *)n2);
    cr_expect_eq(ms_refcount(back), 2, "get returns a new reference");
    ms_decref(back);

    ms_gc_stats before[3], after[3];
    ms_gc_get_stats(before);
    ms_weakref *w1 = (ms_weakref *)n2->next;
    ms_incref((ms_object *)w1);
    ms_decref((ms_object *)n1); /* del n1: freed at once */
    cr_expect_eq(live(&node_type), 1);
    cr_expect_null(ms_weakref_get(w1), "the weak reference to n1 is dead");
    cr_expect_null(ms_weakref_peek(w1));
    ms_decref((ms_object *)w1);
    ms_decref((ms_object *)n2);
    ms_gc_get_stats(after);
    cr_expect_eq(live(&node_type), 0);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(after[i].collections, before[i].collections, "no collection was needed");
}

CHECKED_TEST(weakref, new_rejects_null)
{
    errno = 0;
    cr_expect_null(ms_weakref_new(NULL, NULL, NULL));
    cr_expect_eq(errno, EINVAL);
}

CHECKED_TEST(weakref, count_follows_weakref_lifetimes)
{
    node *o = new_node(&plain_type, 0);
    ms_weakref *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = ms_weakref_new((ms_object *)o, NULL, NULL);
    cr_expect_eq(ms_weakref_count((ms_object *)o), 3);
    cr_expect_str_eq(ms_type_name((ms_object *)w[0]), "weakref");
    cr_expect_eq(ms_type_of((ms_object *)w[0]), ms_weakref_type());
    ms_decref((ms_object *)w[1]); /* middle */
    cr_expect_eq(ms_weakref_count((ms_object *)o), 2);
    ms_decref((ms_object *)w[2]); /* newest: the list head */
    cr_expect_eq(ms_weakref_count((ms_object *)o), 1);
    ms_decref((ms_object *)w[0]);
    cr_expect_eq(ms_weakref_count((ms_object *)o), 0);
    ms_decref((ms_object *)o);
}

CHECKED_TEST(weakref, callbacks_run_newest_first_after_death)
{
    node *o = new_node(&plain_type, 0);
    ms_weakref *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = ms_weakref_new((ms_object *)o, record, (void *)(intptr_t)(i + 1));
    ms_weakref *silent = ms_weakref_new((ms_object *)o, NULL, NULL);
    ms_decref((ms_object *)o);
    cr_assert_eq(ncalls, 3);
    /* CPython: weakref.ref callbacks 1, 2, 3 are called as 3, 2, 1. */
    cr_expect_eq(calls[0], 3);
    cr_expect_eq(calls[1], 2);
    cr_expect_eq(calls[2], 1);
    cr_expect_eq(saw_referent, 0, "callbacks never see the referent");
    for (int i = 0; i < 3; i++)
        ms_decref((ms_object *)w[i]);
    cr_expect_null(ms_weakref_peek(silent));
    ms_decref((ms_object *)silent);
}

static ms_weakref *self_dropping;
static void drop_self(ms_weakref *ref, void *arg)
{
    (void)arg;
    cr_expect_eq(ref, self_dropping);
    ms_decref((ms_object *)ref); /* the last reference of the application */
    self_dropping = NULL;
    ncalls++;
}

CHECKED_TEST(weakref, callback_may_drop_its_own_weakref)
{
    node *o = new_node(&plain_type, 0);
    self_dropping = ms_weakref_new((ms_object *)o, drop_self, NULL);
    ms_decref((ms_object *)o);
    cr_expect_eq(ncalls, 1);
    cr_expect_null(self_dropping);
}

CHECKED_TEST(weakref, weakref_to_weakref_and_to_itself_die_cleanly)
{
    node *o = new_node(&plain_type, 0);
    ms_weakref *w = ms_weakref_new((ms_object *)o, NULL, NULL);
    ms_weakref *ww = ms_weakref_new((ms_object *)w, record, (void *)(intptr_t)9);
    ms_decref((ms_object *)w);
    cr_expect_eq(ncalls, 1);
    cr_expect_eq(calls[0], 9);
    ms_decref((ms_object *)ww);
    ms_decref((ms_object *)o);
}

/* During a collection: weak references that survive get callbacks, those that are garbage do not. */
CHECKED_TEST(weakref, collection_calls_back_only_surviving_weakrefs)
{
    node *a = new_node(&node_type, 1), *b = new_node(&node_type, 2);
    link_pair(a, b);
    ms_weakref *outside = ms_weakref_new((ms_object *)a, record, (void *)(intptr_t)1);
    /* A weak reference owned by the cycle itself: garbage with it. */
    a->other = (ms_object *)ms_weakref_new((ms_object *)b, record, (void *)(intptr_t)2);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 3, "a, b and the weak reference they owned");
    cr_expect_eq(ncalls, 1);
    cr_expect_eq(calls[0], 1);
    cr_expect_eq(saw_referent, 0);
    cr_expect_null(ms_weakref_peek(outside));
    cr_expect_eq(live(&node_type), 0);
    ms_decref((ms_object *)outside);
}

/* Weak references to garbage are cleared before any finalizer runs (CPython's handle_weakrefs comes first). */
static ms_weakref *partner_ref;
static int finalizer_saw_partner = -1;
static void check_partner(ms_object *self)
{
    (void)self;
    finalizer_saw_partner = ms_weakref_peek(partner_ref) != NULL;
}
static const ms_type final_type = {
    .name = "Final", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs,
    .finalize = check_partner,
};

CHECKED_TEST(weakref, cleared_before_finalizers)
{
    node *a = new_node(&final_type, 1), *b = new_node(&node_type, 2);
    link_pair(a, b);
    partner_ref = ms_weakref_new((ms_object *)b, NULL, NULL);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(finalizer_saw_partner, 0);
    ms_decref((ms_object *)partner_ref);
}

CHECKED_TEST(weakref, uncollectable_objects_keep_their_weakrefs)
{
    node *l = new_node(&legacy_type, 1), *b = new_node(&node_type, 2);
    link_pair(l, b);
    ms_weakref *w = ms_weakref_new((ms_object *)b, record, NULL);
    ms_decref((ms_object *)l);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(ms_gc_garbage_count(), 1);
    cr_expect_eq(ncalls, 0);
    cr_expect_eq(ms_weakref_peek(w), (ms_object *)b);
    MS_CLEAR(l->next); /* b dies now: its weak reference calls back */
    cr_expect_eq(ncalls, 1);
    cr_expect_null(ms_weakref_peek(w));
    ms_gc_garbage_clear();
    ms_decref((ms_object *)w);
}

/* The side table under churn: many referents, several weak references each, freed in random order. */
CHECKED_TEST(weakref, table_survives_churn)
{
    enum { N = 3000 };
    static node *objs[N];
    static ms_weakref *refs[N][3];
    static int nrefs[N];
    unsigned seed = 12345;
    for (int i = 0; i < N; i++) {
        objs[i] = new_node(i % 3 ? &plain_type : &node_type, i);
        nrefs[i] = 1 + (int)(rand_r(&seed) % 3);
        for (int k = 0; k < nrefs[i]; k++)
            cr_assert_not_null(refs[i][k] = ms_weakref_new((ms_object *)objs[i], NULL, NULL));
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(ms_weakref_count((ms_object *)objs[i]), (size_t)nrefs[i], "object %d", i);
    /* Drop some weak references, then half of the objects, in a shuffled order. */
    static int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rand_r(&seed) % (unsigned)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < N; i++) {
        int o = order[i];
        if (nrefs[o] > 1) {
            ms_decref((ms_object *)refs[o][0]);
            refs[o][0] = refs[o][--nrefs[o]];
        }
        if (i % 2) {
            ms_decref((ms_object *)objs[o]);
            objs[o] = NULL;
        }
    }
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < nrefs[i]; k++)
            cr_assert_eq(ms_weakref_peek(refs[i][k]), (ms_object *)objs[i], "object %d ref %d", i, k);
        if (objs[i])
            cr_assert_eq(ms_weakref_count((ms_object *)objs[i]), (size_t)nrefs[i], "object %d", i);
    }
    for (int i = 0; i < N; i++) {
        if (objs[i])
            ms_decref((ms_object *)objs[i]);
        for (int k = 0; k < nrefs[i]; k++)
            ms_decref((ms_object *)refs[i][k]);
    }
}

/* Regression: an object parked by the trashcan (destruction deeper than its limit) must already read as dead
 * through its weak references, although its memory is not freed yet. */
enum { CHAIN = 300 };
static ms_weakref *chain_refs[CHAIN];
static int parked_seen_alive;
static void chain_dealloc(ms_object *self)
{
    /* clear() dropped the only reference to node i+1: destroyed, or parked if the nesting got too deep. (Nodes
     * beyond it may well be alive: a parked node still owns its references.) */
    long j = ((node *)self)->value + 1;
    if (j >= CHAIN)
        return;
    ms_object *o = ms_weakref_get(chain_refs[j]);
    if (o || ms_weakref_peek(chain_refs[j])) {
        cr_log_error("node %ld reads as alive while its count is 0", j);
        parked_seen_alive++;
    }
    ms_xdecref(o);
}
static const ms_type chain_type = {
    .name = "ChainLink", .size = sizeof(node), .ref_offsets = node_refs, .dealloc = chain_dealloc,
};

CHECKED_TEST(weakref, objects_parked_in_the_trashcan_read_as_dead)
{
    node *head = new_node(&chain_type, 0), *tail = head;
    chain_refs[0] = ms_weakref_new((ms_object *)head, NULL, NULL);
    for (long i = 1; i < CHAIN; i++) {
        node *x = new_node(&chain_type, i);
        chain_refs[i] = ms_weakref_new((ms_object *)x, NULL, NULL);
        tail->next = (ms_object *)x;
        tail = x;
    }
    ms_decref((ms_object *)head);
    cr_expect_eq(parked_seen_alive, 0, "%d weak references resolved to dying objects", parked_seen_alive);
    cr_expect_eq(live(&chain_type), 0);
    for (int i = 0; i < CHAIN; i++) {
        cr_expect_null(ms_weakref_peek(chain_refs[i]));
        ms_decref((ms_object *)chain_refs[i]);
    }
}

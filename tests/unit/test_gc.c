/*
 * test_gc.c — the cycle collector: the seed's cycle, enable/disable, thresholds and generations, the 25% rule,
 * finalizers and resurrection, legacy finalizers, SAVEALL, freeze, referrers/referents, callbacks, tracking.
 * Every test ends with nothing leaked.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "leakcheck.h"
#include "testnode.h"

static const ms_type node_type = {
    .name = "Node", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse, .clear = node_clear,
};
static const ms_type fast_type = {
    .name = "FastNode", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs,
};
static const ms_type legacy_type = {
    .name = "Legacy", .size = sizeof(node), .flags = MS_TYPE_GC | MS_TYPE_LEGACY_FINALIZER,
    .traverse = node_traverse, .clear = node_clear,
};

/* Finalizer bookkeeping. */
static int finalized[16];   /* by node value */
static ms_object *lifeboat; /* where a resurrecting finalizer saves its object */
static bool resurrect;
static ssize_t nested_collect = 1;
static void finalize(ms_object *self)
{
    node *n = (node *)self;
    finalized[n->value]++;
    nested_collect = ms_gc_collect(2); /* a collection inside a finalizer is a no-op */
    if (resurrect && !lifeboat) {
        ms_incref(self);
        lifeboat = self;
    }
}
static const ms_type final_type = {
    .name = "Final", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse, .clear = node_clear,
    .finalize = finalize,
};

LEAK_CHECKED_SUITE(gc);

static void no_leaks(void)
{
    ms_gc_set_debug(0);
    ms_gc_garbage_clear();
    ms_gc_unfreeze();
    leak_check(leak_start);
}




/* Seed section 2: the two-node cycle survives del, gc.collect() returns 2 and frees both. */
static void two_node_cycle(const ms_type *t)
{
    node *n1 = new_node(t, 1), *n2 = new_node(t, 2);
    link_pair(n1, n2);
    ms_decref((ms_object *)n1);
    ms_decref((ms_object *)n2);
    cr_expect_eq(live(t), 2, "reference counting alone cannot free a cycle");
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(live(t), 0);
    cr_expect_eq(ms_gc_collect(2), 0, "nothing left to find");
}

CHECKED_TEST(gc, two_node_cycle_is_collected) { two_node_cycle(&node_type); }
CHECKED_TEST(gc, two_node_cycle_is_collected_ref_offsets) { two_node_cycle(&fast_type); }

CHECKED_TEST(gc, reachable_cycle_survives)
{
    node *n1 = new_node(&node_type, 1), *n2 = new_node(&node_type, 2);
    link_pair(n1, n2);
    ms_decref((ms_object *)n2);
    cr_expect_eq(ms_gc_collect(2), 0);
    cr_expect_eq(live(&node_type), 2);
    cr_expect_eq(ms_refcount((ms_object *)n1), 2, "refcounts are restored after a collection");
    cr_expect_eq(ms_refcount((ms_object *)n2), 1);
    cr_expect_eq(((node *)n1->next)->value, 2);
    ms_decref((ms_object *)n1);
    cr_expect_eq(ms_gc_collect(2), 2);
}

CHECKED_TEST(gc, collect_rejects_bad_generation)
{
    cr_expect_eq(ms_gc_collect(-1), -EINVAL);
    cr_expect_eq(ms_gc_collect(3), -EINVAL);
}

/* Seed section 2: gc.isenabled() is True by default; gc.disable(); gc.collect() by hand. */
CHECKED_TEST(gc, enabled_by_default_disable_and_collect_by_hand)
{
    cr_expect(ms_gc_is_enabled());
    ms_gc_disable();
    cr_expect_not(ms_gc_is_enabled());
    ms_gc_stats before[3], after[3];
    ms_gc_get_stats(before);
    for (int i = 0; i < 2000; i++) { /* far beyond threshold 700, all garbage cycles */
        node *a = new_node(&node_type, 0), *b = new_node(&node_type, 0);
        link_pair(a, b);
        ms_decref((ms_object *)a);
        ms_decref((ms_object *)b);
    }
    ms_gc_get_stats(after);
    cr_expect_eq(after[0].collections, before[0].collections, "no automatic collection while disabled");
    cr_expect_eq(live(&node_type), 4000);
    int count[3];
    ms_gc_get_count(count);
    cr_expect_eq(count[0], 4000);
    cr_expect_eq(ms_gc_collect(2), 4000);
    ms_gc_get_count(count);
    cr_expect_eq(count[0], 0);
    ms_gc_enable();
    cr_expect(ms_gc_is_enabled());
}

CHECKED_TEST(gc, threshold_triggers_generation0_and_counts)
{
    int th[3];
    ms_gc_get_threshold(th);
    cr_expect_eq(th[0], 700);
    cr_expect_eq(th[1], 10);
    cr_expect_eq(th[2], 10);
    cr_assert_eq(ms_gc_set_threshold(10, 3, 1000), 0);
    cr_expect_eq(ms_gc_set_threshold(-1, 0, 0), -EINVAL);
    ms_gc_get_threshold(th);
    cr_expect_eq(th[0], 10);

    ms_gc_stats st[3];
    int count[3];
    /* 10 allocations: count 10, not above the threshold yet. */
    node *keep[11];
    for (int i = 0; i < 10; i++)
        keep[i] = new_node(&node_type, i);
    ms_gc_get_count(count);
    cr_expect_eq(count[0], 10);
    ms_gc_get_stats(st);
    cr_expect_eq(st[0].collections, 0);
    /* The 11th: count 11 > 10, generation 0 is collected (before the new object exists). */
    keep[10] = new_node(&node_type, 10);
    ms_gc_get_stats(st);
    cr_expect_eq(st[0].collections, 1);
    ms_gc_get_count(count);
    cr_expect_eq(count[0], 0, "reset by the collection that the allocation triggered (as in CPython)");
    cr_expect_eq(count[1], 1);
    cr_expect_eq(ms_gc_tracked_count(1), 10, "the survivors were promoted to generation 1");
    cr_expect_eq(ms_gc_tracked_count(0), 1);
    /* Allocations count +1, frees -1 (never below 0). */
    node *extra = new_node(&node_type, 11);
    ms_gc_get_count(count);
    cr_expect_eq(count[0], 1);
    ms_decref((ms_object *)extra);
    ms_gc_get_count(count);
    cr_expect_eq(count[0], 0);
    ms_decref((ms_object *)keep[10]);
    ms_gc_get_count(count);
    cr_expect_eq(count[0], 0);
    for (int i = 0; i < 10; i++)
        ms_decref((ms_object *)keep[i]);
}

CHECKED_TEST(gc, garbage_is_collected_automatically)
{
    ms_gc_set_threshold(100, 10, 10);
    for (int i = 0; i < 5000; i++) {
        node *a = new_node(&node_type, 0), *b = new_node(&node_type, 0);
        link_pair(a, b);
        ms_decref((ms_object *)a);
        ms_decref((ms_object *)b);
    }
    cr_expect_leq(live(&node_type), 1000, "garbage does not pile up: %llu of 10000 alive",
                  (unsigned long long)live(&node_type));
    ms_gc_stats st[3];
    ms_gc_get_stats(st);
    cr_expect_gt(st[0].collections, 40);
    cr_expect_gt(st[1].collections, 0, "every 11th collection of generation 0 collects generation 1");
    cr_expect_gt(st[0].collected, 0);
    ms_gc_collect(2);
    cr_expect_eq(live(&node_type), 0);
}

CHECKED_TEST(gc, promotion_through_generations)
{
    node *a = new_node(&node_type, 0);
    cr_expect_eq(ms_gc_tracked_count(0), 1);
    ms_gc_collect(0);
    cr_expect_eq(ms_gc_tracked_count(0), 0);
    cr_expect_eq(ms_gc_tracked_count(1), 1);
    ms_gc_collect(1);
    cr_expect_eq(ms_gc_tracked_count(1), 0);
    cr_expect_eq(ms_gc_tracked_count(2), 1);
    ms_gc_collect(2);
    cr_expect_eq(ms_gc_tracked_count(2), 1, "generation 2 survivors stay there");
    cr_expect_eq(ms_gc_tracked_count(-1), 1);
    ms_decref((ms_object *)a);
    cr_expect_eq(ms_gc_tracked_count(-1), 0);
}

CHECKED_TEST(gc, young_collection_ignores_old_cycles_until_full)
{
    node *a = new_node(&node_type, 0), *b = new_node(&node_type, 1);
    link_pair(a, b);
    ms_gc_collect(1); /* promote both to generation 2 */
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(0), 0);
    cr_expect_eq(ms_gc_collect(1), 0);
    cr_expect_eq(live(&node_type), 2);
    cr_expect_eq(ms_gc_collect(2), 2);
}

CHECKED_TEST(gc, old_object_keeps_young_cycle_alive)
{
    node *old = new_node(&node_type, 0);
    ms_gc_collect(1);
    node *a = new_node(&node_type, 1), *b = new_node(&node_type, 2);
    link_pair(a, b);
    old->next = (ms_object *)a; /* steals our reference to a */
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(0), 0, "a reference from an older generation counts as external");
    cr_expect_eq(live(&node_type), 3);
    ms_decref((ms_object *)old);
    cr_expect_eq(ms_gc_collect(2), 2);
}

/* CPython's rule: a full collection waits until long_lived_pending > long_lived_total / 4. */
CHECKED_TEST(gc, full_collection_waits_for_25_percent_new_long_lived)
{
    enum { OLD = 400 };
    static node *olds[OLD];
    for (int i = 0; i < OLD; i++)
        olds[i] = new_node(&node_type, 0);
    ms_gc_collect(2); /* long_lived_total = 400 */
    ms_gc_set_threshold(1, 1, 1);
    ms_gc_stats st[3];
    static node *young[200];
    /* Every second allocation collects generation 0; every second of those generation 1, and every second of
     * those would like a full collection. Survivors reaching generation 2 stay below 100 = 400 / 4 here. */
    int n = 0;
    for (; n < 60; n++)
        young[n] = new_node(&node_type, 0);
    ms_gc_get_stats(st);
    cr_expect_gt(st[1].collections, 2);
    cr_expect_eq(st[2].collections, 1, "only the manual full collection so far");
    int count[3];
    ms_gc_get_count(count);
    cr_expect_gt(count[2], 1, "generation 2 is over its threshold but waits");
    for (; n < 200; n++)
        young[n] = new_node(&node_type, 0);
    ms_gc_get_stats(st);
    cr_expect_gt(st[2].collections, 1, "more than 100 new long-lived objects: a full collection ran");
    ms_gc_set_threshold(700, 10, 10);
    for (int i = 0; i < n; i++)
        ms_decref((ms_object *)young[i]);
    for (int i = 0; i < OLD; i++)
        ms_decref((ms_object *)olds[i]);
}

CHECKED_TEST(gc, finalizers_run_once_and_cycle_is_freed)
{
    node *a = new_node(&final_type, 1), *b = new_node(&final_type, 2);
    link_pair(a, b);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(finalized[1], 1);
    cr_expect_eq(finalized[2], 1);
    cr_expect_eq(nested_collect, 0);
    cr_expect_eq(live(&final_type), 0);
}

CHECKED_TEST(gc, finalizer_resurrection)
{
    resurrect = true;
    node *a = new_node(&final_type, 1), *b = new_node(&final_type, 2);
    link_pair(a, b);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 0, "the finalizer made the whole cycle reachable again");
    cr_assert_not_null(lifeboat);
    cr_expect_eq(live(&final_type), 2);
    cr_expect_eq(finalized[1] + finalized[2], 2);
    node *saved = (node *)lifeboat;
    cr_expect_not_null(saved->next, "a resurrected object was not cleared");
    cr_expect_not_null(((node *)saved->next)->next);
    /* Drop the lifeboat: garbage again, and finalizers never run twice. */
    resurrect = false;
    ms_object *l = lifeboat;
    lifeboat = NULL;
    ms_decref(l);
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(finalized[1], 1);
    cr_expect_eq(finalized[2], 1);
    cr_expect_null(lifeboat);
    cr_expect_eq(live(&final_type), 0);
}

CHECKED_TEST(gc, partial_resurrection_frees_only_the_rest)
{
    /* Cycle a <-> b, and c -> a where c is a separate garbage cycle member with itself. Only a resurrects
     * (first finalizer to run saves itself), which keeps b alive too; c is freed. */
    resurrect = true;
    node *a = new_node(&final_type, 1), *b = new_node(&final_type, 2), *c = new_node(&node_type, 3);
    link_pair(a, b);
    ms_incref((ms_object *)c);
    c->next = (ms_object *)c; /* self cycle */
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    ms_decref((ms_object *)c);
    cr_expect_eq(ms_gc_collect(2), 1);
    cr_expect_eq(live(&node_type), 0);
    cr_expect_eq(live(&final_type), 2);
    resurrect = false;
    ms_object *l = lifeboat;
    lifeboat = NULL;
    ms_decref(l);
    cr_expect_eq(ms_gc_collect(2), 2);
}

CHECKED_TEST(gc, legacy_finalizer_cycle_goes_to_garbage)
{
    node *l = new_node(&legacy_type, 1), *n = new_node(&node_type, 2), *tail = new_node(&node_type, 3);
    link_pair(l, n);
    n->other = (ms_object *)tail; /* reachable from the legacy cycle: kept too */
    ms_decref((ms_object *)l);
    ms_decref((ms_object *)n);
    cr_expect_eq(ms_gc_collect(2), 3, "uncollectable objects count in the result, as in CPython");
    ms_gc_stats st[3];
    ms_gc_get_stats(st);
    cr_expect_eq(st[2].uncollectable, 3);
    cr_expect_eq(st[2].collected, 0);
    cr_assert_eq(ms_gc_garbage_count(), 1, "only the object with the legacy finalizer is listed");
    cr_expect_eq(ms_gc_garbage_get(0), (ms_object *)l);
    cr_expect_null(ms_gc_garbage_get(1));
    cr_expect_eq(live(&node_type), 2);
    cr_expect_not_null(n->next, "uncollectable objects are not cleared");
    /* The application breaks the cycle by hand, as one does with gc.garbage. */
    MS_CLEAR(l->next);
    ms_gc_garbage_clear();
    cr_expect_eq(ms_gc_garbage_count(), 0);
    cr_expect_eq(live(&legacy_type), 0);
    cr_expect_eq(live(&node_type), 0);
}

CHECKED_TEST(gc, legacy_object_only_reachable_from_a_cycle_dies_normally)
{
    node *l = new_node(&legacy_type, 1);
    ms_decref((ms_object *)l);
    cr_expect_eq(live(&legacy_type), 0, "outside cycles a legacy object dies by reference count");
    /* Garbage reachable from a cycle but not in one, and reaching nothing: the cycle is not reachable from it,
     * so the cycle is collected, and the legacy object dies when clear() drops its last reference (CPython). */
    node *a = new_node(&node_type, 0), *b = new_node(&node_type, 0);
    link_pair(a, b);
    a->other = (ms_object *)new_node(&legacy_type, 2);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(ms_gc_garbage_count(), 0);
    cr_expect_eq(live(&legacy_type), 0);
    cr_expect_eq(live(&node_type), 0);
}

/* Seed section 5: gc.garbage with DEBUG_SAVEALL lists everything collected. */
CHECKED_TEST(gc, saveall_puts_garbage_in_the_list)
{
    ms_gc_set_debug(MS_GC_DEBUG_SAVEALL);
    cr_expect_eq(ms_gc_get_debug(), MS_GC_DEBUG_SAVEALL);
    node *a = new_node(&node_type, 1), *b = new_node(&node_type, 2);
    link_pair(a, b);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_assert_eq(ms_gc_garbage_count(), 2);
    ms_object *g0 = ms_gc_garbage_get(0), *g1 = ms_gc_garbage_get(1);
    cr_expect((g0 == (ms_object *)a && g1 == (ms_object *)b) || (g0 == (ms_object *)b && g1 == (ms_object *)a));
    cr_expect_eq(live(&node_type), 2);
    cr_expect_not_null(a->next, "saved objects are not cleared");
    cr_expect_eq(ms_gc_collect(2), 0, "the garbage list keeps them reachable");
    ms_gc_set_debug(0);
    ms_gc_garbage_clear();
    cr_expect_eq(live(&node_type), 2, "still a cycle");
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(live(&node_type), 0);
}

CHECKED_TEST(gc, freeze_hides_objects_from_collections)
{
    node *a = new_node(&node_type, 1), *b = new_node(&node_type, 2);
    link_pair(a, b);
    ms_gc_freeze();
    cr_expect_eq(ms_gc_get_freeze_count(), 2);
    cr_expect_eq(ms_gc_tracked_count(-1), 0);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 0);
    cr_expect_eq(live(&node_type), 2);
    ms_gc_unfreeze();
    cr_expect_eq(ms_gc_get_freeze_count(), 0);
    cr_expect_eq(ms_gc_tracked_count(2), 2, "unfreeze moves them to the oldest generation");
    cr_expect_eq(ms_gc_collect(2), 2);
}

CHECKED_TEST(gc, referrers_and_referents)
{
    node *a = new_node(&node_type, 1), *b = new_node(&node_type, 2), *c = new_node(&fast_type, 3);
    node *target = new_node(&node_type, 4);
    ms_incref((ms_object *)target);
    a->next = (ms_object *)target;
    ms_incref((ms_object *)target);
    c->other = (ms_object *)target;
    ms_incref((ms_object *)target);
    c->next = (ms_object *)target; /* twice from c: c is listed once */
    ms_object *out[8];
    size_t n = ms_gc_get_referrers((ms_object *)target, out, 8);
    cr_assert_eq(n, 2);
    cr_expect((out[0] == (ms_object *)a && out[1] == (ms_object *)c) ||
              (out[0] == (ms_object *)c && out[1] == (ms_object *)a));
    cr_expect_eq(ms_gc_get_referrers((ms_object *)target, out, 1), 2, "the total even when out is short");
    cr_expect_eq(ms_gc_get_referrers((ms_object *)b, out, 8), 0);

    n = ms_gc_get_referents((ms_object *)c, out, 8);
    cr_assert_eq(n, 2);
    cr_expect_eq(out[0], (ms_object *)target);
    cr_expect_eq(out[1], (ms_object *)target);
    cr_expect_eq(ms_gc_get_referents((ms_object *)b, out, 8), 0);
    n = ms_gc_get_referents((ms_object *)a, out, 8);
    cr_expect_eq(n, 1);
    cr_expect_eq(out[0], (ms_object *)target);

    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    ms_decref((ms_object *)c);
    cr_expect_eq(ms_refcount((ms_object *)target), 1);
    ms_decref((ms_object *)target);
}

typedef struct cb_log {
    int calls;
    ms_gc_phase phases[8];
    ms_gc_info infos[8];
} cb_log;

static void on_gc(ms_gc_phase phase, const ms_gc_info *info, void *arg)
{
    cb_log *log = arg;
    if (log->calls < 8) {
        log->phases[log->calls] = phase;
        log->infos[log->calls] = *info;
    }
    log->calls++;
}

CHECKED_TEST(gc, callbacks_see_start_and_stop)
{
    cb_log log = { 0 };
    cr_assert_eq(ms_gc_callback_add(on_gc, &log), 0);
    node *a = new_node(&node_type, 1), *b = new_node(&node_type, 2);
    link_pair(a, b);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    ms_gc_collect(1);
    cr_assert_eq(log.calls, 2);
    cr_expect_eq(log.phases[0], MS_GC_PHASE_START);
    cr_expect_eq(log.infos[0].generation, 1);
    cr_expect_eq(log.infos[0].collected, 0);
    cr_expect_eq(log.phases[1], MS_GC_PHASE_STOP);
    cr_expect_eq(log.infos[1].generation, 1);
    cr_expect_eq(log.infos[1].collected, 2);
    cr_expect_eq(log.infos[1].uncollectable, 0);
    cr_expect_eq(ms_gc_callback_remove(on_gc, &log), 0);
    cr_expect_eq(ms_gc_callback_remove(on_gc, &log), -ENOENT);
    ms_gc_collect(2);
    cr_expect_eq(log.calls, 2);
}

CHECKED_TEST(gc, stats_record_pauses)
{
    node *a = new_node(&node_type, 1), *b = new_node(&node_type, 2);
    link_pair(a, b);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    ms_gc_collect(2);
    ms_gc_stats st[3];
    ms_gc_get_stats(st);
    cr_expect_eq(st[2].collections, 1);
    cr_expect_eq(st[2].collected, 2);
    cr_expect_gt(st[2].pause_ns_total, 0);
    cr_expect_geq(st[2].pause_ns_total, st[2].pause_ns_max);
    cr_expect_gt(st[2].pause_ns_max, 0);
    cr_expect_eq(st[0].collections, 0);
}

CHECKED_TEST(gc, untracked_cycle_is_never_collected)
{
    node *a = new_node(&node_type, 1), *b = new_node(&node_type, 2);
    link_pair(a, b);
    ms_gc_untrack((ms_object *)a);
    ms_gc_untrack((ms_object *)a); /* idempotent */
    cr_expect_not(ms_gc_is_tracked((ms_object *)a));
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 0, "a is an unknown container: its reference to b counts as external");
    cr_expect_eq(live(&node_type), 2);
    cr_expect_eq(ms_gc_track((ms_object *)a), 0);
    cr_expect_eq(ms_gc_track((ms_object *)a), 0);
    cr_expect_eq(ms_gc_collect(2), 2);

    static const ms_type plain = { .name = "Plain", .size = sizeof(node) };
    ms_object *p = ms_new(&plain);
    cr_expect_eq(ms_gc_track(p), -EINVAL);
    cr_expect_not(ms_gc_is_tracked(p));
    ms_decref(p);
}

CHECKED_TEST(gc, long_cycle_is_collected_iteratively)
{
    /* 200k nodes in one ring: move_unreachable and the teardown must not recurse with the ring's length. */
    enum { N = 200000 };
    node *first = new_node(&node_type, 0), *prev = first;
    for (int i = 1; i < N; i++) {
        node *n = new_node(i % 2 ? &node_type : &fast_type, 0);
        prev->next = (ms_object *)n; /* steals our reference */
        prev = n;
    }
    prev->next = (ms_object *)first; /* steals our reference to first */
    cr_expect_eq(ms_gc_collect(2), N);
    cr_expect_eq(live(&node_type) + live(&fast_type), 0);
}

/* Code run by a collection may allocate tracked objects: no nested collection starts, and the new objects are
 * untouched by the running one. */
static node *made_in_finalizer;
static void allocating_finalize(ms_object *self)
{
    (void)self;
    for (int i = 0; i < 50; i++) { /* past the threshold set below */
        node *n = (node *)ms_new(&node_type);
        cr_assert_not_null(n);
        MS_SETREF(made_in_finalizer, n);
    }
}
static const ms_type allocating_type = {
    .name = "Allocating", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse,
    .clear = node_clear, .finalize = allocating_finalize,
};

CHECKED_TEST(gc, finalizer_may_allocate_during_a_collection)
{
    ms_gc_set_threshold(5, 10, 10);
    node *a = new_node(&allocating_type, 0), *b = new_node(&node_type, 1);
    link_pair(a, b);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    ms_gc_stats st[3];
    ms_gc_get_stats(st);
    uint64_t before = st[0].collections + st[1].collections + st[2].collections;
    cr_expect_eq(ms_gc_collect(2), 2);
    ms_gc_get_stats(st);
    cr_expect_eq(st[0].collections + st[1].collections + st[2].collections, before + 1, "no nested collection");
    cr_assert_not_null(made_in_finalizer);
    cr_expect(ms_gc_is_tracked((ms_object *)made_in_finalizer));
    cr_expect_eq(live(&node_type), 1, "the object made by the finalizer survives");
    MS_CLEAR(made_in_finalizer);
    ms_gc_set_threshold(700, 10, 10);
}

/* A finalizer that breaks its own cycle: the objects die during the finalizer phase, by reference counting. */
static void breaking_finalize(ms_object *self) { MS_CLEAR(((node *)self)->next); }
static const ms_type breaking_type = {
    .name = "Breaking", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse,
    .clear = node_clear, .finalize = breaking_finalize,
};

CHECKED_TEST(gc, finalizer_that_breaks_the_cycle)
{
    node *a = new_node(&breaking_type, 0), *b = new_node(&breaking_type, 1), *c = new_node(&node_type, 2);
    link_pair(a, b);
    a->other = (ms_object *)c;
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_geq(ms_gc_collect(2), 0);
    cr_expect_eq(live(&breaking_type), 0);
    cr_expect_eq(live(&node_type), 0);
}

static int nested_results[4];
static int nested_calls;
static void collecting_callback(ms_gc_phase phase, const ms_gc_info *info, void *arg)
{
    (void)info;
    (void)arg;
    if (nested_calls < 4)
        nested_results[nested_calls] = (int)ms_gc_collect(2);
    nested_calls++;
    if (phase == MS_GC_PHASE_STOP)
        cr_expect_eq(ms_gc_callback_remove(collecting_callback, NULL), 0, "a callback may remove itself");
}

CHECKED_TEST(gc, callbacks_cannot_nest_collections_and_may_remove_themselves)
{
    cr_assert_eq(ms_gc_callback_add(collecting_callback, NULL), 0);
    node *a = new_node(&node_type, 0), *b = new_node(&node_type, 1);
    link_pair(a, b);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(nested_calls, 2);
    cr_expect_eq(nested_results[0], 0);
    cr_expect_eq(nested_results[1], 0);
    ms_gc_collect(2);
    cr_expect_eq(nested_calls, 2, "removed");
}

/* Many small cycles, several generations, mixed with survivors: counts add up exactly. */
CHECKED_TEST(gc, exact_counts_over_many_cycles)
{
    ms_gc_disable();
    enum { CYCLES = 3000 };
    static node *keep[CYCLES];
    for (int i = 0; i < CYCLES; i++) {
        node *a = new_node(i % 2 ? &node_type : &fast_type, 0), *b = new_node(&node_type, 1);
        link_pair(a, b);
        ms_decref((ms_object *)b);
        keep[i] = a;
        if (i % 1000 == 999)
            ms_gc_collect(i / 1000 % 3); /* spread them over the generations */
    }
    for (int i = 0; i < CYCLES; i += 3)
        MS_CLEAR(keep[i]);
    cr_expect_eq(ms_gc_collect(2), 2 * ((CYCLES + 2) / 3));
    for (int i = 0; i < CYCLES; i++)
        ms_xdecref((ms_object *)keep[i]);
    cr_expect_eq(ms_gc_collect(2), 2 * (CYCLES - (CYCLES + 2) / 3));
    ms_gc_enable();
}

/* A type whose references sit in an owned array, declared through ref_array_offset (and one field through
 * ref_offsets): the collector visits both without a traverse function. */
typedef struct bag {
    MS_OBJECT_HEAD;
    ms_object *label;
    ms_object **items;
    size_t len;
} bag;
static void bag_clear(ms_object *self)
{
    bag *b = (bag *)self;
    MS_CLEAR(b->label);
    while (b->items) {
        ms_object **items = b->items;
        size_t n = b->len;
        b->items = NULL;
        b->len = 0;
        while (n > 0)
            ms_xdecref(items[--n]);
        ms_free(items);
    }
}
static const size_t bag_fields[] = { offsetof(bag, label), 0 };
static const ms_type bag_type = {
    .name = "Bag", .size = sizeof(bag), .flags = MS_TYPE_GC, .clear = bag_clear, .ref_offsets = bag_fields,
    .ref_array_offset = offsetof(bag, items), .ref_array_len_offset = offsetof(bag, len),
};

static bag *new_bag(size_t n)
{
    bag *b = (bag *)ms_new(&bag_type);
    cr_assert_not_null(b);
    b->items = ms_calloc(n, sizeof(ms_object *));
    cr_assert_not_null(b->items);
    b->len = n;
    return b;
}

CHECKED_TEST(gc, ref_array_types_are_traversed_without_traverse)
{
    bag *a = new_bag(3), *b = new_bag(2);
    node *leaf = new_node(&node_type, 0);
    ms_incref((ms_object *)b);
    a->items[2] = (ms_object *)b; /* items[0], items[1] stay NULL */
    ms_incref((ms_object *)a);
    b->items[0] = (ms_object *)a;
    b->label = (ms_object *)leaf; /* steals */
    ms_object *out[4];
    cr_expect_eq(ms_gc_get_referents((ms_object *)b, out, 4), 2);
    cr_expect_eq(out[0], (ms_object *)leaf, "fields first");
    cr_expect_eq(out[1], (ms_object *)a);
    cr_expect_eq(ms_gc_get_referrers((ms_object *)a, out, 4), 1);
    cr_expect_eq(out[0], (ms_object *)b);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_gc_collect(2), 0, "a is still ours");
    ms_decref((ms_object *)a);
    cr_expect_eq(ms_gc_collect(2), 3);
    cr_expect_eq(live(&bag_type), 0);
    cr_expect_eq(live(&node_type), 0);
}

/* An object outside the garbage that sees the statistics when it dies: the collector's own teardown (gc.c,
 * free_garbage) must have counted every object it freed before code outside it runs. */
static uint64_t witness_saw_fast_alive = 99;
static int witness_deaths;
static void witness_dealloc(ms_object *self)
{
    (void)self;
    witness_deaths++;
    witness_saw_fast_alive = live(&fast_type);
}
static const ms_type witness_type = { .name = "Witness", .size = sizeof(ms_object), .dealloc = witness_dealloc };

/* Garbage made only of lists and ref_offsets objects is torn down by the collector without calling their clear()
 * or dealloc(); what it references outside the garbage is released as clear() would, and survivors are intact. */
CHECKED_TEST(gc, garbage_of_lists_and_field_objects)
{
    uint64_t lists0 = live(ms_list_type());
    node *keep = new_node(&node_type, 7); /* alive: ours */
    ms_object *l1 = ms_list_new(), *l2 = ms_list_new(), *big = ms_list_new();
    node *f = new_node(&fast_type, 1), *g = new_node(&fast_type, 2);
    cr_assert(l1 && l2 && big);
    /* l1 = [l2, 1000, "x", keep, witness]; l2 = [l1, f]; f.next = g, f.other = big; g.next = f;
     * big = [l1, 0, 1, ..., 8] (a separate item array); everything but keep is garbage once dropped. */
    ms_list_append(l1, l2);
    ms_list_append_take(l1, ms_int_new(1000));
    ms_list_append_take(l1, ms_str_new("x"));
    ms_list_append(l1, (ms_object *)keep);
    ms_object *witness = ms_new(&witness_type);
    cr_assert_not_null(witness);
    ms_list_append_take(l1, witness);
    ms_list_append(l2, l1);
    ms_list_append(l2, (ms_object *)f);
    ms_incref((ms_object *)g);
    f->next = (ms_object *)g;
    ms_incref(big);
    f->other = big;
    ms_incref((ms_object *)f);
    g->next = (ms_object *)f;
    ms_list_append(big, l1);
    for (long i = 0; i < 9; i++)
        ms_list_append_take(big, ms_int_new(i));
    intptr_t keep_refs = ms_refcount((ms_object *)keep);
    ms_decref(l1);
    ms_decref(l2);
    ms_decref(big);
    ms_decref((ms_object *)f);
    ms_decref((ms_object *)g);
    cr_expect_eq(witness_deaths, 0);

    cr_expect_eq(ms_gc_collect(2), 5);
    cr_expect_eq(witness_deaths, 1);
    cr_expect_leq(witness_saw_fast_alive, 2, "the statistics were flushed before the witness died");
    cr_expect_eq(live(&fast_type), 0);
    cr_expect_eq(live(ms_list_type()), lists0);
    cr_expect_eq(ms_refcount((ms_object *)keep), keep_refs - 1, "the garbage's reference to keep was dropped");
    cr_expect_eq(((node *)keep)->value, 7);
    cr_expect_eq(ms_gc_collect(2), 0);
    ms_decref((ms_object *)keep);
    cr_expect_eq(live(&node_type), 0);
}

/* A young garbage ring that references an older object: the older one is released, not torn down. */
CHECKED_TEST(gc, young_garbage_referencing_old_objects)
{
    node *old = new_node(&fast_type, 3);
    cr_expect_eq(ms_gc_collect(2), 0); /* old is now in the oldest generation */
    node *a = new_node(&fast_type, 1), *b = new_node(&fast_type, 2);
    link_pair(a, b);
    ms_incref((ms_object *)old);
    a->other = (ms_object *)old;
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);
    cr_expect_eq(ms_refcount((ms_object *)old), 2);
    cr_expect_eq(ms_gc_collect(0), 2);
    cr_expect_eq(ms_refcount((ms_object *)old), 1);
    cr_expect_eq(live(&fast_type), 1);
    ms_decref((ms_object *)old);
    cr_expect_eq(live(&fast_type), 0);
}

/* A container of our own with a detach_refs hook (memscope/object.h): the collector's fast teardown of garbage is a
 * type-level hook any container can use, not knowledge of the list's layout (issue 14). */
typedef struct sack {
    MS_OBJECT_HEAD;
    size_t n;
    ms_object *items[3];
} sack;
static int sack_clears, sack_detaches;

static int sack_traverse(ms_object *self, ms_visit_fn visit, void *arg)
{
    sack *b = (sack *)self;
    for (size_t i = 0; i < b->n; i++)
        MS_VISIT(b->items[i]);
    return 0;
}
static void sack_clear(ms_object *self)
{
    sack *b = (sack *)self;
    sack_clears++;
    while (b->n) {
        ms_object *o = b->items[--b->n];
        ms_decref(o);
    }
}
static ms_object **sack_detach(ms_object *self, size_t *n, void **buffer)
{
    sack *b = (sack *)self;
    sack_detaches++;
    *n = b->n;
    *buffer = NULL;
    b->n = 0;
    return b->items;
}
static const ms_type sack_type = {.name = "Sack", .size = sizeof(sack), .flags = MS_TYPE_GC, .traverse = sack_traverse,
                                 .clear = sack_clear, .detach_refs = sack_detach};

/* A ring of n sacks, each holding the next sack and an int of its own; the caller's references are dropped. */
static void sack_ring(size_t n, bool weakref_on_first, ms_weakref **wr)
{
    sack *first = (sack *)ms_new(&sack_type), *prev = first;
    cr_assert_not_null(first);
    for (size_t i = 0; i < n; i++) {
        sack *b = i + 1 < n ? (sack *)ms_new(&sack_type) : first;
        cr_assert_not_null(b);
        prev->items[prev->n++] = (ms_object *)b; /* steals the new reference; the last closes the ring */
        prev->items[prev->n++] = ms_int_new(100000 + (long)i);
        if (b == first)
            ms_incref((ms_object *)first);
        prev = b;
    }
    if (weakref_on_first)
        *wr = ms_weakref_new((ms_object *)first, NULL, NULL);
    ms_decref((ms_object *)first);
}

CHECKED_TEST(gc, containers_with_detach_refs_are_torn_down_without_clear)
{
    ms_type_stats ints, sacks;
    uint64_t ints_destroyed = ms_type_stats_find(ms_int_type(), &ints) == 0 ? ints.destroyed_total : 0;
    sack_clears = sack_detaches = 0;
    sack_ring(100, false, NULL);
    cr_expect_eq(live(&sack_type), 100);
    cr_expect_eq(ms_gc_collect(2), 100);
    cr_expect_eq(sack_detaches, 100, "every garbage sack is taken apart by its hook");
    cr_expect_eq(sack_clears, 0, "and clear() never runs");
    cr_expect_eq(live(&sack_type), 0);
    cr_assert_eq(ms_type_stats_find(&sack_type, &sacks), 0);
    cr_expect_eq(sacks.destroyed_total, 100);
    cr_assert_eq(ms_type_stats_find(ms_int_type(), &ints), 0);
    cr_expect_eq(ints.destroyed_total - ints_destroyed, 100, "the ints the sacks held are freed");

    /* A weak reference needs the general path: callbacks and clearing per object. */
    ms_weakref *wr = NULL;
    sack_clears = sack_detaches = 0;
    sack_ring(10, true, &wr);
    cr_expect_eq(ms_gc_collect(2), 10);
    cr_expect_eq(sack_detaches, 0);
    cr_expect_gt(sack_clears, 0, "the general path clears");
    cr_expect_null(ms_weakref_peek(wr));
    ms_decref((ms_object *)wr);
    cr_expect_eq(live(&sack_type), 0);
}

/* Garbage dicts go through dict's detach_refs: cycles through dicts are freed with everything they hold. */
CHECKED_TEST(gc, garbage_dicts_are_freed_with_their_items)
{
    uint64_t dicts0 = live(ms_dict_type()), strs0 = live(ms_str_type());
    for (int round = 0; round < 3; round++) {
        ms_object *a = ms_dict_new(), *b = ms_dict_new();
        ms_object *ka = ms_str_new("other"), *kb = ms_str_new("other");
        cr_assert_eq(ms_dict_set(a, ka, b), 0);
        cr_assert_eq(ms_dict_set(b, kb, a), 0);
        for (long i = 0; i < 20; i++) {
            ms_object *k = ms_int_new(1000 + i), *v = ms_str_new("value");
            cr_assert_eq(ms_dict_set(a, k, v), 0);
            if (i % 3 == 0)
                cr_assert_eq(ms_dict_del(a, k), 0); /* deleted entries are skipped */
            ms_decref(k);
            ms_decref(v);
        }
        ms_decref(ka);
        ms_decref(kb);
        ms_decref(a);
        ms_decref(b);
        cr_expect_eq(ms_gc_collect(2), 2);
        cr_expect_eq(live(ms_dict_type()), dicts0);
        cr_expect_eq(live(ms_str_type()), strs0);
    }
}

/*
 * test_object.c — objects and reference counting: counts, destruction order, finalizers on the refcount path,
 * sizes, per-type and process-wide statistics. Every test ends with nothing leaked.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "leakcheck.h"
#include "testnode.h"

/* ---- A traced log of callbacks, to check orders ---------------------------------------------------------- */
static char events[256];
static void note(const char *what)
{
    strncat(events, what, sizeof(events) - strlen(events) - 1);
    strncat(events, " ", sizeof(events) - strlen(events) - 1);
}

/* ---- Test types ---------------------------------------------------------------------------------------------- */
/* Untracked, with a reference: the refcount path alone must free chains of it. */
static const ms_type plain_type = {
    .name = "Plain", .size = sizeof(node), .traverse = node_traverse, .clear = node_clear,
};
static const ms_type gc_type = {
    .name = "GcNode", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse, .clear = node_clear,
};

static void logged_finalize(ms_object *self)
{
    (void)self;
    note("finalize");
}
static void logged_clear(ms_object *self)
{
    note(((node *)self)->next ? "clear(next)" : "clear(empty)");
    MS_CLEAR(((node *)self)->next);
}
static void logged_dealloc(ms_object *self)
{
    note(((node *)self)->next ? "dealloc(next)" : "dealloc(cleared)");
}
static const ms_type logged_type = {
    .name = "Logged", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse,
    .clear = logged_clear, .finalize = logged_finalize, .dealloc = logged_dealloc,
};

/* A finalizer that resurrects its object into `saved` the first `resurrections` times it runs. */
static ms_object *saved;
static int finalize_calls;
static int resurrections;
static void resurrecting_finalize(ms_object *self)
{
    finalize_calls++;
    if (resurrections > 0) {
        resurrections--;
        ms_incref(self);
        saved = self;
    }
}
static const ms_type resurrect_gc_type = {
    .name = "ResurrectGc", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse,
    .clear = node_clear, .finalize = resurrecting_finalize,
};
static const ms_type resurrect_plain_type = {
    .name = "ResurrectPlain", .size = sizeof(node), .clear = node_clear, .finalize = resurrecting_finalize,
};

/* ref_offsets instead of traverse and clear. */
static const size_t fast_refs[] = { offsetof(node, next), 0 };
static const ms_type fast_type = {
    .name = "Fast", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = fast_refs,
};

/* ---- Baseline and leak check ------------------------------------------------------------------------------ */
static leak_baseline leak_start;

static void setup(void)
{
    leak_start = leak_baseline_take();
    events[0] = '\0';
}

static void no_leaks(void)
{
    leak_check(leak_start);
}

TestSuite(object, .init = setup);



/* Seed section 1: sys.getrefcount(a) 2 -> 3 -> 2, then the object is freed. */
CHECKED_TEST(object, refcount_one_two_one_freed)
{
    node *a = new_node(&gc_type, 1);
    cr_expect_eq(ms_refcount((ms_object *)a), 1);
    cr_expect_eq(a->next, NULL, "ms_new zeroes the fields");
    ms_object *b = (ms_object *)a; /* b = a */
    ms_incref(b);
    cr_expect_eq(ms_refcount(b), 2);
    ms_decref((ms_object *)a); /* del a */
    cr_expect_eq(ms_refcount(b), 1);
    cr_expect_eq(type_stats(&gc_type).live_count, 1);
    ms_decref(b); /* del b */
    cr_expect_eq(type_stats(&gc_type).live_count, 0);
    cr_expect_eq(type_stats(&gc_type).destroyed_total, 1);
}

CHECKED_TEST(object, xincref_xdecref_accept_null)
{
    ms_xincref(NULL);
    ms_xdecref(NULL);
    node *a = new_node(&plain_type, 0);
    ms_xincref((ms_object *)a);
    cr_expect_eq(ms_refcount((ms_object *)a), 2);
    ms_xdecref((ms_object *)a);
    ms_xdecref((ms_object *)a);
}

CHECKED_TEST(object, clear_macro_nulls_before_decref)
{
    node *a = new_node(&plain_type, 0);
    a->next = (ms_object *)new_node(&plain_type, 1);
    MS_CLEAR(a->next);
    cr_expect_null(a->next);
    MS_CLEAR(a->next); /* idempotent */
    ms_decref((ms_object *)a);
    cr_expect_eq(type_stats(&plain_type).live_count, 0);
}

CHECKED_TEST(object, setref_replaces_and_drops_old)
{
    node *a = new_node(&plain_type, 0);
    a->next = (ms_object *)new_node(&plain_type, 1);
    MS_SETREF(a->next, (ms_object *)new_node(&plain_type, 2));
    cr_expect_eq(((node *)a->next)->value, 2);
    cr_expect_eq(type_stats(&plain_type).live_count, 2);
    ms_decref((ms_object *)a);
}

CHECKED_TEST(object, new_rejects_bad_types)
{
    static const ms_type tiny = { .name = "Tiny", .size = sizeof(ms_object) - 1 };
    errno = 0;
    cr_expect_null(ms_new(&tiny));
    cr_expect_eq(errno, EINVAL);
    cr_expect_null(ms_new(NULL));
}

CHECKED_TEST(object, sizeof_counts_the_gc_header)
{
    node *p = new_node(&plain_type, 0);
    node *g = new_node(&gc_type, 0);
    cr_expect_eq(ms_sizeof((ms_object *)p), sizeof(node));
    cr_expect_gt(ms_sizeof((ms_object *)g), sizeof(node), "tracked objects carry a GC header");
    cr_expect_eq(ms_sizeof((ms_object *)g) - sizeof(node), 16);
    cr_expect_str_eq(ms_type_name((ms_object *)g), "GcNode");
    cr_expect_eq(ms_type_of((ms_object *)g), &gc_type);
    cr_expect(ms_gc_is_tracked((ms_object *)g));
    cr_expect_not(ms_gc_is_tracked((ms_object *)p));
    ms_decref((ms_object *)p);
    ms_decref((ms_object *)g);
}

CHECKED_TEST(object, destruction_order_finalize_clear_dealloc)
{
    node *a = new_node(&logged_type, 0);
    a->next = (ms_object *)new_node(&plain_type, 1);
    ms_decref((ms_object *)a);
    cr_expect_str_eq(events, "finalize clear(next) dealloc(cleared) ");
    cr_expect_eq(type_stats(&plain_type).live_count, 0, "clear dropped the owned reference");
}

CHECKED_TEST(object, finalizer_resurrects_tracked_object_once)
{
    resurrections = 1;
    node *a = new_node(&resurrect_gc_type, 7);
    ms_decref((ms_object *)a);
    cr_expect_eq(finalize_calls, 1);
    cr_assert_eq(saved, (ms_object *)a, "the finalizer resurrected the object");
    cr_expect_eq(ms_refcount(saved), 1);
    cr_expect(ms_gc_is_tracked(saved), "a resurrected object is tracked again");
    cr_expect_eq(((node *)saved)->value, 7);
    resurrections = 1;
    ms_object *s = saved;
    saved = NULL;
    ms_decref(s); /* finalize never runs twice on a tracked object: freed now */
    cr_expect_eq(finalize_calls, 1);
    cr_expect_null(saved);
    cr_expect_eq(type_stats(&resurrect_gc_type).live_count, 0);
}

CHECKED_TEST(object, finalizer_of_untracked_object_runs_each_time)
{
    resurrections = 1;
    node *a = new_node(&resurrect_plain_type, 0);
    ms_decref((ms_object *)a);
    cr_assert_eq(saved, (ms_object *)a);
    ms_object *s = saved;
    saved = NULL;
    ms_decref(s);
    cr_expect_eq(finalize_calls, 2, "CPython calls tp_finalize of non-GC objects on every death");
    cr_expect_eq(type_stats(&resurrect_plain_type).live_count, 0);
}

CHECKED_TEST(object, ref_offsets_clear_without_a_clear_function)
{
    node *a = new_node(&fast_type, 0);
    a->next = (ms_object *)new_node(&fast_type, 1);
    ((node *)a->next)->next = (ms_object *)new_node(&plain_type, 2);
    ms_decref((ms_object *)a);
    cr_expect_eq(type_stats(&fast_type).live_count, 0);
    cr_expect_eq(type_stats(&plain_type).live_count, 0);
}

CHECKED_TEST(object, type_and_process_statistics)
{
    ms_object_stats before;
    ms_object_stats_get(&before);
    node *xs[10];
    for (int i = 0; i < 10; i++)
        xs[i] = new_node(i % 2 ? &gc_type : &plain_type, i);
    ms_type_stats g = type_stats(&gc_type), p = type_stats(&plain_type);
    cr_expect_eq(g.live_count, 5);
    cr_expect_eq(p.live_count, 5);
    cr_expect_eq(g.live_bytes, 5 * (sizeof(node) + 16));
    cr_expect_eq(p.live_bytes, 5 * sizeof(node));
    cr_expect_str_eq(g.name, "GcNode");
    ms_object_stats mid;
    ms_object_stats_get(&mid);
    cr_expect_eq(mid.alive - before.alive, 10);
    cr_expect_eq(mid.created - before.created, 10);

    /* Iteration finds both types exactly once. */
    int seen_g = 0, seen_p = 0;
    for (size_t i = 0; i < ms_type_stats_count(); i++) {
        ms_type_stats ts;
        cr_assert_eq(ms_type_stats_get(i, &ts), 0);
        seen_g += ts.type == &gc_type;
        seen_p += ts.type == &plain_type;
    }
    cr_expect_eq(seen_g, 1);
    cr_expect_eq(seen_p, 1);
    ms_type_stats none;
    cr_expect_eq(ms_type_stats_get(ms_type_stats_count(), &none), -ENOENT);

    for (int i = 0; i < 10; i++)
        ms_decref((ms_object *)xs[i]);
    g = type_stats(&gc_type);
    cr_expect_eq(g.live_count, 0);
    cr_expect_eq(g.live_bytes, 0);
    cr_expect_eq(g.created_total, 5);
    cr_expect_eq(g.destroyed_total, 5);
    ms_object_stats after;
    ms_object_stats_get(&after);
    cr_expect_eq(after.destroyed - before.destroyed, 10);
    cr_expect_eq(after.alive, before.alive);
}

CHECKED_TEST(object, objects_live_in_the_memscope_heap)
{
    ms_heap_stats a, b;
    ms_heap_stats_get(&a);
    node *n = new_node(&gc_type, 0);
    ms_heap_stats_get(&b);
    cr_expect_eq(b.blocks_in_use - a.blocks_in_use, 1);
    cr_expect(ms_mem_is_pooled((char *)n - 16), "the block starts at the GC header");
    ms_decref((ms_object *)n);
}

CHECKED_TEST(object, real_function_ms_new_exists)
{
    ms_object *(*fn)(const ms_type *) = ms_new;
    ms_object *o = fn(&plain_type);
    cr_assert_not_null(o);
    ms_decref(o);
}

/* ---- Variable-size objects (ms_new_var) -------------------------------------------------------------------- */
typedef struct blob {
    MS_OBJECT_HEAD;
    size_t n;
    unsigned char bytes[];
} blob;
static size_t blob_extra(const ms_object *self) { return ((const blob *)self)->n; }
static const ms_type blob_type = {.name = "Blob", .size = sizeof(blob), .flags = MS_TYPE_VAR, .size_extra = blob_extra};

CHECKED_TEST(object, var_size_objects_are_one_block_with_exact_stats)
{
    ms_heap_stats before;
    ms_heap_stats_get(&before);
    blob *small = (blob *)ms_new_var(&blob_type, 100), *big = (blob *)ms_new_var(&blob_type, 5000);
    cr_assert_not_null(small);
    cr_assert_not_null(big);
    small->n = 100;
    big->n = 5000;
    for (size_t i = 0; i < 100; i++)
        cr_assert_eq(small->bytes[i], 0, "the variable part is zeroed");
    memset(big->bytes, 0xAB, 5000);
    cr_expect(ms_mem_is_pooled(small), "header + 100 bytes is a small request");
    cr_expect_not(ms_mem_is_pooled(big));
    ms_heap_stats during;
    ms_heap_stats_get(&during);
    cr_expect_eq(during.blocks_in_use + during.system_blocks_in_use - before.blocks_in_use -
                     before.system_blocks_in_use,
                 2, "one block per object");
    cr_expect_eq(ms_sizeof((ms_object *)big), sizeof(blob) + 5000);
    ms_type_stats ts = type_stats(&blob_type);
    cr_expect_eq(ts.live_count, 2);
    cr_expect_eq(ts.live_bytes, 2 * sizeof(blob) + 5100);
    ms_decref((ms_object *)big);
    ts = type_stats(&blob_type);
    cr_expect_eq(ts.live_bytes, sizeof(blob) + 100, "the dead object's variable part is subtracted");
    ms_decref((ms_object *)small);
    cr_expect_eq(type_stats(&blob_type).live_bytes, 0);
}

CHECKED_TEST(object, var_size_needs_a_var_type)
{
    errno = 0;
    cr_expect_null(ms_new_var(&plain_type, 10), "a fixed-size type cannot grow");
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_null(ms_new_var(&blob_type, SIZE_MAX - 8));
    cr_expect_eq(errno, ENOMEM);
}

/* ---- Statistics read from another thread (issue 14: fill_stats returned destroyed - created unclamped) ---- */

/* A cached small int over-released by a buggy program: its type counts one destruction and no creation (cached
 * ints are never ms_new'd), and ms_free reports the static object. The live count must read 0, not 2^64 - 1. */
static int foreign_frees;
static void count_fault(const char *what, const void *ptr, void *arg)
{
    (void)what;
    (void)ptr;
    (void)arg;
    foreign_frees++;
}

Test(object, live_counts_never_wrap_below_zero)
{
    ms_set_fault_handler(count_fault, NULL);
    ms_object *five = ms_int_new(5); /* cached: the cache's reference and ours */
    ms_decref(five);
    ms_decref(five); /* one too many: the cache's own reference */
    cr_expect_eq(foreign_frees, 1, "the static object is not freed");
    ms_type_stats ts;
    cr_assert_eq(ms_type_stats_find(ms_int_type(), &ts), 0);
    cr_expect_gt(ts.destroyed_total, ts.created_total, "the premise: more destructions than creations");
    cr_expect_eq(ts.live_count, 0, "live count %llu", (unsigned long long)ts.live_count);
    cr_expect_eq(ts.live_bytes, 0);
    ms_object_stats os;
    ms_object_stats_get(&os);
    cr_expect_lt(os.alive, UINT64_C(1) << 32, "process-wide alive %llu", (unsigned long long)os.alive);
    ms_set_fault_handler(NULL, NULL);
}

typedef struct type_reader {
    atomic_bool stop;
    atomic_long reads;
    long violations;
} type_reader;

static void *type_reader_main(void *arg)
{
    type_reader *r = arg;
    while (!atomic_load(&r->stop)) {
        ms_type_stats ts;
        if (ms_type_stats_find(&plain_type, &ts) == 0 &&
            (ts.live_count > 1000 || ts.live_count > ts.created_total || ts.live_bytes > 1000 * sizeof(node)))
            r->violations++;
        ms_object_stats os;
        ms_object_stats_get(&os);
        if (os.alive > os.created)
            r->violations++;
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

/* Objects created and destroyed on this thread while another reads the type statistics without the lock: every
 * figure read is one the counters could have had (at most the 1000 objects alive at once). */
CHECKED_TEST(object, type_statistics_read_from_another_thread)
{
    static ms_object *live[1000];
    type_reader r = {0};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, type_reader_main, &r), 0);
    while (atomic_load(&r.reads) == 0)
        sched_yield(); /* the reader runs before the churn starts */
    long start = atomic_load(&r.reads);
    for (int round = 0; round < 20 || atomic_load(&r.reads) - start < 200; round++) {
        for (size_t i = 0; i < 1000; i++)
            cr_assert_not_null(live[i] = ms_new(&plain_type));
        for (size_t i = 0; i < 1000; i++)
            ms_decref(live[i]);
    }
    atomic_store(&r.stop, true);
    cr_assert_eq(pthread_join(tid, NULL), 0);
    cr_expect_eq(r.violations, 0, "%ld impossible figures in %ld reads", r.violations, atomic_load(&r.reads));
}

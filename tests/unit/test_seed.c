/*
 * test_seed.c — the examples of the seed article ("Python的内存管理", shared/seed), sections 1 to 4 and the gc.garbage
 * part of section 5, one test each, named after the section. Each test states the Python it mirrors and checks
 * the same behaviour on memscope objects; examples/seed/ has the same programs printing what Python prints.
 *
 * How "freed" is observed without touching freed memory: a weak reference to the object (its referent becomes
 * NULL exactly when the object dies) and the process-wide live object count. Every test ends by checking that
 * the live objects and heap blocks are back to where they were when it started (Criterion runs each test in
 * its own process, so each starts with a fresh runtime).
 */
#include <stddef.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "helpers.h"
#include "leakcheck.h"

/* ---- Leak check: every test ends with the objects and blocks it started with (leakcheck.h) --------------- */

LEAK_CHECKED_SUITE(seed);

static void no_leaks(void) { leak_check(leak_start); }

static uint64_t full_collections(void)
{
    ms_gc_stats st[3];
    ms_gc_get_stats(st);
    return st[0].collections + st[1].collections + st[2].collections;
}

/* ---- The seed's Node class --------------------------------------------------------------------------------- */

/* class Node: def __init__(self, value): self.value = value; self.next = None */
typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *value;
    ms_object *next;
} node;

static const size_t node_refs[] = {offsetof(node, value), offsetof(node, next), 0};
static const ms_type node_type = {
    .name = "Node",
    .size = sizeof(node),
    .flags = MS_TYPE_GC,
    .ref_offsets = node_refs,
};

/* a.next = b; b.next = a: each holds a reference to the other, and the caller keeps its own. */
static void link_cycle(node *a, node *b)
{
    a->next = (ms_object *)b;
    ms_incref(a->next);
    b->next = (ms_object *)a;
    ms_incref(b->next);
}

static node *node_new(long value)
{
    node *n = (node *)ms_new(&node_type);
    cr_assert_not_null(n);
    n->value = ms_int_new(value);
    cr_assert_not_null(n->value);
    return n;
}

static ms_object *list_of(const long *v, size_t n)
{
    ms_object *l = ms_list_new();
    cr_assert_not_null(l);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ms_list_append_take(l, ms_int_new(v[i])), 0);
    return l;
}

/* ---- 1(2) 引用计数机制: reference counting ------------------------------------------------------------------ */

/*
 *   a = [1, 2, 3]; sys.getrefcount(a)  # 2
 *   b = a;         sys.getrefcount(a)  # 3
 *   del a;         sys.getrefcount(b)  # 2
 *   del b          # the count reaches 0: the list is freed at once
 * ms_refcount() is sys.getrefcount() - 1 (no temporary argument reference in C).
 */
CHECKED_TEST(seed, refcount)
{
    static const long v[] = {1, 2, 3};
    ms_object *a = list_of(v, 3);
    ms_weakref *w = watch(a);
    cr_expect_eq(ms_refcount(a), 1, "after a = [1, 2, 3]");
    ms_object *b = a;
    ms_incref(b);
    cr_expect_eq(ms_refcount(a), 2, "after b = a");
    ms_decref(a); /* del a */
    cr_expect_eq(ms_refcount(b), 1, "after del a");
    uint64_t before = objects_alive();
    ms_decref(b); /* del b */
    cr_expect(dead(w), "the list must be freed as soon as its count reaches 0");
    cr_expect_eq(objects_alive(), before - 1, "exactly the list died (its items are cached small ints)");
    ms_decref((ms_object *)w);
}

/* ---- 2(1) 循环引用问题: a reference cycle outlives its names ----------------------------------------------- */

/*
 *   n1 = Node(1); n2 = Node(2); n1.next = n2; n2.next = n1
 *   del n1; del n2         # both counts stay at 1: reference counting alone leaks them
 *   gc.collect()           # 2 (+ what else is garbage): the collector finds and frees the cycle
 */
CHECKED_TEST(seed, cycle)
{
    node *n1 = node_new(1), *n2 = node_new(2);
    link_cycle(n1, n2); /* n1.next = n2; n2.next = n1 */
    ms_weakref *w1 = watch((ms_object *)n1), *w2 = watch((ms_object *)n2);
    uint64_t alive = objects_alive();

    ms_decref((ms_object *)n1); /* del n1 */
    ms_decref((ms_object *)n2); /* del n2 */
    cr_expect(!dead(w1) && !dead(w2), "a cycle survives losing its outside references");
    cr_expect_eq(objects_alive(), alive, "nothing was freed by reference counting");
    cr_expect_eq(ms_refcount(ms_weakref_peek(w1)), 1, "n1 is kept alive by n2.next only");

    cr_expect_eq(ms_gc_collect(2), 2, "gc.collect() finds the two nodes");
    cr_expect(dead(w1) && dead(w2));
    cr_expect_eq(objects_alive(), alive - 2);
    ms_decref((ms_object *)w1);
    ms_decref((ms_object *)w2);
}

/* ---- 2(2) 垃圾回收器的作用: the gc module ------------------------------------------------------------------ */

/*
 *   gc.isenabled()   # True
 *   gc.disable()     # no automatic collection any more, however much is allocated
 *   gc.collect()     # a collection by hand still works
 */
CHECKED_TEST(seed, gc_module)
{
    cr_expect(ms_gc_is_enabled(), "automatic collection is on by default");

    /* Enabled: allocating past threshold 0 tracked objects runs automatic collections. */
    int threshold[3];
    ms_gc_get_threshold(threshold);
    cr_assert_gt(threshold[0], 0);
    uint64_t c0 = full_collections();
    for (int i = 0; i < 3 * threshold[0]; i++)
        ms_decref(ms_list_new()); /* +1 allocation then -1: the count does not grow */
    ms_object *keep = ms_list_new();
    for (int i = 0; i < 2 * threshold[0]; i++)
        cr_assert_eq(ms_list_append_take(keep, ms_list_new()), 0);
    cr_expect_gt(full_collections(), c0, "%d live tracked allocations must trigger a collection", 2 * threshold[0]);
    ms_decref(keep);

    ms_gc_disable();
    cr_expect_not(ms_gc_is_enabled());
    node *n1 = node_new(1), *n2 = node_new(2);
    link_cycle(n1, n2); /* n1.next = n2; n2.next = n1 */
    ms_weakref *w = watch((ms_object *)n1);
    ms_decref((ms_object *)n1);
    ms_decref((ms_object *)n2);
    uint64_t c1 = full_collections();
    keep = ms_list_new();
    for (int i = 0; i < 4 * threshold[0]; i++)
        cr_assert_eq(ms_list_append_take(keep, ms_list_new()), 0);
    cr_expect_eq(full_collections(), c1, "no automatic collection while disabled");
    cr_expect_not(dead(w), "so the cycle is still there");
    ms_decref(keep); /* frees the lists by reference counting: they are not garbage for the collector */

    cr_expect_eq(ms_gc_collect(2), 2, "gc.collect() by hand works while disabled");
    cr_expect(dead(w));
    cr_expect_eq(full_collections(), c1 + 1);
    ms_gc_enable();
    cr_expect(ms_gc_is_enabled());
    ms_decref((ms_object *)w);
}

/* ---- 3(1) 小对象 vs 大对象: small objects come from pools, large ones from the system ---------------------- */

/*
 * Objects below the threshold (256 bytes, CPython < 3.8's SMALL_REQUEST_THRESHOLD; 512 with
 * -Dsmall_threshold=512) live in pools of fixed-size blocks and their blocks are reused after they are freed;
 * larger objects go to the system allocator. A str is one block of ms_sizeof() bytes, so the boundary shows.
 */
CHECKED_TEST(seed, small_vs_large)
{
    size_t small = ms_mem_small_threshold();
    ms_object *empty = ms_str_new("");
    cr_assert_not_null(empty);
    size_t overhead = ms_sizeof(empty); /* a str of length n takes overhead + n bytes */
    ms_decref(empty);
    cr_assert_lt(overhead, small);

    char *text = malloc(small + 1);
    cr_assert_not_null(text);
    memset(text, 'x', small);
    ms_object *below = ms_str_new_len(text, small - 1 - overhead);
    ms_object *at = ms_str_new_len(text, small - overhead);
    cr_assert(below && at);
    cr_expect_eq(ms_sizeof(below), small - 1);
    cr_expect_eq(ms_sizeof(at), small);
    cr_expect(ms_mem_is_pooled(below), "a %zu-byte str comes from a pool", small - 1);
    cr_expect_not(ms_mem_is_pooled(at), "a %zu-byte str comes from the system allocator", small);

    ms_object *i = ms_int_new(1000);
    cr_expect(ms_mem_is_pooled(i), "an int (%zu bytes) is a small object", ms_sizeof(i));

    /* "释放后会被重复利用": a freed small block is handed out again to the next object of its size class. */
    void *where = below;
    ms_decref(below);
    ms_object *again = ms_str_new_len(text, small - 1 - overhead);
    cr_expect_eq((void *)again, where, "the pool reuses the block just freed");

    ms_decref(again);
    ms_decref(at);
    ms_decref(i);
    free(text);
}

/* ---- 3(2) PyObject 内存池: the small-int cache -------------------------------------------------------------- */

/*
 *   a = 10; b = 10;     id(a) == id(b)   # True: small ints are cached
 *   c = 1000; d = 1000; id(c) == id(d)   # False (when computed at run time): each is a new object
 */
CHECKED_TEST(seed, small_int_cache)
{
    ms_object *a = ms_int_new(10), *b = ms_int_new(10);
    ms_object *c = ms_int_new(1000), *d = ms_int_new(1000);
    cr_assert(a && b && c && d);
    cr_expect_eq(a, b, "10 and 10 are one object");
    cr_expect_neq(c, d, "1000 and 1000 are two objects");
    cr_expect_eq(ms_int_value(c), ms_int_value(d));
    cr_expect_eq(ms_int_value(a), 10);
    cr_expect_eq(ms_int_value(c), 1000);
    /* The cache spans -5 .. 256, as CPython's. */
    for (long v = -7; v <= 258; v++) {
        ms_object *x = ms_int_new(v), *y = ms_int_new(v);
        bool cached = v >= -5 && v <= 256;
        cr_expect_eq(x == y, cached, "ms_int_new(%ld) twice: %s", v, cached ? "same object" : "two objects");
        ms_decref(x);
        ms_decref(y);
    }
    uint64_t alive = objects_alive();
    ms_decref(c);
    ms_decref(d);
    cr_expect_eq(objects_alive(), alive - 2, "non-cached ints are freed");
    ms_decref(a);
    ms_decref(b);
    cr_expect_eq(ms_int_value(ms_int_new(10)), 10, "cached ints are never freed");
    ms_decref(ms_int_new(10));
}

/* ---- 4(1) 循环引用 → 弱引用: weak references break the cycle --------------------------------------------------- */

/*
 *   n1 = Node(1); n2 = Node(2)
 *   n1.next = weakref.ref(n2); n2.next = weakref.ref(n1)   # no strong cycle
 *   del n1     # freed at once by reference counting; n2.next() is now None
 *   del n2
 */
CHECKED_TEST(seed, weakref_breaks_cycle)
{
    ms_gc_disable(); /* prove it: no collection can be what frees them */
    uint64_t collections = full_collections();
    node *n1 = node_new(1), *n2 = node_new(2);
    n1->next = (ms_object *)ms_weakref_new((ms_object *)n2, NULL, NULL);
    n2->next = (ms_object *)ms_weakref_new((ms_object *)n1, NULL, NULL);
    cr_assert(n1->next && n2->next);
    cr_expect_eq(ms_refcount((ms_object *)n1), 1, "a weak reference does not count");
    cr_expect_eq(ms_refcount((ms_object *)n2), 1);
    ms_object *got = ms_weakref_get((ms_weakref *)n1->next);
    cr_expect_eq(got, (ms_object *)n2, "n1.next() is n2");
    ms_decref(got);

    uint64_t alive = objects_alive();
    ms_decref((ms_object *)n1); /* del n1: n1 and its weakref n1.next die */
    cr_expect_null(ms_weakref_get((ms_weakref *)n2->next), "n2.next() is None once n1 is gone");
    cr_expect_eq(objects_alive(), alive - 2, "n1 and the weak reference it owned were freed");
    ms_decref((ms_object *)n2); /* del n2 */
    cr_expect_eq(objects_alive(), alive - 4);
    cr_expect_eq(full_collections(), collections, "reference counting alone did it");
    ms_gc_enable();
}

/* ---- 5(1) gc 模块: gc.garbage ---------------------------------------------------------------------------------- */

/*
 *   gc.set_debug(gc.DEBUG_SAVEALL)
 *   (make the n1 <-> n2 cycle, del n1, n2)
 *   gc.collect()     # 2
 *   gc.garbage       # [<Node>, <Node>]: found unreachable, kept instead of freed
 */
CHECKED_TEST(seed, gc_garbage_saveall)
{
    ms_gc_set_debug(MS_GC_DEBUG_SAVEALL);
    cr_expect_eq(ms_gc_garbage_count(), 0);
    node *n1 = node_new(1), *n2 = node_new(2);
    link_cycle(n1, n2); /* n1.next = n2; n2.next = n1 */
    ms_weakref *w1 = watch((ms_object *)n1);
    ms_decref((ms_object *)n1);
    ms_decref((ms_object *)n2);
    uint64_t alive = objects_alive();

    cr_expect_eq(ms_gc_collect(2), 2);
    cr_assert_eq(ms_gc_garbage_count(), 2, "both nodes are saved in gc.garbage");
    ms_object *g0 = ms_gc_garbage_get(0), *g1 = ms_gc_garbage_get(1);
    cr_expect((g0 == (ms_object *)n1 && g1 == (ms_object *)n2) || (g0 == (ms_object *)n2 && g1 == (ms_object *)n1),
              "gc.garbage holds exactly n1 and n2");
    cr_expect_null(ms_gc_garbage_get(2));
    cr_expect_eq(objects_alive(), alive, "saved objects are not freed");
    /* As in CPython, weak references to what the collector found unreachable are cleared even when SAVEALL
     * keeps the objects: w1() is None while gc.garbage[0] is alive. */
    cr_expect(dead(w1));
    cr_expect_str_eq(ms_type_name(g0), "Node");
    cr_expect_eq(ms_int_value(((node *)g0)->value) + ms_int_value(((node *)g1)->value), 3, "values 1 and 2");
    cr_expect_eq(ms_refcount(g0), 2, "one reference from the other node, one from gc.garbage");

    /* del gc.garbage[:] with SAVEALL off: the cycle is garbage again and the next collection frees it. */
    ms_gc_set_debug(0);
    ms_gc_garbage_clear();
    cr_expect_eq(ms_gc_garbage_count(), 0);
    cr_expect_eq(objects_alive(), alive, "still a cycle");
    cr_expect_eq(ms_gc_collect(2), 2);
    cr_expect_eq(objects_alive(), alive - 2);
    cr_expect_eq(ms_gc_garbage_count(), 0);
    ms_decref((ms_object *)w1);
}

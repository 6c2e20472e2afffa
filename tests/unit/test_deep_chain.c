/*
 * test_deep_chain.c — destruction never recurses with the length of a chain (CPython's trashcan).
 *
 * Each chain is built and freed in a thread with a deliberately small stack (256 KiB): recursive destruction
 * would need hundreds of bytes per node, so even 10 000 nodes would overflow it. Freeing 10 million untracked
 * nodes from the head, 1 million tracked ones, and collecting a 1-million-node garbage ring must all finish.
 */
#include <pthread.h>
#include <stddef.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#define SMALL_STACK (256 * 1024)

typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *next;
    long value;
} node;

static long deaths;
static void count_death(ms_object *self)
{
    (void)self;
    deaths++;
}

static const size_t node_refs[] = { offsetof(node, next), 0 };
static const ms_type plain_type = {
    .name = "PlainLink", .size = sizeof(node), .ref_offsets = node_refs, .dealloc = count_death,
};
static int node_traverse(ms_object *self, ms_visit_fn visit, void *arg)
{
    MS_VISIT(((node *)self)->next);
    return 0;
}
static void node_clear(ms_object *self) { MS_CLEAR(((node *)self)->next); }
/* Tracked, with a finalizer: the deferred path must still finalize every node exactly once. */
static long finalized;
static void count_finalize(ms_object *self)
{
    (void)self;
    finalized++;
}
static const ms_type gc_type = {
    .name = "GcLink", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse,
    .clear = node_clear, .finalize = count_finalize, .dealloc = count_death,
};

typedef struct job {
    const ms_type *type;
    long n;
    bool ring;      /* close the chain into a ring and let the collector free it */
    ssize_t result; /* ms_gc_collect's result for rings */
    bool ok;
} job;

/* Builds head -> ... -> tail, holding only the head. */
static node *build(const ms_type *t, long n)
{
    node *head = (node *)ms_new(t);
    if (!head)
        return NULL;
    node *tail = head;
    for (long i = 1; i < n; i++) {
        node *x = (node *)ms_new(t);
        if (!x)
            return NULL;
        x->value = i;
        tail->next = (ms_object *)x; /* the chain owns x */
        tail = x;
    }
    return head;
}

static void *run(void *arg)
{
    job *j = arg;
    ms_gc_disable(); /* the collector should not see half-built chains as work; it would be correct anyway */
    node *head = build(j->type, j->n);
    if (!head)
        return NULL;
    if (j->ring) {
        node *tail = head;
        while (tail->next)
            tail = (node *)tail->next;
        tail->next = (ms_object *)head; /* the ring owns our reference to head */
        j->result = ms_gc_collect(2);
    } else {
        ms_decref((ms_object *)head);
    }
    ms_gc_enable();
    j->ok = true;
    return NULL;
}

static void run_small_stack(job *j)
{
    pthread_attr_t attr;
    pthread_t th;
    cr_assert_eq(pthread_attr_init(&attr), 0);
    cr_assert_eq(pthread_attr_setstacksize(&attr, SMALL_STACK), 0);
    cr_assert_eq(pthread_create(&th, &attr, run, j), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    pthread_attr_destroy(&attr);
    cr_assert(j->ok, "could not build the chain (out of memory?)");
}

static ms_heap_stats heap0;
static ms_object_stats objs0;

static void setup(void)
{
    ms_heap_stats_get(&heap0);
    ms_object_stats_get(&objs0);
    deaths = 0;
    finalized = 0;
}

static void no_leaks(void)
{
    ms_heap_stats hs;
    ms_object_stats os;
    ms_heap_stats_get(&hs);
    ms_object_stats_get(&os);
    cr_assert_eq(os.alive, objs0.alive);
    cr_assert_eq(hs.blocks_in_use, heap0.blocks_in_use);
}

TestSuite(deep_chain, .init = setup, .timeout = 240);

Test(deep_chain, ten_million_untracked_nodes_freed_from_the_head)
{
    job j = { .type = &plain_type, .n = 10 * 1000 * 1000 };
    run_small_stack(&j);
    cr_expect_eq(deaths, j.n);
    no_leaks();
}

Test(deep_chain, one_million_tracked_nodes_with_finalizers)
{
    job j = { .type = &gc_type, .n = 1000 * 1000 };
    run_small_stack(&j);
    cr_expect_eq(deaths, j.n);
    cr_expect_eq(finalized, j.n, "every node finalized exactly once, parked or not");
    no_leaks();
}

Test(deep_chain, one_million_node_garbage_ring_collected)
{
    job j = { .type = &gc_type, .n = 1000 * 1000, .ring = true };
    run_small_stack(&j);
    cr_expect_eq(j.result, j.n);
    cr_expect_eq(deaths, j.n);
    cr_expect_eq(finalized, j.n);
    no_leaks();
}

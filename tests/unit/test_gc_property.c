/*
 * test_gc_property.c — a randomized check of the collector against a reference reachability computation.
 *
 * Each round builds a random graph of tracked vertices (random edges, self loops and duplicates included; four
 * vertex types: with traverse(), with ref_offsets, with ref_array_offset, with a finalizer), keeps random
 * vertices as external roots and random weak references, and then:
 *   - while mutating the graph and running random partial collections (and automatic ones, with random low
 *     thresholds), no vertex reachable from the roots ever dies;
 *   - after ms_gc_collect(2), exactly the vertices unreachable from the roots are dead, each died once, each
 *     finalizer ran at most once (exactly once for the dead), and every weak reference is dead iff its referent
 *     is, with exactly one callback per dead referent.
 * Half of the rounds use neither finalizers nor weak references (the collector's fast path); two thirds of those
 * build some or all vertices of a type with no callbacks at all (the collector then frees garbage made only of
 * them itself; those deaths are counted by the type statistics, not by dealloc); in a third, the
 * first half of the vertices stays frozen (ms_gc_freeze) until that final collection.
 * The seed is printed on failure; set MS_PROPERTY_SEED to replay one.
 * Bounded time (issue 8): MS_PROPERTY_ROUNDS rounds (default 150) or MS_PROPERTY_SECONDS seconds (default 20),
 * whichever comes first, so CI runs explore fresh seeds without a sanitizer or valgrind build running away;
 * set MS_PROPERTY_SECONDS=600 MS_PROPERTY_ROUNDS=1000000 for a long search.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#define MAX_EDGES 4
#define MAX_N 3000

typedef struct vertex {
    MS_OBJECT_HEAD;
    int id;
    ms_object *edges[MAX_EDGES];
    ms_object **arr; /* = edges, for the ref_array type */
    size_t narr;
} vertex;

static int dead_count[MAX_N];
static int finalize_count[MAX_N];
static int callback_count[MAX_N]; /* by weakref slot */

static int vertex_traverse(ms_object *self, ms_visit_fn visit, void *arg)
{
    vertex *v = (vertex *)self;
    for (int i = 0; i < MAX_EDGES; i++)
        MS_VISIT(v->edges[i]);
    return 0;
}
static void vertex_clear(ms_object *self)
{
    vertex *v = (vertex *)self;
    for (int i = 0; i < MAX_EDGES; i++)
        MS_CLEAR(v->edges[i]);
}
static void vertex_dealloc(ms_object *self) { dead_count[((vertex *)self)->id]++; }
static void vertex_finalize(ms_object *self) { finalize_count[((vertex *)self)->id]++; }

static const size_t vertex_refs[] = {
    offsetof(vertex, edges[0]), offsetof(vertex, edges[1]), offsetof(vertex, edges[2]), offsetof(vertex, edges[3]), 0,
};
static const ms_type traverse_type = {
    .name = "V", .size = sizeof(vertex), .flags = MS_TYPE_GC, .traverse = vertex_traverse, .clear = vertex_clear,
    .dealloc = vertex_dealloc,
};
static const ms_type offsets_type = {
    .name = "VFast", .size = sizeof(vertex), .flags = MS_TYPE_GC, .ref_offsets = vertex_refs,
    .dealloc = vertex_dealloc,
};
static const ms_type array_type = {
    .name = "VArray", .size = sizeof(vertex), .flags = MS_TYPE_GC, .clear = vertex_clear,
    .dealloc = vertex_dealloc, .ref_array_offset = offsetof(vertex, arr),
    .ref_array_len_offset = offsetof(vertex, narr),
};
/* No dealloc, only ref_offsets: garbage made of these alone is torn down by the collector itself (gc.c,
 * free_garbage) without calling anything of the type, so their deaths are counted through the type statistics. */
static const ms_type simple_type = {
    .name = "VSimple", .size = sizeof(vertex), .flags = MS_TYPE_GC, .ref_offsets = vertex_refs,
};
static const ms_type final_type = {
    .name = "VFinal", .size = sizeof(vertex), .flags = MS_TYPE_GC, .traverse = vertex_traverse,
    .clear = vertex_clear, .finalize = vertex_finalize, .dealloc = vertex_dealloc,
};

/* The test's mirror of the graph. */
static vertex *obj[MAX_N];
static int edge[MAX_N][MAX_EDGES]; /* -1: none */
static bool is_root[MAX_N];
static bool has_finalizer[MAX_N];
static bool is_simple[MAX_N];
static bool reach[MAX_N];
static int queue[MAX_N];
static ms_weakref *wref[MAX_N];
static int wref_target[MAX_N];

static void on_weakref_death(ms_weakref *ref, void *arg)
{
    (void)ref;
    callback_count[(int)(intptr_t)arg]++;
}

static void compute_reach(int n)
{
    int head = 0, tail = 0;
    memset(reach, 0, sizeof(reach));
    for (int i = 0; i < n; i++)
        if (is_root[i]) {
            reach[i] = true;
            queue[tail++] = i;
        }
    while (head < tail) {
        int v = queue[head++];
        for (int k = 0; k < MAX_EDGES; k++) {
            int w = edge[v][k];
            if (w >= 0 && !reach[w]) {
                reach[w] = true;
                queue[tail++] = w;
            }
        }
    }
}

static uint64_t simple_alive(void)
{
    ms_type_stats st;
    return ms_type_stats_find(&simple_type, &st) == 0 ? st.live_count : 0;
}

static void check_safety(int n, unsigned seed, const char *when)
{
    compute_reach(n);
    uint64_t reachable_simple = 0;
    for (int i = 0; i < n; i++) {
        cr_assert(!reach[i] || dead_count[i] == 0, "seed %u, %s: reachable vertex %d was freed", seed, when, i);
        if (reach[i] && is_simple[i]) {
            reachable_simple++;
            cr_assert(obj[i]->id == i && ms_refcount((ms_object *)obj[i]) > 0 &&
                          ms_type_of((ms_object *)obj[i]) == &simple_type,
                      "seed %u, %s: reachable simple vertex %d was freed", seed, when, i);
        }
    }
    cr_assert_geq(simple_alive(), reachable_simple, "seed %u, %s: a reachable simple vertex was freed", seed, when);
}

static void run_round(unsigned seed)
{
    unsigned r = seed;
    int n = 200 + (int)(rand_r(&r) % (MAX_N - 200));
    int root_permille = 5 + (int)(rand_r(&r) % 200);
    /* Half of the rounds have neither finalizers nor weak references: the collector's fast path. */
    bool plain = rand_r(&r) % 2;
    int nweak = plain ? 0 : (int)(rand_r(&r) % (unsigned)n);
    ms_gc_set_threshold(1 + (int)(rand_r(&r) % 60), 1 + (int)(rand_r(&r) % 10), 1 + (int)(rand_r(&r) % 10));
    memset(dead_count, 0, sizeof(dead_count));
    memset(finalize_count, 0, sizeof(finalize_count));
    memset(callback_count, 0, sizeof(callback_count));

    static const ms_type *types[4] = { &traverse_type, &offsets_type, &array_type, &final_type };
    /* In a third of the plain rounds every vertex is of simple_type, in another third some are: the collector's
     * own teardown (all garbage simple) and its fallback (mixed garbage). */
    int simple_mode = plain ? (int)(rand_r(&r) % 3) : 0;
    /* Sometimes the first half is frozen until the final check: collections then see references to and from
     * objects they must ignore (and take their slower path). */
    bool freeze_half = rand_r(&r) % 3 == 0;
    for (int i = 0; i < n; i++) {
        if (freeze_half && i == n / 2)
            ms_gc_freeze();
        const ms_type *t = types[rand_r(&r) % (plain ? 3 : 4)];
        if (simple_mode == 1 || (simple_mode == 2 && rand_r(&r) % 2))
            t = &simple_type;
        has_finalizer[i] = t == &final_type;
        is_simple[i] = t == &simple_type;
        obj[i] = (vertex *)ms_new(t);
        cr_assert_not_null(obj[i], "seed %u", seed);
        obj[i]->id = i;
        obj[i]->arr = obj[i]->edges;
        obj[i]->narr = MAX_EDGES;
        for (int k = 0; k < MAX_EDGES; k++)
            edge[i][k] = -1;
    }
    for (int i = 0; i < n; i++) {
        int k = (int)(rand_r(&r) % (MAX_EDGES + 1));
        for (int e = 0; e < k; e++) {
            int to = (int)(rand_r(&r) % (unsigned)n);
            ms_incref((ms_object *)obj[to]);
            obj[i]->edges[e] = (ms_object *)obj[to];
            edge[i][e] = to;
        }
    }
    for (int j = 0; j < nweak; j++) {
        wref_target[j] = (int)(rand_r(&r) % (unsigned)n);
        wref[j] = ms_weakref_new((ms_object *)obj[wref_target[j]], on_weakref_death, (void *)(intptr_t)j);
        cr_assert_not_null(wref[j], "seed %u", seed);
    }
    /* Keep the roots' references, drop the others: refcounting frees what no edge reaches. */
    for (int i = 0; i < n; i++) {
        is_root[i] = (int)(rand_r(&r) % 1000) < root_permille;
        if (!is_root[i])
            ms_decref((ms_object *)obj[i]);
    }
    check_safety(n, seed, "after dropping the non-roots");

    for (int round = 0; round < 8; round++) {
        int gen = (int)(rand_r(&r) % 3);
        cr_assert_geq(ms_gc_collect(gen), 0);
        check_safety(n, seed, "after a partial collection");
        compute_reach(n);
        /* Mutate among live (reachable) vertices: rewire edges, drop and add roots. */
        int changes = 1 + (int)(rand_r(&r) % 50);
        for (int c = 0; c < changes; c++) {
            int v = (int)(rand_r(&r) % (unsigned)n), w = (int)(rand_r(&r) % (unsigned)n);
            if (!reach[v])
                continue;
            int k = (int)(rand_r(&r) % MAX_EDGES);
            if (reach[w] && rand_r(&r) % 2) {
                ms_incref((ms_object *)obj[w]);
                MS_SETREF(obj[v]->edges[k], (ms_object *)obj[w]);
                edge[v][k] = w;
            } else {
                edge[v][k] = -1;
                MS_CLEAR(obj[v]->edges[k]);
            }
            compute_reach(n); /* a cleared edge may have freed vertices */
            check_safety(n, seed, "after a mutation");
        }
        /* New roots first, while `reach` still describes live vertices; then drop some old ones. */
        static bool was_root[MAX_N];
        memcpy(was_root, is_root, sizeof(was_root));
        for (int i = 0; i < n; i++) {
            if (!is_root[i] && reach[i] && rand_r(&r) % 8 == 0) {
                is_root[i] = true;
                ms_incref((ms_object *)obj[i]);
            }
        }
        for (int i = 0; i < n; i++) {
            if (was_root[i] && rand_r(&r) % 4 == 0) {
                is_root[i] = false;
                ms_decref((ms_object *)obj[i]);
            }
        }
        check_safety(n, seed, "after changing roots");
    }

    ms_gc_unfreeze();
    cr_assert_geq(ms_gc_collect(2), 0);
    compute_reach(n);
    uint64_t reachable_simple = 0;
    for (int i = 0; i < n; i++)
        reachable_simple += reach[i] && is_simple[i];
    cr_assert_eq(simple_alive(), reachable_simple, "seed %u: %llu simple vertices alive, %llu reachable", seed,
                 (unsigned long long)simple_alive(), (unsigned long long)reachable_simple);
    for (int i = 0; i < n; i++) {
        if (is_simple[i])
            continue;
        cr_assert_eq(dead_count[i], reach[i] ? 0 : 1, "seed %u: vertex %d reachable=%d died %d times", seed, i,
                     reach[i], dead_count[i]);
        cr_assert_leq(finalize_count[i], 1, "seed %u: vertex %d finalized %d times", seed, i, finalize_count[i]);
    }
    for (int j = 0; j < nweak; j++) {
        bool target_dead = dead_count[wref_target[j]] != 0;
        cr_assert_eq(ms_weakref_peek(wref[j]) == NULL, target_dead, "seed %u: weakref %d", seed, j);
        cr_assert_eq(callback_count[j], target_dead ? 1 : 0, "seed %u: weakref %d called back %d times", seed, j,
                     callback_count[j]);
    }

    /* Tear down: drop the roots and the weak references; everything must go. */
    for (int i = 0; i < n; i++)
        if (is_root[i])
            ms_decref((ms_object *)obj[i]);
    for (int j = 0; j < nweak; j++)
        ms_decref((ms_object *)wref[j]);
    ms_gc_collect(2);
    cr_assert_eq(simple_alive(), 0, "seed %u: simple vertices survived the teardown", seed);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(dead_count[i], is_simple[i] ? 0 : 1, "seed %u: vertex %d survived the teardown", seed, i);
        cr_assert_eq(finalize_count[i], has_finalizer[i] ? 1 : 0, "seed %u: vertex %d finalized %d times", seed, i,
                     finalize_count[i]);
    }
}

Test(gc_property, exactly_the_unreachable_die)
{
    ms_heap_stats heap0, heap1;
    ms_object_stats objs0, objs1;
    ms_heap_stats_get(&heap0);
    ms_object_stats_get(&objs0);

    const char *env = getenv("MS_PROPERTY_SEED");
    const char *rounds_env = getenv("MS_PROPERTY_ROUNDS"), *secs_env = getenv("MS_PROPERTY_SECONDS");
    unsigned base = env ? (unsigned)strtoul(env, NULL, 0) : (unsigned)time(NULL);
    long rounds = env ? 1 : rounds_env ? strtol(rounds_env, NULL, 10) : 150;
    double budget = secs_env ? strtod(secs_env, NULL) : 20.0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long i = 0;
    double elapsed = 0;
    for (; i < rounds && (i == 0 || elapsed < budget); i++) {
        unsigned seed = base + (unsigned)i * 7919u;
        cr_log_info("seed %u", seed);
        run_round(seed);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    }
    cr_log_info("%ld rounds from seed %u in %.1f s (replay one with MS_PROPERTY_SEED)", i, base, elapsed);

    ms_gc_set_threshold(700, 10, 10);
    ms_heap_stats_get(&heap1);
    ms_object_stats_get(&objs1);
    cr_expect_eq(objs1.alive, objs0.alive);
    cr_expect_eq(heap1.blocks_in_use, heap0.blocks_in_use);
}

/*
 * gc_ring.c — memscope's side of the GC benchmark (bench/README.md, section "gc"; CPython's side is gc_ring.py).
 *
 * Builds N container objects in a doubly linked ring, then times one full collection (ms_gc_collect(2)) with the
 * ring reachable from a local reference, and one with the ring garbage (the last outside reference dropped
 * first): the collection finds all N objects unreachable, clears them and reference counting frees them. That
 * is the work gc.collect() does in gc_ring.py on the same graph.
 *
 * Kinds (the Python kinds each is compared with are in brackets):
 *   node  a two-field MS_TYPE_GC type {prev, next} declared with ref_offsets, as an application would declare
 *         it  [slots: a __slots__ class; class: a plain class like the seed's Node]
 *   list  a two-item ms_list [prev, next]  [list]
 *   pairs N/2 two-node cycles (held through one list while reachable): memscope only, for the cycle makers
 *
 * --cycles turns the cycle makers' grouping on (ms_gc_set_cycle_stats), --trace traces every allocation (one
 * frame) from the start. --grouping-ab compares the garbage collection with and without them, taking turns in
 * one process (measure_grouping; run.sh --cycles).
 *
 * --profile K builds one ring (first kind, first size) and runs K reachable collections, for perf record;
 * --profile-garbage K builds, drops and collects K rings (only the collections are timed).
 *
 * Also: refcount, the cost of one ms_incref + ms_decref pair on a live object (a loop of 100M pairs).
 *
 * Output, one line per measurement, for run.sh:
 *     c <kind> <N> <reachable ns/object> <unreachable ns/object>
 *     c refcount <ns per incref+decref pair>
 * Each number is the best of --reps runs (more for rings under 1M objects: reps_for), in CPU time of the thread. The automatic collector is disabled while the graph is built, as in
 * gc_ring.py, so only the timed calls collect. The program checks every collection's result and exits with
 * status 1 on a wrong count.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/memscope.h>

#include "../cpu_clock.h"
typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *prev;
    ms_object *next;
} node;

static const size_t node_refs[] = {offsetof(node, prev), offsetof(node, next), 0};
static const ms_type node_type = {.name = "node", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs};

/* CPU time of this thread, not wall time (bench/cpu_clock.h). */
static uint64_t now_ns(void) { return bench_cpu_ns(); }

static void die(const char *what)
{
    fprintf(stderr, "gc_ring: %s\n", what);
    exit(1);
}

/* A ring of n nodes; returns the head (one reference, the caller's). Mirrors build_nodes() in gc_ring.py. */
static ms_object *build_nodes(size_t n)
{
    node *head = (node *)ms_new(&node_type);
    if (!head)
        die("out of memory");
    ms_object *h = &head->ob_base;
    head->prev = h;
    head->next = h;
    ms_incref(h);
    ms_incref(h);
    node *tail = head;
    for (size_t i = 1; i < n; i++) {
        node *nd = (node *)ms_new(&node_type);
        if (!nd)
            die("out of memory");
        ms_object *o = &nd->ob_base;
        nd->prev = &tail->ob_base; /* node.prev = tail */
        ms_incref(nd->prev);
        nd->next = h;              /* node.next = head */
        ms_incref(h);
        ms_incref(o);
        MS_SETREF(tail->next, o);  /* tail.next = node */
        ms_incref(o);
        MS_SETREF(head->prev, o);  /* head.prev = node */
        tail = nd;
        ms_decref(o);              /* the local `node` goes away; the ring holds it */
    }
    return h;
}

/* The same with two-item lists [prev, next]. Mirrors build_lists() in gc_ring.py. */
static ms_object *build_lists(size_t n)
{
    ms_object *head = ms_list_new();
    if (!head || ms_list_append(head, head) < 0 || ms_list_append(head, head) < 0)
        die("out of memory");
    ms_object *tail = head;
    for (size_t i = 1; i < n; i++) {
        ms_object *l = ms_list_new(); /* node = [tail, head] */
        if (!l || ms_list_append(l, tail) < 0 || ms_list_append(l, head) < 0)
            die("out of memory");
        if (ms_list_set(tail, 1, l) < 0 || ms_list_set(head, 0, l) < 0)
            die("ms_list_set failed");
        tail = l;
        ms_decref(l);
    }
    return head;
}

/* n / 2 pairs of nodes that point at each other, one node of each held by a list (returned): garbage once the
 * list goes, in n / 2 cycles of two: the cycle-per-request shape of the cycle makers' measurement. */
static ms_object *build_pairs(size_t n)
{
    ms_object *hold = ms_list_new();
    if (!hold)
        die("out of memory");
    for (size_t i = 0; i + 1 < n; i += 2) {
        node *a = (node *)ms_new(&node_type), *b = (node *)ms_new(&node_type);
        if (!a || !b)
            die("out of memory");
        a->next = &b->ob_base; /* the reference ms_new returned */
        ms_incref(&a->ob_base);
        b->next = &a->ob_base;
        if (ms_list_append(hold, &a->ob_base) < 0)
            die("out of memory");
        ms_decref(&a->ob_base);
    }
    return hold;
}

typedef ms_object *(*builder)(size_t n);

/* Repetitions for a ring of n objects: at least `reps`, and as many as keep the total work at reps x 1M objects, so
 * that a small ring, whose collection lasts about a millisecond, gets enough tries to find a quiet one (gc_ring.py
 * uses the same rule). */
static int reps_for(size_t n, int reps)
{
    size_t scaled = (size_t)reps * 1000000u / (n ? n : 1);
    return scaled > (size_t)reps ? (int)(scaled < 1000 ? scaled : 1000) : reps;
}

static void measure(const char *kind, builder build, size_t n, int reps)
{
    double best_reach = 1e30, best_unreach = 1e30;
    reps = reps_for(n, reps);
    for (int r = 0; r < reps; r++) {
        ms_gc_collect(2);
        ms_object *ring = build(n);

        uint64_t t0 = now_ns();
        ssize_t found = ms_gc_collect(2);
        uint64_t t1 = now_ns();
        if (found != 0) {
            fprintf(stderr, "gc_ring: reachable %s ring: ms_gc_collect found %zd, expected 0\n", kind, found);
            exit(1);
        }
        double reach = (double)(t1 - t0) / (double)n;
        best_reach = reach < best_reach ? reach : best_reach;

        ms_decref(ring);
        t0 = now_ns();
        found = ms_gc_collect(2);
        t1 = now_ns();
        size_t expect = build == build_pairs ? n / 2 * 2 : n;
        if (found != (ssize_t)expect) {
            fprintf(stderr, "gc_ring: garbage %s ring: ms_gc_collect found %zd, expected %zu\n", kind, found, expect);
            exit(1);
        }
        double unreach = (double)(t1 - t0) / (double)n;
        best_unreach = unreach < best_unreach ? unreach : best_unreach;
    }
    printf("c %s %zu %.2f %.2f\n", kind, n, best_reach, best_unreach);
    fflush(stdout);
}

/*
 * The cycle makers' grouping, grouping off and on, tracing off and on: the garbage collection of a ring built
 * afresh for each, the four configurations taking turns in one process (a round each, in a rotating order), so
 * that they share the process' heap and the machine's mood; a VM's drift between processes was larger than the
 * grouping's cost. Prints "ab <kind> <N> <off> <on> <traced> <traced+grouping>", each the best of `reps` rounds.
 */
static void measure_grouping(const char *kind, builder build, size_t n, int reps)
{
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    size_t expect = build == build_pairs ? n / 2 * 2 : n;
    for (int r = 0; r < reps; r++) {
        for (int j = 0; j < 4; j++) {
            int config = (j + r) % 4; /* bit 0: grouping, bit 1: tracing */
            ms_gc_set_cycle_stats(config & 1);
            if ((config & 2) && ms_trace_start(1) != 0) /* before the ring is built: its objects traced */
                die("ms_trace_start failed");
            if (config & 1) {
                /* Turning the grouping off freed its work arrays: one untimed collection of the same garbage
                 * gives them their size and their pages back, as in a process that leaves the grouping on. */
                ms_decref(build(n));
                if (ms_gc_collect(2) != (ssize_t)expect)
                    die("garbage ring not collected");
            }
            ms_object *ring = build(n);
            ms_decref(ring);
            uint64_t t0 = now_ns();
            ssize_t found = ms_gc_collect(2);
            uint64_t t1 = now_ns();
            if (found != (ssize_t)expect)
                die("garbage ring not collected");
            if (config & 2)
                ms_trace_stop();
            double v = (double)(t1 - t0) / (double)n;
            best[config] = v < best[config] ? v : best[config];
        }
    }
    ms_gc_set_cycle_stats(false);
    printf("ab %s %zu %.2f %.2f %.2f %.2f\n", kind, n, best[0], best[1], best[2], best[3]);
    fflush(stdout);
}

/* One incref + decref pair on a live object, 100M times. The empty asm with a "memory" clobber makes the compiler
 * do every increment and decrement in memory, as it must for an object other code can see. */
static void measure_refcount(int reps)
{
    const long loops = 100 * 1000 * 1000;
    ms_object *o = ms_list_new();
    if (!o)
        die("out of memory");
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < loops; i++) {
            ms_incref(o);
            __asm__ volatile("" : : "r"(o) : "memory");
            ms_decref(o);
            __asm__ volatile("" : : "r"(o) : "memory");
        }
        uint64_t t1 = now_ns();
        double ns = (double)(t1 - t0) / (double)loops;
        best = ns < best ? ns : best;
    }
    if (ms_refcount(o) != 1)
        die("refcount loop broke the count");
    ms_decref(o);
    printf("c refcount %.3f\n", best);
}

int main(int argc, char **argv)
{
    size_t sizes[16] = {100000, 1000000, 3000000};
    size_t nsizes = 3;
    const char *kinds = "node,list";
    int reps = 3;
    bool refcount = true;
    long profile = 0;
    bool profile_garbage = false, grouping_ab = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            nsizes = 0;
            for (char *s = argv[++i]; *s && nsizes < 16;) {
                sizes[nsizes++] = strtoull(s, &s, 10);
                if (*s == ',')
                    s++;
            }
        } else if (!strcmp(argv[i], "--kinds") && i + 1 < argc) {
            kinds = argv[++i];
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
            profile = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--profile-garbage") && i + 1 < argc) {
            profile = atol(argv[++i]);
            profile_garbage = true;
        } else if (!strcmp(argv[i], "--no-refcount")) {
            refcount = false;
        } else if (!strcmp(argv[i], "--cycles")) {
            ms_gc_set_cycle_stats(true); /* the cycle makers' grouping in every collection (memscope/gc.h) */
        } else if (!strcmp(argv[i], "--grouping-ab")) {
            grouping_ab = true;
        } else if (!strcmp(argv[i], "--trace")) {
            if (ms_trace_start(1) != 0) /* before anything is built: every object traced, its site known */
                die("ms_trace_start failed");
        } else {
            fprintf(stderr, "usage: %s [--sizes N,N,...] [--kinds node,list,pairs] [--reps R] [--no-refcount] "
                            "[--cycles] [--trace] [--grouping-ab] [--profile K] [--profile-garbage K]\n", argv[0]);
            return 2;
        }
    }
    ms_gc_disable();
    if (profile > 0 && profile_garbage) {
        /* K times: build one ring, drop it, collect it; only the collections are timed. */
        uint64_t total = 0;
        for (long k = 0; k < profile; k++) {
            ms_object *ring = strstr(kinds, "node") ? build_nodes(sizes[0]) : build_lists(sizes[0]);
            ms_decref(ring);
            uint64_t t0 = now_ns();
            if (ms_gc_collect(2) != (ssize_t)sizes[0])
                die("garbage ring not collected");
            total += now_ns() - t0;
        }
        printf("profile: %.2f ns/object per garbage collection\n", (double)total / (double)profile / (double)sizes[0]);
        return 0;
    }
    if (profile > 0) {
        /* For perf: build one ring of the first kind and size, then K reachable full collections, so that the
         * collection dominates the profile. */
        ms_object *ring = strstr(kinds, "node") ? build_nodes(sizes[0]) : build_lists(sizes[0]);
        uint64_t t0 = now_ns();
        for (long k = 0; k < profile; k++)
            if (ms_gc_collect(2) != 0)
                die("reachable ring collected");
        printf("profile: %.2f ns/object per reachable collection\n",
               (double)(now_ns() - t0) / (double)profile / (double)sizes[0]);
        ms_decref(ring);
        return ms_gc_collect(2) == (ssize_t)sizes[0] ? 0 : 1;
    }
    if (grouping_ab) {
        for (size_t i = 0; i < nsizes; i++) {
            if (strstr(kinds, "node"))
                measure_grouping("node", build_nodes, sizes[i], reps);
            if (strstr(kinds, "pairs"))
                measure_grouping("pairs", build_pairs, sizes[i], reps);
        }
        return 0;
    }
    if (strstr(kinds, "node"))
        for (size_t i = 0; i < nsizes; i++)
            measure("node", build_nodes, sizes[i], reps);
    if (strstr(kinds, "list"))
        for (size_t i = 0; i < nsizes; i++)
            measure("list", build_lists, sizes[i], reps);
    if (strstr(kinds, "pairs"))
        for (size_t i = 0; i < nsizes; i++)
            measure("pairs", build_pairs, sizes[i], reps);
    if (refcount)
        measure_refcount(reps);
    return 0;
}

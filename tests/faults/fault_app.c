/*
 * tests/faults/fault_app.c — an app linked with the real libmemscope, for the fault tests (issue 8). Unlike
 * tests/integration/fake_app.c (a protocol-level impostor), this one runs the real agent thread, so the tests
 * measure what a real program would feel: whether its own work slows down or blocks when the daemon dies, stops
 * reading or refuses it.
 *
 *   fault_app work     [--seconds S] [--socket PATH --interval-ms N --max-buffered BYTES]
 *   fault_app gcstress [--seconds S] [--collections N]
 *
 * The agent comes from the environment (MEMSCOPE_SOCKET, ...) unless --socket is given, in which case it is
 * started explicitly with ms_agent_start() (to set a small outgoing buffer).
 *
 * work: a duty-cycled loop — allocate and free a batch of objects (a few cycles among them), ms_poll(), sleep
 *   1 ms — that prints one line every 100 ms to stdout:
 *     tick <ms since start> <iterations in the last 100 ms> <longest iteration in it, us> <connected> <connects>
 *          <stats_sent> <stats_dropped> <VmRSS kB>
 *   The sleep makes it light on CPU and its rate stable; an iteration that waited on the agent would show in
 *   both the rate and the longest iteration.
 * gcstress: a graph of 2000 nodes with 3 edges each (cycles everywhere) that the loop keeps rewiring, dropping
 *   and re-creating, calling ms_poll() between mutations so the daemon's remote collections run in the middle of
 *   it. It exits once --collections requests have been served (ms_agent_status.requests_done), after checking
 *   that every node reachable from the roots is intact, that a full collection frees everything once the roots
 *   are dropped, and that ms_mem_validate() finds the heap consistent. Exit 0 on success, 1 on corruption or
 *   when --seconds runs out first.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <memscope/memscope.h>

#include "../xorshift.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static uint64_t rng = 88172645463325252u;
static uint64_t rnd(void) { return test_xorshift64(&rng); }

/* ---- The node type ------------------------------------------------------------------------------------------ */

#define EDGES 3
#define NODE_MAGIC 0x6e6f64656e6f6465u

typedef struct node {
    MS_OBJECT_HEAD;
    uint64_t magic; /* checked on every visit: a node freed or overwritten under us shows here */
    ms_object *edge[EDGES];
} node;

static long nodes_alive;

static void node_dealloc(ms_object *self)
{
    ((node *)self)->magic = 0;
    nodes_alive--;
}

/* A fixed layout: the collector reads the edges through ref_offsets and clears them itself (memscope/object.h). */
_Static_assert(EDGES == 3, "node_refs lists every edge");
static const size_t node_refs[] = {offsetof(node, edge[0]), offsetof(node, edge[1]), offsetof(node, edge[2]), 0};
static const ms_type node_type = {
    .name = "FaultNode", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs,
    .dealloc = node_dealloc,
};

static node *node_new(void)
{
    node *n = (node *)ms_new(&node_type);
    if (!n) {
        fprintf(stderr, "fault_app: out of memory\n");
        exit(1);
    }
    n->magic = NODE_MAGIC;
    nodes_alive++;
    return n;
}

/* ---- work ---------------------------------------------------------------------------------------------------- */

static int run_work(double seconds)
{
    double start = now_ms(), window = start, longest = 0;
    long iters = 0;
    node *batch[64];
    while (now_ms() - start < seconds * 1e3) {
        double t0 = now_ms();
        for (int i = 0; i < 64; i++)
            batch[i] = node_new();
        for (int i = 0; i < 64; i += 4) { /* some cycles, for the collector */
            batch[i]->edge[0] = (ms_object *)batch[i + 1];
            ms_incref((ms_object *)batch[i + 1]);
            batch[i + 1]->edge[0] = (ms_object *)batch[i];
            ms_incref((ms_object *)batch[i]);
        }
        for (int i = 0; i < 64; i++)
            ms_decref((ms_object *)batch[i]);
        ms_poll();
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        iters++;
        double t1 = now_ms();
        if (t1 - t0 > longest)
            longest = t1 - t0;
        if (t1 - window >= 100) {
            ms_agent_status st;
            ms_agent_status_get(&st);
            printf("tick %.0f %ld %.0f %d %llu %llu %llu %ld\n", t1 - start, iters, longest * 1e3, st.connected,
                   (unsigned long long)st.connects, (unsigned long long)st.stats_sent,
                   (unsigned long long)st.stats_dropped, rss_kb());
            fflush(stdout);
            iters = 0;
            longest = 0;
            window = t1;
        }
    }
    ms_gc_collect(2);
    return 0;
}

/* ---- gcstress ------------------------------------------------------------------------------------------------ */

#define GRAPH_N 2000
#define ROOTS 50
#define NODES_MAX (4 * GRAPH_N) /* no new nodes above this (garbage included): keeps collections short */

static node *all[GRAPH_N]; /* one reference each: the "variables" of the app */

static int check_node(ms_object *o, void *arg)
{
    node *n = (node *)o;
    long *bad = arg;
    if (ms_type_of(o) != &node_type || n->magic != NODE_MAGIC || ms_refcount(o) < 1)
        (*bad)++;
    return 0;
}

/* Every node we hold and every node they point to is a live, intact node. */
static long validate_graph(void)
{
    long bad = 0;
    for (int i = 0; i < GRAPH_N; i++) {
        if (!all[i])
            continue;
        check_node((ms_object *)all[i], &bad);
        for (int e = 0; e < EDGES; e++)
            if (all[i]->edge[e])
                check_node(all[i]->edge[e], &bad);
    }
    return bad;
}

static void rewire(node *from, int slot, node *to)
{
    if (to)
        ms_incref((ms_object *)to);
    MS_SETREF(from->edge[slot], (ms_object *)to);
}

static int run_gcstress(double seconds, uint64_t collections)
{
    double start = now_ms();
    ms_object_stats base;
    ms_object_stats_get(&base);
    for (int i = 0; i < GRAPH_N; i++)
        all[i] = node_new();
    for (int i = 0; i < GRAPH_N; i++)
        for (int k = 0; k < EDGES; k++)
            rewire(all[i], k, all[rnd() % GRAPH_N]);
    ms_agent_status st;
    long mutations = 0, checks = 0;
    for (;;) {
        ms_agent_status_get(&st);
        if (st.requests_done >= collections)
            break;
        if (now_ms() - start > seconds * 1e3) {
            fprintf(stderr, "fault_app: only %llu of %llu requests served in %.0f s\n",
                    (unsigned long long)st.requests_done, (unsigned long long)collections, seconds);
            return 1;
        }
        for (int m = 0; m < 50; m++, mutations++) {
            int i = (int)(rnd() % GRAPH_N);
            switch (rnd() % 4) {
            case 0: /* rewire or cut an edge: old targets may become unreachable cycles */
                if (all[i])
                    rewire(all[i], (int)(rnd() % EDGES), rnd() % 4 ? all[rnd() % GRAPH_N] : NULL);
                break;
            case 1: /* drop our variable: the node lives on only if the graph still reaches it */
                if (i >= ROOTS)
                    MS_CLEAR(all[i]);
                break;
            case 2: /* a new node in a free slot, wired into the graph */
                if (!all[i] && nodes_alive < NODES_MAX) {
                    all[i] = node_new();
                    for (int k = 0; k < EDGES; k++)
                        rewire(all[i], k, all[rnd() % GRAPH_N]);
                }
                break;
            default: /* a new garbage cycle */
                if (nodes_alive < NODES_MAX) {
                    node *a = node_new(), *b = node_new();
                    rewire(a, 0, b);
                    rewire(b, 0, a);
                    ms_decref((ms_object *)a);
                    ms_decref((ms_object *)b);
                }
            }
        }
        ms_poll(); /* the remote collections run here, between mutations */
        if (++checks % 64 == 0 && validate_graph() != 0) {
            fprintf(stderr, "fault_app: the graph is corrupt after %ld mutations\n", mutations);
            return 1;
        }
    }
    long bad = validate_graph();
    for (int i = 0; i < GRAPH_N; i++)
        MS_CLEAR(all[i]);
    ms_gc_collect(2);
    ms_object_stats end;
    ms_object_stats_get(&end);
    int valid = ms_mem_validate();
    printf("gcstress: %llu requests served, %ld mutations, %ld bad nodes, %ld nodes left, objects %lld -> %lld, "
           "ms_mem_validate %d\n",
           (unsigned long long)st.requests_done, mutations, bad, nodes_alive, (long long)base.alive,
           (long long)end.alive, valid);
    fflush(stdout);
    ms_agent_stop();
    return bad == 0 && nodes_alive == 0 && end.alive == base.alive && valid == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fault_app work|gcstress [--seconds S] [--collections N] [--socket PATH "
                        "--interval-ms N --max-buffered BYTES]\n");
        return 2;
    }
    double seconds = 60;
    uint64_t collections = 10000;
    ms_agent_config cfg = {0};
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--collections") == 0)
            collections = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--socket") == 0)
            cfg.socket_path = argv[i + 1];
        else if (strcmp(argv[i], "--interval-ms") == 0)
            cfg.interval_ms = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max-buffered") == 0)
            cfg.max_buffered = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "fault_app: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    ms_init();
    if (cfg.socket_path) {
        cfg.app_name = "fault_app";
        int rc = ms_agent_start(&cfg);
        if (rc < 0) {
            fprintf(stderr, "fault_app: ms_agent_start: %s\n", ms_strerror(rc));
            return 1;
        }
    }
    if (strcmp(argv[1], "work") == 0)
        return run_work(seconds);
    if (strcmp(argv[1], "gcstress") == 0)
        return run_gcstress(seconds, collections);
    fprintf(stderr, "fault_app: unknown mode %s\n", argv[1]);
    return 2;
}

/*
 * bench/gc/cycles_error.c — how far the cycle makers' components (weakly connected, client/gc_cycles.c) are from
 * the strongly connected components issue 16 names, on garbage whose graph this program builds and therefore
 * knows: it counts the SCCs that are cycles itself (Tarjan, iterative, over its own edge list, not the library's),
 * then lets the collector free the same garbage with the grouping on and reads the cycles and objects it counted.
 *
 * Shapes (each one collection of garbage of about N objects):
 *   pairs      N/2 two-object cycles                                           (the two answers agree)
 *   tails      rings of 4 objects, each with a tail of 4 objects only it holds  (WCC counts the tails with their
 *                                                                               ring; SCC leaves them out)
 *   linked     rings of 4 objects, each holding the next ring one way           (WCC: one cycle per chain of 8
 *                                                                               rings; SCC: 8)
 *   docstore   folders with a parent link and a list of 4 documents whose back link is to the folder, 16 folders
 *              per project holding each other one way (the demo's shape)
 *   random     N objects with random links (2 per object on average), nothing held from outside
 * Prints per shape: SCC cycles and the objects in them, WCC cycles (the library's `cycles`) and objects, and the
 * error of the cycle count, (WCC - SCC) / SCC.
 *
 * usage: bench-gc-cycles-error [--n N]
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/memscope.h>

#include "../../tests/xorshift.h"

typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *a, *b, *c, *d;
} node;
static const size_t node_refs[] = {offsetof(node, a), offsetof(node, b), offsetof(node, c), offsetof(node, d), 0};
static const ms_type node_type = {.name = "node", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs};

/* The graph as built: nodes 0..n-1 and their out-edges (at most 4). */
static node **nodes;
static int (*out)[4];
static int *nout;
static size_t n, cap;

static int add_node(void)
{
    if (n == cap) {
        cap = cap ? 2 * cap : 1024;
        nodes = realloc(nodes, cap * sizeof *nodes);
        out = realloc(out, cap * sizeof *out);
        nout = realloc(nout, cap * sizeof *nout);
        if (!nodes || !out || !nout)
            abort();
    }
    node *p = (node *)ms_new(&node_type);
    if (!p)
        abort();
    nodes[n] = p;
    nout[n] = 0;
    return (int)n++;
}

/* from -> to, in the next free field of from (a new reference to `to`). */
static void edge(int from, int to)
{
    if (nout[from] == 4)
        return;
    ms_object **f = &nodes[from]->a + nout[from];
    ms_incref((ms_object *)nodes[to]);
    *f = (ms_object *)nodes[to];
    out[from][nout[from]++] = to;
}

/* Tarjan's SCCs, iteratively; counts the SCCs that are cycles (more than one node, or a self-edge). */
static void scc_cycles(size_t *cycles, size_t *objects)
{
    int *index = malloc(n * sizeof *index), *low = malloc(n * sizeof *low), *stack = malloc(n * sizeof *stack);
    int *call = malloc(n * sizeof *call), *edge_i = malloc(n * sizeof *edge_i);
    char *on = calloc(n, 1);
    if (!index || !low || !stack || !call || !edge_i || !on)
        abort();
    for (size_t i = 0; i < n; i++)
        index[i] = -1;
    int next = 0, sp = 0;
    *cycles = *objects = 0;
    for (size_t root = 0; root < n; root++) {
        if (index[root] >= 0)
            continue;
        int cp = 0;
        call[cp++] = (int)root;
        edge_i[root] = 0;
        index[root] = low[root] = next++;
        stack[sp++] = (int)root;
        on[root] = 1;
        while (cp) {
            int v = call[cp - 1];
            if (edge_i[v] < nout[v]) {
                int w = out[v][edge_i[v]++];
                if (index[w] < 0) {
                    index[w] = low[w] = next++;
                    stack[sp++] = w;
                    on[w] = 1;
                    edge_i[w] = 0;
                    call[cp++] = w;
                } else if (on[w] && index[w] < low[v]) {
                    low[v] = index[w];
                }
                continue;
            }
            cp--;
            if (cp && low[v] < low[call[cp - 1]])
                low[call[cp - 1]] = low[v];
            if (low[v] == index[v]) {
                size_t size = 0;
                bool self = false;
                int w;
                do {
                    w = stack[--sp];
                    on[w] = 0;
                    size++;
                } while (w != v);
                for (int k = 0; k < nout[v]; k++)
                    self |= out[v][k] == v;
                if (size > 1 || self) {
                    (*cycles)++;
                    *objects += size;
                }
            }
        }
    }
    free(index);
    free(low);
    free(stack);
    free(call);
    free(edge_i);
    free(on);
}

static void ring(int len, int *first)
{
    int f = add_node(), prev = f;
    for (int i = 1; i < len; i++) {
        int x = add_node();
        edge(prev, x);
        prev = x;
    }
    edge(prev, f);
    *first = f;
}

static void build(const char *shape, size_t want, uint64_t *x)
{
    if (!strcmp(shape, "pairs")) {
        while (n < want) {
            int a = add_node(), b = add_node();
            edge(a, b);
            edge(b, a);
        }
    } else if (!strcmp(shape, "tails")) {
        while (n < want) {
            int f, prev;
            ring(4, &f);
            prev = f;
            for (int i = 0; i < 4; i++) {
                int t = add_node();
                edge(prev, t);
                prev = t;
            }
        }
    } else if (!strcmp(shape, "linked")) {
        while (n < want) {
            int prev = -1;
            for (int r = 0; r < 8; r++) {
                int f;
                ring(4, &f);
                if (prev >= 0)
                    edge(prev, f);
                prev = f;
            }
        }
    } else if (!strcmp(shape, "docstore")) {
        while (n < want) {
            int prev_folder = -1;
            for (int k = 0; k < 16; k++) {
                int folder = add_node(), list = add_node();
                edge(folder, list);
                for (int d = 0; d < 4 && nout[list] < 4; d++) {
                    int doc = add_node();
                    edge(list, doc);
                    edge(doc, folder); /* the document's back link */
                }
                if (prev_folder >= 0)
                    edge(folder, prev_folder); /* the parent link, one way */
                prev_folder = folder;
            }
        }
    } else { /* random */
        size_t base = n;
        while (n < base + want)
            add_node();
        for (size_t i = base; i < n; i++)
            for (int k = 0; k < 4; k++)
                if (test_xorshift64(x) % 2)
                    edge((int)i, (int)(base + test_xorshift64(x) % want));
    }
}

int main(int argc, char **argv)
{
    size_t want = argc > 2 && !strcmp(argv[1], "--n") ? strtoull(argv[2], NULL, 10) : 100000;
    ms_gc_disable();
    ms_gc_set_cycle_stats(true);
    uint64_t x = 42;
    printf("%-9s %9s | %9s %9s | %9s %9s | %8s\n", "shape", "objects", "scc_cyc", "scc_obj", "wcc_cyc", "wcc_obj",
           "error");
    const char *shapes[] = {"pairs", "tails", "linked", "docstore", "random"};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        n = 0;
        build(shapes[s], want, &x);
        size_t sc, so;
        scc_cycles(&sc, &so);
        size_t built = n;
        for (size_t i = 0; i < n; i++)
            ms_decref((ms_object *)nodes[i]);
        size_t freed = ms_gc_collect(2);
        ms_gc_cycle_group g[70];
        size_t ng = ms_gc_cycle_groups_last(g, 70);
        uint64_t wc = 0, wo = 0;
        for (size_t i = 0; i < ng; i++) {
            wc += g[i].cycles;
            wo += g[i].objects;
        }
        /* The random graph's garbage is what no cycle holds too (objects freed by reference counting first are
         * not the collector's): compare what the collector freed. */
        printf("%-9s %9zu | %9zu %9zu | %9llu %9llu | %+7.1f%%%s\n", shapes[s], built, sc, so, (unsigned long long)wc,
               (unsigned long long)wo, sc ? 100.0 * ((double)wc - (double)sc) / (double)sc : 0.0,
               freed == wo ? "" : "  (freed != counted)");
    }
    free(nodes);
    free(out);
    free(nout);
    return 0;
}

/*
 * tests/heapsnapshot/hs_dump.c — a .heapsnapshot and our analysis of it, for check.mjs to compare with memlab's.
 *
 *   hs_dump heap  OUT SEED   a libmemscope heap of known and random structure, written by ms_heapsnapshot_write
 *   hs_dump graph OUT SEED   a heap graph built by hand (no libmemscope), written by msc_hg_write_v8
 *
 * Writes OUT.heapsnapshot and OUT.ours.json:
 *     {"node_count": N, "edge_count": M, "nodes": [[id, retained_size, idom_id], ...]}
 * one entry per node, in node order; idom_id is the node id of the immediate dominator (the root's is its own,
 * a node the root does not reach has -1). The analysis is the daemon's (msd_heap_analyse, daemon/heapanalysis.h)
 * run on the graph read back from the written file: libmemscope keeps the graph of its walk to itself, and
 * reading the file back also checks that what memlab reads is what we analysed.
 *
 * The heap of `heap`: labelled roots (a registry list, a cache dict with str and int keys); a chain of 2000 Nodes
 * (a field "next"); rings of Nodes held by one root; objects shared by two roots (neither dominates them); weak
 * references (to live objects and to objects nothing else holds); garbage cycles the collector has not freed (the
 * collector is off); an object held only from C (an unlabelled root); and a random digraph of lists, some held
 * from C, some only from each other. Exits 0, or 1 with a message (the test then fails).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <memscope/memscope.h>

#include "heapanalysis.h"
#include "heapgraph.h"
#include "../xorshift.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hs_dump: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ---- The libmemscope heap ---------------------------------------------------------------------------------- */

typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *next, *other;
} node;

static const size_t node_refs[] = {offsetof(node, next), offsetof(node, other), 0};
static const char *const node_ref_names[] = {"next", "other"};
static const ms_type node_type = {.name = "Node", .size = sizeof(node), .flags = MS_TYPE_GC,
                                  .ref_offsets = node_refs, .ref_names = node_ref_names};

static node *node_new(ms_object *next)
{
    node *n = (node *)ms_new(&node_type);
    if (n && next) {
        ms_incref(next);
        n->next = next;
    }
    return n;
}

#define RANDOM_LISTS 3000
#define HELD_MAX 64 /* registry, cache, weak refs, alone, and the random lists held */

/* Everything the program holds from C (its roots), released at the end. */
static ms_object *held[HELD_MAX];
static size_t nheld;

static void hold(ms_object *o)
{
    if (o && nheld < HELD_MAX)
        held[nheld++] = o;
    else
        ms_xdecref(o);
}

static int build_heap(uint64_t *rng)
{
    ms_gc_disable(); /* the garbage cycles below must still be there when the snapshot is written */

    ms_object *registry = ms_list_new(), *cache = ms_dict_new();
    if (!registry || !cache)
        return -ENOMEM;
    int labels = ms_root_name(registry, "registry") | ms_root_name(cache, "cache");
    hold(registry);
    hold(cache);

    /* A chain: registry[0] -> Node -> Node -> ... (each dominates the rest). */
    node *head = NULL;
    for (int i = 0; i < 2000; i++) {
        node *n = node_new((ms_object *)head);
        ms_xdecref((ms_object *)head);
        head = n;
    }
    ms_list_append_take(registry, (ms_object *)head);

    /* Rings held by one root: registry[1..5] -> a ring of 3..40 Nodes. */
    for (int r = 0; r < 5; r++) {
        node *first = node_new(NULL), *prev = first;
        int len = 3 + (int)(test_xorshift64(rng) % 38);
        for (int i = 1; i < len && prev; i++) {
            node *n = node_new(NULL);
            prev->next = (ms_object *)n; /* the reference node_new returned */
            prev = n;
        }
        if (prev && first) {
            ms_incref((ms_object *)first);
            prev->next = (ms_object *)first;
        }
        ms_list_append_take(registry, (ms_object *)first);
    }

    /* Shared: strs and Nodes referenced from the cache (str keys, int keys) and from the registry. */
    for (int i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof key, "doc-%d", i);
        ms_object *k = i % 3 ? ms_str_new(key) : ms_int_new(100000 + i);
        node *v = node_new(NULL);
        if (v && i % 2)
            v->other = ms_str_new(key);
        ms_dict_set(cache, k, (ms_object *)v);
        if (i % 5 == 0)
            ms_list_append(registry, (ms_object *)v);
        ms_xdecref(k);
        ms_xdecref((ms_object *)v);
    }

    /* Weak references: to a cached Node (alive anyway) and to a Node held only weakly and from C. */
    ms_object *weaks = ms_list_new();
    labels |= ms_root_name(weaks, "weak refs");
    hold(weaks);
    ms_object *alone = (ms_object *)node_new(NULL);
    for (int i = 0; i < 20; i++) {
        ms_object *target = i % 2 ? alone : ms_list_get(registry, 0);
        ms_object *w = target ? (ms_object *)ms_weakref_new(target, NULL, NULL) : NULL;
        if (w)
            ms_list_append_take(weaks, w);
    }
    hold(alone); /* an unlabelled root: held from C only */

    /* Garbage: cycles nothing holds any more (the collector is off, so they wait in the heap). */
    for (int r = 0; r < 30; r++) {
        node *a = node_new(NULL), *b = node_new((ms_object *)a);
        if (a && b) {
            ms_incref((ms_object *)b);
            a->next = (ms_object *)b;
            a->other = ms_list_new();
            if (a->other)
                ms_list_append(a->other, (ms_object *)b);
        }
        ms_xdecref((ms_object *)a);
        ms_xdecref((ms_object *)b);
    }

    /* A random digraph of lists: each gets 0..4 references to random others; 48 are held from C (two of them
     * labelled), the rest only by each other. Those no held list reaches are freed when dropped, or stay as
     * garbage when they are in a cycle. */
    ms_object **lists = calloc(RANDOM_LISTS, sizeof *lists);
    if (!lists)
        return -ENOMEM;
    for (int i = 0; i < RANDOM_LISTS; i++)
        lists[i] = ms_list_new();
    for (int i = 0; i < RANDOM_LISTS; i++) {
        int k = (int)(test_xorshift64(rng) % 5);
        for (int j = 0; j < k && lists[i]; j++) {
            ms_object *to = lists[test_xorshift64(rng) % RANDOM_LISTS];
            if (to)
                ms_list_append(lists[i], to);
        }
    }
    for (int i = 0; i < 48; i++) {
        ms_object *o = lists[test_xorshift64(rng) % RANDOM_LISTS];
        if (!o)
            continue;
        ms_incref(o);
        if (i < 2)
            labels |= ms_root_name(o, i ? "random b" : "random a");
        hold(o);
    }
    for (int i = 0; i < RANDOM_LISTS; i++)
        ms_xdecref(lists[i]);
    free(lists);
    return labels < 0 ? labels : 0; /* a negative errno or'ed with 0s stays negative */
}

static void release_heap(void)
{
    for (size_t i = 0; i < nheld; i++)
        ms_decref(held[i]);
    nheld = 0;
    ms_gc_enable();
    ms_gc_collect(2);
}

/* ---- A graph built by hand ----------------------------------------------------------------------------------- */

/* Growable arrays of the hand-built graph (freed at exit by free_graph). */
typedef struct built {
    msc_hg_node *nodes;
    msc_hg_edge *edges;
    uint32_t *offsets;
    char *bytes;
    uint32_t nn, ne, ns, nb;
} built;

static uint32_t add_string(built *b, const char *s)
{
    size_t n = strlen(s);
    b->offsets = realloc(b->offsets, (b->ns + 2) * sizeof *b->offsets);
    b->bytes = realloc(b->bytes, b->nb + n + 1);
    if (!b->offsets || !b->bytes)
        abort(); /* a test program: out of memory is not a result */
    memcpy(b->bytes + b->nb, s, n);
    b->offsets[b->ns] = b->nb;
    b->nb += (uint32_t)n;
    b->offsets[b->ns + 1] = b->nb;
    return b->ns++;
}

/* A random graph of n objects following heapgraph.h: node 0 the roots, node 1 the unreachable objects (those
 * no root reaches through strong edges), objects of 4 types with random strong and weak edges. */
static void build_graph(built *b, uint64_t *rng, uint32_t n)
{
    uint32_t s_roots = add_string(b, "(roots)"), s_unr = add_string(b, "(unreachable)");
    uint32_t s_types[4] = {add_string(b, "Alpha"), add_string(b, "Beta"), add_string(b, "list"), add_string(b, "dict")};
    uint32_t s_next = add_string(b, "next"), s_key = add_string(b, "['key']"), s_weak = add_string(b, "<weak>");
    uint32_t s_ref = add_string(b, "<ref 0>"), s_label = add_string(b, "label");
    uint32_t total = n + 2;
    /* Out-edges per object, built first, then laid out node by node. */
    msc_hg_edge *tmp = malloc((size_t)n * 6 * sizeof *tmp);
    uint32_t *cnt = calloc(total, sizeof *cnt), *first = calloc(total, sizeof *first);
    uint8_t *seen = calloc(total, 1);
    uint32_t *stack = malloc(total * sizeof *stack);
    b->nodes = calloc(total, sizeof *b->nodes);
    b->edges = malloc(((size_t)n * 7 + 64) * sizeof *b->edges);
    if (!tmp || !cnt || !first || !seen || !stack || !b->nodes || !b->edges)
        abort();
    uint32_t nt = 0;
    for (uint32_t i = 2; i < total; i++) {
        first[i] = nt;
        uint32_t k = (uint32_t)(test_xorshift64(rng) % 5);
        if (i + 1 < total && test_xorshift64(rng) % 3 == 0) /* chains */
            tmp[nt++] = (msc_hg_edge){MSC_HG_EDGE_PROPERTY, s_next, i + 1};
        for (uint32_t j = 0; j < k; j++) {
            uint32_t to = 2 + (uint32_t)(test_xorshift64(rng) % n);
            uint64_t kind = test_xorshift64(rng) % 8;
            msc_hg_edge e = kind < 3   ? (msc_hg_edge){MSC_HG_EDGE_ELEMENT, j, to}
                            : kind < 5 ? (msc_hg_edge){MSC_HG_EDGE_PROPERTY, s_key, to}
                            : kind < 6 ? (msc_hg_edge){MSC_HG_EDGE_INTERNAL, s_ref, to}
                                       : (msc_hg_edge){MSC_HG_EDGE_WEAK, s_weak, to};
            tmp[nt++] = e;
        }
        cnt[i] = nt - first[i];
        b->nodes[i] = (msc_hg_node){MSC_HG_NODE_OBJECT, s_types[test_xorshift64(rng) % 4], 5 + 2 * (i - 2),
                                    16 + (uint32_t)(test_xorshift64(rng) % 500), cnt[i], 0};
    }
    /* Roots: 1% of the objects, one labelled; external_refs as the client reports it. */
    uint32_t nroots = n / 100 + 1;
    uint32_t *roots = malloc(nroots * sizeof *roots);
    if (!roots)
        abort();
    for (uint32_t r = 0; r < nroots; r++) {
        roots[r] = 2 + (uint32_t)(test_xorshift64(rng) % n);
        b->nodes[roots[r]].external_refs = 1 + r % 3;
    }
    /* Strong reachability from the roots: what is left goes under node 1. */
    uint32_t sp = 0;
    for (uint32_t r = 0; r < nroots; r++)
        if (!seen[roots[r]]) {
            seen[roots[r]] = 1;
            stack[sp++] = roots[r];
        }
    while (sp) {
        uint32_t v = stack[--sp];
        for (uint32_t e = first[v]; e < first[v] + cnt[v]; e++)
            if (tmp[e].type != MSC_HG_EDGE_WEAK && !seen[tmp[e].to]) {
                seen[tmp[e].to] = 1;
                stack[sp++] = tmp[e].to;
            }
    }
    b->nodes[0] = (msc_hg_node){MSC_HG_NODE_SYNTHETIC, s_roots, 1, 0, 0, 0};
    b->nodes[1] = (msc_hg_node){MSC_HG_NODE_SYNTHETIC, s_unr, 3, 0, 0, 0};
    uint32_t ne = 0;
    for (uint32_t r = 0; r < nroots; r++)
        b->edges[ne++] = r == 0 ? (msc_hg_edge){MSC_HG_EDGE_PROPERTY, s_label, roots[r]}
                                : (msc_hg_edge){MSC_HG_EDGE_ELEMENT, r - 1, roots[r]};
    b->edges[ne++] = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, nroots - 1, MSC_HG_UNREACHABLE};
    b->nodes[0].edge_count = ne;
    uint32_t u = 0;
    for (uint32_t i = 2; i < total; i++)
        if (!seen[i])
            b->edges[ne++] = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, u++, i};
    b->nodes[1].edge_count = u;
    for (uint32_t i = 2; i < total; i++)
        for (uint32_t e = first[i]; e < first[i] + cnt[i]; e++)
            b->edges[ne++] = tmp[e];
    b->nn = total;
    b->ne = ne;
    free(tmp);
    free(cnt);
    free(first);
    free(seen);
    free(stack);
    free(roots);
}

static void free_built(built *b)
{
    free(b->nodes);
    free(b->edges);
    free(b->offsets);
    free(b->bytes);
}

static msc_hg graph_of(const built *b)
{
    return (msc_hg){b->nn, b->ne, b->ns, b->nodes, b->edges, b->offsets, b->bytes};
}

static int to_file(void *ctx, const void *bytes, size_t n)
{
    return fwrite(bytes, 1, n, ctx) == n ? 0 : -EIO;
}

/* ---- Reading a .heapsnapshot back --------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (s = malloc((size_t)n + 1)) && fread(s, 1, (size_t)n, f) == (size_t)n) {
        s[n] = '\0';
        *len = (size_t)n;
    } else {
        free(s);
        s = NULL;
    }
    if (f)
        fclose(f);
    return s;
}

/* Index of name in the JSON array of strings arr, or -1. */
static int field(const cJSON *arr, const char *name)
{
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        if (cJSON_IsString(x) && strcmp(x->valuestring, name) == 0)
            return i;
        i++;
    }
    return -1;
}

/* Reads the nodes, edges and strings of a V8 .heapsnapshot into b. 0, or -1 with the broken rule printed. */
static int read_back(const char *path, built *b)
{
    size_t len;
    char *text = slurp(path, &len);
    if (!text)
        return fail("cannot read %s", path), -1;
    cJSON *doc = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *meta = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "snapshot"), "meta");
    const cJSON *nf = cJSON_GetObjectItem(meta, "node_fields"), *ef = cJSON_GetObjectItem(meta, "edge_fields");
    const cJSON *nodes = cJSON_GetObjectItem(doc, "nodes"), *edges = cJSON_GetObjectItem(doc, "edges");
    const cJSON *strings = cJSON_GetObjectItem(doc, "strings");
    int nfields = cJSON_GetArraySize(nf), efields = cJSON_GetArraySize(ef);
    int f_type = field(nf, "type"), f_name = field(nf, "name"), f_id = field(nf, "id"), f_size = field(nf, "self_size"),
        f_ec = field(nf, "edge_count"), f_ext = field(nf, "external_refs");
    int e_type = field(ef, "type"), e_name = field(ef, "name_or_index"), e_to = field(ef, "to_node");
    if (!doc || !cJSON_IsArray(nodes) || !cJSON_IsArray(edges) || !cJSON_IsArray(strings) || f_type < 0 ||
        f_name < 0 || f_id < 0 || f_size < 0 || f_ec < 0 || e_type < 0 || e_name < 0 || e_to < 0 ||
        cJSON_GetArraySize(nodes) % nfields || cJSON_GetArraySize(edges) % efields) {
        cJSON_Delete(doc);
        return fail("%s is not a V8 heap snapshot with the usual fields", path), -1;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, strings) add_string(b, cJSON_IsString(s) ? s->valuestring : "");
    b->nn = (uint32_t)(cJSON_GetArraySize(nodes) / nfields);
    b->ne = (uint32_t)(cJSON_GetArraySize(edges) / efields);
    b->nodes = calloc(b->nn ? b->nn : 1, sizeof *b->nodes);
    b->edges = calloc(b->ne ? b->ne : 1, sizeof *b->edges);
    uint32_t *v = malloc(((size_t)(nfields > efields ? nfields : efields)) * sizeof *v);
    if (!b->nodes || !b->edges || !v)
        abort();
    /* cJSON arrays are linked lists: walk them once. */
    const cJSON *x = nodes->child;
    for (uint32_t i = 0; i < b->nn; i++) {
        for (int k = 0; k < nfields; k++, x = x->next)
            v[k] = (uint32_t)x->valuedouble;
        b->nodes[i] = (msc_hg_node){v[f_type], v[f_name], v[f_id], v[f_size], v[f_ec], f_ext >= 0 ? v[f_ext] : 0};
    }
    x = edges->child;
    for (uint32_t i = 0; i < b->ne; i++) {
        for (int k = 0; k < efields; k++, x = x->next)
            v[k] = (uint32_t)x->valuedouble;
        b->edges[i] = (msc_hg_edge){v[e_type], v[e_name], v[e_to] / (uint32_t)nfields};
    }
    free(v);
    cJSON_Delete(doc);
    return 0;
}

/* ---- Our answer ---------------------------------------------------------------------------------------------- */

static int write_ours(const char *path, const msc_hg *g)
{
    msd_heap_analysis *a;
    char err[256] = "";
    int rc = msd_heap_analyse(g, &a, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "hs_dump: msd_heap_analyse: %s (%s)\n", strerror(-rc), err);
        return 1;
    }
    const uint32_t *idom = msd_heap_idom(a);
    const uint64_t *ret = msd_heap_retained(a);
    FILE *f = fopen(path, "w");
    if (!f) {
        msd_heap_analysis_free(a);
        return fail("cannot write %s", path);
    }
    fprintf(f, "{\"node_count\":%u,\"edge_count\":%u,\"nodes\":[", g->node_count, g->edge_count);
    for (uint32_t i = 0; i < g->node_count; i++) {
        long long d = idom[i] == UINT32_MAX ? -1 : (long long)g->nodes[idom[i]].id;
        fprintf(f, "%s[%u,%llu,%lld]", i ? ",\n" : "\n", g->nodes[i].id, (unsigned long long)ret[i], d);
    }
    fprintf(f, "]}\n");
    int bad = ferror(f) | (fclose(f) != 0);
    msd_heap_analysis_free(a);
    return bad ? fail("cannot write %s", path) : 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "heap") != 0 && strcmp(argv[1], "graph") != 0)) {
        fprintf(stderr, "usage: hs_dump heap|graph OUT SEED\n");
        return 2;
    }
    uint64_t rng = strtoull(argv[3], NULL, 10) << 1 | 1; /* odd and distinct per seed: xorshift never leaves 0 */
    char snap[4096], ours[4096];
    snprintf(snap, sizeof snap, "%s.heapsnapshot", argv[2]);
    snprintf(ours, sizeof ours, "%s.ours.json", argv[2]);
    if (strcmp(argv[1], "heap") == 0) {
        int rc = build_heap(&rng);
        if (rc == 0)
            rc = ms_heapsnapshot_write(snap);
        release_heap();
        if (rc < 0)
            return fail("labelling the roots or ms_heapsnapshot_write: %s", ms_strerror(rc));
    } else {
        built b = {0};
        build_graph(&b, &rng, 20000);
        msc_hg g = graph_of(&b);
        FILE *f = fopen(snap, "wb");
        int rc = f ? msc_hg_write_v8(&g, to_file, f) : -errno;
        if (f && fclose(f) != 0 && rc == 0)
            rc = -EIO;
        free_built(&b);
        if (rc < 0)
            return fail("msc_hg_write_v8: %s", strerror(-rc));
    }
    built back = {0};
    if (read_back(snap, &back) < 0)
        return 1;
    msc_hg g = graph_of(&back);
    int rc = write_ours(ours, &g);
    free_built(&back);
    return rc;
}

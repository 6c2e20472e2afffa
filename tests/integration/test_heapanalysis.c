/*
 * tests/integration/test_heapanalysis.c — daemon/heapanalysis.c, a pure function of a heap graph: dominators,
 * retained sizes, shortest retainer paths, the types and retainers documents.
 *
 * Small hand-built graphs with known answers; then random graphs checked against oracles written without the
 * module's ideas (dominators by removing each node and seeing what becomes unreachable, retained sizes as sums over
 * dominated sets, groups as the text of each object's breadth-first path); then a 1,000,000-node chain and a deep
 * cycle analysed on a 256 KiB stack (recursion with the depth would overflow it). Suite "integration" because it
 * links the daemon's core (msd_core), as test_json does.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "../xorshift.h"
#include "heapanalysis.h"
#include "json.h"

/* ---- A graph builder ------------------------------------------------------------------------------------------ */

typedef struct gedge {
    uint32_t from;
    msc_hg_edge e;
} gedge;

typedef struct gb {
    msc_hg_node *nodes;
    size_t nn, capn;
    gedge *edges;
    size_t ne, cape;
    char **strs;
    size_t *lens;
    size_t ns, caps;
    /* finished */
    msc_hg g;
    msc_hg_edge *sorted;
    uint32_t *offs;
    char *bytes;
} gb;

static uint32_t gb_str_n(gb *b, const char *s, size_t n)
{
    for (size_t i = 0; i < b->ns; i++)
        if (b->lens[i] == n && memcmp(b->strs[i], s, n) == 0)
            return (uint32_t)i;
    if (b->ns == b->caps) {
        b->caps = b->caps ? b->caps * 2 : 16;
        b->strs = realloc(b->strs, b->caps * sizeof *b->strs);
        b->lens = realloc(b->lens, b->caps * sizeof *b->lens);
        cr_assert(b->strs && b->lens);
    }
    b->strs[b->ns] = malloc(n + 1);
    memcpy(b->strs[b->ns], s, n);
    b->lens[b->ns] = n;
    return (uint32_t)b->ns++;
}

static uint32_t gb_str(gb *b, const char *s) { return gb_str_n(b, s, strlen(s)); }

static uint32_t gb_node_n(gb *b, uint32_t type, const char *name, size_t len, uint32_t self)
{
    if (b->nn == b->capn) {
        b->capn = b->capn ? b->capn * 2 : 16;
        b->nodes = realloc(b->nodes, b->capn * sizeof *b->nodes);
        cr_assert(b->nodes);
    }
    uint32_t i = (uint32_t)b->nn++;
    b->nodes[i] = (msc_hg_node){.type = type, .name = gb_str_n(b, name, len), .id = 1 + 2 * i, .self_size = self};
    return i;
}

/* An object of type name (its id: 1 + 2 * index, odd as the graph's). */
static uint32_t gb_obj(gb *b, const char *name, uint32_t self) { return gb_node_n(b, MSC_HG_NODE_OBJECT, name, strlen(name), self); }

/* Nodes 0 and 1, as every heap graph has them. */
static void gb_init(gb *b)
{
    memset(b, 0, sizeof *b);
    gb_str(b, "<dummy>");
    gb_node_n(b, MSC_HG_NODE_SYNTHETIC, "(roots)", 7, 0);
    gb_node_n(b, MSC_HG_NODE_SYNTHETIC, "(unreachable)", 13, 0);
}

static void gb_edge_raw(gb *b, uint32_t from, uint32_t type, uint32_t name_or_index, uint32_t to)
{
    if (b->ne == b->cape) {
        b->cape = b->cape ? b->cape * 2 : 16;
        b->edges = realloc(b->edges, b->cape * sizeof *b->edges);
        cr_assert(b->edges);
    }
    b->edges[b->ne++] = (gedge){from, {type, name_or_index, to}};
}

static void gb_elem(gb *b, uint32_t from, uint32_t index, uint32_t to) { gb_edge_raw(b, from, MSC_HG_EDGE_ELEMENT, index, to); }
static void gb_prop(gb *b, uint32_t from, const char *name, uint32_t to) { gb_edge_raw(b, from, MSC_HG_EDGE_PROPERTY, gb_str(b, name), to); }
static void gb_int(gb *b, uint32_t from, const char *name, uint32_t to) { gb_edge_raw(b, from, MSC_HG_EDGE_INTERNAL, gb_str(b, name), to); }
static void gb_weak(gb *b, uint32_t from, uint32_t to) { gb_edge_raw(b, from, MSC_HG_EDGE_WEAK, gb_str(b, "<weak>"), to); }

/* The graph: edges grouped by their node, in the order they were added (a stable counting sort). */
static const msc_hg *gb_finish(gb *b)
{
    for (size_t i = 0; i < b->nn; i++)
        b->nodes[i].edge_count = 0;
    for (size_t i = 0; i < b->ne; i++)
        b->nodes[b->edges[i].from].edge_count++;
    size_t *pos = calloc(b->nn + 1, sizeof *pos);
    for (size_t i = 0; i < b->nn; i++)
        pos[i + 1] = pos[i] + b->nodes[i].edge_count;
    b->sorted = malloc((b->ne ? b->ne : 1) * sizeof *b->sorted);
    for (size_t i = 0; i < b->ne; i++)
        b->sorted[pos[b->edges[i].from]++] = b->edges[i].e;
    free(pos);
    size_t total = 0;
    for (size_t i = 0; i < b->ns; i++)
        total += b->lens[i];
    b->offs = malloc((b->ns + 1) * sizeof *b->offs);
    b->bytes = malloc(total ? total : 1);
    size_t o = 0;
    for (size_t i = 0; i < b->ns; i++) {
        b->offs[i] = (uint32_t)o;
        memcpy(b->bytes + o, b->strs[i], b->lens[i]);
        o += b->lens[i];
    }
    b->offs[b->ns] = (uint32_t)o;
    b->g = (msc_hg){.node_count = (uint32_t)b->nn, .edge_count = (uint32_t)b->ne, .string_count = (uint32_t)b->ns,
                    .nodes = b->nodes, .edges = b->sorted, .string_offsets = b->offs, .string_bytes = b->bytes};
    return &b->g;
}

static void gb_free(gb *b)
{
    for (size_t i = 0; i < b->ns; i++)
        free(b->strs[i]);
    free(b->strs);
    free(b->lens);
    free(b->nodes);
    free(b->edges);
    free(b->sorted);
    free(b->offs);
    free(b->bytes);
}

/* Analyses b's graph, then frees the graph (the result must not need it). */
static msd_heap_analysis *analyse(gb *b)
{
    const msc_hg *g = gb_finish(b);
    msd_heap_analysis *a = NULL;
    char err[200] = "";
    int rc = msd_heap_analyse(g, &a, err, sizeof err);
    cr_assert_eq(rc, 0, "msd_heap_analyse: %d %s", rc, err);
    cr_assert(a);
    gb_free(b);
    return a;
}

/* The document as a tree, after checking it is strict JSON (valid UTF-8 included). */
static cJSON *parse_doc(const msc_buf *out)
{
    msd_json_error e = {0};
    size_t end = 0;
    int rc = msd_json_check(msc_buf_bytes(out), out->len, &end, NULL, &e);
    cr_assert_eq(rc, 0, "not JSON: %s at %zu: %.*s", e.reason, e.at, (int)(out->len > 300 ? 300 : out->len),
                 msc_buf_bytes(out));
    cr_assert_eq(end, out->len);
    cJSON *j = cJSON_ParseWithLength(msc_buf_bytes(out), out->len);
    cr_assert(j);
    return j;
}

static cJSON *types_doc(const msd_heap_analysis *a)
{
    msc_buf out = MSC_BUF_INIT;
    cr_assert_eq(msd_heap_types_json(a, &out), 0);
    cJSON *j = parse_doc(&out);
    free(out.data);
    return j;
}

static cJSON *retainers_doc(const msd_heap_analysis *a, const char *type, unsigned limit)
{
    msc_buf out = MSC_BUF_INIT;
    int rc = msd_heap_retainers_json(a, type, strlen(type), limit, &out);
    cr_assert_eq(rc, 0, "retainers of %s: %d", type, rc);
    cJSON *j = parse_doc(&out);
    free(out.data);
    return j;
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    cr_assert(cJSON_IsNumber(v), "member %s is not a number", name);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    cr_assert(cJSON_IsString(v), "member %s is not a string", name);
    return v->valuestring;
}

/* The row of type t in a types document, NULL when absent. */
static const cJSON *type_row(const cJSON *doc, const char *t)
{
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(doc, "types"))
        if (strcmp(str(row, "type"), t) == 0)
            return row;
    return NULL;
}

/* "root name|type edge|type edge|...|type" of a path document, for comparisons. */
static void path_text(const cJSON *p, char *buf, size_t cap)
{
    const cJSON *root = cJSON_GetObjectItemCaseSensitive(p, "root");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    size_t n = (size_t)snprintf(buf, cap, "%s", cJSON_IsNull(name) ? "null" : name->valuestring);
    const cJSON *step;
    cJSON_ArrayForEach(step, cJSON_GetObjectItemCaseSensitive(p, "path")) {
        const cJSON *edge = cJSON_GetObjectItemCaseSensitive(step, "edge");
        n += (size_t)snprintf(buf + n, cap - n, "|%s%s%s", str(step, "type"), edge ? " " : "", edge ? edge->valuestring : "");
        cr_assert(n < cap);
    }
}

/* ---- Known answers ---------------------------------------------------------------------------------------------- */

Test(heapanalysis, chain)
{
    gb b;
    gb_init(&b);
    uint32_t x = gb_obj(&b, "A", 10), y = gb_obj(&b, "B", 20), z = gb_obj(&b, "C", 30);
    gb_elem(&b, 0, 0, x);
    gb_elem(&b, 0, 1, 1);
    gb_prop(&b, x, "next", y);
    gb_prop(&b, y, "next", z);
    msd_heap_analysis *a = analyse(&b);
    const uint32_t *idom = msd_heap_idom(a);
    const uint64_t *ret = msd_heap_retained(a);
    cr_expect_eq(idom[0], 0);
    cr_expect_eq(idom[1], 0);
    cr_expect_eq(idom[x], 0);
    cr_expect_eq(idom[y], x);
    cr_expect_eq(idom[z], y);
    cr_expect_eq(ret[x], 60);
    cr_expect_eq(ret[y], 50);
    cr_expect_eq(ret[z], 30);
    cr_expect_eq(ret[0], 60);
    cr_expect_eq(ret[1], 0);
    cJSON *r = retainers_doc(a, "C", 10);
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "paths"), 0);
    char text[256];
    path_text(p, text, sizeof text);
    cr_expect_str_eq(text, "null|A .next|B .next|C");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(p, "example");
    cr_assert_eq(cJSON_GetArraySize(ex), 3);
    cr_expect_eq(num(cJSON_GetArrayItem(ex, 0), "id"), 1 + 2 * x);
    cr_expect_eq(num(cJSON_GetArrayItem(ex, 2), "id"), 1 + 2 * z);
    cr_expect_str_eq(str(cJSON_GetArrayItem(ex, 1), "edge"), ".next");
    cJSON_Delete(r);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, diamond)
{
    gb b;
    gb_init(&b);
    uint32_t r = gb_obj(&b, "R", 1), x = gb_obj(&b, "X", 2), y = gb_obj(&b, "Y", 4), z = gb_obj(&b, "Z", 8);
    gb_elem(&b, 0, 0, r);
    gb_elem(&b, 0, 1, 1);
    gb_prop(&b, r, "l", x);
    gb_prop(&b, r, "r", y);
    gb_prop(&b, x, "d", z);
    gb_prop(&b, y, "d", z);
    msd_heap_analysis *a = analyse(&b);
    const uint32_t *idom = msd_heap_idom(a);
    const uint64_t *ret = msd_heap_retained(a);
    cr_expect_eq(idom[x], r);
    cr_expect_eq(idom[y], r);
    cr_expect_eq(idom[z], r, "the join of a diamond is dominated by its top, not by either side");
    cr_expect_eq(ret[r], 15);
    cr_expect_eq(ret[x], 2);
    cr_expect_eq(ret[y], 4);
    /* The shortest path to Z goes by the first edge in edge order: through X. */
    cJSON *doc = retainers_doc(a, "Z", 10);
    char text[256];
    path_text(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "paths"), 0), text, sizeof text);
    cr_expect_str_eq(text, "null|R .l|X .d|Z");
    cJSON_Delete(doc);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, cycle_held_by_one_root)
{
    gb b;
    gb_init(&b);
    uint32_t r = gb_obj(&b, "R", 1), x = gb_obj(&b, "N", 10), y = gb_obj(&b, "N", 20), z = gb_obj(&b, "N", 40);
    gb_prop(&b, 0, "holder", r);
    gb_elem(&b, 0, 0, 1);
    gb_prop(&b, r, "ring", x);
    gb_prop(&b, x, "next", y);
    gb_prop(&b, y, "next", z);
    gb_prop(&b, z, "next", x);
    msd_heap_analysis *a = analyse(&b);
    const uint32_t *idom = msd_heap_idom(a);
    const uint64_t *ret = msd_heap_retained(a);
    cr_expect_eq(idom[x], r);
    cr_expect_eq(idom[y], x);
    cr_expect_eq(idom[z], y);
    cr_expect_eq(ret[x], 70);
    cr_expect_eq(ret[r], 71);
    cJSON *t = types_doc(a);
    const cJSON *n = type_row(t, "N");
    cr_assert(n);
    cr_expect_eq(num(n, "count"), 3);
    cr_expect_eq(num(n, "self_bytes"), 70);
    cr_expect_eq(num(n, "retained_bytes"), 70);
    cJSON_Delete(t);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, cycle_held_only_weakly)
{
    gb b;
    gb_init(&b);
    uint32_t r = gb_obj(&b, "Holder", 5), x = gb_obj(&b, "Node", 10), y = gb_obj(&b, "Node", 20);
    gb_elem(&b, 0, 0, r);
    gb_elem(&b, 0, 1, 1);
    gb_elem(&b, 1, 0, x); /* what the walk does with objects no root reaches */
    gb_weak(&b, r, x);
    gb_prop(&b, x, "next", y);
    gb_prop(&b, y, "next", x);
    msd_heap_analysis *a = analyse(&b);
    const uint32_t *idom = msd_heap_idom(a);
    const uint64_t *ret = msd_heap_retained(a);
    cr_expect_eq(idom[x], 1, "a weak edge keeps nothing alive: the cycle hangs under (unreachable)");
    cr_expect_eq(idom[y], x);
    cr_expect_eq(ret[r], 5);
    cr_expect_eq(ret[1], 30);
    cJSON *doc = retainers_doc(a, "Node", 10);
    cr_expect_eq(num(doc, "objects"), 2);
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    cr_assert_eq(cJSON_GetArraySize(paths), 2);
    char text[256];
    path_text(cJSON_GetArrayItem(paths, 0), text, sizeof text);
    /* Both groups have one object; the first has the larger retained size (x retains y). */
    cr_expect_str_eq(text, "(unreachable)|Node");
    cr_expect_eq(num(cJSON_GetArrayItem(paths, 0), "retained_bytes"), 30);
    path_text(cJSON_GetArrayItem(paths, 1), text, sizeof text);
    cr_expect_str_eq(text, "(unreachable)|Node .next|Node");
    cJSON_Delete(doc);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, only_weakly_referenced_without_node_1_edge_is_unreached)
{
    gb b;
    gb_init(&b);
    uint32_t r = gb_obj(&b, "Holder", 5), x = gb_obj(&b, "Node", 10);
    gb_elem(&b, 0, 0, r);
    gb_elem(&b, 0, 1, 1);
    gb_weak(&b, r, x);
    msd_heap_analysis *a = analyse(&b);
    cr_expect_eq(msd_heap_idom(a)[x], UINT32_MAX);
    cr_expect_eq(msd_heap_retained(a)[x], 0);
    cJSON *doc = retainers_doc(a, "Node", 10);
    cr_expect_eq(num(doc, "objects"), 1);
    cr_expect_eq(num(doc, "groups"), 0);
    cJSON_Delete(doc);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, labelled_roots)
{
    gb b;
    gb_init(&b);
    uint32_t list = gb_obj(&b, "list", 64), other = gb_obj(&b, "list", 64);
    gb_prop(&b, 0, "audit", list);
    gb_elem(&b, 0, 0, other);
    gb_elem(&b, 0, 1, 1);
    b.nodes[list].external_refs = 1;
    b.nodes[other].external_refs = 3;
    uint32_t e[7];
    for (int i = 0; i < 7; i++) {
        e[i] = gb_obj(&b, "AuditEntry", 100);
        gb_elem(&b, i < 5 ? list : other, (uint32_t)(i < 5 ? 1000 + i : i), e[i]);
    }
    msd_heap_analysis *a = analyse(&b);
    cJSON *doc = retainers_doc(a, "AuditEntry", 10);
    cr_expect_str_eq(str(doc, "type"), "AuditEntry");
    cr_expect_eq(num(doc, "objects"), 7);
    cr_expect_eq(num(doc, "groups"), 2);
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    const cJSON *p0 = cJSON_GetArrayItem(paths, 0), *p1 = cJSON_GetArrayItem(paths, 1);
    cr_expect_eq(num(p0, "count"), 5);
    cr_expect_eq(num(p0, "retained_bytes"), 500);
    const cJSON *root = cJSON_GetObjectItemCaseSensitive(p0, "root");
    cr_expect_str_eq(str(root, "name"), "audit");
    cr_expect_str_eq(str(root, "type"), "list");
    cr_expect_eq(num(root, "external_refs"), 1);
    char text[256];
    path_text(p0, text, sizeof text);
    cr_expect_str_eq(text, "audit|list [i]|AuditEntry");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(p0, "example");
    cr_expect_str_eq(str(cJSON_GetArrayItem(ex, 0), "edge"), "[1000]");
    cr_expect_eq(num(cJSON_GetArrayItem(ex, 0), "id"), 1 + 2 * list);
    cr_expect_eq(num(cJSON_GetArrayItem(ex, 1), "id"), 1 + 2 * e[0]);
    cr_expect_eq(num(p1, "count"), 2);
    root = cJSON_GetObjectItemCaseSensitive(p1, "root");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "name")));
    cr_expect_eq(num(root, "external_refs"), 3);
    cJSON_Delete(doc);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, several_roots)
{
    gb b;
    gb_init(&b);
    uint32_t r1 = gb_obj(&b, "R", 1), r2 = gb_obj(&b, "R", 1), x = gb_obj(&b, "X", 100), y = gb_obj(&b, "Y", 7);
    gb_elem(&b, 0, 0, r1);
    gb_elem(&b, 0, 1, r2);
    gb_elem(&b, 0, 2, 1);
    gb_prop(&b, r1, "x", x);
    gb_prop(&b, r2, "x", x);
    gb_prop(&b, x, "y", y);
    msd_heap_analysis *a = analyse(&b);
    const uint32_t *idom = msd_heap_idom(a);
    const uint64_t *ret = msd_heap_retained(a);
    cr_expect_eq(idom[x], 0, "held by two roots: only the synthetic root dominates it");
    cr_expect_eq(idom[y], x);
    cr_expect_eq(ret[r1], 1);
    cr_expect_eq(ret[r2], 1);
    cr_expect_eq(ret[x], 107);
    cJSON *t = types_doc(a);
    cr_expect_eq(num(type_row(t, "R"), "retained_bytes"), 2);
    cr_expect_eq(num(t, "objects"), 4);
    cr_expect_eq(num(t, "edges"), 6);
    cJSON_Delete(t);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, type_retained_counts_a_linked_list_once)
{
    gb b;
    gb_init(&b);
    uint32_t prev = 0;
    for (int i = 0; i < 5; i++) {
        uint32_t n = gb_obj(&b, "Node", 10);
        if (i == 0)
            gb_prop(&b, 0, "head", n);
        else
            gb_prop(&b, prev, "next", n);
        prev = n;
    }
    gb_elem(&b, 0, 0, 1);
    uint32_t s = gb_obj(&b, "str", 3);
    gb_prop(&b, prev, "value", s);
    msd_heap_analysis *a = analyse(&b);
    cJSON *t = types_doc(a);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(t, "types");
    cr_assert_eq(cJSON_GetArraySize(rows), 2);
    cr_expect_str_eq(str(cJSON_GetArrayItem(rows, 0), "type"), "Node", "largest retained first");
    cr_expect_eq(num(type_row(t, "Node"), "retained_bytes"), 53, "50 + the str, not 53 + 43 + 33 + 23 + 13");
    cr_expect_eq(num(type_row(t, "Node"), "self_bytes"), 50);
    cr_expect_eq(num(type_row(t, "str"), "retained_bytes"), 3);
    cr_expect(type_row(t, "(roots)") == NULL, "synthetic nodes are no type");
    cJSON_Delete(t);
    /* Each Node has its own path (one more ".next" each): 5 groups of one; their retained sizes do not add. */
    cJSON *r = retainers_doc(a, "Node", 100);
    cr_expect_eq(num(r, "groups"), 5);
    const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "paths"), 0);
    cr_expect_eq(num(p0, "retained_bytes"), 53);
    char text[256];
    path_text(p0, text, sizeof text);
    cr_expect_str_eq(text, "head|Node");
    cJSON_Delete(r);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, grouping_collapses_indices_not_dict_keys)
{
    gb b;
    gb_init(&b);
    uint32_t list = gb_obj(&b, "list", 8), dict = gb_obj(&b, "dict", 8), folder = gb_obj(&b, "Folder", 8);
    gb_prop(&b, 0, "docs", list);
    gb_prop(&b, 0, "cache", dict);
    gb_prop(&b, 0, "tree", folder);
    gb_elem(&b, 0, 0, 1);
    for (uint32_t i = 0; i < 4; i++)
        gb_elem(&b, list, i * 7, gb_obj(&b, "Document", 10));
    gb_prop(&b, dict, "['a']", gb_obj(&b, "Document", 10));
    gb_prop(&b, dict, "['b']", gb_obj(&b, "Document", 10));
    gb_prop(&b, dict, "['b2']", gb_obj(&b, "Document", 10));
    gb_int(&b, dict, "<key>", gb_obj(&b, "str", 2));
    uint32_t sub = gb_obj(&b, "Folder", 8);
    gb_prop(&b, folder, "child", sub);
    gb_prop(&b, sub, "parent", folder);
    gb_int(&b, sub, "<ref 0>", gb_obj(&b, "Document", 10));
    msd_heap_analysis *a = analyse(&b);
    cJSON *doc = retainers_doc(a, "Document", 100);
    cr_expect_eq(num(doc, "objects"), 8);
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    cr_assert_eq(cJSON_GetArraySize(paths), 5);
    cr_expect_eq(num(doc, "groups"), 5);
    const char *want[] = {"docs|list [i]|Document", "cache|dict ['a']|Document", "cache|dict ['b']|Document",
                          "cache|dict ['b2']|Document", "tree|Folder .child|Folder <ref 0>|Document"};
    const double counts[] = {4, 1, 1, 1, 1};
    for (int i = 0; i < 5; i++) {
        char text[256];
        const cJSON *p = cJSON_GetArrayItem(paths, i);
        path_text(p, text, sizeof text);
        cr_expect_str_eq(text, want[i], "group %d", i);
        cr_expect_eq(num(p, "count"), counts[i]);
    }
    cJSON_Delete(doc);
    /* limit: the first groups only; "groups" still counts them all. */
    doc = retainers_doc(a, "Document", 2);
    paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    cr_expect_eq(cJSON_GetArraySize(paths), 2);
    cr_expect_eq(num(doc, "groups"), 5);
    for (int i = 0; i < 2; i++) {
        char text[256];
        path_text(cJSON_GetArrayItem(paths, i), text, sizeof text);
        cr_expect_str_eq(text, want[i], "limited, group %d", i);
    }
    cJSON_Delete(doc);
    doc = retainers_doc(a, "Document", 0);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "paths")), 0);
    cJSON_Delete(doc);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, unknown_type_is_enoent)
{
    gb b;
    gb_init(&b);
    uint32_t x = gb_obj(&b, "A", 1);
    gb_prop(&b, 0, "root", x);
    gb_elem(&b, 0, 0, 1);
    msd_heap_analysis *a = analyse(&b);
    msc_buf out = MSC_BUF_INIT;
    cr_expect_eq(msd_heap_retainers_json(a, "B", 1, 10, &out), -ENOENT);
    cr_expect_eq(msd_heap_retainers_json(a, "root", 4, 10, &out), -ENOENT, "a label is no type");
    cr_expect_eq(msd_heap_retainers_json(a, "(roots)", 7, 10, &out), -ENOENT, "synthetic nodes are no type");
    cr_expect_eq(msd_heap_retainers_json(a, "AB", 1, 10, &out), 0, "type_len bytes, not a C string");
    cr_expect_eq(out.len > 0, true);
    free(out.data);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, arbitrary_bytes_make_valid_json)
{
    gb b;
    gb_init(&b);
    static const char weird[] = "T\xff\xfe\"\\\n\x01\xc3\xa9\xed\xa0\x80";
    static const char nul[] = {'N', 0, 'U'};
    uint32_t x = gb_node_n(&b, MSC_HG_NODE_OBJECT, weird, sizeof weird - 1, 3);
    uint32_t y = gb_node_n(&b, MSC_HG_NODE_OBJECT, nul, sizeof nul, 5);
    gb_prop(&b, 0, "r\x80oot", x);
    gb_elem(&b, 0, 0, 1);
    gb_edge_raw(&b, x, MSC_HG_EDGE_PROPERTY, gb_str_n(&b, "['\xc0\"']", 6), y);
    msd_heap_analysis *a = analyse(&b);
    cJSON *t = types_doc(a);
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "types"), 0);
    cr_expect_str_eq(str(row, "type"), "T\xEF\xBF\xBD\xEF\xBF\xBD\"\\\n\x01\xc3\xa9\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    cJSON_Delete(t);
    msc_buf out = MSC_BUF_INIT;
    cr_assert_eq(msd_heap_retainers_json(a, nul, sizeof nul, 5, &out), 0);
    cJSON *r = parse_doc(&out);
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "paths"), 0);
    cr_expect_str_eq(str(cJSON_GetObjectItemCaseSensitive(p, "root"), "name"), "r\xEF\xBF\xBDoot");
    cr_expect_str_eq(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(p, "path"), 0), "edge"),
                     "['\xEF\xBF\xBD\"']");
    cr_expect(memmem(msc_buf_bytes(&out), out.len, "N\\u0000U", 8) != NULL, "a NUL byte is escaped");
    cJSON_Delete(r);
    free(out.data);
    msd_heap_analysis_free(a);
}

Test(heapanalysis, bad_graphs_are_refused)
{
    char err[200];
    msd_heap_analysis *a = (msd_heap_analysis *)&err; /* must become NULL */
    msc_hg empty = {0};
    cr_expect_eq(msd_heap_analyse(&empty, &a, err, sizeof err), -EINVAL);
    cr_expect_null(a);

    gb b;
    gb_init(&b);
    uint32_t x = gb_obj(&b, "A", 1);
    gb_elem(&b, 0, 0, x);
    gb_elem(&b, x, 0, 1);
    msc_hg g = *gb_finish(&b);
    msc_hg_node nodes[3];
    memcpy(nodes, g.nodes, sizeof nodes);
    g.nodes = nodes;
    nodes[x].edge_count = 5;
    err[0] = 0;
    cr_expect_eq(msd_heap_analyse(&g, &a, err, sizeof err), -EINVAL);
    cr_expect(strstr(err, "edge counts") != NULL, "%s", err);
    nodes[x].edge_count = 1;
    msc_hg_edge edges[2];
    memcpy(edges, g.edges, sizeof edges);
    g.edges = edges;
    edges[1].to = 99;
    cr_expect_eq(msd_heap_analyse(&g, &a, err, sizeof err), -EINVAL);
    cr_expect(strstr(err, "node 99") != NULL, "%s", err);
    edges[1].to = 1;
    nodes[x].name = 1000;
    cr_expect_eq(msd_heap_analyse(&g, &a, err, sizeof err), -EINVAL);
    cr_expect(strstr(err, "string index 1000") != NULL, "%s", err);
    cr_expect_null(a);
    gb_free(&b);
}

/* ---- Random graphs against oracles ------------------------------------------------------------------------------- */

#define RMAX 64

typedef struct oracle {
    uint32_t n;
    bool reach[RMAX];
    bool dom[RMAX][RMAX]; /* dom[v][w]: v dominates w (reflexive), for reached v, w */
    uint32_t idom[RMAX];
} oracle;

/* Reached from node 0 over strong edges when node skip is taken away (skip = RMAX: none). */
static void reach_without(const msc_hg *g, uint32_t skip, bool *seen)
{
    uint32_t first[RMAX + 1], q[RMAX], qh = 0, qt = 0;
    first[0] = 0;
    for (uint32_t v = 0; v < g->node_count; v++)
        first[v + 1] = first[v] + g->nodes[v].edge_count;
    memset(seen, 0, RMAX * sizeof *seen);
    if (skip == 0)
        return;
    seen[0] = true;
    q[qt++] = 0;
    while (qh < qt) {
        uint32_t v = q[qh++];
        for (uint32_t e = first[v]; e < first[v + 1]; e++) {
            uint32_t to = g->edges[e].to;
            if (g->edges[e].type != MSC_HG_EDGE_WEAK && to != skip && !seen[to]) {
                seen[to] = true;
                q[qt++] = to;
            }
        }
    }
}

static void oracle_build(const msc_hg *g, oracle *o)
{
    o->n = g->node_count;
    reach_without(g, RMAX, o->reach);
    memset(o->dom, 0, sizeof o->dom);
    for (uint32_t v = 0; v < o->n; v++) {
        if (!o->reach[v])
            continue;
        bool r[RMAX];
        reach_without(g, v, r);
        for (uint32_t w = 0; w < o->n; w++)
            o->dom[v][w] = o->reach[w] && !r[w]; /* includes w == v */
    }
    for (uint32_t w = 0; w < o->n; w++) {
        o->idom[w] = UINT32_MAX;
        if (!o->reach[w])
            continue;
        if (w == 0) {
            o->idom[w] = 0;
            continue;
        }
        /* The strict dominators of w form a chain: the nearest is the one with the most dominators itself. */
        int best = -1;
        for (uint32_t v = 0; v < o->n; v++) {
            if (v == w || !o->dom[v][w])
                continue;
            int k = 0;
            for (uint32_t u = 0; u < o->n; u++)
                k += o->dom[u][v];
            if (k > best) {
                best = k;
                o->idom[w] = v;
            }
        }
    }
}

static const char *const rtypes[] = {"A", "B", "C"};
static const char *const rnames[] = {"x", "y", "['k']", "['k2']", "<ref 0>"};

/* A random graph of 1..60 objects: random roots (labelled or not), strong and weak edges of every kind, some
 * objects under node 1 (garbage cycles), some reached by nothing. */
static void random_graph(gb *b, uint64_t *rs)
{
    gb_init(b);
    uint32_t n = 1 + (uint32_t)(test_xorshift64(rs) % 60);
    for (uint32_t i = 0; i < n; i++)
        gb_obj(b, rtypes[test_xorshift64(rs) % 3], 1 + (uint32_t)(test_xorshift64(rs) % 1000));
    uint32_t roots = (uint32_t)(test_xorshift64(rs) % 4);
    for (uint32_t i = 0; i < roots; i++) {
        uint32_t to = 2 + (uint32_t)(test_xorshift64(rs) % n);
        if (test_xorshift64(rs) % 2)
            gb_prop(b, 0, test_xorshift64(rs) % 2 ? "r1" : "r2", to);
        else
            gb_elem(b, 0, i, to);
        b->nodes[to].external_refs = 1 + (uint32_t)(test_xorshift64(rs) % 3);
    }
    gb_elem(b, 0, roots, 1);
    uint32_t garbage = (uint32_t)(test_xorshift64(rs) % 3);
    for (uint32_t i = 0; i < garbage; i++)
        gb_elem(b, 1, i, 2 + (uint32_t)(test_xorshift64(rs) % n));
    uint32_t m = (uint32_t)(test_xorshift64(rs) % (3 * n + 1));
    for (uint32_t i = 0; i < m; i++) {
        uint32_t from = 2 + (uint32_t)(test_xorshift64(rs) % n), to = 2 + (uint32_t)(test_xorshift64(rs) % n);
        switch (test_xorshift64(rs) % 5) {
        case 0: gb_elem(b, from, (uint32_t)(test_xorshift64(rs) % 4), to); break;
        case 1: gb_weak(b, from, to); break;
        case 2: gb_int(b, from, "<ref 0>", to); break;
        default: gb_prop(b, from, rnames[test_xorshift64(rs) % 4], to); break;
        }
    }
}

/* The text path_text() gives for the breadth-first path to w (bfs parents par, edges pe). */
static void oracle_path_text(const msc_hg *g, const uint32_t *par, const uint32_t *pe, uint32_t w, char *buf,
                             size_t cap)
{
    uint32_t chain[RMAX], d = 0;
    for (uint32_t x = w; x > 1; x = par[x])
        chain[d++] = x; /* objects only: the test's graphs have no synthetic node but 0 and 1 */
    uint32_t root = chain[d - 1], via = par[root];
    size_t len;
    const char *s;
    char name[64] = "null";
    if (via == 1) {
        strcpy(name, "(unreachable)");
    } else if (g->edges[pe[root]].type == MSC_HG_EDGE_PROPERTY) {
        s = msc_hg_string(g, g->edges[pe[root]].name_or_index, &len);
        snprintf(name, sizeof name, "%.*s", (int)len, s);
    }
    size_t n = (size_t)snprintf(buf, cap, "%s", name);
    for (uint32_t i = d; i-- > 0;) {
        uint32_t x = chain[i];
        s = msc_hg_string(g, g->nodes[x].name, &len);
        n += (size_t)snprintf(buf + n, cap - n, "|%.*s", (int)len, s);
        if (i == 0)
            break;
        const msc_hg_edge *e = &g->edges[pe[chain[i - 1]]];
        if (e->type == MSC_HG_EDGE_ELEMENT) {
            n += (size_t)snprintf(buf + n, cap - n, " [i]");
            continue;
        }
        s = msc_hg_string(g, e->name_or_index, &len);
        if (e->type == MSC_HG_EDGE_PROPERTY && s[0] != '[')
            n += (size_t)snprintf(buf + n, cap - n, " .%.*s", (int)len, s);
        else
            n += (size_t)snprintf(buf + n, cap - n, " %.*s", (int)len, s);
    }
}

Test(heapanalysis, random_graphs_against_oracles)
{
    uint64_t rs = 0x5eed0015u;
    for (int round = 0; round < 400; round++) {
        gb b;
        random_graph(&b, &rs);
        const msc_hg *g = gb_finish(&b);
        oracle o;
        oracle_build(g, &o);
        msd_heap_analysis *a = NULL;
        char err[200];
        cr_assert_eq(msd_heap_analyse(g, &a, err, sizeof err), 0, "%s", err);
        const uint32_t *idom = msd_heap_idom(a);
        const uint64_t *ret = msd_heap_retained(a);
        for (uint32_t w = 0; w < o.n; w++) {
            cr_assert_eq(idom[w], o.idom[w], "round %d, node %u of %u: idom %u, oracle %u", round, w, o.n, idom[w],
                         o.idom[w]);
            uint64_t want = 0;
            for (uint32_t u = 0; u < o.n; u++)
                if (o.reach[w] && o.dom[w][u])
                    want += g->nodes[u].self_size;
            cr_assert_eq(ret[w], want, "round %d, node %u: retained %llu, oracle %llu", round, w,
                         (unsigned long long)ret[w], (unsigned long long)want);
        }
        /* The oracle's breadth-first paths: first discovery, edges in order. */
        uint32_t par[RMAX], pe[RMAX], first[RMAX + 1], q[RMAX], qh = 0, qt = 0;
        first[0] = 0;
        for (uint32_t v = 0; v < o.n; v++)
            first[v + 1] = first[v] + g->nodes[v].edge_count;
        memset(par, 0xff, sizeof par);
        par[0] = 0;
        q[qt++] = 0;
        while (qh < qt) {
            uint32_t v = q[qh++];
            for (uint32_t e = first[v]; e < first[v + 1]; e++) {
                uint32_t to = g->edges[e].to;
                if (g->edges[e].type != MSC_HG_EDGE_WEAK && par[to] == UINT32_MAX) {
                    par[to] = v;
                    pe[to] = e;
                    q[qt++] = to;
                }
            }
        }
        cJSON *types = types_doc(a);
        for (int t = 0; t < 3; t++) {
            /* Type retained: every byte some object of the type dominates. */
            uint64_t count = 0, self = 0, retained = 0;
            for (uint32_t w = 2; w < o.n; w++) {
                size_t len;
                const char *s = msc_hg_string(g, g->nodes[w].name, &len);
                if (len == 1 && s[0] == rtypes[t][0]) {
                    count++;
                    self += g->nodes[w].self_size;
                }
                bool held = false;
                for (uint32_t v = 2; v < o.n && !held; v++)
                    held = o.reach[v] && o.dom[v][w] && msc_hg_string(g, g->nodes[v].name, &len)[0] == rtypes[t][0];
                if (held)
                    retained += g->nodes[w].self_size;
            }
            const cJSON *row = type_row(types, rtypes[t]);
            if (count == 0) {
                cr_assert(row == NULL);
                msc_buf out = MSC_BUF_INIT;
                cr_assert_eq(msd_heap_retainers_json(a, rtypes[t], 1, 100, &out), -ENOENT);
                continue;
            }
            cr_assert(row);
            cr_assert_eq(num(row, "count"), (double)count);
            cr_assert_eq(num(row, "self_bytes"), (double)self);
            cr_assert_eq(num(row, "retained_bytes"), (double)retained, "round %d type %s", round, rtypes[t]);
            /* Groups: the objects of the type by the text of their path; each group's retained bytes are what
             * its objects dominate. */
            cJSON *doc = retainers_doc(a, rtypes[t], 1000);
            const cJSON *p;
            double total = 0;
            int ngroups = 0;
            cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(doc, "paths")) {
                char text[2048], other[2048];
                path_text(p, text, sizeof text);
                uint64_t gcount = 0, gret = 0;
                bool member[RMAX] = {false};
                for (uint32_t w = 2; w < o.n; w++) {
                    if (!o.reach[w] || msc_hg_string(g, g->nodes[w].name, &(size_t){0})[0] != rtypes[t][0])
                        continue;
                    oracle_path_text(g, par, pe, w, other, sizeof other);
                    if (strcmp(text, other) == 0) {
                        member[w] = true;
                        gcount++;
                    }
                }
                for (uint32_t w = 0; w < o.n; w++) {
                    bool held = false;
                    for (uint32_t v = 2; v < o.n && !held; v++)
                        held = member[v] && o.dom[v][w];
                    if (held)
                        gret += g->nodes[w].self_size;
                }
                cr_assert_eq(num(p, "count"), (double)gcount, "round %d group %s", round, text);
                cr_assert_eq(num(p, "retained_bytes"), (double)gret, "round %d group %s", round, text);
                /* The example is one of the group's objects, on its breadth-first path. */
                const cJSON *ex = cJSON_GetObjectItemCaseSensitive(p, "example");
                uint32_t last = (uint32_t)(num(cJSON_GetArrayItem(ex, cJSON_GetArraySize(ex) - 1), "id") - 1) / 2;
                cr_assert(last < o.n && member[last], "round %d: example of %s", round, text);
                cr_assert_eq(cJSON_GetArraySize(ex), cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "path")));
                total += (double)gcount;
                ngroups++;
            }
            uint64_t reached = 0;
            for (uint32_t w = 2; w < o.n; w++)
                reached += o.reach[w] && msc_hg_string(g, g->nodes[w].name, &(size_t){0})[0] == rtypes[t][0];
            cr_assert_eq(total, (double)reached, "round %d: every reached object of %s in one group", round, rtypes[t]);
            cr_assert_eq(num(doc, "groups"), ngroups);
            /* A limit keeps the first groups of the whole order. */
            unsigned limit = 1 + (unsigned)round % 3;
            cJSON *lim = retainers_doc(a, rtypes[t], limit);
            const cJSON *lp = cJSON_GetObjectItemCaseSensitive(lim, "paths");
            cr_assert_eq(cJSON_GetArraySize(lp), ngroups < (int)limit ? ngroups : (int)limit);
            for (int i = 0; i < cJSON_GetArraySize(lp); i++) {
                char x[2048], y[2048];
                path_text(cJSON_GetArrayItem(lp, i), x, sizeof x);
                path_text(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "paths"), i), y, sizeof y);
                cr_assert_str_eq(x, y, "round %d: limit %u, group %d", round, limit, i);
            }
            cJSON_Delete(lim);
            cJSON_Delete(doc);
        }
        cJSON_Delete(types);
        msd_heap_analysis_free(a);
        gb_free(&b);
    }
}

/* ---- Deep graphs on a small stack ------------------------------------------------------------------------------ */

#define SMALL_STACK (256 * 1024)
#define DEEP 1000000u

typedef struct deep_job {
    bool cyclic;
    int rc;
    const char *failure;
} deep_job;

/* A chain 0 -> n2 -> n3 -> ... of DEEP objects; cyclic: each node also points back to the first and the last to
 * the first (a deep cycle, where Cooper-Harvey-Kennedy goes quadratic). Checked without Criterion's asserts (they
 * are not for other threads). */
static void *deep_run(void *arg)
{
    deep_job *job = arg;
    uint32_t N = DEEP + 2, E = 2 + (DEEP - 1) + (job->cyclic ? DEEP : 0);
    msc_hg_node *nodes = calloc(N, sizeof *nodes);
    msc_hg_edge *edges = malloc(E * sizeof *edges);
    static const char bytes[] = "<dummy>(roots)(unreachable)Linknextback";
    static const uint32_t offs[] = {0, 7, 14, 27, 31, 35, 39};
    if (!nodes || !edges) {
        job->failure = "out of memory";
        goto out;
    }
    uint32_t e = 0;
    nodes[0] = (msc_hg_node){MSC_HG_NODE_SYNTHETIC, 1, 1, 0, 2, 0};
    edges[e++] = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, 0, 2};
    edges[e++] = (msc_hg_edge){MSC_HG_EDGE_ELEMENT, 1, 1};
    nodes[1] = (msc_hg_node){MSC_HG_NODE_SYNTHETIC, 2, 3, 0, 0, 0};
    for (uint32_t v = 2; v < N; v++) {
        uint32_t k = 0;
        if (v + 1 < N) {
            edges[e++] = (msc_hg_edge){MSC_HG_EDGE_PROPERTY, 4, v + 1};
            k++;
        }
        if (job->cyclic) {
            edges[e++] = (msc_hg_edge){MSC_HG_EDGE_PROPERTY, 5, 2};
            k++;
        }
        nodes[v] = (msc_hg_node){MSC_HG_NODE_OBJECT, 3, 1 + 2 * v, 16, k, v == 2};
    }
    msc_hg g = {N, e, 6, nodes, edges, offs, bytes};
    msd_heap_analysis *a = NULL;
    char err[200];
    if ((job->rc = msd_heap_analyse(&g, &a, err, sizeof err)) < 0) {
        job->failure = "analysis failed";
        goto out;
    }
    const uint32_t *idom = msd_heap_idom(a);
    const uint64_t *ret = msd_heap_retained(a);
    for (uint32_t v = 3; v < N && !job->failure; v++)
        if (idom[v] != v - 1 || ret[v] != 16ull * (N - v))
            job->failure = "wrong dominator or retained size along the chain";
    if (!job->failure && (idom[2] != 0 || ret[0] != 16ull * DEEP))
        job->failure = "wrong head";
    msc_buf out = MSC_BUF_INIT;
    if (!job->failure && msd_heap_types_json(a, &out) < 0)
        job->failure = "types document";
    if (!job->failure && !memmem(out.data, out.len, "\"retained_bytes\":16000000}", 26))
        job->failure = "the type retains the chain once";
    out.len = 0;
    /* A million groups (one per depth): the first is the head, whose example is one node long. */
    if (!job->failure && msd_heap_retainers_json(a, "Link", 4, 3, &out) < 0)
        job->failure = "retainers document";
    if (!job->failure && !memmem(out.data, out.len, "\"groups\":1000000,", 17))
        job->failure = "a group per depth";
    free(out.data);
    msd_heap_analysis_free(a);
out:
    free(nodes);
    free(edges);
    return NULL;
}

static void deep(bool cyclic)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SMALL_STACK);
    pthread_t t;
    deep_job job = {.cyclic = cyclic};
    cr_assert_eq(pthread_create(&t, &attr, deep_run, &job), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    cr_assert_null(job.failure, "%s (rc %d)", job.failure, job.rc);
}

Test(heapanalysis, million_node_chain_on_a_small_stack, .timeout = 120) { deep(false); }
Test(heapanalysis, deep_cycle_on_a_small_stack, .timeout = 120) { deep(true); }

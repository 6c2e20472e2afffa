/*
 * daemon/heapanalysis.c — dominators, retained sizes, shortest retainer paths and their grouping, over a heap
 * graph (contract: heapanalysis.h). Entry point: msd_heap_analyse(); read dominators() first.
 *
 * Phases, each O(nodes + edges) but the semidominators' path compression (O(m log n), near-linear in practice):
 *
 *   1. first[]      prefix sums of edge_count: node v owns edges [first[v], first[v+1]).
 *   2. dfs()        an iterative depth-first search from node 0 over strong edges: preorder numbers pre[v],
 *                   vert[p] (the node of number p) and the DFS tree's parent par[p] (a number < p).
 *   3. dominators() predecessors (CSR, by preorder number, built once), semidominators in reverse preorder with an
 *                   iteratively path-compressed forest, then SEMI-NCA's second pass: idom(w) is the nearest
 *                   ancestor of par(w) in the dominator tree whose number is <= semi(w). Both passes rely on
 *                   "idom(w) and semi(w) are DFS-tree ancestors of w, so their numbers are < w".
 *   4. retained     reverse preorder: every node is added to its idom after all it dominates was added to it.
 *   5. bfs()        breadth-first from node 0 (strong edges, first edge in edge order wins): each node's parent and
 *                   edge, and its path signature, interned as it is discovered (see "Signatures").
 *   6. tops()       one DFS over the dominator tree, counting for each type how many objects of it are on the
 *                   current dominator path: an object with none above it is a "top", and the retained bytes of
 *                   a type are the sum of its tops' retained sizes. The tops' dominated sets are disjoint (two
 *                   overlap only if one dominates the other), so nothing counts twice, and their union is
 *                   everything some object of the type dominates. Groups never nest (see tops()).
 *   7. examples     the BFS-tree paths of each group's first object (in BFS order), kept as a tree of the nodes
 *                   on them (shared prefixes once: a 1M chain keeps 1M nodes, not 1M paths).
 *
 * Signatures: the path of object w is the BFS tree path from node 0, without its leading synthetic nodes (node 0,
 * and node 1 for objects no root reaches); its first object is the root. sig(w) is interned as the triple
 * (sig(parent), label of the edge into w, type of w), where a root's "label" is its root label (property name of
 * the edge from node 0, none, or "(unreachable)") and SIG_EMPTY / SIG_UNREACH stand for the synthetic prefix.
 * Since sig(parent) is itself a canonical id, two triples are equal exactly when the two whole sequences are
 * (induction on the depth): the table's exact comparison of triples is the comparison of the actual paths, so two
 * different paths never merge, in O(1) per node instead of O(depth).
 *
 * Strings are interned by their bytes (two string indices with equal bytes are one type), into a pool the result
 * owns: the graph may be freed after msd_heap_analyse().
 *
 * Memory while it runs (4-byte arrays unless said): during dominators(), first, typ, pre, vert, par, the stack,
 * semi, the predecessors' offsets and the result's idom and retained (8: the forest's anc and label live there
 * until the result is written) — 44 bytes per node and 4 per strong edge; during bfs() and tops(), 60 per node
 * (pre's room holds the BFS parents, semi's the dominator tree's children) plus 24 per signature and its table.
 * Measured on the docstore heaps of bench/heapsnapshot (3 edges per node): 76-83 bytes per node at the peak, the
 * result 37 (12 per node, the rest the audit log's one group per depth and their example tree).
 */
#include "heapanalysis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashtable.h"
#include "json.h"
#include "jsonstr.h"

#define NONE UINT32_MAX
#define EXIT_BIT 0x80000000u /* tops()' stack: the node's exit, after its subtree */

/* Label kinds of a signature step (and of an example node: the edge into it). */
enum {
    L_ROOT_NONE,    /* a root reached from node 0 by an element or internal edge: no name */
    L_ROOT_NAMED,   /* a root with a label (property edge from node 0): val = its string */
    L_ROOT_UNREACH, /* a root below node 1 */
    L_ELEMENT,      /* val: the index (example) or 0 (signature: "[i]") */
    L_PROPERTY,     /* val: string; ".name", or as is for a dict key "['k']" */
    L_INTERNAL,     /* val: string, as named ("<ref 0>") */
};

#define SIG_EMPTY 0u   /* the synthetic prefix from node 0 */
#define SIG_UNREACH 1u /* the synthetic prefix through node 1 */

typedef struct sig {
    uint32_t parent; /* signature id, SIG_EMPTY or SIG_UNREACH for a root */
    uint32_t type;   /* string id of the type name */
    uint32_t kind;   /* L_* */
    uint32_t val;    /* string id, or 0 for L_ELEMENT / L_ROOT_NONE / L_ROOT_UNREACH */
    uint32_t count;  /* objects with this path */
    uint32_t example;/* index in ex[] of the group's first object, NONE while count == 0 */
    uint64_t retained;
} sig;

typedef struct exnode {
    uint32_t parent;        /* index in ex[], NONE for the root */
    uint32_t id;            /* the node's id in the graph */
    uint32_t type;          /* string id */
    uint32_t kind, val;     /* the edge into it, as a signature step, with the real element index */
    uint32_t external_refs; /* for a root */
    uint32_t pad;
} exnode;

typedef struct tinfo {
    uint32_t count;
    uint64_t self_bytes, retained_bytes;
} tinfo;

/* The slot of a string or signature table (common/hashtable.h): the key's hash and its id + 1 (0: empty); a
 * lookup compares the keys the ids stand for. A sort of a million signatures would cost more than the rest of
 * the analysis. */
typedef struct id_slot {
    uint32_t hash, id1;
} id_slot;
static bool id_used(const void *s) { return ((const id_slot *)s)->id1 != 0; }
static uint64_t id_hash(const void *s) { return ((const id_slot *)s)->hash; }
static const msc_ht_type id_type = {sizeof(id_slot), 256, id_used, id_hash, &msc_libc_mem};

struct msd_heap_analysis {
    uint32_t node_count, edge_count, objects;
    uint32_t *idom;
    uint64_t *retained;
    /* Strings: id i is bytes[off[i] .. off[i+1]). */
    uint32_t nstr, capstr;
    uint32_t *str_off;
    msc_buf str_bytes;
    msc_hashtable strtab;
    tinfo *types; /* by string id < ntypes; count 0: not a type */
    uint32_t ntypes;
    /* Signatures 0 and 1 are SIG_EMPTY and SIG_UNREACH. */
    sig *sigs;
    size_t nsig, capsig;
    msc_hashtable sigtab; /* while msd_heap_analyse() runs */
    uint32_t *tg_off, *tg; /* the groups (signatures with count > 0) of type t: tg[tg_off[t] .. tg_off[t+1]) */
    exnode *ex;
    uint32_t nex;
};

/* ---- Hashing ------------------------------------------------------------------------------------------------ */

static uint32_t hash_bytes(const char *p, size_t n) { return (uint32_t)(msc_hash_bytes(p, n, 0) >> 32); }

static inline uint32_t hash_sig(uint32_t parent, uint32_t kind, uint32_t val, uint32_t type)
{
    const uint32_t key[4] = {parent, kind, val, type};
    return (uint32_t)(msc_hash_bytes(key, sizeof key, 0) >> 32);
}

/* ---- Strings -------------------------------------------------------------------------------------------------- */

static const char *str_of(const msd_heap_analysis *a, uint32_t id, size_t *len)
{
    *len = a->str_off[id + 1] - a->str_off[id];
    return a->str_bytes.data + a->str_off[id];
}

typedef struct str_key {
    const msd_heap_analysis *a;
    const char *p;
    size_t n;
    uint32_t h;
} str_key;

static bool str_match(const void *slot, const void *key)
{
    const id_slot *s = slot;
    const str_key *k = key;
    if (s->hash != k->h)
        return false;
    size_t len;
    const char *have = str_of(k->a, s->id1 - 1, &len);
    return len == k->n && memcmp(have, k->p, k->n) == 0;
}

/* The string id of bytes p[0..n) (hash h) in a's pool, NONE when absent. */
static uint32_t str_find(const msd_heap_analysis *a, const char *p, size_t n, uint32_t h)
{
    str_key k = {a, p, n, h};
    const id_slot *s = msc_ht_find(&a->strtab, &id_type, h, str_match, &k);
    return s ? s->id1 - 1 : NONE;
}

/* Interns p[0..n): its id, or NONE when out of memory. */
static uint32_t str_intern(msd_heap_analysis *a, const char *p, size_t n)
{
    uint32_t h = hash_bytes(p, n);
    if (msc_ht_reserve(&a->strtab, &id_type) < 0)
        return NONE;
    str_key k = {a, p, n, h};
    id_slot *slot = msc_ht_probe(&a->strtab, &id_type, h, str_match, &k);
    if (slot->id1)
        return slot->id1 - 1;
    if (a->nstr + 2 > a->capstr) {
        uint32_t cap = a->capstr ? a->capstr * 2 : 256;
        uint32_t *o = realloc(a->str_off, (size_t)cap * sizeof *o);
        if (!o)
            return NONE;
        a->str_off = o;
        a->capstr = cap;
    }
    if (a->str_bytes.len + n > UINT32_MAX || msc_buf_append(&a->str_bytes, p, n) < 0)
        return NONE;
    uint32_t id = a->nstr++;
    a->str_off[id + 1] = (uint32_t)a->str_bytes.len;
    *slot = (id_slot){h, id + 1};
    msc_ht_added(&a->strtab);
    return id;
}

/* ---- The analysis' working state ------------------------------------------------------------------------------ */

typedef struct work {
    const msc_hg *g;
    msd_heap_analysis *a;
    char *err;
    size_t errlen;
    uint32_t N, n;      /* nodes; nodes node 0 reaches */
    uint32_t *first;    /* N + 1 */
    uint32_t *canon;    /* g's string index -> string id, NONE until interned (string_count) */
    uint32_t *typ;      /* node -> string id of its name */
    uint32_t *pre;      /* node -> preorder number, NONE when unreached */
    uint32_t *vert;     /* number -> node */
    uint32_t *par;      /* number -> DFS parent's number; after dominators(): idom's number */
    uint32_t *stk;      /* N: the DFS stack, then the compression stack, then the BFS queue */
    uint32_t *tmp;      /* N: the DFS edge cursors, then semi */
    uint32_t *sigof;    /* node -> signature id (BFS) */
    uint32_t *bpar;     /* node -> BFS parent, NONE when unreached */
    uint32_t *bedge;    /* node -> the edge BFS took to it */
} work;

static int fail(work *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(work *w, int rc, const char *fmt, ...)
{
    if (w->err && w->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err, w->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int nomem(work *w, const char *what)
{
    return fail(w, -ENOMEM, "out of memory for the heap analysis (%s, %u nodes)", what, w->N);
}

/* The string id of g's string s: NONE when s is not a string index (the error is set) or memory ran out. */
static uint32_t canon(work *w, uint32_t s, int *rc)
{
    if (s >= w->g->string_count) {
        *rc = fail(w, -EINVAL, "string index %u out of range (%u strings)", s, w->g->string_count);
        return NONE;
    }
    uint32_t c = w->canon[s];
    if (c != NONE)
        return c;
    size_t len;
    const char *p = msc_hg_string(w->g, s, &len);
    if ((c = str_intern(w->a, p, len)) == NONE) {
        *rc = nomem(w, "strings");
        return NONE;
    }
    return w->canon[s] = c;
}

static inline bool strong(const msc_hg_edge *e) { return e->type != MSC_HG_EDGE_WEAK; }
static inline bool is_object(const msc_hg *g, uint32_t v) { return g->nodes[v].type != MSC_HG_NODE_SYNTHETIC; }

/* ---- 1, 2: edge offsets, types and the depth-first search ---------------------------------------------------------- */

static int offsets_and_types(work *w)
{
    const msc_hg *g = w->g;
    uint64_t sum = 0;
    for (uint32_t v = 0; v < w->N; v++) {
        w->first[v] = (uint32_t)sum;
        sum += g->nodes[v].edge_count;
        if (sum > g->edge_count)
            break;
    }
    if (sum != g->edge_count)
        return fail(w, -EINVAL, "the nodes' edge counts do not add up to the graph's %u edges", g->edge_count);
    w->first[w->N] = (uint32_t)sum;
    int rc = 0;
    tinfo *types = NULL;
    uint32_t ntypes = 0;
    for (uint32_t v = 0; v < w->N; v++) {
        uint32_t t = canon(w, g->nodes[v].name, &rc);
        if (t == NONE)
            return rc;
        w->typ[v] = t;
        if (!is_object(g, v))
            continue;
        if (t >= ntypes) {
            uint32_t cap = ntypes ? ntypes : 64;
            while (cap <= t)
                cap *= 2;
            tinfo *nt = realloc(types, cap * sizeof *nt);
            if (!nt) {
                free(types);
                return nomem(w, "types");
            }
            memset(nt + ntypes, 0, (cap - ntypes) * sizeof *nt);
            types = nt;
            ntypes = cap;
        }
        types[t].count++;
        types[t].self_bytes += g->nodes[v].self_size;
        w->a->objects++;
    }
    w->a->types = types; /* strings interned later (labels) are no types: ids >= ntypes */
    w->a->ntypes = ntypes;
    return 0;
}

/* Iterative: the stack holds preorder numbers, tmp[p] the next edge of vert[p] to look at. O(reached edges). */
static int dfs(work *w)
{
    const msc_hg *g = w->g;
    uint32_t *pre = w->pre, *vert = w->vert, *par = w->par, *stk = w->stk, *cur = w->tmp;
    memset(pre, 0xff, (size_t)w->N * sizeof *pre);
    uint32_t n = 1, sp = 1;
    pre[0] = 0;
    vert[0] = 0;
    par[0] = 0;
    cur[0] = w->first[0];
    stk[0] = 0;
    while (sp) {
        uint32_t p = stk[sp - 1], v = vert[p], e = cur[p], end = w->first[v + 1];
        bool pushed = false;
        while (e < end) {
            const msc_hg_edge *ed = &g->edges[e++];
            if (!strong(ed))
                continue;
            uint32_t to = ed->to;
            if (to >= w->N)
                return fail(w, -EINVAL, "edge %u leads to node %u of %u", e - 1, to, w->N);
            if (pre[to] != NONE)
                continue;
            pre[to] = n;
            vert[n] = to;
            par[n] = p;
            cur[n] = w->first[to];
            stk[sp++] = n++;
            pushed = true;
            break;
        }
        cur[p] = e;
        if (!pushed)
            sp--;
    }
    w->n = n;
    return 0;
}

/* ---- 3, 4: dominators and retained sizes -------------------------------------------------------------------- */

/*
 * The minimum semidominator on the path of the compressed forest from v (> i, so linked) up to, not including,
 * the first node not yet linked (<= i). Path compression without recursion: the path goes on stk, then each node,
 * nearest the top first, takes its ancestor's label and ancestor. Amortized O(log n).
 */
static inline uint32_t eval(uint32_t v, uint32_t i, uint32_t *anc, uint32_t *label, uint32_t *stk)
{
    uint32_t sp = 0, u = v;
    while (anc[u] > i) {
        stk[sp++] = u;
        u = anc[u];
    }
    while (sp) {
        uint32_t x = stk[--sp], a = anc[x];
        if (label[a] < label[x])
            label[x] = label[a];
        anc[x] = anc[a];
    }
    return label[v];
}

static int dominators(work *w)
{
    const msc_hg *g = w->g;
    uint32_t n = w->n, *pre = w->pre, *vert = w->vert, *par = w->par;
    uint32_t *poff = calloc((size_t)n + 1, sizeof *poff);
    if (!poff)
        return nomem(w, "predecessors");
    /* Predecessors by preorder number: count, prefix sums, fill (each list in edge order; any order would do). */
    uint64_t m = 0;
    for (uint32_t p = 0; p < n; p++) {
        uint32_t v = vert[p];
        for (uint32_t e = w->first[v]; e < w->first[v + 1]; e++)
            if (strong(&g->edges[e])) {
                poff[pre[g->edges[e].to] + 1]++;
                m++;
            }
    }
    for (uint32_t p = 0; p < n; p++)
        poff[p + 1] += poff[p];
    uint32_t *pred = malloc((m ? m : 1) * sizeof *pred);
    if (!pred) {
        free(poff);
        return nomem(w, "dominators");
    }
    /* The forest lives in the result's arrays until the result is written: fewer fresh pages to fault in. */
    uint32_t *label = (uint32_t *)w->a->retained, *anc = w->a->idom;
    uint32_t *fill = anc; /* a cursor per list, before anc is needed */
    memcpy(fill, poff, (size_t)n * sizeof *fill);
    for (uint32_t p = 0; p < n; p++) {
        uint32_t v = vert[p];
        for (uint32_t e = w->first[v]; e < w->first[v + 1]; e++)
            if (strong(&g->edges[e]))
                pred[fill[pre[g->edges[e].to]]++] = p;
    }
    /* Semidominators, in reverse preorder. Nodes > i are linked: anc[x] is their parent in the forest (or, once
     * compressed, an ancestor), label[x] the minimum semi on the compressed path. A predecessor v <= w is itself
     * a candidate (semi(w) = min over preds of v, or of eval(v) for v > w); the DFS parent is a predecessor, so
     * semi starts there. */
    uint32_t *semi = w->tmp;
    semi[0] = 0;
    for (uint32_t i = n - 1; i >= 1; i--) {
        uint32_t s = par[i];
        for (uint32_t k = poff[i]; k < poff[i + 1]; k++) {
            uint32_t v = pred[k];
            uint32_t c = v <= i ? v : eval(v, i, anc, label, w->stk);
            if (c < s)
                s = c;
        }
        semi[i] = s;
        label[i] = s;
        anc[i] = par[i];
    }
    free(pred);
    free(poff);
    /* SEMI-NCA: in preorder, par[d] for d < i already holds idom(d); idom(i) is the nearest dominator-tree
     * ancestor of par(i) not below semi(i). */
    for (uint32_t i = 1; i < n; i++) {
        uint32_t d = par[i];
        while (d > semi[i])
            d = par[d];
        par[i] = d;
    }
    /* The result, by node index. */
    msd_heap_analysis *a = w->a;
    for (uint32_t v = 0; v < w->N; v++)
        a->idom[v] = NONE;
    a->idom[0] = 0;
    memset(a->retained, 0, (size_t)w->N * sizeof *a->retained);
    for (uint32_t p = 0; p < n; p++)
        a->retained[vert[p]] = g->nodes[vert[p]].self_size;
    for (uint32_t i = n - 1; i >= 1; i--) {
        uint32_t v = vert[i], d = vert[par[i]];
        a->idom[v] = d;
        a->retained[d] += a->retained[v];
    }
    return 0;
}

/* ---- 5: breadth-first paths and their signatures ----------------------------------------------------------------- */

typedef struct sig_key {
    const sig *sigs;
    uint32_t parent, kind, val, type, h;
} sig_key;

static bool sig_match(const void *slot, const void *key)
{
    const id_slot *s = slot;
    const sig_key *k = key;
    if (s->hash != k->h)
        return false;
    const sig *g = &k->sigs[s->id1 - 1];
    return g->parent == k->parent && g->type == k->type && g->kind == k->kind && g->val == k->val;
}

/* The id of signature (parent, kind, val, type), interned: NONE when out of memory. */
static uint32_t sig_intern(msd_heap_analysis *a, uint32_t parent, uint32_t kind, uint32_t val, uint32_t type)
{
    uint32_t h = hash_sig(parent, kind, val, type);
    if (msc_ht_reserve(&a->sigtab, &id_type) < 0)
        return NONE;
    sig_key k = {a->sigs, parent, kind, val, type, h};
    id_slot *slot = msc_ht_probe(&a->sigtab, &id_type, h, sig_match, &k);
    if (slot->id1)
        return slot->id1 - 1;
    if (a->nsig == a->capsig) {
        size_t cap = a->capsig * 2;
        sig *ns = realloc(a->sigs, cap * sizeof *ns);
        if (!ns)
            return NONE;
        a->sigs = ns;
        a->capsig = cap;
    }
    uint32_t id = (uint32_t)a->nsig++;
    a->sigs[id] = (sig){.parent = parent, .type = type, .kind = kind, .val = val, .example = NONE};
    *slot = (id_slot){h, id + 1};
    msc_ht_added(&a->sigtab);
    return id;
}

static int bfs(work *w)
{
    const msc_hg *g = w->g;
    msd_heap_analysis *a = w->a;
    uint32_t *q = w->stk, *bpar = w->bpar, *sg = w->sigof;
    int rc = 0;
    memset(bpar, 0xff, (size_t)w->N * sizeof *bpar);
    bpar[0] = 0;
    sg[0] = SIG_EMPTY;
    q[0] = 0;
    uint32_t qh = 0, qt = 1;
    /* The last step interned: a list's elements, a node's edges of one name to one type, share it. */
    uint32_t last_p = NONE, last_k = 0, last_v = 0, last_t = 0, last_s = 0;
    while (qh < qt) {
        uint32_t v = q[qh++], sv = sg[v];
        for (uint32_t e = w->first[v]; e < w->first[v + 1]; e++) {
            const msc_hg_edge *ed = &g->edges[e];
            uint32_t to = ed->to;
            if (!strong(ed) || bpar[to] != NONE)
                continue;
            bpar[to] = v;
            w->bedge[to] = e;
            q[qt++] = to;
            bool prefix = sv <= SIG_UNREACH;
            if (prefix && !is_object(g, to)) { /* still in the synthetic prefix */
                sg[to] = (to == MSC_HG_UNREACHABLE || sv == SIG_UNREACH) ? SIG_UNREACH : SIG_EMPTY;
                continue;
            }
            uint32_t kind, val = 0;
            if (prefix) {
                kind = sv == SIG_UNREACH ? L_ROOT_UNREACH : L_ROOT_NONE;
                if (sv == SIG_EMPTY && v == MSC_HG_ROOT && ed->type == MSC_HG_EDGE_PROPERTY) {
                    kind = L_ROOT_NAMED;
                    if ((val = canon(w, ed->name_or_index, &rc)) == NONE)
                        return rc;
                }
            } else if (ed->type == MSC_HG_EDGE_ELEMENT) {
                kind = L_ELEMENT;
            } else {
                kind = ed->type == MSC_HG_EDGE_PROPERTY ? L_PROPERTY : L_INTERNAL;
                if ((val = canon(w, ed->name_or_index, &rc)) == NONE)
                    return rc;
            }
            uint32_t t = w->typ[to], s = last_s;
            if (sv != last_p || kind != last_k || val != last_v || t != last_t) {
                if ((s = sig_intern(a, sv, kind, val, t)) == NONE)
                    return nomem(w, "signatures");
                last_p = sv;
                last_k = kind;
                last_v = val;
                last_t = t;
                last_s = s;
            }
            sg[to] = s;
            if (is_object(g, to) && a->sigs[s].count++ == 0)
                a->sigs[s].example = to; /* a node index until examples() */
        }
    }
    return 0;
}

/* ---- 6: tops of each type and group ------------------------------------------------------------------------------ */

/*
 * A group needs no counter: if u dominates v (u != v), u lies on every path to v, the breadth-first one included,
 * at a smaller depth; two objects of one group have paths of one length, so neither dominates the other, and a
 * group's retained bytes are the plain sum of its objects' retained sizes (the test's oracle checks it by the
 * definition). A type's objects do nest (a linked list): those with an object of the type above them on the
 * dominator path count nothing.
 */

static int tops(work *w)
{
    const msc_hg *g = w->g;
    msd_heap_analysis *a = w->a;
    uint32_t n = w->n, *vert = w->vert, *idom = w->par;
    uint32_t *coff = calloc((size_t)n + 1, sizeof *coff), *kids = w->tmp, /* semi's room: spent */
             *st = malloc((size_t)n * 2 * sizeof *st), *tcnt = calloc(a->ntypes ? a->ntypes : 1, sizeof *tcnt);
    int rc = 0;
    if (!coff || !st || !tcnt) {
        rc = nomem(w, "dominator tree");
        goto out;
    }
    for (uint32_t i = 1; i < n; i++)
        coff[idom[i] + 1]++;
    for (uint32_t p = 0; p < n; p++)
        coff[p + 1] += coff[p];
    memcpy(st, coff, (size_t)n * sizeof *st); /* fill cursors */
    for (uint32_t i = 1; i < n; i++)
        kids[st[idom[i]]++] = i;
    uint32_t sp = 0;
    st[sp++] = 0;
    while (sp) {
        uint32_t x = st[--sp], p = x & ~EXIT_BIT, v = vert[p];
        bool obj = is_object(g, v);
        if (x & EXIT_BIT) {
            tcnt[w->typ[v]]--;
            continue;
        }
        if (obj) {
            uint32_t t = w->typ[v];
            if (tcnt[t]++ == 0) /* a top: no object of its type dominates it */
                a->types[t].retained_bytes += a->retained[v];
            a->sigs[w->sigof[v]].retained += a->retained[v]; /* groups never nest: see above */
            st[sp++] = p | EXIT_BIT;
        }
        for (uint32_t k = coff[p]; k < coff[p + 1]; k++)
            st[sp++] = kids[k];
    }
out:
    free(coff);
    free(st);
    free(tcnt);
    return rc;
}

/* ---- 7: the example paths, and the groups of each type ------------------------------------------------------------- */

static int examples(work *w)
{
    const msc_hg *g = w->g;
    msd_heap_analysis *a = w->a;
    uint32_t *q = w->stk, *exid = w->tmp; /* node -> index in ex[], NONE; first marked 0 */
    memset(exid, 0xff, (size_t)w->N * sizeof *exid);
    uint32_t marked = 0;
    for (size_t s = 2; s < a->nsig; s++) {
        if (!a->sigs[s].count)
            continue;
        for (uint32_t x = a->sigs[s].example; exid[x] == NONE && w->sigof[x] > SIG_UNREACH; x = w->bpar[x]) {
            exid[x] = 0;
            marked++;
        }
    }
    a->ex = malloc((marked ? marked : 1) * sizeof *a->ex);
    if (!a->ex)
        return nomem(w, "examples");
    uint32_t k = 0;
    for (uint32_t i = 0; i < w->n; i++) { /* q[0..n) is the BFS order: parents before children */
        uint32_t v = q[i];
        if (exid[v] == NONE)
            continue;
        uint32_t p = w->bpar[v];
        const sig *s = &a->sigs[w->sigof[v]];
        uint32_t val = s->val;
        if (s->kind == L_ELEMENT)
            val = g->edges[w->bedge[v]].name_or_index;
        a->ex[k] = (exnode){.parent = w->sigof[p] > SIG_UNREACH ? exid[p] : NONE, .id = g->nodes[v].id,
                            .type = w->typ[v], .kind = s->kind, .val = val,
                            .external_refs = g->nodes[v].external_refs};
        exid[v] = k++;
    }
    a->nex = k;
    for (size_t s = 2; s < a->nsig; s++)
        if (a->sigs[s].count)
            a->sigs[s].example = exid[a->sigs[s].example];
    /* The groups of each type: counting sort of the signatures by type. */
    a->tg_off = calloc((size_t)a->nstr + 1, sizeof *a->tg_off);
    a->tg = malloc((a->nsig ? a->nsig : 1) * sizeof *a->tg);
    if (!a->tg_off || !a->tg)
        return nomem(w, "groups");
    for (size_t s = 2; s < a->nsig; s++)
        if (a->sigs[s].count)
            a->tg_off[a->sigs[s].type + 1]++;
    for (uint32_t t = 0; t < a->nstr; t++)
        a->tg_off[t + 1] += a->tg_off[t];
    uint32_t *fill = malloc(((size_t)a->nstr + 1) * sizeof *fill);
    if (!fill)
        return nomem(w, "groups");
    memcpy(fill, a->tg_off, (size_t)a->nstr * sizeof *fill);
    for (size_t s = 2; s < a->nsig; s++)
        if (a->sigs[s].count)
            a->tg[fill[a->sigs[s].type]++] = (uint32_t)s;
    free(fill);
    return 0;
}

/* ---- The entry point ------------------------------------------------------------------------------------------ */

int msd_heap_analyse(const msc_hg *g, msd_heap_analysis **out, char *err, size_t errlen)
{
    *out = NULL;
    work w = {.g = g, .err = err, .errlen = errlen, .N = g->node_count};
    if (g->node_count < 1 || g->node_count > MSC_HG_NODES_MAX)
        return fail(&w, -EINVAL, "a heap graph has 1 to %u nodes, not %u", MSC_HG_NODES_MAX, g->node_count);
    msd_heap_analysis *a = calloc(1, sizeof *a);
    if (!a)
        return nomem(&w, "result");
    w.a = a;
    a->node_count = g->node_count;
    a->edge_count = g->edge_count;
    size_t N = g->node_count, S = g->string_count ? g->string_count : 1;
    int rc;
    a->idom = malloc(N * sizeof *a->idom);
    a->retained = malloc(N * sizeof *a->retained);
    a->capstr = 256;
    a->str_off = malloc(a->capstr * sizeof *a->str_off);
    a->capsig = 64;
    a->sigs = malloc(a->capsig * sizeof *a->sigs);
    w.first = malloc((N + 1) * sizeof *w.first);
    w.canon = malloc(S * sizeof *w.canon);
    w.typ = malloc(N * sizeof *w.typ);
    w.pre = malloc(N * sizeof *w.pre);
    w.vert = malloc(N * sizeof *w.vert);
    w.par = malloc(N * sizeof *w.par);
    w.stk = malloc(N * sizeof *w.stk);
    w.tmp = malloc(N * sizeof *w.tmp);
    if (!a->idom || !a->retained || !a->str_off || !a->sigs || !w.first || !w.canon || !w.typ || !w.pre ||
        !w.vert || !w.par || !w.stk || !w.tmp || msc_ht_reserve(&a->strtab, &id_type) < 0 ||
        msc_ht_reserve(&a->sigtab, &id_type) < 0) {
        rc = nomem(&w, "work arrays");
        goto out;
    }
    a->str_off[0] = 0;
    memset(w.canon, 0xff, S * sizeof *w.canon);
    a->sigs[SIG_EMPTY] = (sig){.parent = SIG_EMPTY, .example = NONE};
    a->sigs[SIG_UNREACH] = (sig){.parent = SIG_UNREACH, .example = NONE};
    a->nsig = 2;
    if ((rc = offsets_and_types(&w)) < 0 || (rc = dfs(&w)) < 0 || (rc = dominators(&w)) < 0)
        goto out;
    /* pre[] is spent (it served the predecessors): its memory holds the BFS parents. */
    w.bpar = w.pre;
    w.pre = NULL;
    if (!(w.sigof = malloc(N * sizeof *w.sigof)) || !(w.bedge = malloc(N * sizeof *w.bedge))) {
        rc = nomem(&w, "signatures");
        goto out;
    }
    if ((rc = bfs(&w)) < 0 || (rc = tops(&w)) < 0 || (rc = examples(&w)) < 0)
        goto out;
    /* Signatures are all interned: their table is not needed to read the result. */
    msc_ht_free(&a->sigtab, &id_type);
    sig *fit = realloc(a->sigs, a->nsig * sizeof *fit);
    if (fit) {
        a->sigs = fit;
        a->capsig = a->nsig;
    }
out:
    free(w.first);
    free(w.canon);
    free(w.typ);
    free(w.pre);
    free(w.bpar);
    free(w.vert);
    free(w.par);
    free(w.stk);
    free(w.tmp);
    free(w.sigof);
    free(w.bedge);
    if (rc < 0) {
        msd_heap_analysis_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void msd_heap_analysis_free(msd_heap_analysis *a)
{
    if (!a)
        return;
    free(a->idom);
    free(a->retained);
    free(a->str_off);
    free(a->str_bytes.data);
    msc_ht_free(&a->strtab, &id_type);
    free(a->types);
    free(a->sigs);
    msc_ht_free(&a->sigtab, &id_type);
    free(a->tg_off);
    free(a->tg);
    free(a->ex);
    free(a);
}

const uint32_t *msd_heap_idom(const msd_heap_analysis *a) { return a->idom; }
const uint64_t *msd_heap_retained(const msd_heap_analysis *a) { return a->retained; }

/* ---- JSON ------------------------------------------------------------------------------------------------------ */

/* A writer that stops at the first failure (rc): the documents are built with no check per member. */
typedef struct jw {
    msc_buf *b;
    int rc;
} jw;

static void put(jw *j, const char *s, size_t n)
{
    if (j->rc == 0)
        j->rc = msc_buf_append(j->b, s, n);
}

#define PUT(j, lit) put((j), "" lit, sizeof(lit) - 1) /* "" lit: string literals only */

static void put_u64(jw *j, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char d[20];
    for (int i = 0; i < n; i++)
        d[i] = tmp[n - 1 - i];
    put(j, d, (size_t)n);
}

/* prefix (ASCII, no escape needed) and then bytes p[0..n) as one JSON string (common/jsonstr.h: type names and
 * dict keys are whatever bytes the program had, and the document must stay valid JSON). */
static void put_str(jw *j, const char *prefix, const char *p, size_t n)
{
    size_t pl = strlen(prefix);
    if (j->rc || (j->rc = msc_buf_reserve(j->b, MSC_JSON_STR_MAX(n) + pl)) < 0)
        return;
    char *w = msc_buf_tail(j->b), *w0 = w;
    *w++ = '"';
    memcpy(w, prefix, pl);
    w += pl;
    const unsigned char *s = (const unsigned char *)p;
    w += msc_json_escape(w, 6 * n, &s, s + n);
    *w++ = '"';
    msc_buf_commit(j->b, (size_t)(w - w0));
}

static void put_id(jw *j, const msd_heap_analysis *a, uint32_t id)
{
    size_t n;
    const char *s = str_of(a, id, &n);
    put_str(j, "", s, n);
}

/* The edge of a path step: "[i]" (collapsed) or "[1532]", ".parent", "['cache']", "<ref 0>". */
static void put_edge(jw *j, const msd_heap_analysis *a, uint32_t kind, uint32_t val, bool collapse)
{
    size_t n;
    const char *s;
    switch (kind) {
    case L_ELEMENT:
        if (collapse) {
            PUT(j, "\"[i]\"");
        } else {
            PUT(j, "\"[");
            put_u64(j, val);
            PUT(j, "]\"");
        }
        return;
    case L_PROPERTY:
        s = str_of(a, val, &n);
        put_str(j, n && s[0] == '[' ? "" : ".", s, n);
        return;
    default:
        put_id(j, a, val);
        return;
    }
}

/* Ends j's document: on failure the buffer is cut back to where it started (len0). */
static int finish(jw *j, size_t len0)
{
    if (j->rc < 0)
        j->b->len = len0 < j->b->len ? len0 : j->b->len;
    return j->rc;
}

typedef struct trow {
    uint64_t retained;
    const char *name;
    size_t len;
    uint32_t id;
} trow;

static int trow_cmp(const void *x, const void *y)
{
    const trow *a = x, *b = y;
    if (a->retained != b->retained)
        return a->retained > b->retained ? -1 : 1;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->name, b->name, n);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

int msd_heap_types_json(const msd_heap_analysis *a, msc_buf *out)
{
    uint32_t nt = 0;
    for (uint32_t t = 0; t < a->ntypes; t++)
        nt += a->types[t].count > 0;
    trow *rows = malloc((nt ? nt : 1) * sizeof *rows);
    if (!rows)
        return -ENOMEM;
    uint32_t k = 0;
    for (uint32_t t = 0; t < a->ntypes; t++)
        if (a->types[t].count) {
            rows[k] = (trow){.retained = a->types[t].retained_bytes, .id = t};
            rows[k].name = str_of(a, t, &rows[k].len);
            k++;
        }
    qsort(rows, nt, sizeof *rows, trow_cmp);
    jw j = {out, 0};
    size_t len0 = out->len;
    PUT(&j, "{\"objects\":");
    put_u64(&j, a->objects);
    PUT(&j, ",\"edges\":");
    put_u64(&j, a->edge_count);
    PUT(&j, ",\"types\":[");
    for (uint32_t i = 0; i < nt && j.rc == 0; i++) {
        const tinfo *ti = &a->types[rows[i].id];
        if (i)
            PUT(&j, ",");
        PUT(&j, "{\"type\":");
        put_str(&j, "", rows[i].name, rows[i].len);
        PUT(&j, ",\"count\":");
        put_u64(&j, ti->count);
        PUT(&j, ",\"self_bytes\":");
        put_u64(&j, ti->self_bytes);
        PUT(&j, ",\"retained_bytes\":");
        put_u64(&j, ti->retained_bytes);
        PUT(&j, "}");
    }
    PUT(&j, "]}");
    free(rows);
    return finish(&j, len0);
}

typedef struct grow {
    uint64_t retained;
    uint32_t count, sig;
} grow;

static int grow_cmp(const void *x, const void *y)
{
    const grow *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    if (a->retained != b->retained)
        return a->retained > b->retained ? -1 : 1;
    return a->sig < b->sig ? -1 : a->sig > b->sig; /* first seen in BFS order first */
}

/* Moves the k = min(limit, n) first rows in grow_cmp's order to rows[0..k), in any order, and returns k: a heap
 * of k rows whose root is the last of them, so a type with a million groups costs O(n log k), not a sort. */
static uint32_t select_top(grow *rows, uint32_t n, unsigned limit)
{
    uint32_t k = limit < n ? limit : n;
    if (k == n || k == 0)
        return k;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c;
        if (i < k) { /* sift up */
            c = i;
            while (c && grow_cmp(&rows[(c - 1) / 2], &rows[c]) < 0) {
                grow t = rows[c];
                rows[c] = rows[(c - 1) / 2];
                rows[(c - 1) / 2] = t;
                c = (c - 1) / 2;
            }
            continue;
        }
        if (grow_cmp(&rows[i], &rows[0]) >= 0)
            continue;
        rows[0] = rows[i]; /* replaces the last of the k; sift down */
        c = 0;
        for (;;) {
            uint32_t l = 2 * c + 1, r = l + 1, m = c;
            if (l < k && grow_cmp(&rows[m], &rows[l]) < 0)
                m = l;
            if (r < k && grow_cmp(&rows[m], &rows[r]) < 0)
                m = r;
            if (m == c)
                break;
            grow t = rows[c];
            rows[c] = rows[m];
            rows[m] = t;
            c = m;
        }
    }
    return k;
}

/* One group: its root, its collapsed path and its example. chain is scratch room for the path's signatures. */
static void put_group(jw *j, const msd_heap_analysis *a, uint32_t s, uint32_t **chain, size_t *cap)
{
    size_t d = 0;
    for (uint32_t x = s; x > SIG_UNREACH; x = a->sigs[x].parent) {
        if (d == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            uint32_t *c = realloc(*chain, nc * sizeof *c);
            if (!c) {
                j->rc = -ENOMEM;
                return;
            }
            *chain = c;
            *cap = nc;
        }
        (*chain)[d++] = x;
    }
    uint32_t *c = *chain;
    for (size_t i = 0; i < d / 2; i++) { /* root first */
        uint32_t t = c[i];
        c[i] = c[d - 1 - i];
        c[d - 1 - i] = t;
    }
    const sig *g = &a->sigs[s], *root = &a->sigs[c[0]];
    const exnode *ex = &a->ex[g->example];
    const exnode *exroot = ex;
    while (exroot->parent != NONE)
        exroot = &a->ex[exroot->parent];
    PUT(j, "{\"count\":");
    put_u64(j, g->count);
    PUT(j, ",\"retained_bytes\":");
    put_u64(j, g->retained);
    PUT(j, ",\"root\":{\"name\":");
    if (root->kind == L_ROOT_NAMED)
        put_id(j, a, root->val);
    else if (root->kind == L_ROOT_UNREACH)
        PUT(j, "\"(unreachable)\"");
    else
        PUT(j, "null");
    PUT(j, ",\"type\":");
    put_id(j, a, root->type);
    PUT(j, ",\"external_refs\":");
    put_u64(j, exroot->external_refs);
    PUT(j, "},\"path\":[");
    for (size_t i = 0; i < d && j->rc == 0; i++) {
        if (i)
            PUT(j, ",");
        PUT(j, "{\"type\":");
        put_id(j, a, a->sigs[c[i]].type);
        if (i + 1 < d) {
            PUT(j, ",\"edge\":");
            const sig *next = &a->sigs[c[i + 1]];
            put_edge(j, a, next->kind, next->val, true);
        }
        PUT(j, "}");
    }
    PUT(j, "],\"example\":[");
    /* The example's nodes, root first: the same depth as the signature chain, reusing its room. */
    size_t k = d;
    for (uint32_t x = g->example; x != NONE && k > 0; x = a->ex[x].parent)
        c[--k] = x;
    for (size_t i = 0; i < d && j->rc == 0; i++) {
        const exnode *e = &a->ex[c[i]];
        if (i)
            PUT(j, ",");
        PUT(j, "{\"type\":");
        put_id(j, a, e->type);
        if (i + 1 < d) {
            PUT(j, ",\"edge\":");
            const exnode *next = &a->ex[c[i + 1]];
            put_edge(j, a, next->kind, next->val, false);
        }
        PUT(j, ",\"id\":");
        put_u64(j, e->id);
        PUT(j, "}");
    }
    PUT(j, "]}");
}

int msd_heap_retainers_json(const msd_heap_analysis *a, const char *type, size_t type_len, unsigned limit,
                            msc_buf *out)
{
    uint32_t t = str_find(a, type, type_len, hash_bytes(type, type_len));
    if (t == NONE || t >= a->ntypes || a->types[t].count == 0)
        return -ENOENT;
    uint32_t ng = a->tg_off[t + 1] - a->tg_off[t];
    grow *rows = malloc((ng ? ng : 1) * sizeof *rows);
    if (!rows)
        return -ENOMEM;
    for (uint32_t i = 0; i < ng; i++) {
        const sig *s = &a->sigs[a->tg[a->tg_off[t] + i]];
        rows[i] = (grow){.retained = s->retained, .count = s->count, .sig = a->tg[a->tg_off[t] + i]};
    }
    uint32_t k = select_top(rows, ng, limit);
    qsort(rows, k, sizeof *rows, grow_cmp);
    jw j = {out, 0};
    size_t len0 = out->len;
    PUT(&j, "{\"type\":");
    put_id(&j, a, t);
    PUT(&j, ",\"objects\":");
    put_u64(&j, a->types[t].count);
    PUT(&j, ",\"groups\":");
    put_u64(&j, ng);
    PUT(&j, ",\"paths\":[");
    uint32_t *chain = NULL;
    size_t cap = 0;
    for (uint32_t i = 0; i < k && j.rc == 0; i++) {
        if (i)
            PUT(&j, ",");
        put_group(&j, a, rows[i].sig, &chain, &cap);
    }
    PUT(&j, "]}");
    free(chain);
    free(rows);
    return finish(&j, len0);
}

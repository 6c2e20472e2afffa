/*
 * gc_cycles.c — cycle makers (memscope/gc.h): which allocation sites make the cycles the collector frees.
 *
 * One grouping per collection, while on (ms__cycles_on), of the garbage about to be freed (collect(), gc.c). Two
 * ways to the same answer (test_gc_cycles.c checks they agree on random heaps):
 *
 *   fused (gc_internal.h), when free_garbage tears the garbage down (no finalizer, weak reference or type code to
 *   run: the common case): move_unreachable numbers the garbage in the high half of each refcnt, free_garbage
 *   joins the numbers of every reference it drops between two garbage objects and records each object's type,
 *   size and traceback id as it tears it down, and ms__cycles_fused_finish does steps 3-4 on those records;
 *   no object is read by the grouping that the collector does not read anyway.
 *
 *   separate (ms__cycles_group), for the rest:
 *   1. number   garbage object i's count moves to saved[i] and its refcnt holds i (the walk of the garbage is
 *               the collector's: nothing else runs, and a traverse reads no counts, memscope/object.h). A
 *               referent is garbage exactly when it is tracked and COLLECTING (gc_internal.h).
 *   2. union    for each reference between garbage objects, union-find joins their sets (path halving, by
 *               size): the weakly connected components. Each contains a cycle (every garbage object is held
 *               only by garbage), so each counts as one "cycle" of the table: exact when the cycles of a
 *               collection do not reference each other, and then a component is a cycle with the objects only
 *               it held — what freeing it freed. Strongly connected components would split those off and count
 *               linked cycles apart; the tests (test_gc_cycles.c) pin which answer this gives.
 *   3. restore  the counts back, in the same pass as each object joins its component's sums: objects, bytes
 *               (ms_sizeof), types (COMP_TYPES kept, more noted) and, while tracing, the allocation site its
 *               traceback recorded (the macro's file:line: ms_new's caller). The component's site is its
 *               objects' commonest, counted exactly for up to COMP_SITES distinct sites (ties: the one met
 *               first, the oldest object's), beyond that by Misra-Gries' summary. No site: the key is the
 *               multiset of type names.
 *   4. keys     the components summed per key for this collection (a hash table of keys), whose rows go to
 *               `last`; `last` then joins the table since start (`total`: MS_GC_CYCLE_KEYS keys; a new key
 *               takes the place of the smallest row, whose counts go to `other`) and the ring of the last
 *               MS_GC_CYCLE_RECENT collections.
 *
 * Cost: fused, a few stores per object and one union per reference into arrays kept from one collection to the
 * next (32 bytes an object); separate, three passes over the garbage (two touch the objects) in arrays of 32
 * bytes an object; both 144 bytes a cycle, freed when the grouping is turned off. bench/gc --cycles has the
 * figures. A failed allocation skips the grouping of that collection (it is not counted in the tables'
 * collections). Off, collect() pays one branch. Runtime holder only, like the collector.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/gc.h>
#include <memscope/trace.h>

#include "array.h"
#include "gc_internal.h"
#include "internal.h"
#include "trace_internal.h"

typedef ms__gc_head gc_head;

bool ms__cycles_on;

typedef struct tcount {
    const ms_type *t;
    uint64_t n;
} tcount;

/* A group key: a site (file != NULL), or else the sorted multiset of types (types[0 .. ntypes), `more` when
 * the cycle had more distinct types than fit). */
typedef struct key {
    const char *file;
    int line;
    uint32_t ntypes;
    bool more;
    tcount types[MS_GC_CYCLE_TYPES];
} key;

/* A row of a table: its key, what it counted, and the types of its objects. */
typedef struct row {
    key k;
    uint64_t hash;
    uint64_t cycles, objects, bytes;
    uint32_t ntypes;
    tcount types[MS_GC_CYCLE_TYPES];
} row;

/* A table of at most MS_GC_CYCLE_KEYS rows and the other row. */
typedef struct table {
    row rows[MS_GC_CYCLE_KEYS];
    size_t n;
    row other; /* its key: empty */
    uint64_t collections;
} table;

static table total, last, recent[MS_GC_CYCLE_RECENT];
static size_t recent_next; /* the ring's next slot */
bool ms__cycles_last_valid; /* `last` is the last collection's (cleared by a collection without grouping) */

static void work_free(void);
static void publish(void);

void ms_gc_set_cycle_stats(bool on)
{
    ms__cycles_on = on;
    if (!on)
        work_free();
}
bool ms_gc_get_cycle_stats(void) { return ms__cycles_on; }

void ms_gc_cycle_stats_reset(void)
{
    memset(&total, 0, sizeof total);
    memset(&last, 0, sizeof last);
    memset(recent, 0, sizeof recent);
    recent_next = 0;
    ms__cycles_last_valid = false;
    work_free();
    publish();
}

void ms__cycles_none(void)
{
    memset(&last, 0, sizeof last);
    ms__cycles_last_valid = false;
}

/* ---- Keys ------------------------------------------------------------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * UINT64_C(0x9E3779B97F4A7C15) + 0x632BE59BD9B4E019u; }

static uint64_t key_hash(const key *k)
{
    if (k->file)
        return mix(mix(1, (uintptr_t)k->file), (uint64_t)k->line);
    uint64_t h = mix(2, k->more);
    for (uint32_t i = 0; i < k->ntypes; i++)
        h = mix(mix(h, (uintptr_t)k->types[i].t), k->types[i].n);
    return h;
}

static bool key_eq(const key *a, const key *b)
{
    if (a->file || b->file)
        return a->file == b->file && a->line == b->line;
    if (a->ntypes != b->ntypes || a->more != b->more)
        return false;
    for (uint32_t i = 0; i < a->ntypes; i++)
        if (a->types[i].t != b->types[i].t || a->types[i].n != b->types[i].n)
            return false;
    return true;
}

/* Types most objects first, then by name, then by address (a total order: the multiset's one spelling). */
static int type_cmp(const void *pa, const void *pb)
{
    const tcount *a = pa, *b = pb;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    int c = strcmp(a->t->name ? a->t->name : "", b->t->name ? b->t->name : "");
    if (c)
        return c;
    return (uintptr_t)a->t < (uintptr_t)b->t ? -1 : (uintptr_t)a->t > (uintptr_t)b->t;
}

/* ---- Rows and tables ------------------------------------------------------------------------------------------- */

/* Adds n objects of type t to a row's types (the first MS_GC_CYCLE_TYPES distinct ones are kept). */
static void row_add_type(row *r, const ms_type *t, uint64_t n)
{
    for (uint32_t i = 0; i < r->ntypes; i++)
        if (r->types[i].t == t) {
            r->types[i].n += n;
            return;
        }
    if (r->ntypes < MS_GC_CYCLE_TYPES)
        r->types[r->ntypes++] = (tcount){t, n};
}

static void row_add(row *to, const row *from)
{
    to->cycles += from->cycles;
    to->objects += from->objects;
    to->bytes += from->bytes;
    for (uint32_t i = 0; i < from->ntypes; i++)
        row_add_type(to, from->types[i].t, from->types[i].n);
}

static row *table_find(table *tb, const key *k, uint64_t h)
{
    for (size_t i = 0; i < tb->n; i++)
        if (tb->rows[i].hash == h && key_eq(&tb->rows[i].k, k))
            return &tb->rows[i];
    return NULL;
}

/*
 * Adds r (a key's counts of one collection) to tb. A key not in a full table takes the place of the row with the
 * fewest objects, whose counts join `other`: a key that keeps coming (a site that makes a cycle per request) gets
 * a row and keeps it while it grows, where a table of the first keys would have kept the early ones forever.
 * Nothing is lost: a row's and the other row's counts sum to everything. O(MS_GC_CYCLE_KEYS).
 */
static void table_add(table *tb, const row *r)
{
    row *have = table_find(tb, &r->k, r->hash);
    if (have) {
        row_add(have, r);
        return;
    }
    if (tb->n < MS_GC_CYCLE_KEYS) {
        tb->rows[tb->n++] = *r;
        return;
    }
    size_t min = 0;
    for (size_t i = 1; i < tb->n; i++)
        if (tb->rows[i].objects < tb->rows[min].objects)
            min = i;
    row_add(&tb->other, &tb->rows[min]);
    tb->rows[min] = *r;
}

/* ---- The grouping -------------------------------------------------------------------------------------------- */

static inline gc_head *next_of(const gc_head *g) { return (gc_head *)(g->next & ~MS__GC_NEXT_UNREACHABLE); }

/* Types and sites counted exactly per component: the commonest cycles have one to four of each (a folder, its
 * list, its document and the document's list, each made on its own line). */
#define COMP_TYPES 4
#define COMP_SITES 4

/* A component being summed (144 bytes: there may be as many as half the garbage). sites: exact counts of its
 * first COMP_SITES distinct sites, then Misra-Gries' summary (a new site costs each slot a count; one that
 * reaches zero is taken over), so the commonest site wins whenever it holds more than 1/COMP_SITES of them. */
typedef struct comp {
    uint32_t objects;
    uint16_t ntypes;
    uint16_t more; /* more distinct types than COMP_TYPES */
    uint64_t bytes;
    const ms_type *types[COMP_TYPES];
    uint32_t counts[COMP_TYPES];
    struct {
        const char *file;
        int32_t line;
        uint32_t n; /* 0: free */
    } sites[COMP_SITES];
} comp;

/*
 * The work arrays, kept from one collection to the next while the grouping is on (grown to the largest garbage
 * yet, freed when it is turned off or reset): allocated afresh for each collection, their page faults cost more
 * than the grouping itself (bench/gc: 2 us a page on a VM). 32 bytes per object, plus a comp per cycle.
 */
static struct {
    ms_object **objs;
    intptr_t *saved;
    uint32_t *parent, *size, *cid;
    comp *comps;
    size_t cap, ccap;
} w;

static void fused_free(void);

static void work_free(void)
{
    /* free_garbage may run code while it records into the fused work (a dealloc of what the garbage held alone),
     * and that code may turn the grouping off or reset it: the work then goes when the teardown is done. */
    if (ms__cw.recording)
        ms__cw.free_pending = true;
    else
        fused_free();
    free(w.objs);
    free(w.saved);
    free(w.parent);
    free(w.size);
    free(w.cid);
    free(w.comps);
    memset(&w, 0, sizeof w);
}

static bool work_reserve(size_t n)
{
    if (n <= w.cap)
        return true;
    size_t cap = w.cap ? w.cap : 1024;
    while (cap < n)
        cap *= 2;
    void *p;
#define GROW(f)                                                                                                    \
    if (!(p = realloc(w.f, cap * sizeof *w.f)))                                                                    \
        return false;                                                                                              \
    w.f = p
    GROW(objs);
    GROW(saved);
    GROW(parent);
    GROW(size);
    GROW(cid);
#undef GROW
    w.cap = cap;
    return true;
}

static inline uint32_t find(uint32_t i) { return ms__uf_find(w.parent, i); }

/* A reference from object `cur` to op: when op is garbage (tracked and COLLECTING), their sets join. */
static int visit_union(ms_object *op, void *arg)
{
    if (!ms__is_gc(op) || !ms__gc_head_collecting(MS__GC_HEAD(op)) || !ms__gc_head_tracked(MS__GC_HEAD(op)))
        return 0;
    uint32_t a = find(*(uint32_t *)arg), b = find((uint32_t)op->refcnt);
    if (a == b)
        return 0;
    if (w.size[a] < w.size[b]) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    w.parent[b] = a;
    w.size[a] += w.size[b];
    return 0;
}

static struct {
    uint32_t tb;
    const char *file;
    int line;
} site_cache = {MS__TB_NONE, NULL, 0};

/* The file:line of traceback id tb (MS__TB_NONE: file NULL). */
static void site_of_tb(uint32_t tb, const char **file, int *line)
{
    /* Neighbours in the garbage were mostly made by one line: the traceback met last answers most lookups
     * (tracebacks are never changed once interned; a grouping starts with the cache cleared). */
    if (tb == MS__TB_NONE) {
        *file = NULL;
        *line = 0;
        return;
    }
    if (tb != site_cache.tb) {
        const ms__tb *t = ms__tb_get(tb);
        site_cache.tb = tb;
        site_cache.file = t ? t->file : NULL;
        site_cache.line = t ? t->line : 0;
    }
    *file = site_cache.file;
    *line = site_cache.line;
}

static uint32_t tb_of(const ms__gc_head *g)
{
    ms__trace_entry e;
    return ms__traces_find((uintptr_t)g, &e) ? e.tb : MS__TB_NONE;
}

/* Counts one object of type t and `bytes` into c, made at file:line (file NULL: no site known). Returns in *kt
 * the slot of t in c->types and in *ks that of the site in c->sites (-1: none holds it): another object like it
 * counts into the same two slots (comp_count_again). */
static inline void comp_count(comp *c, const ms_type *t, uint64_t bytes, const char *file, int line, int *kt,
                              int *ks)
{
    c->objects++;
    c->bytes += bytes;
    int k = 0;
    while (k < c->ntypes && c->types[k] != t)
        k++;
    *kt = -1;
    *ks = -1;
    if (k < c->ntypes) {
        c->counts[k]++;
        *kt = k;
    } else if (c->ntypes < COMP_TYPES) {
        *kt = c->ntypes;
        c->types[c->ntypes] = t;
        c->counts[c->ntypes++] = 1;
    } else {
        c->more = 1;
    }
    if (file) {
        int free_slot = -1;
        for (int i = 0; i < COMP_SITES; i++) {
            if (c->sites[i].n && c->sites[i].file == file && c->sites[i].line == line) {
                c->sites[i].n++;
                *ks = i;
                return;
            }
            if (!c->sites[i].n && free_slot < 0)
                free_slot = i;
        }
        if (free_slot >= 0) {
            c->sites[free_slot].file = file;
            c->sites[free_slot].line = line;
            c->sites[free_slot].n = 1;
            *ks = free_slot;
        } else {
            for (int i = 0; i < COMP_SITES; i++)
                c->sites[i].n--;
        }
    }
}

/* The component's key: its site, else its sorted types; and the key's hash. */
static uint64_t comp_key(const comp *c, key *k)
{
    k->file = NULL;
    k->line = 0;
    k->ntypes = 0;
    k->more = false;
    int best = -1; /* the most objects; a tie keeps the site met first (the oldest object's, in list order) */
    for (int i = 0; i < COMP_SITES; i++)
        if (c->sites[i].n && (best < 0 || c->sites[i].n > c->sites[best].n))
            best = i;
    if (best >= 0) {
        k->file = c->sites[best].file;
        k->line = c->sites[best].line;
    } else {
        k->ntypes = c->ntypes;
        for (uint32_t i = 0; i < c->ntypes; i++)
            k->types[i] = (tcount){c->types[i], c->counts[i]};
        if (k->ntypes > 1)
            qsort(k->types, k->ntypes, sizeof k->types[0], type_cmp);
        k->more = c->more != 0;
    }
    return key_hash(k);
}

/* The component's row: its key and counts. */
static void comp_row(const comp *c, const key *k, uint64_t hash, row *r)
{
    /* Field by field: a row is 320 bytes, and clearing one per cycle was a quarter of the grouping's time. Only
     * types[0 .. ntypes) are ever read. */
    r->cycles = 1;
    r->objects = c->objects;
    r->bytes = c->bytes;
    r->ntypes = c->ntypes;
    for (uint32_t i = 0; i < c->ntypes; i++)
        r->types[i] = (tcount){c->types[i], c->counts[i]};
    r->k = *k;
    r->hash = hash;
}

/* The rows of one collection, summed per key through a table of (hash, row index + 1). */
typedef struct agg_slot {
    uint64_t hash;
    uint64_t index1;
} agg_slot;
static bool agg_used(const void *s) { return ((const agg_slot *)s)->index1 != 0; }
static uint64_t agg_hash(const void *s) { return ((const agg_slot *)s)->hash; }
static const msc_ht_type agg_type = {sizeof(agg_slot), 64, agg_used, agg_hash, &msc_libc_mem};
typedef struct agg_key {
    const row *rows;
    const key *k;
    uint64_t hash;
} agg_key;
static bool agg_match(const void *slot, const void *k)
{
    const agg_slot *s = slot;
    const agg_key *ak = k;
    return s->hash == ak->hash && key_eq(&ak->rows[s->index1 - 1].k, ak->k);
}

/* Empties c. Only what comp_count reads before it writes: clearing all 144 bytes was 15% of the grouping of
 * two-object cycles (bench/gc --cycles, pairs). */
static void comp_reset(comp *c)
{
    c->objects = 0;
    c->ntypes = 0;
    c->more = 0;
    c->bytes = 0;
    for (int k = 0; k < COMP_SITES; k++)
        c->sites[k].n = 0;
}

/* A new empty component, numbered ncomp (its cid); NULL when memory is short. */
static comp *comp_new(size_t ncomp)
{
    if (ncomp == w.ccap) {
        size_t cap = w.ccap ? w.ccap * 2 : 256;
        comp *c = realloc(w.comps, cap * sizeof *c);
        if (!c)
            return NULL;
        w.comps = c;
        w.ccap = cap;
    }
    comp *c = &w.comps[ncomp];
    comp_reset(c);
    return c;
}

/* Step 4: components summed per key as they come (agg_add), then into `last` (agg_end). */
typedef struct agg {
    msc_hashtable index; /* key -> rows index + 1 */
    row *rows;
    size_t nrows, rcap;
    bool ok;
} agg;

static void agg_add(agg *a, const comp *c)
{
    key k;
    uint64_t hash = comp_key(c, &k);
    agg_key ak = {a->rows, &k, hash};
    if (!a->ok || msc_ht_reserve(&a->index, &agg_type) < 0) {
        a->ok = false;
        return;
    }
    agg_slot *slot = msc_ht_probe(&a->index, &agg_type, hash, agg_match, &ak);
    if (slot->index1) { /* the common case: straight into the key's row, no row built */
        row *r = &a->rows[slot->index1 - 1];
        r->cycles++;
        r->objects += c->objects;
        r->bytes += c->bytes;
        for (uint32_t i = 0; i < c->ntypes; i++)
            row_add_type(r, c->types[i], c->counts[i]);
        return;
    }
    row *dst = msc_array_push(&a->rows, &a->nrows, &a->rcap, sizeof *dst);
    if (!dst) {
        a->ok = false;
        return;
    }
    comp_row(c, &k, hash, dst);
    *slot = (agg_slot){hash, a->nrows};
    msc_ht_added(&a->index);
}

/* Smallest first, then by hash: an order that does not depend on the order the components came in, so that both
 * groupings fill a table alike; and, a full table giving the smallest row's place to a new key, the one that
 * keeps a collection's largest keys. */
static int row_order(const void *pa, const void *pb)
{
    const row *x = pa, *y = pb;
    if (x->objects != y->objects)
        return x->objects < y->objects ? -1 : 1;
    if (x->cycles != y->cycles)
        return x->cycles < y->cycles ? -1 : 1;
    return (x->hash > y->hash) - (x->hash < y->hash);
}

/* The rows into `last`; false (nothing added) when memory was short. */
static bool agg_end(agg *a)
{
    msc_ht_free(&a->index, &agg_type);
    if (a->ok) {
        if (a->nrows > 1)
            qsort(a->rows, a->nrows, sizeof *a->rows, row_order);
        for (size_t k = 0; k < a->nrows; k++)
            table_add(&last, &a->rows[k]);
    }
    free(a->rows);
    return a->ok;
}

static bool aggregate(size_t ncomp)
{
    agg a = {MSC_HASHTABLE_INIT, NULL, 0, 0, true};
    for (size_t k = 0; k < ncomp && a.ok; k++)
        agg_add(&a, &w.comps[k]);
    return agg_end(&a);
}

/* Steps 1-4 for the objects of garbage (about `hint` of them), into `last`: false when memory was short
 * (nothing counted, every count as it was). */
static bool group(gc_head *garbage, size_t hint)
{
    if (!work_reserve(hint))
        return false;
    size_t i = 0;
    for (gc_head *g = next_of(garbage); g != garbage; g = next_of(g), i++) {
        if (MS_UNLIKELY(i == w.cap || i == UINT32_MAX) && (i == UINT32_MAX || !work_reserve(i + 1))) {
            for (size_t j = 0; j < i; j++) /* counted already: their counts back */
                w.objs[j]->refcnt = w.saved[j];
            return false;
        }
        ms_object *o = MS__GC_OBJ(g);
        w.objs[i] = o;
        w.saved[i] = o->refcnt;
        o->refcnt = (intptr_t)i;
        w.parent[i] = (uint32_t)i;
        w.size[i] = 1;
        w.cid[i] = UINT32_MAX;
    }
    const size_t n = i;
    for (uint32_t cur = 0; cur < n; cur++)
        (void)ms__gc_traverse(w.objs[cur], visit_union, &cur);

    /* Counts back, and each object into its component (numbered in the order of their first object). */
    bool tracing = ms_trace_is_tracing();
    site_cache.tb = MS__TB_NONE; /* ids restart when the tracer's tables are cleared */
    size_t ncomp = 0;
    for (i = 0; i < n; i++) {
        ms_object *o = w.objs[i];
        o->refcnt = w.saved[i];
        uint32_t root = find((uint32_t)i);
        if (w.cid[root] == UINT32_MAX) {
            if (!comp_new(ncomp)) {
                for (size_t j = i + 1; j < n; j++) /* the rest of the counts still need restoring */
                    w.objs[j]->refcnt = w.saved[j];
                return false;
            }
            w.cid[root] = (uint32_t)ncomp++;
        }
        const ms_type *t = ms_type_of(o);
        const char *file = NULL;
        int line = 0;
        if (tracing)
            site_of_tb(tb_of(MS__GC_HEAD(o)), &file, &line);
        /* ms_sizeof's sum, inlined: every garbage object has the GC header (the call was 3% of a grouping). */
        int kt, ks;
        comp_count(&w.comps[w.cid[root]], t, sizeof(gc_head) + t->size + (t->size_extra ? t->size_extra(o) : 0),
                   file, line, &kt, &ks);
    }
    return aggregate(ncomp);
}

/* `last` is this collection's: into the table since start and the ring. */
static void commit(void)
{
    ms__cycles_last_valid = true;
    last.collections = 1;
    total.collections++;
    for (size_t k = 0; k < last.n; k++)
        table_add(&total, &last.rows[k]);
    row_add(&total.other, &last.other);
    recent[recent_next] = last;
    recent_next = (recent_next + 1) % MS_GC_CYCLE_RECENT;
    publish();
}

void ms__cycles_group(gc_head *garbage, size_t hint)
{
    memset(&last, 0, sizeof last);
    if (next_of(garbage) != garbage && !group(garbage, hint)) {
        ms__cycles_none();
        return;
    }
    commit();
}

/* ---- The fused grouping (gc_internal.h) ----------------------------------------------------------------------- */

ms__cycles_work ms__cw;

void ms__cycles_fused_begin(void)
{
    ms__cw.n = ms__cw.nrec = 0;
    ms__cw.failed = false;
    ms__cw.tracing = ms_trace_is_tracing();
}

bool ms__cycles_grow(void)
{
    ms__cycles_work *f = &ms__cw;
    if (f->cap >= MS__CYCLES_MAX_NUMBERS)
        return false;
    size_t cap = f->cap ? (size_t)f->cap * 2 : 1024;
    if (cap > MS__CYCLES_MAX_NUMBERS)
        cap = MS__CYCLES_MAX_NUMBERS;
    void *p;
#define GROW(x)                                                                                                    \
    if (!(p = realloc(f->x, cap * sizeof *f->x)))                                                                  \
        return false;                                                                                              \
    f->x = p
    GROW(parent);
    GROW(cid);
    GROW(num);
    GROW(type);
    GROW(bytes);
    GROW(tb);
#undef GROW
    f->cap = (uint32_t)cap;
    return true;
}

static void fused_free(void)
{
    free(ms__cw.parent);
    free(ms__cw.cid);
    free(ms__cw.num);
    free(ms__cw.type);
    free(ms__cw.bytes);
    free(ms__cw.tb);
    memset(&ms__cw, 0, sizeof ms__cw);
}

/*
 * Two passes over the records. First each record's number becomes its root (flagged on the root's own record,
 * which comes first: records are in number order, free_garbage walking the garbage in the order move_unreachable
 * numbered it, and a root is its set's smallest number) and each root counts its records (in cid). Then the
 * records are summed into their component, each component taking a slot when its first record comes and giving
 * it back, summed into its key's row, when its last one has: only the components open at once occupy memory
 * (for cycles made one after the other, one or two), where keeping every component until the end read and wrote
 * 144 bytes per cycle from memory (bench/gc --cycles, pairs: half the grouping's time). parent (not needed once
 * every root is known) holds an open root's slot.
 */
#define FIRST_OF_SET ((uint32_t)1 << 31) /* numbers are below MS__CYCLES_MAX_NUMBERS */
void ms__cycles_fused_finish(void)
{
    ms__cycles_work *f = &ms__cw;
    f->recording = false;
    memset(&last, 0, sizeof last);
    site_cache.tb = MS__TB_NONE;
    for (uint32_t k = 0; k < f->nrec; k++) {
        uint32_t num = f->num[k], root = ms__cycles_find(num);
        if (f->tracing)
            f->tb[k] = f->tb[num]; /* by record from now: num >= k, so tb[num] is not overwritten yet */
        if (root == num) {
            f->cid[root] = 1;
            f->num[k] = root | FIRST_OF_SET;
        } else {
            f->cid[root]++;
            f->num[k] = root;
        }
    }
    agg a = {MSC_HASHTABLE_INIT, NULL, 0, 0, true};
    uint32_t nslots = 0, slots_cap = 0, *free_slots = NULL, nfree = 0; /* slots given back, reused first */
    struct {
        uint32_t slot; /* UINT32_MAX: no run */
        const ms_type *t;
        uint32_t tb;
        int kt, ks;
    } run = {UINT32_MAX, NULL, 0, -1, -1}; /* the last record counted with a search, and the slots it found */
    for (uint32_t k = 0; k < f->nrec && a.ok; k++) {
        uint32_t root = f->num[k] & ~FIRST_OF_SET;
        if (f->num[k] & FIRST_OF_SET) {
            uint32_t slot;
            if (nfree) {
                slot = free_slots[--nfree];
            } else if (!comp_new(nslots)) {
                a.ok = false;
                break;
            } else {
                slot = nslots++;
                if (nslots > slots_cap) { /* room to give every slot back */
                    slots_cap = slots_cap ? 2 * slots_cap : 64;
                    uint32_t *fs = realloc(free_slots, slots_cap * sizeof *fs);
                    if (!fs) {
                        a.ok = false;
                        break;
                    }
                    free_slots = fs;
                }
            }
            comp_reset(&w.comps[slot]);
            f->parent[root] = slot;
        }
        uint32_t slot = f->parent[root];
        comp *c = &w.comps[slot];
        uint32_t tb = f->tracing ? f->tb[k] : MS__TB_NONE;
        if (slot == run.slot && f->type[k] == run.t && tb == run.tb) {
            /* Like the record before: its two slots still hold its type and site (a slot given away to another
             * would have broken the run). The common case: a cycle's objects come from one line. */
            c->objects++;
            c->bytes += f->bytes[k];
            if (run.kt >= 0)
                c->counts[run.kt]++;
            if (run.ks >= 0)
                c->sites[run.ks].n++;
        } else {
            const char *file = NULL;
            int line = 0;
            if (f->tracing)
                site_of_tb(tb, &file, &line);
            comp_count(c, f->type[k], f->bytes[k], file, line, &run.kt, &run.ks);
            /* A site that met full slots (ks -1) knocked every count down: no run may follow it. */
            bool counted_site = run.ks >= 0 || file == NULL;
            run.slot = counted_site ? slot : UINT32_MAX;
            run.t = f->type[k];
            run.tb = tb;
        }
        if (--f->cid[root] == 0) {
            agg_add(&a, c);
            free_slots[nfree++] = slot;
            run.slot = UINT32_MAX; /* the slot is reused */
        }
    }
    free(free_slots);
    bool ok = agg_end(&a);
    if (f->free_pending)
        fused_free();
    if (!ok) {
        ms__cycles_none();
        return;
    }
    commit();
}

/* ---- Reading the tables ---------------------------------------------------------------------------------------- */

static int row_cmp(const void *pa, const void *pb)
{
    const row *a = *(const row *const *)pa, *b = *(const row *const *)pb;
    if (a->objects != b->objects)
        return a->objects > b->objects ? -1 : 1;
    return a->cycles > b->cycles ? -1 : a->cycles < b->cycles;
}

static const char *type_name(const ms_type *t) { return t && t->name ? t->name : "?"; }

static void fill(ms_gc_cycle_group *g, const row *r, bool other)
{
    memset(g, 0, sizeof *g);
    g->other = other;
    g->cycles = r->cycles;
    g->objects = r->objects;
    g->bytes = r->bytes;
    tcount types[MS_GC_CYCLE_TYPES];
    memcpy(types, r->types, r->ntypes * sizeof *types);
    if (r->ntypes > 1)
        qsort(types, r->ntypes, sizeof *types, type_cmp);
    g->ntypes = r->ntypes;
    for (uint32_t i = 0; i < r->ntypes; i++) {
        g->types[i].name = type_name(types[i].t);
        g->types[i].count = types[i].n;
    }
    if (other) {
        snprintf(g->key, sizeof g->key, "other");
    } else if (r->k.file) {
        snprintf(g->site, sizeof g->site, "%s:%d", r->k.file, r->k.line);
        snprintf(g->key, sizeof g->key, "%s", g->site);
    } else {
        size_t len = 0;
        for (uint32_t i = 0; i < r->k.ntypes && len < sizeof g->key; i++) {
            int wr = r->k.types[i].n > 1
                        ? snprintf(g->key + len, sizeof g->key - len, "%s%s\u00d7%llu", i ? "+" : "",
                                   type_name(r->k.types[i].t), (unsigned long long)r->k.types[i].n)
                        : snprintf(g->key + len, sizeof g->key - len, "%s%s", i ? "+" : "", type_name(r->k.types[i].t));
            len += wr > 0 ? (size_t)wr : 0;
        }
        if (r->k.more && len < sizeof g->key)
            snprintf(g->key + len, sizeof g->key - len, "+...");
    }
}

/* rows[0 .. n) largest first, then the other row when it counted anything, into out[0 .. max). */
static size_t report(const row *rows, size_t n, const row *other, ms_gc_cycle_group *out, size_t max)
{
    const row **order = n ? malloc(n * sizeof *order) : NULL;
    if (n && !order)
        return 0;
    for (size_t i = 0; i < n; i++)
        order[i] = &rows[i];
    if (n > 1)
        qsort(order, n, sizeof *order, row_cmp);
    size_t k = 0;
    for (; k < n && k < max; k++)
        fill(&out[k], order[k], false);
    free(order);
    size_t total_rows = n + (other->cycles != 0);
    if (other->cycles && k < max)
        fill(&out[k], other, true);
    return total_rows;
}

size_t ms_gc_cycle_groups(bool recent_only, ms_gc_cycle_group *out, size_t max, uint64_t *collections)
{
    if (!recent_only) {
        if (collections)
            *collections = total.collections;
        return report(total.rows, total.n, &total.other, out, max);
    }
    /* The ring's tables summed: every key of each (at most MS_GC_CYCLE_RECENT * MS_GC_CYCLE_KEYS of them). */
    row *rows = malloc(MS_GC_CYCLE_RECENT * MS_GC_CYCLE_KEYS * sizeof *rows);
    if (!rows)
        return 0;
    row other = {0};
    size_t n = 0;
    uint64_t colls = 0;
    for (size_t t = 0; t < MS_GC_CYCLE_RECENT; t++) {
        const table *tb = &recent[t];
        colls += tb->collections;
        row_add(&other, &tb->other);
        for (size_t i = 0; i < tb->n; i++) {
            row *have = NULL;
            for (size_t j = 0; j < n && !have; j++)
                if (rows[j].hash == tb->rows[i].hash && key_eq(&rows[j].k, &tb->rows[i].k))
                    have = &rows[j];
            if (have)
                row_add(have, &tb->rows[i]);
            else
                rows[n++] = tb->rows[i];
        }
    }
    if (collections)
        *collections = colls;
    size_t k = report(rows, n, &other, out, max);
    free(rows);
    return k;
}

size_t ms_gc_cycle_groups_last(ms_gc_cycle_group *out, size_t max)
{
    return report(last.rows, last.n, &last.other, out, max);
}

/* ---- For the agent thread ---------------------------------------------------------------------------------- */

#define PUBLISHED MS__CYCLES_PUBLISHED
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static ms__cycle_row pub[PUBLISHED];
static size_t npub;

/* The PUBLISHED largest rows of `total` (not its other row), under pub_lock: the runtime holder writes them, the
 * agent thread reads them. O(MS_GC_CYCLE_KEYS log). */
static void publish(void)
{
    ms_gc_cycle_group g[PUBLISHED];
    size_t n = report(total.rows, total.n, &total.other, g, PUBLISHED);
    if (n > PUBLISHED)
        n = PUBLISHED;
    ms__cycle_row rows[PUBLISHED];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (g[i].other)
            continue;
        snprintf(rows[k].key, sizeof rows[k].key, "%s", g[i].key);
        rows[k].cycles = g[i].cycles;
        rows[k].objects = g[i].objects;
        rows[k].bytes = g[i].bytes;
        k++;
    }
    pthread_mutex_lock(&pub_lock);
    memcpy(pub, rows, k * sizeof *rows);
    npub = k;
    pthread_mutex_unlock(&pub_lock);
}

size_t ms__cycles_published(ms__cycle_row *out, size_t max)
{
    pthread_mutex_lock(&pub_lock);
    size_t n = npub < max ? npub : max;
    memcpy(out, pub, n * sizeof *out);
    pthread_mutex_unlock(&pub_lock);
    return n;
}

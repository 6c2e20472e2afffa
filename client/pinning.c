/*
 * pinning.c — who keeps mostly empty pools and arenas from going back to the OS (ms_pool_pinning,
 * memscope/mem.h). blocks_in_use says the memory is free; RSS says it is not; this says which blocks, made where,
 * hold it.
 *
 *   arena (1 MiB, 64 pools of 16 KiB)
 *   [ P0: 1 live of 256 ][ P1: 2 live ][ P2: empty, used before ][ P3: empty ][ never used ... ]
 *     pinned: waste          pinned        resident: charged to the live blocks of P0 and P1, because no pool
 *     16384 - 64, on its     (same)        of this arena is above the threshold (one that is would hold the
 *     one block                            arena by itself); never-used pools have no pages and cost nothing
 *
 * Charges (exact per pool and arena, split evenly, rounded once per group at the end):
 *     pool share  = (pool size - live bytes) / live blocks           for a pinned pool
 *     arena share = resident empty pools x pool size / live blocks of its pools     for a pinned arena
 * and every live block of a pinned pool carries pool share + arena share to its size class, to its site while
 * tracing (its trace's file:line: the agent asks only for what the tracer already keeps), and to its object's
 * type when it is a GC-tracked object (one pass over the GC lists, each head looked up among the pinned pools).
 *
 * Runs with the runtime held: pool headers, free lists, traces and the GC lists do not move meanwhile. Memory
 * comes from libc only (the walk must not change the heap it measures).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/mem.h>
#include <memscope/trace.h>

#include "bump.h"
#include "gc_internal.h"
#include "hashtable.h"
#include "internal.h"
#include "obmalloc.h"
#include "trace_internal.h"

typedef struct pinned_pool {
    const pool_header *pool;
    double share; /* bytes charged to each of its live blocks */
} pinned_pool;

typedef struct group {
    const void *key;             /* a site's interned name, or a type */
    const pool_header *last_pool; /* the pool counted last in `pools`: blocks arrive pool by pool */
    uint64_t pools, blocks;
    double wasted;
    uint32_t oldest_birth;
} group;

typedef struct groups {
    group *v;
    size_t n, cap;
    msc_hashtable index; /* key -> v index + 1 */
} groups;

/* Groups are found by key pointer: sites by their interned name, types by their ms_type. */
static const msc_ht_type group_index = MSC_HT_PTR_TYPE(64, &msc_libc_mem);
static const msc_ht_type names_type = MS__HT_STR_TYPE(64, &msc_libc_mem);

typedef struct walk {
    double limit; /* live bytes at or below it: pinned */
    ms_pinning_report *rep;
    pinned_pool *pinned;
    size_t npinned, pinned_cap;
    struct {
        uint64_t pools, blocks;
        double wasted;
    } classes[MS__NB_CLASSES];
    groups sites, types;
    msc_hashtable names; /* interned site names */
    ms__bump name_mem;
    uint32_t *tb_site;   /* traceback id -> sites index + 1; 0: not looked up yet */
    size_t ntb;
    double untraced_wasted;
    bool oom;
} walk;

/* The group of key, created empty; NULL when memory is short. */
static group *group_of(groups *g, const void *key)
{
    msc_ht_ptr_slot *s = msc_ht_ptr_find(&g->index, &group_index, key);
    if (s)
        return &g->v[(uintptr_t)s->value - 1];
    if (msc_ht_reserve(&g->index, &group_index) < 0)
        return NULL;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        group *v = realloc(g->v, cap * sizeof *v);
        if (!v)
            return NULL;
        g->v = v;
        g->cap = cap;
    }
    s = msc_ht_ptr_probe(&g->index, &group_index, key);
    s->key = key;
    s->value = (void *)(uintptr_t)(g->n + 1);
    msc_ht_added(&g->index);
    group *e = &g->v[g->n++];
    *e = (group){.key = key, .oldest_birth = UINT32_MAX};
    return e;
}

static void charge(group *e, const pool_header *pool, double share, uint32_t birth)
{
    if (e->last_pool != pool) {
        e->last_pool = pool;
        e->pools++;
    }
    e->blocks++;
    e->wasted += share;
    if (birth < e->oldest_birth)
        e->oldest_birth = birth;
}

/* ---- Pass 1: the arenas' pools ---------------------------------------------------------------------------- */

static bool pool_pinned(const walk *w, const pool_header *p)
{
    return p->ref != 0 && (double)p->ref * (double)BLOCK_SIZE(p->szidx) <= w->limit;
}

static void arena_visit(pool_header *pools, uint32_t ncarved, void *arg)
{
    walk *w = arg;
    ms_pinning_report *rep = w->rep;
    uint32_t used = 0, pinned = 0, empty = 0;
    uint64_t live = 0;
    for (uint32_t k = 0; k < ncarved; k++) {
        const pool_header *p = &pools[k];
        if (p->ref == 0) {
            empty++;
            continue;
        }
        used++;
        if (pool_pinned(w, p)) {
            pinned++;
            live += p->ref;
        }
    }
    rep->pools_walked += used;
    if (pinned == 0 || w->oom)
        return;
    double arena_share = 0;
    if (pinned == used) {
        rep->pinned_arenas++;
        rep->arena_wasted_bytes += (uint64_t)empty * POOL_SIZE;
        arena_share = (double)empty * (double)POOL_SIZE / (double)live;
    }
    if (w->npinned + pinned > w->pinned_cap) {
        size_t cap = w->pinned_cap ? 2 * w->pinned_cap : 256;
        while (cap < w->npinned + pinned)
            cap *= 2;
        pinned_pool *v = realloc(w->pinned, cap * sizeof *v);
        if (!v) {
            w->oom = true;
            return;
        }
        w->pinned = v;
        w->pinned_cap = cap;
    }
    for (uint32_t k = 0; k < ncarved; k++) {
        const pool_header *p = &pools[k];
        if (!pool_pinned(w, p))
            continue;
        uint64_t waste = POOL_SIZE - (uint64_t)p->ref * BLOCK_SIZE(p->szidx);
        double share = (double)waste / p->ref + arena_share;
        w->pinned[w->npinned++] = (pinned_pool){p, share};
        rep->pinned_pools++;
        rep->pinned_blocks += p->ref;
        rep->pool_wasted_bytes += waste;
        w->classes[p->szidx].pools++;
        w->classes[p->szidx].blocks += p->ref;
        w->classes[p->szidx].wasted += share * p->ref;
    }
}

/* ---- Pass 2: sites, from the traces of the pinned pools' live blocks ----------------------------------------- */

/* The "file:line" of traceback tb: the macro's, else the first frame outside libmemscope (symbolized). */
static void site_name(const ms__tb *tb, char *buf, size_t len)
{
    if (tb->file) {
        snprintf(buf, len, "%s:%d", tb->file, tb->line);
        return;
    }
    ms_frame f;
    ms__sym_lock();
    ms__sym_frames(NULL, 0, tb->addrs, tb->naddrs, 1, &f);
    snprintf(buf, len, "%s:%d", f.filename, f.lineno);
    ms__sym_unlock();
}

/* The site group of traceback id tb; NULL when memory is short. */
static group *site_of(walk *w, uint32_t tb)
{
    if (tb < w->ntb && w->tb_site[tb])
        return &w->sites.v[w->tb_site[tb] - 1];
    const ms__tb *t = ms__tb_get(tb);
    if (!t)
        return NULL;
    char buf[sizeof ((ms_pinning_site *)0)->site];
    site_name(t, buf, sizeof buf);
    const char *name = ms__str_intern(&w->names, &names_type, &w->name_mem, buf, strlen(buf));
    group *e = name ? group_of(&w->sites, name) : NULL;
    if (e && tb < w->ntb)
        w->tb_site[tb] = (uint32_t)(e - w->sites.v) + 1;
    return e;
}

typedef struct site_visit {
    walk *w;
    const pinned_pool *pp;
    uint64_t traced; /* records met in the pool */
} site_visit;

static void site_visit_trace(const ms__trace_entry *e, void *arg)
{
    site_visit *v = arg;
    if (v->w->oom)
        return;
    group *g = site_of(v->w, e->tb);
    if (!g) {
        v->w->oom = true;
        return;
    }
    v->traced++;
    charge(g, v->pp->pool, v->pp->share, e->birth_s);
}

/* The traces of a pool's range are its live traced blocks (a free removes its block's record), so the pool's
 * own memory is never read: walking the free lists instead cost 12 ms per million blocks (cold lines of every
 * free block); the page records of a pool, 4 of them, are dense and warm. Live blocks without a record were
 * allocated before tracing started. */
static void attribute_sites(walk *w)
{
    ms_pinning_report *rep = w->rep;
    w->ntb = ms__tb_count();
    w->tb_site = calloc(w->ntb ? w->ntb : 1, sizeof *w->tb_site);
    if (!w->tb_site) {
        w->oom = true;
        return;
    }
    for (size_t i = 0; i < w->npinned && !w->oom; i++) {
        site_visit v = {w, &w->pinned[i], 0};
        const pool_header *p = v.pp->pool;
        ms__traces_in_range((uintptr_t)p->base, (uintptr_t)p->base + p->nextoffset, BLOCK_SIZE(p->szidx),
                            site_visit_trace, &v);
        uint64_t untraced = p->ref > v.traced ? p->ref - v.traced : 0;
        rep->untraced_blocks += untraced;
        w->untraced_wasted += (double)untraced * v.pp->share;
    }
}

/* ---- Pass 3: types, from the GC lists ---------------------------------------------------------------------- */

/* The GC lists are not in pool order (survivors move to older generations), so a type's pools are told apart
 * by a set of (pool, type group) pairs instead of by the pool met last. */
typedef struct pair_slot {
    const pool_header *pool; /* NULL: empty */
    uintptr_t gi; /* index of the type group */
} pair_slot;
static bool pair_used(const void *s) { return ((const pair_slot *)s)->pool != NULL; }
static uint64_t pair_hash(const void *s)
{
    const pair_slot *p = s;
    return (uintptr_t)p->pool ^ (p->gi * UINT64_C(0x9e3779b97f4a7c15));
}
static bool pair_match(const void *s, const void *key)
{
    const pair_slot *a = s, *b = key;
    return a->pool == b->pool && a->gi == b->gi;
}
static const msc_ht_type pair_type = {sizeof(pair_slot), 64, pair_used, pair_hash, &msc_libc_mem};

/* Whether (pool, group) is met for the first time; -1 when memory is short. */
static int first_pair(msc_hashtable *seen, const pool_header *pool, uintptr_t gi)
{
    pair_slot key = {pool, gi};
    uint64_t h = pair_hash(&key);
    if (msc_ht_find(seen, &pair_type, h, pair_match, &key))
        return 0;
    if (msc_ht_reserve(seen, &pair_type) < 0)
        return -1;
    *(pair_slot *)msc_ht_probe(seen, &pair_type, h, pair_match, &key) = key;
    msc_ht_added(seen);
    return 1;
}

static int by_pool(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const pinned_pool *)a)->pool, y = (uintptr_t)((const pinned_pool *)b)->pool;
    return (x > y) - (x < y);
}

static const pinned_pool *find_pinned(const walk *w, const pool_header *pool)
{
    pinned_pool key = {pool, 0};
    return bsearch(&key, w->pinned, w->npinned, sizeof key, by_pool);
}

static void attribute_types(walk *w)
{
    ms__gc_head *lists[MS__GC_NLISTS];
    if (ms__gc_lists(lists) < 0)
        return; /* a collection is running (a finalizer asked): no types this time */
    /* Objects of one type sit together in the lists and in the pools: the pool looked up last usually is the
     * next object's too. */
    const pool_header *last = NULL;
    const pinned_pool *last_pp = NULL;
    msc_hashtable seen = MSC_HASHTABLE_INIT;
    for (int l = 0; l < MS__GC_NLISTS && !w->oom; l++) {
        for (ms__gc_head *g = (ms__gc_head *)lists[l]->next; g != lists[l]; g = (ms__gc_head *)g->next) {
            w->rep->objects_walked++;
            const pool_header *pool = ms__pool_lookup(g);
            if (!pool)
                continue; /* a system-path object */
            if (pool != last) {
                last = pool;
                last_pp = find_pinned(w, pool);
            }
            if (!last_pp)
                continue;
            group *e = group_of(&w->types, ms_type_of(MS__GC_OBJ(g)));
            int first = e ? first_pair(&seen, pool, (uintptr_t)(e - w->types.v)) : -1;
            if (first < 0) {
                w->oom = true;
                break;
            }
            e->pools += (uint64_t)first;
            e->blocks++;
            e->wasted += last_pp->share;
        }
    }
    msc_ht_free(&seen, &pair_type);
}

/* ---- The report -------------------------------------------------------------------------------------------- */

static int by_waste(const void *a, const void *b)
{
    const group *x = a, *y = b;
    if (x->wasted != y->wasted)
        return x->wasted < y->wasted ? 1 : -1;
    return (x->blocks < y->blocks) - (x->blocks > y->blocks);
}

static int class_by_waste(const void *a, const void *b)
{
    const ms_pinning_class *x = a, *y = b;
    if (x->wasted_bytes != y->wasted_bytes)
        return x->wasted_bytes < y->wasted_bytes ? 1 : -1;
    return (x->block_size > y->block_size) - (x->block_size < y->block_size);
}

static bool fill_report(walk *w, uint32_t now)
{
    ms_pinning_report *rep = w->rep;
    rep->untraced_wasted_bytes = (uint64_t)llround(w->untraced_wasted);
    if (w->sites.n > 1) /* qsort's array must not be NULL, even for no element */
        qsort(w->sites.v, w->sites.n, sizeof *w->sites.v, by_waste);
    if (w->types.n > 1)
        qsort(w->types.v, w->types.n, sizeof *w->types.v, by_waste);
    rep->sites = calloc(w->sites.n ? w->sites.n : 1, sizeof *rep->sites);
    rep->types = calloc(w->types.n ? w->types.n : 1, sizeof *rep->types);
    rep->classes = calloc(MS__NB_CLASSES, sizeof *rep->classes);
    if (!rep->sites || !rep->types || !rep->classes)
        return false;
    for (size_t i = 0; i < w->sites.n; i++) {
        const group *g = &w->sites.v[i];
        ms_pinning_site *s = &rep->sites[rep->nsites++];
        snprintf(s->site, sizeof s->site, "%s", (const char *)g->key);
        s->pools = g->pools;
        s->blocks = g->blocks;
        s->wasted_bytes = (uint64_t)llround(g->wasted);
        s->oldest_age_s = now >= g->oldest_birth ? (double)(now - g->oldest_birth) : 0;
    }
    for (size_t i = 0; i < w->types.n; i++) {
        const group *g = &w->types.v[i];
        rep->types[rep->ntypes++] = (ms_pinning_type){((const ms_type *)g->key)->name, g->pools, g->blocks,
                                                      (uint64_t)llround(g->wasted)};
    }
    for (unsigned c = 0; c < MS__NB_CLASSES; c++)
        if (w->classes[c].pools)
            rep->classes[rep->nclasses++] = (ms_pinning_class){BLOCK_SIZE(c), w->classes[c].pools,
                                                               w->classes[c].blocks,
                                                               (uint64_t)llround(w->classes[c].wasted)};
    qsort(rep->classes, rep->nclasses, sizeof *rep->classes, class_by_waste);
    return true;
}

void ms_pinning_report_free(ms_pinning_report *r)
{
    if (!r)
        return;
    free(r->sites);
    free(r->classes);
    free(r->types);
    free(r);
}

int ms_pool_pinning(double max_utilization, ms_pinning_report **out)
{
    *out = NULL;
    if (!(max_utilization >= 0 && max_utilization <= 1))
        return -EINVAL;
    uint64_t t0 = ms__now_ns();
    ms_pinning_report *rep = calloc(1, sizeof *rep);
    if (!rep)
        return -ENOMEM;
    walk w = {.limit = max_utilization * (double)POOL_SIZE, .rep = rep,
              .name_mem = MS__BUMP_INIT(4096, &msc_libc_mem)};
    rep->max_utilization = max_utilization;
    ms__arenas_foreach(arena_visit, &w);
    rep->wasted_bytes = rep->pool_wasted_bytes + rep->arena_wasted_bytes;
    rep->tracing = ms_trace_is_tracing();
    if (rep->tracing && w.npinned && !w.oom)
        attribute_sites(&w);
    if (w.npinned && !w.oom) {
        qsort(w.pinned, w.npinned, sizeof *w.pinned, by_pool);
        attribute_types(&w);
    }
    ms__trace_tick();
    bool ok = !w.oom && fill_report(&w, atomic_load_explicit(&ms__trace_clock_s, memory_order_relaxed));
    free(w.pinned);
    free(w.tb_site);
    free(w.sites.v);
    free(w.types.v);
    msc_ht_free(&w.sites.index, &group_index);
    msc_ht_free(&w.types.index, &group_index);
    msc_ht_free(&w.names, &names_type);
    ms__bump_free(&w.name_mem);
    if (!ok) {
        ms_pinning_report_free(rep);
        return -ENOMEM;
    }
    rep->walk_ns = ms__now_ns() - t0;
    *out = rep;
    return 0;
}

/*
 * test_pinning.c — pool pinning (client/pinning.c, ms_pool_pinning in memscope/mem.h) on heaps with a known
 * answer: one line keeps every 200th 64-byte block of 100,000 and frees the rest, so that every pool of the class
 * holds one or two live blocks. The expected pools, blocks and waste are computed here from the allocator's own
 * statistics (ms_pool_class_stats_get), not from the walk. Also: the same line named as the site while tracing
 * (and a line making garbage cycles named first by the cycle makers), the live blocks of GC objects charged to
 * their type, a pool above the threshold not pinned, and bad thresholds refused.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "leakcheck.h"
#include "testnode.h"

#define NBLOCKS 100000
#define KEEP_EVERY 200
#define BLOCK 64
#define CLASS (BLOCK / 16 - 1)

LEAK_CHECKED_SUITE(pinning);

static void **kept;
static size_t nkept;

static void no_leaks(void)
{
    for (size_t i = 0; i < nkept; i++)
        ms_free(kept[i]);
    free(kept);
    kept = NULL;
    nkept = 0;
    ms_trace_stop();
    ms_gc_set_cycle_stats(false);
    ms_gc_cycle_stats_reset();
    cr_assert_eq(ms_mem_validate(), 0);
    leak_check(leak_start);
}

/* Line B: every block comes from here; every KEEP_EVERY-th stays, the others are freed. */
static int line_b;
static void pin_pools(size_t every)
{
    void **all = malloc(NBLOCKS * sizeof *all);
    cr_assert(all);
    kept = malloc((NBLOCKS / every + 1) * sizeof *kept);
    cr_assert(kept);
    for (size_t i = 0; i < NBLOCKS; i++) {
        line_b = __LINE__ + 1;
        all[i] = ms_malloc(BLOCK);
        cr_assert(all[i]);
    }
    for (size_t i = 0; i < NBLOCKS; i++) {
        if (i % every == 0)
            kept[nkept++] = all[i];
        else
            ms_free(all[i]);
    }
    free(all);
}

/* What the allocator says of the class: its pools and blocks in use. */
static ms_pool_class_stats class_stats(void)
{
    ms_pool_class_stats st;
    ms_pool_class_stats_get(CLASS, &st);
    return st;
}

static uint64_t pool_size(void)
{
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    return hs.pool_size;
}

static const ms_pinning_class *find_class(const ms_pinning_report *r, uint64_t size)
{
    for (size_t i = 0; i < r->nclasses; i++)
        if (r->classes[i].block_size == size)
            return &r->classes[i];
    return NULL;
}

static bool ends_with_line(const char *site, const char *file, int line)
{
    char want[160];
    snprintf(want, sizeof want, "%s:%d", file, line);
    size_t n = strlen(site), m = strlen(want);
    return n >= m && strcmp(site + n - m, want) == 0;
}

CHECKED_TEST(pinning, every_200th_block_pins_every_pool_of_its_class)
{
    ms_pool_class_stats before = class_stats();
    cr_assert_eq(before.blocks_in_use, 0, "the class starts empty in this process");
    pin_pools(KEEP_EVERY);
    ms_pool_class_stats st = class_stats();
    cr_assert_eq(st.blocks_in_use, nkept);
    cr_assert_eq(nkept, NBLOCKS / KEEP_EVERY);
    /* 256 blocks per pool and 200 < 256: every pool holds one or two live blocks, all pinned at 25%. */
    uint64_t want_pools = st.pools, want_waste = st.pools * pool_size() - st.blocks_in_use * BLOCK;
    /* Independently: the pools (256 blocks each, filled in address order) that hold a multiple of 200. */
    uint64_t holding = 0;
    for (size_t first = 0; first < NBLOCKS; first += 256) {
        size_t last = first + 255 < NBLOCKS ? first + 255 : NBLOCKS - 1;
        holding += (first + KEEP_EVERY - 1) / KEEP_EVERY * KEEP_EVERY <= last;
    }
    cr_assert_eq(want_pools, holding, "pools of the class: %llu, holding a kept block: %llu",
                 (unsigned long long)want_pools, (unsigned long long)holding);

    ms_pinning_report *r;
    cr_assert_eq(ms_pool_pinning(0.25, &r), 0);
    const ms_pinning_class *c = find_class(r, BLOCK);
    cr_assert(c, "the 64-byte class is pinned");
    cr_assert_eq(r->classes[0].block_size, BLOCK, "and wastes the most");
    cr_assert_eq(c->pinned_pools, want_pools);
    cr_assert_eq(c->blocks, nkept);
    cr_assert_geq(r->pinned_blocks, c->blocks);
    cr_assert_geq(r->pool_wasted_bytes, want_waste);
    /* Every byte charged is charged once: the classes sum to the total (each rounded once). */
    uint64_t sum = 0;
    for (size_t i = 0; i < r->nclasses; i++)
        sum += r->classes[i].wasted_bytes;
    cr_assert_leq(llabs((long long)sum - (long long)r->wasted_bytes), (long long)r->nclasses);
    cr_assert_eq(r->wasted_bytes, r->pool_wasted_bytes + r->arena_wasted_bytes);
    /* The pools' own waste of the class, then its share of the pinned arenas (which hold these pools only). */
    cr_assert_geq(c->wasted_bytes + 1, want_waste);
    cr_assert(!r->tracing);
    cr_assert_eq(r->nsites, 0);
    cr_assert_geq(r->pools_walked, want_pools);
    cr_assert_gt(r->walk_ns, 0);
    ms_pinning_report_free(r);
}

CHECKED_TEST(pinning, a_pool_above_the_threshold_is_not_pinned)
{
    pin_pools(2); /* half of every pool lives: 50% */
    ms_pool_class_stats st = class_stats();
    ms_pinning_report *r;
    cr_assert_eq(ms_pool_pinning(0.25, &r), 0);
    cr_assert_null(find_class(r, BLOCK));
    ms_pinning_report_free(r);
    cr_assert_eq(ms_pool_pinning(0.5, &r), 0, "at 50%% they are");
    const ms_pinning_class *c = find_class(r, BLOCK);
    cr_assert(c);
    cr_assert_eq(c->pinned_pools, st.pools);
    cr_assert_geq(c->wasted_bytes + 1, st.pools * pool_size() - st.blocks_in_use * BLOCK);
    ms_pinning_report_free(r);
    cr_assert_eq(ms_pool_pinning(0, &r), 0, "at 0 nothing is: every used pool has a live byte");
    cr_assert_eq(r->pinned_pools, 0);
    cr_assert_eq(r->wasted_bytes, 0);
    ms_pinning_report_free(r);
}

CHECKED_TEST(pinning, bad_thresholds_are_refused)
{
    ms_pinning_report *r = (ms_pinning_report *)1;
    cr_assert_eq(ms_pool_pinning(-0.01, &r), -EINVAL);
    cr_assert_null(r);
    cr_assert_eq(ms_pool_pinning(1.5, &r), -EINVAL);
    cr_assert_eq(ms_pool_pinning(NAN, &r), -EINVAL);
    ms_pinning_report_free(NULL);
}

/* Line A: garbage cycles of 128-byte objects (another class than line B's), collected. */
typedef struct fat {
    node n;
    char pad[128 - sizeof(node) - 16];
} fat;
static const ms_type ring_type = {.name = "Ring", .size = sizeof(fat), .flags = MS_TYPE_GC,
                                  .ref_offsets = node_refs};
static int line_a;
static void make_cycles(int n)
{
    for (int i = 0; i < n; i++) {
        line_a = __LINE__ + 1;
        node *a = (node *)ms_new(&ring_type), *b = (node *)ms_new(&ring_type);
        cr_assert(a && b);
        a->next = (ms_object *)b;
        ms_incref((ms_object *)a);
        b->next = (ms_object *)a;
        ms_decref((ms_object *)a);
    }
}

CHECKED_TEST(pinning, tracing_names_the_line_that_pins_and_the_line_that_makes_cycles)
{
    cr_assert_eq(ms_trace_start(1), 0);
    ms_gc_set_cycle_stats(true);
    make_cycles(1000);
    pin_pools(KEEP_EVERY);
    ms_gc_collect(2);

    ms_gc_cycle_group g[4];
    cr_assert_geq(ms_gc_cycle_groups(false, g, 4, NULL), 1);
    cr_assert(ends_with_line(g[0].site, "test_pinning.c", line_a), "cycle makers: %s", g[0].site);
    cr_assert_eq(g[0].cycles, 1000);

    ms_pool_class_stats st = class_stats();
    uint64_t pool_waste = st.pools * pool_size() - st.blocks_in_use * BLOCK;
    ms_pinning_report *r;
    cr_assert_eq(ms_pool_pinning(0.25, &r), 0);
    cr_assert(r->tracing);
    cr_assert_geq(r->nsites, 1);
    const ms_pinning_site *s = &r->sites[0];
    cr_assert(ends_with_line(s->site, "test_pinning.c", line_b), "pinning: %s", s->site);
    cr_assert_eq(s->pools, st.pools);
    cr_assert_eq(s->blocks, nkept);
    /* Line B's blocks are alone in their pools: it carries their waste whole, and the arenas' they pin. */
    const ms_pinning_class *c = find_class(r, BLOCK);
    cr_assert(c);
    cr_assert_geq(s->wasted_bytes + 1, pool_waste);
    cr_assert_leq(llabs((long long)s->wasted_bytes - (long long)c->wasted_bytes), 1);
    cr_assert(s->oldest_age_s >= 0 && s->oldest_age_s < 600, "age %g", s->oldest_age_s);
    ms_pinning_report_free(r);
}

/* GC objects of one block each (a 48-byte type + the 16-byte GC header: the 64-byte class), every 200th kept. */
static const ms_type pin_type = {.name = "Pinned", .size = 48, .flags = MS_TYPE_GC, .ref_offsets = node_refs};

CHECKED_TEST(pinning, live_objects_are_charged_to_their_type)
{
    ms_object **all = malloc(NBLOCKS * sizeof *all);
    cr_assert(all);
    size_t n = 0;
    for (size_t i = 0; i < NBLOCKS; i++) {
        cr_assert(all[i] = ms_new(&pin_type));
        cr_assert_eq(ms_sizeof(all[i]), BLOCK, "48 bytes and the GC header: the 64-byte class");
    }
    for (size_t i = 0; i < NBLOCKS; i++) {
        if (i % KEEP_EVERY == 0)
            all[n++] = all[i];
        else
            ms_decref(all[i]);
    }
    ms_pool_class_stats st = class_stats();
    cr_assert_eq(st.blocks_in_use, n);
    ms_pinning_report *r;
    cr_assert_eq(ms_pool_pinning(0.25, &r), 0);
    cr_assert_geq(r->ntypes, 1);
    cr_assert_str_eq(r->types[0].name, "Pinned");
    cr_assert_eq(r->types[0].blocks, n);
    cr_assert_eq(r->types[0].pools, st.pools, "%llu %llu", (unsigned long long)r->types[0].pools,
                 (unsigned long long)st.pools);
    const ms_pinning_class *c = find_class(r, BLOCK);
    cr_assert(c);
    cr_assert_leq(llabs((long long)r->types[0].wasted_bytes - (long long)c->wasted_bytes), 1);
    cr_assert_geq(r->objects_walked, n);
    ms_pinning_report_free(r);
    for (size_t i = 0; i < n; i++)
        ms_decref(all[i]);
    free(all);
}

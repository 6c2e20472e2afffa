/*
 * test_mem_stress.c — millions of random operations checked against a shadow model.
 *
 * Every live block is filled with a pattern derived from its slot and generation; the pattern is verified before
 * the block is freed or reallocated, so two live blocks that overlap, or a block handed out twice, are caught at
 * the first byte they share. The shadow also predicts the statistics exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

#define SLOTS 20000

typedef struct slot {
    unsigned char *p;
    size_t n;
    uint32_t tag;
} slot;

static uint64_t rng_state;
static uint64_t rnd(void) /* xorshift64*: fast, and the seed reproduces a failure */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t random_size(void)
{
    uint64_t r = rnd() % 100;
    if (r < 80)
        return (size_t)(rnd() % MS_SMALL_THRESHOLD); /* 0 .. threshold-1: the pools (0 included) */
    if (r < 97)
        return MS_SMALL_THRESHOLD + (size_t)(rnd() % 2048);
    return (size_t)(rnd() % 100000);
}

static void paint(slot *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->p[i] = (unsigned char)(s->tag + i * 131);
}

static void verify(const slot *s, size_t keep)
{
    for (size_t i = 0; i < keep && i < s->n; i++)
        if (s->p[i] != (unsigned char)(s->tag + i * 131))
            cr_assert_fail("block %p (%zu bytes) corrupted at byte %zu (seed %llu)", (void *)s->p, s->n, i,
                     (unsigned long long)rng_state);
}

Test(mem_stress, random_ops_against_shadow_model, .timeout = 240)
{
    uint64_t seed = getenv("MS_SEED") ? strtoull(getenv("MS_SEED"), NULL, 10) : 0x5eed1234ULL;
    rng_state = seed;
    cr_log_info("seed %llu (set MS_SEED to replay)", (unsigned long long)seed);

    static slot slots[SLOTS];
    ms_heap_stats base;
    ms_heap_stats_get(&base);
    uint64_t live_blocks = 0, live_system_bytes = 0;
    uint32_t tag = 1;
    const long ops = getenv("MS_STRESS_OPS") ? atol(getenv("MS_STRESS_OPS")) : 3000000;

    for (long op = 0; op < ops; op++) {
        slot *s = &slots[rnd() % SLOTS];
        uint64_t what = rnd() % 10;
        if (s->p == NULL) {
            s->n = random_size();
            s->tag = tag++;
            s->p = (what == 0) ? ms_calloc(1, s->n) : ms_malloc(s->n);
            cr_assert_not_null(s->p);
            if (what == 0)
                for (size_t i = 0; i < s->n; i++)
                    cr_assert_eq(s->p[i], 0, "calloc block not zeroed (seed %llu)", (unsigned long long)seed);
            paint(s);
            live_blocks++;
            if (s->n >= MS_SMALL_THRESHOLD)
                live_system_bytes += s->n;
        } else if (what < 3) {
            verify(s, s->n);
            size_t n = random_size();
            unsigned char *np = ms_realloc(s->p, n);
            cr_assert_not_null(np);
            size_t keep = n < s->n ? n : s->n;
            s->p = np;
            verify(s, keep);
            if (s->n >= MS_SMALL_THRESHOLD)
                live_system_bytes -= s->n;
            size_t eff = n ? n : 1;
            if (eff >= MS_SMALL_THRESHOLD)
                live_system_bytes += n;
            s->n = n;
            s->tag = tag++;
            paint(s);
        } else {
            verify(s, s->n);
            ms_free(s->p);
            if (s->n >= MS_SMALL_THRESHOLD)
                live_system_bytes -= s->n;
            s->p = NULL;
            live_blocks--;
        }
        if (op % 500000 == 0) {
            cr_assert_eq(ms_mem_validate(), 0, "seed %llu op %ld", (unsigned long long)seed, op);
            ms_heap_stats hs;
            ms_heap_stats_get(&hs);
            cr_assert_eq(hs.blocks_in_use + hs.system_blocks_in_use - base.blocks_in_use - base.system_blocks_in_use,
                         live_blocks);
            cr_assert_eq(hs.system_bytes_in_use - base.system_bytes_in_use, live_system_bytes);
        }
    }
    for (size_t i = 0; i < SLOTS; i++)
        if (slots[i].p) {
            verify(&slots[i], slots[i].n);
            ms_free(slots[i].p);
        }
    cr_expect_eq(ms_mem_validate(), 0);
    ms_mem_trim(); /* the empty arenas wait out their decay time otherwise */
    ms_heap_stats end;
    ms_heap_stats_get(&end);
    cr_expect_eq(end.blocks_in_use, base.blocks_in_use, "every pooled block returned");
    cr_expect_eq(end.system_bytes_in_use, base.system_bytes_in_use);
    cr_expect_leq(end.arenas_mapped, base.arenas_mapped + 1);
    cr_expect_eq(end.arenas_cached, 0);
    cr_expect_eq(ms_mem_validate(), 0);
}

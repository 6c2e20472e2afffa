/*
 * common/hashtable.c — the rare operations of the one hash table (hashtable.h: read it first): growth, clearing,
 * the validity walker; the one hash of byte strings; libc as a table's memory.
 *
 * These run through the slot descriptor's function pointers (indirect calls): they touch every slot anyway, and
 * keeping them out of line keeps the inlined lookups small.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashtable.h"

static void *libc_zalloc(size_t n) { return calloc(1, n); }
static void libc_release(void *p, size_t n)
{
    (void)n;
    free(p);
}

const msc_mem_ops msc_libc_mem = {libc_zalloc, libc_release};

/* ---- Hashing ------------------------------------------------------------------------------------------------ */

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* MurmurHash3's per-word mixing (x64 variant, one lane). */
static inline uint64_t mix_word(uint64_t h, uint64_t k)
{
    k *= UINT64_C(0x87c37b91114253d5);
    k = rotl64(k, 31);
    k *= UINT64_C(0x4cf5ad432745937f);
    h ^= k;
    return rotl64(h, 27) * 5 + 0x52dce729;
}

/* MurmurHash3's finalizer: every output bit depends on every input bit. */
static inline uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

uint64_t msc_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = seed ^ ((uint64_t)n * UINT64_C(0x9E3779B97F4A7C15));
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8); /* unaligned load, one instruction on x86-64 and AArch64 */
        h = mix_word(h, w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, b + i, n - i);
        h = mix_word(h, w);
    }
    return fmix64(h);
}

/* ---- The table's rare operations ------------------------------------------------------------------------- */

int msc_ht_grow(msc_hashtable *t, const msc_ht_type *ty)
{
    size_t cap = t->cap ? t->cap * 2 : ty->min_cap;
    if (cap < t->cap || cap > SIZE_MAX / ty->slot_size)
        return -ENOMEM;
    unsigned char *slots = ty->mem->zalloc(cap * ty->slot_size);
    if (!slots)
        return -ENOMEM;
    msc_ht_grow_into(t, ty, slots, cap);
    return 0;
}

void msc_ht_grow_into(msc_hashtable *t, const msc_ht_type *ty, void *slots, size_t cap)
{
    assert(cap > t->cap && (cap & (cap - 1)) == 0 && cap >= ty->min_cap);
    msc_hashtable bigger = {slots, cap, 0, 64u - (unsigned)__builtin_ctzll(cap)};
    for (size_t i = 0; i < t->cap; i++) {
        const void *s = msc_ht_slot(t, ty, i);
        if (!ty->used(s))
            continue;
        memcpy(msc_ht_probe(&bigger, ty, ty->hash(s), NULL, NULL), s, ty->slot_size);
        bigger.count++;
    }
    if (t->slots)
        ty->mem->release(t->slots, t->cap * ty->slot_size);
    *t = bigger;
}

void msc_ht_clear(msc_hashtable *t, const msc_ht_type *ty)
{
    if (t->slots)
        memset(t->slots, 0, t->cap * ty->slot_size);
    t->count = 0;
}

void msc_ht_free(msc_hashtable *t, const msc_ht_type *ty)
{
    if (t->slots)
        ty->mem->release(t->slots, t->cap * ty->slot_size);
    *t = (msc_hashtable)MSC_HASHTABLE_INIT;
}

bool msc_ht_valid(const msc_hashtable *t, const msc_ht_type *ty)
{
    size_t used = 0, mask = t->cap - 1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!ty->used(msc_ht_slot(t, ty, i)))
            continue;
        used++;
        for (size_t j = msc_ht_home(t, ty->hash(msc_ht_slot(t, ty, i))); j != i; j = (j + 1) & mask)
            if (!ty->used(msc_ht_slot(t, ty, j)))
                return false;
    }
    return used == t->count && t->count * 2 <= t->cap;
}

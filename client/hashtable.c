/*
 * hashtable.c — the rare operations of the one hash table (hashtable.h: read it first): growth, clearing, the
 * validity walker, string interning; and the one hash of byte strings.
 *
 * These run through the slot descriptor's function pointers (indirect calls): they touch every slot anyway, and
 * keeping them out of line keeps the inlined lookups small.
 */
#include <errno.h>
#include <string.h>

#include "bump.h"
#include "hashtable.h"

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

uint64_t ms__hash_bytes(const void *p, size_t n, uint64_t seed)
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

int ms__ht_grow(ms__hashtable *t, const ms__ht_type *ty)
{
    size_t cap = t->cap ? t->cap * 2 : ty->min_cap;
    if (cap < t->cap || cap > SIZE_MAX / ty->slot_size)
        return -ENOMEM;
    unsigned char *slots = ty->mem->zalloc(cap * ty->slot_size);
    if (!slots)
        return -ENOMEM;
    ms__hashtable bigger = {slots, cap, 0, 64u - (unsigned)__builtin_ctzll(cap)};
    for (size_t i = 0; i < t->cap; i++) {
        const void *s = ms__ht_slot(t, ty, i);
        if (!ty->used(s))
            continue;
        memcpy(ms__ht_probe(&bigger, ty, ty->hash(s), NULL, NULL), s, ty->slot_size);
        bigger.count++;
    }
    if (t->slots)
        ty->mem->release(t->slots, t->cap * ty->slot_size);
    *t = bigger;
    return 0;
}

void ms__ht_clear(ms__hashtable *t, const ms__ht_type *ty)
{
    if (t->slots)
        memset(t->slots, 0, t->cap * ty->slot_size);
    t->count = 0;
}

void ms__ht_free(ms__hashtable *t, const ms__ht_type *ty)
{
    if (t->slots)
        ty->mem->release(t->slots, t->cap * ty->slot_size);
    *t = (ms__hashtable)MS__HASHTABLE_INIT;
}

bool ms__ht_valid(const ms__hashtable *t, const ms__ht_type *ty)
{
    size_t used = 0, mask = t->cap - 1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!ty->used(ms__ht_slot(t, ty, i)))
            continue;
        used++;
        for (size_t j = ms__ht_home(t, ty->hash(ms__ht_slot(t, ty, i))); j != i; j = (j + 1) & mask)
            if (!ty->used(ms__ht_slot(t, ty, j)))
                return false;
    }
    return used == t->count && t->count * 2 <= t->cap;
}

/* ---- String sets ------------------------------------------------------------------------------------------- */

typedef struct str_key {
    const char *s;
    size_t len;
} str_key;

static bool str_match(const void *slot, const void *key)
{
    const char *have = *(const char *const *)slot;
    const str_key *k = key;
    return strncmp(have, k->s, k->len) == 0 && have[k->len] == '\0';
}

const char *ms__ht_str_intern(ms__hashtable *t, const ms__ht_type *ty, ms__bump *strings, const char *s,
                              size_t len)
{
    /* The same descriptor with its functions known here, so that the probe below is inlined with them. */
    const ms__ht_type local = MS__HT_STR_TYPE(ty->min_cap, ty->mem);
    if (ms__ht_reserve(t, &local) < 0)
        return NULL;
    str_key key = {s, len};
    const char **slot = ms__ht_probe(t, &local, ms__hash_bytes(s, len, 0), str_match, &key);
    if (*slot)
        return *slot;
    char *copy = ms__bump_alloc(strings, len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    *slot = copy;
    ms__ht_added(t);
    return copy;
}

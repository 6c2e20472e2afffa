/*
 * client/hashtable.h — the one hash table of libmemscope's internals, and the one hash of byte strings (CPython's
 * _Py_hashtable serves tracemalloc the same way).
 *
 * Users: the type registry (object.c), the weak reference side table (weakref.c), the tracer's page directory
 * (trace_table.c) and traceback index (trace_tracebacks.c), the symbolizer's address cache and string set
 * (trace_symbols.c), a snapshot's strings (snapshot.c) and the string ids of a dump (snapshot_io.c). dict.c keeps
 * its own table: a dict is CPython's compact dict (an index over an insertion-ordered entry array, perturbed
 * probing), an object with its own contract, not a map primitive.
 *
 * The table: open addressing over a power-of-two array of fixed-size slots, linear probing, backward-shift
 * deletion (no tombstones), at most half full.
 *
 *      slots   [ used | used | empty | used | used | empty | ... ]      cap = 2^k slots (0 before the first one)
 *      home(h) = (h * 2^64/phi) >> (64 - k)        Fibonacci hashing: the top bits of the product depend on every
 *                                                  bit of h, so a pointer or a page number may be its own hash
 *
 * Invariants: count <= cap / 2, so every probe ends at an empty slot; every used slot lies in the run of used
 * slots that starts at its home (no empty slot between its home and it); an all-zero slot is empty.
 *
 * Each use keeps its own slot type (a key and a value, or one pointer whose pointee holds the key) and describes
 * it once, in a `static const ms__ht_type`. Lookup, insertion and removal are always inlined with that
 * descriptor and a match function known at compile time, so the compiler specialises them for each use and every
 * call through the descriptor becomes a direct, inlined one: the trace table's lookup on every traced malloc and
 * free compiles to the loop it had when it was written by hand. Growth and clearing run through the descriptor
 * (hashtable.c): they are rare.
 *
 * Memory comes from the descriptor's ms__mem_ops (libc, or the tracer's counted libc memory): never from the
 * memscope heap, so the tables may be used inside the allocation hooks. Not thread-safe: one owner.
 */
#ifndef MEMSCOPE_CLIENT_HASHTABLE_H
#define MEMSCOPE_CLIENT_HASHTABLE_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/hashtable.h is private to libmemscope"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#pragma GCC visibility push(hidden)

#define MS__ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- The hash of byte strings --------------------------------------------------------------------------------- */

/*
 * A 64-bit hash of n bytes, word at a time (MurmurHash3's mixing of each 8-byte word and its final avalanche,
 * fmix64), so that every output bit depends on every input byte: what Fibonacci homes and a dict's low bits need.
 * Not keyed: memscope's tables never hold hostile input that could be chosen to collide. Equal bytes and seed
 * give equal hashes within one process (the value depends on the byte order of the machine). O(n).
 */
uint64_t ms__hash_bytes(const void *p, size_t n, uint64_t seed);

/* ---- The table ---------------------------------------------------------------------------------------------- */

typedef struct ms__ht_type {
    size_t slot_size;                    /* bytes per slot (the use's slot struct) */
    size_t min_cap;                      /* capacity of the first array: a power of two >= 2 */
    bool (*used)(const void *slot);      /* false exactly for an all-zero slot */
    uint64_t (*hash)(const void *slot);  /* of a used slot: the hash its lookups pass */
    const ms__mem_ops *mem;              /* where the array comes from */
} ms__ht_type;

typedef struct ms__hashtable {
    unsigned char *slots;
    size_t cap;     /* 0 or a power of two >= the type's min_cap */
    size_t count;   /* used slots */
    unsigned shift; /* 64 - log2(cap) */
} ms__hashtable;

#define MS__HASHTABLE_INIT {NULL, 0, 0, 0}

/* Doubles the array (or allocates the first): 0, or -ENOMEM with the table unchanged. O(cap). */
int ms__ht_grow(ms__hashtable *t, const ms__ht_type *ty);
/* Empties every slot, keeping the array. O(cap). */
void ms__ht_clear(ms__hashtable *t, const ms__ht_type *ty);
/* Empties the table and gives the array back. */
void ms__ht_free(ms__hashtable *t, const ms__ht_type *ty);

static inline void *ms__ht_slot(const ms__hashtable *t, const ms__ht_type *ty, size_t i)
{
    return t->slots + i * ty->slot_size;
}

static inline size_t ms__ht_home(const ms__hashtable *t, uint64_t h)
{
    return (size_t)((h * UINT64_C(0x9E3779B97F4A7C15)) >> t->shift);
}

/* Makes room for one more entry: 0, or -ENOMEM with the table unchanged (and as usable as before). O(1)
 * amortized. Slot pointers taken before it are stale when it grew the table. */
static inline int ms__ht_reserve(ms__hashtable *t, const ms__ht_type *ty)
{
    return (t->count + 1) * 2 <= t->cap ? 0 : ms__ht_grow(t, ty);
}

/*
 * The slot that holds the key (match(slot, key) is true: NULL matches nothing), or else the empty slot that ends
 * its probe run, where the key belongs. Needs cap > 0 (ms__ht_reserve first). A caller that fills the empty slot
 * calls ms__ht_added().
 */
static MS__ALWAYS_INLINE void *ms__ht_probe(const ms__hashtable *t, const ms__ht_type *ty, uint64_t h,
                                             bool (*match)(const void *slot, const void *key), const void *key)
{
    size_t mask = t->cap - 1;
    for (size_t i = ms__ht_home(t, h);; i = (i + 1) & mask) {
        void *s = ms__ht_slot(t, ty, i);
        if (!ty->used(s) || (match && match(s, key)))
            return s;
    }
}

/* The slot that holds the key, or NULL. Any state of the table (an empty one answers without probing). */
static MS__ALWAYS_INLINE void *ms__ht_find(const ms__hashtable *t, const ms__ht_type *ty, uint64_t h,
                                            bool (*match)(const void *slot, const void *key), const void *key)
{
    if (t->count == 0)
        return NULL;
    void *s = ms__ht_probe(t, ty, h, match, key);
    return ty->used(s) ? s : NULL;
}

/* Counts the slot the caller just filled (an empty one that ms__ht_probe returned). */
static inline void ms__ht_added(ms__hashtable *t) { t->count++; }

/*
 * Empties the used slot s and closes the gap: later members of the run move back into the hole when it lies on
 * their probe path (cyclically between their home and their slot), so lookups never need tombstones. O(run).
 */
static MS__ALWAYS_INLINE void ms__ht_remove(ms__hashtable *t, const ms__ht_type *ty, void *s)
{
    size_t mask = t->cap - 1;
    size_t hole = (size_t)((unsigned char *)s - t->slots) / ty->slot_size;
    for (size_t j = (hole + 1) & mask;; j = (j + 1) & mask) {
        void *sj = ms__ht_slot(t, ty, j);
        if (!ty->used(sj))
            break;
        size_t home = ms__ht_home(t, ty->hash(sj));
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            memcpy(ms__ht_slot(t, ty, hole), sj, ty->slot_size);
            hole = j;
        }
    }
    memset(ms__ht_slot(t, ty, hole), 0, ty->slot_size);
    t->count--;
}

/* Whether every used slot is reachable from its home and the count is right (a validity walker). O(cap). */
bool ms__ht_valid(const ms__hashtable *t, const ms__ht_type *ty);

/* ---- Ready-made slots ------------------------------------------------------------------------------------------ */

/* A pointer key (never NULL) with a pointer-sized value: identity maps such as type -> entry. */
typedef struct ms__ht_ptr_slot {
    const void *key;
    void *value;
} ms__ht_ptr_slot;

static inline bool ms__ht_ptr_used(const void *s) { return ((const ms__ht_ptr_slot *)s)->key != NULL; }
static inline uint64_t ms__ht_ptr_hash(const void *s) { return (uintptr_t)((const ms__ht_ptr_slot *)s)->key; }
static inline bool ms__ht_ptr_match(const void *s, const void *key)
{
    return ((const ms__ht_ptr_slot *)s)->key == key;
}
#define MS__HT_PTR_TYPE(min_cap, mem) {sizeof(ms__ht_ptr_slot), (min_cap), ms__ht_ptr_used, ms__ht_ptr_hash, (mem)}

/* key's slot, or NULL. */
static MS__ALWAYS_INLINE ms__ht_ptr_slot *ms__ht_ptr_find(const ms__hashtable *t, const ms__ht_type *ty,
                                                          const void *key)
{
    return ms__ht_find(t, ty, (uintptr_t)key, ms__ht_ptr_match, key);
}

/* key's slot, or the empty slot where it belongs (after ms__ht_reserve). */
static MS__ALWAYS_INLINE ms__ht_ptr_slot *ms__ht_ptr_probe(const ms__hashtable *t, const ms__ht_type *ty,
                                                           const void *key)
{
    return ms__ht_probe(t, ty, (uintptr_t)key, ms__ht_ptr_match, key);
}

/*
 * A set of NUL-terminated strings (slot: one const char *), which interns them: equal strings share one copy,
 * taken from a bump allocator (bump.h), so pointer equality is string equality. The descriptor is
 * MS__HT_STR_TYPE(min_cap, mem); its strings' hash is ms__hash_bytes(s, strlen(s), 0).
 */
typedef struct ms__bump ms__bump;
static inline bool ms__ht_str_used(const void *s) { return *(const char *const *)s != NULL; }
static inline uint64_t ms__ht_str_hash(const void *s)
{
    const char *str = *(const char *const *)s;
    return ms__hash_bytes(str, strlen(str), 0);
}
#define MS__HT_STR_TYPE(min_cap, mem) {sizeof(const char *), (min_cap), ms__ht_str_used, ms__ht_str_hash, (mem)}
/* The interned copy of s[0 .. len) (which holds no NUL byte), copied into `strings` when new; NULL when out of
 * memory. O(len). */
const char *ms__ht_str_intern(ms__hashtable *t, const ms__ht_type *ty, ms__bump *strings, const char *s,
                              size_t len);

#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_HASHTABLE_H */

/*
 * common/hashtable.h — the one hash table of memscope, and the one hash of byte strings (CPython's _Py_hashtable
 * serves tracemalloc the same way). Compiled into the library and the daemon (common/meson.build).
 *
 * Users, in libmemscope: the type registry (object.c), the weak reference side table (weakref.c), the tracer's
 * page directory (trace_table.c) and traceback index (trace_tracebacks.c), the symbolizer's address cache and
 * string set (trace_symbols.c), a snapshot's strings (snapshot.c), the string ids of a dump (snapshot_io.c), the
 * heap snapshot's ids and strings (heapgraph.c); in memscoped: the heap analysis' strings and path signatures
 * (heapanalysis.c). dict.c keeps its own table: a dict is CPython's compact dict (an index over an
 * insertion-ordered entry array, perturbed probing), an object with its own contract, not a map primitive.
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
 * it once, in a `static const msc_ht_type`. Lookup, insertion and removal are always inlined with that
 * descriptor and a match function known at compile time, so the compiler specialises them for each use and every
 * call through the descriptor becomes a direct, inlined one: the trace table's lookup on every traced malloc and
 * free compiles to the loop it had when it was written by hand. Growth and clearing run through the descriptor
 * (hashtable.c): they are rare.
 *
 * Memory comes from the descriptor's msc_mem_ops (libc, or the tracer's counted libc memory): never from the
 * memscope heap, so the tables may be used inside the allocation hooks. Not thread-safe: one owner.
 */
#ifndef MEMSCOPE_COMMON_HASHTABLE_H
#define MEMSCOPE_COMMON_HASHTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#pragma GCC visibility push(hidden)

#define MSC_ALWAYS_INLINE inline __attribute__((always_inline))

/*
 * Where a table (or the library's bump allocator, client/bump.h) takes its memory: zeroed allocation, and release
 * told the size (so that the tracer's counted memory stays exact). In the library never the memscope heap.
 */
typedef struct msc_mem_ops {
    void *(*zalloc)(size_t n);
    void (*release)(void *p, size_t n);
} msc_mem_ops;
extern const msc_mem_ops msc_libc_mem; /* calloc/free */

/* ---- The hash of byte strings --------------------------------------------------------------------------------- */

/*
 * A 64-bit hash of n bytes, word at a time (MurmurHash3's mixing of each 8-byte word and its final avalanche,
 * fmix64), so that every output bit depends on every input byte: what Fibonacci homes and a dict's low bits need.
 * Not keyed: memscope's tables never hold hostile input that could be chosen to collide. Equal bytes and seed
 * give equal hashes within one process (the value depends on the byte order of the machine). O(n).
 */
uint64_t msc_hash_bytes(const void *p, size_t n, uint64_t seed);

/* ---- The table ---------------------------------------------------------------------------------------------- */

typedef struct msc_ht_type {
    size_t slot_size;                    /* bytes per slot (the use's slot struct) */
    size_t min_cap;                      /* capacity of the first array: a power of two >= 2 */
    bool (*used)(const void *slot);      /* false exactly for an all-zero slot */
    uint64_t (*hash)(const void *slot);  /* of a used slot: the hash its lookups pass */
    const msc_mem_ops *mem;              /* where the array comes from */
} msc_ht_type;

typedef struct msc_hashtable {
    unsigned char *slots;
    size_t cap;     /* 0 or a power of two >= the type's min_cap */
    size_t count;   /* used slots */
    unsigned shift; /* 64 - log2(cap) */
} msc_hashtable;

#define MSC_HASHTABLE_INIT {NULL, 0, 0, 0}

/* Doubles the array (or allocates the first): 0, or -ENOMEM with the table unchanged. O(cap). */
int msc_ht_grow(msc_hashtable *t, const msc_ht_type *ty);
/* Moves the entries into `slots`, an all-zero array of `cap` slots from ty->mem (a power of two above t->cap, at
 * least the type's min_cap), which the table owns from now on; the old array goes back. For an owner that made
 * the array beforehand, where a pause must not pay for it (heapgraph.c). O(old cap). */
void msc_ht_grow_into(msc_hashtable *t, const msc_ht_type *ty, void *slots, size_t cap);
/* Empties every slot, keeping the array. O(cap). */
void msc_ht_clear(msc_hashtable *t, const msc_ht_type *ty);
/* Empties the table and gives the array back. */
void msc_ht_free(msc_hashtable *t, const msc_ht_type *ty);

static inline void *msc_ht_slot(const msc_hashtable *t, const msc_ht_type *ty, size_t i)
{
    return t->slots + i * ty->slot_size;
}

static inline size_t msc_ht_home(const msc_hashtable *t, uint64_t h)
{
    return (size_t)((h * UINT64_C(0x9E3779B97F4A7C15)) >> t->shift);
}

/* Makes room for one more entry: 0, or -ENOMEM with the table unchanged (and as usable as before). O(1)
 * amortized. Slot pointers taken before it are stale when it grew the table. */
static inline int msc_ht_reserve(msc_hashtable *t, const msc_ht_type *ty)
{
    return (t->count + 1) * 2 <= t->cap ? 0 : msc_ht_grow(t, ty);
}

/*
 * The slot that holds the key (match(slot, key) is true: NULL matches nothing), or else the empty slot that ends
 * its probe run, where the key belongs. Needs cap > 0 (msc_ht_reserve first). A caller that fills the empty slot
 * calls msc_ht_added().
 */
static MSC_ALWAYS_INLINE void *msc_ht_probe(const msc_hashtable *t, const msc_ht_type *ty, uint64_t h,
                                             bool (*match)(const void *slot, const void *key), const void *key)
{
    size_t mask = t->cap - 1;
    for (size_t i = msc_ht_home(t, h);; i = (i + 1) & mask) {
        void *s = msc_ht_slot(t, ty, i);
        if (!ty->used(s) || (match && match(s, key)))
            return s;
    }
}

/* The slot that holds the key, or NULL. Any state of the table (an empty one answers without probing). */
static MSC_ALWAYS_INLINE void *msc_ht_find(const msc_hashtable *t, const msc_ht_type *ty, uint64_t h,
                                            bool (*match)(const void *slot, const void *key), const void *key)
{
    if (t->count == 0)
        return NULL;
    void *s = msc_ht_probe(t, ty, h, match, key);
    return ty->used(s) ? s : NULL;
}

/* Counts the slot the caller just filled (an empty one that msc_ht_probe returned). */
static inline void msc_ht_added(msc_hashtable *t) { t->count++; }

/*
 * Empties the used slot s and closes the gap: later members of the run move back into the hole when it lies on
 * their probe path (cyclically between their home and their slot), so lookups never need tombstones. O(run).
 */
static MSC_ALWAYS_INLINE void msc_ht_remove(msc_hashtable *t, const msc_ht_type *ty, void *s)
{
    size_t mask = t->cap - 1;
    size_t hole = (size_t)((unsigned char *)s - t->slots) / ty->slot_size;
    for (size_t j = (hole + 1) & mask;; j = (j + 1) & mask) {
        void *sj = msc_ht_slot(t, ty, j);
        if (!ty->used(sj))
            break;
        size_t home = msc_ht_home(t, ty->hash(sj));
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            memcpy(msc_ht_slot(t, ty, hole), sj, ty->slot_size);
            hole = j;
        }
    }
    memset(msc_ht_slot(t, ty, hole), 0, ty->slot_size);
    t->count--;
}

/* Whether every used slot is reachable from its home and the count is right (a validity walker). O(cap). */
bool msc_ht_valid(const msc_hashtable *t, const msc_ht_type *ty);

/* ---- Ready-made slots ------------------------------------------------------------------------------------------ */

/* A pointer key (never NULL) with a pointer-sized value: identity maps such as type -> entry. */
typedef struct msc_ht_ptr_slot {
    const void *key;
    void *value;
} msc_ht_ptr_slot;

static inline bool msc_ht_ptr_used(const void *s) { return ((const msc_ht_ptr_slot *)s)->key != NULL; }
static inline uint64_t msc_ht_ptr_hash(const void *s) { return (uintptr_t)((const msc_ht_ptr_slot *)s)->key; }
static inline bool msc_ht_ptr_match(const void *s, const void *key)
{
    return ((const msc_ht_ptr_slot *)s)->key == key;
}
#define MSC_HT_PTR_TYPE(min_cap, mem) {sizeof(msc_ht_ptr_slot), (min_cap), msc_ht_ptr_used, msc_ht_ptr_hash, (mem)}

/* key's slot, or NULL. */
static MSC_ALWAYS_INLINE msc_ht_ptr_slot *msc_ht_ptr_find(const msc_hashtable *t, const msc_ht_type *ty,
                                                          const void *key)
{
    return msc_ht_find(t, ty, (uintptr_t)key, msc_ht_ptr_match, key);
}

/* key's slot, or the empty slot where it belongs (after msc_ht_reserve). */
static MSC_ALWAYS_INLINE msc_ht_ptr_slot *msc_ht_ptr_probe(const msc_hashtable *t, const msc_ht_type *ty,
                                                           const void *key)
{
    return msc_ht_probe(t, ty, (uintptr_t)key, msc_ht_ptr_match, key);
}

#pragma GCC visibility pop

#endif /* MEMSCOPE_COMMON_HASHTABLE_H */

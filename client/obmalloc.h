/*
 * client/obmalloc.h — the pool allocator's geometry and its fast paths, inlined into mem.c.
 *
 * The design essay is at the top of obmalloc.c; read it first. This header holds what the allocation and free
 * fast paths need to run without a function call: the pool header, the usedpools lists and the arena map that
 * leads from a block's address to its pool's header.
 */
#ifndef MEMSCOPE_CLIENT_OBMALLOC_H
#define MEMSCOPE_CLIENT_OBMALLOC_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/obmalloc.h is private to libmemscope"
#endif

#include <stdbool.h>
#include <stdint.h>

#include <memscope/mem.h>

#include "internal.h"

#pragma GCC visibility push(hidden)

/* ---- Tunables (with the compile-time checks that keep them consistent) ---------------------------------------- */
#define POOL_BITS 14
#define POOL_SIZE ((size_t)1 << POOL_BITS)
#define ARENA_BITS 20
#define ARENA_SIZE ((size_t)1 << ARENA_BITS)
#define POOLS_PER_ARENA (ARENA_SIZE / POOL_SIZE)

_Static_assert(ARENA_SIZE % POOL_SIZE == 0, "an arena holds a whole number of pools");
_Static_assert(MS_SMALL_THRESHOLD == 256 || MS_SMALL_THRESHOLD == 512, "small_threshold is 256 or 512");
_Static_assert(MS__NB_CLASSES * MS__CLASS_GRAIN == MS_SMALL_THRESHOLD, "classes cover the small range exactly");
_Static_assert(MS__CLASS_GRAIN == MS_ALIGNMENT, "class grain is the promised alignment");

/* Addresses below 2^MAP_ADDRESS_BITS have their arena's slot in the arena map; see "Finding a block's pool" in
 * obmalloc.c. 47 bits: all of user space on x86-64 (and on AArch64 with 48-bit addresses, all but the top half,
 * which goes through the radix tree). */
#define MAP_ADDRESS_BITS 47
#define MAP_LEN ((uintptr_t)1 << (MAP_ADDRESS_BITS - ARENA_BITS))

/* One pool's header. Headers live outside the pools, in one table of POOLS_PER_ARENA per arena (see "Pool
 * headers" in obmalloc.c); one cache line each, so the fast paths touch exactly one line of metadata.
 * ref and szidx are also read by other threads (ms__pool_in_use, for the statistics): the owner stores them with
 * ms__pool_set_ref / atomic stores, plain moves on x86-64 and AArch64. */
typedef struct pool_header pool_header;
struct pool_header {
    uint32_t ref;           /* blocks handed out */
    uint32_t capacity;      /* blocks of this class that fit: POOL_CAPACITY(block size) */
    uint8_t *freeblock;     /* free list: blocks freed since the pool was carved; NULL when there are none */
    uint8_t *base;          /* the pool's POOL_SIZE bytes of blocks (fixed while the arena is mapped) */
    uint32_t szidx;         /* size class while used or full */
    uint32_t nextoffset;    /* offset in the pool of the first never-carved block */
    pool_header *nextpool;  /* usedpools list, or the arena's freepools list */
    pool_header *prevpool;  /* usedpools list only */
    uint32_t arenaindex;    /* index of the owning record in arenas[] */
    uint32_t div_magic;     /* ceil(2^32 / block size), and */
    uint32_t div_limit;     /* div_magic - 1: see ms__pool_block_start */
} __attribute__((aligned(64)));
_Static_assert(sizeof(pool_header) == 64, "a pool header is one cache line");

static inline void ms__pool_set_ref(pool_header *pool, uint32_t ref)
{
    __atomic_store_n(&pool->ref, ref, __ATOMIC_RELAXED);
}

#define BLOCK_SIZE(cls) ((size_t)((cls) + 1) * MS__CLASS_GRAIN)
#define POOL_CAPACITY(size) (POOL_SIZE / (size))
#define POOL_INDEX(p) (((uintptr_t)(p) >> POOL_BITS) & (POOLS_PER_ARENA - 1))
/* pool_header.div_magic of a pool of block size `size` (Lemire's divisibility constant, ceil(2^32 / size)). */
#define DIV_MAGIC(size) ((uint32_t)((UINT64_C(1) << 32) / (size)) + ((UINT64_C(1) << 32) % (size) != 0))

/*
 * Misuse checks (memscope/mem.h says which ones run where). What they cost decided where they run: bench/alloc
 * measured every instruction added to the free fast path (workload b, random-order free, is bound by how many
 * frees fit the out-of-order window: each extra instruction cost about 1 ns there), so the fast path keeps two
 * one-instruction tests and everything else runs on the slow path, which every free takes at debug_level >= 1.
 *   - fast path, every build: p is 16-byte aligned (not a pointer into the middle of a field), and p is not the
 *     head of its pool's free list (the block freed last in that pool is not being freed again). freeblock is
 *     loaded anyway, for the link.
 *   - slow path, every build: the pool has blocks in use; p is a block start in the part handed out: its offset
 *     is below nextoffset and divisible by the block size, which is one 32-bit multiplication by div_magic and a
 *     compare with div_limit, no division (Lemire, Kaser, Kurz, "Faster remainder by direct computation", 2019:
 *     for n < 2^23 and d <= 512, n % d == 0 iff n * ceil(2^32 / d) mod 2^32 < ceil(2^32 / d); checked for every
 *     offset and class). The same checks on the fast path cost 5% of workload a and 11-14% of b and c.
 *   - debug_level >= 2: a walk of the pool's free list finds every double free (O(free blocks)).
 * A cheaper complete double-free check, glibc's (a random key in every free block's second word, checked on
 * free, cleared on malloc), cost 7% of workload a (two stores and a load of the block per malloc/free pair).
 */
static inline bool ms__pool_block_start(const pool_header *pool, uintptr_t off)
{
    return off < pool->nextoffset && (uint32_t)off * pool->div_magic <= pool->div_limit;
}

/* Heads of the used-pool lists, one per size class (see "One pool" in obmalloc.c). */
extern pool_header *ms__usedpools[MS__NB_CLASSES];
/* The arena map: slot an holds the header table of the arena with number an, or NULL. ms__arena_map_len slots
 * exist: MAP_LEN once the map is reserved, 0 before the first arena or when it could not be. */
extern pool_header **ms__arena_map;
extern uintptr_t ms__arena_map_len;

/* Slow paths (obmalloc.c). */
void *ms__pool_alloc_slow(unsigned cls);
void ms__pool_free_slow(pool_header *pool, void *p);
/* 0 when p passes the slow path's misuse checks (above) for pool; otherwise reports the misuse through the fault
 * handler and returns -EFAULT. O(1); plus a walk of the pool's free list at debug_level >= 2. */
int ms__pool_check(pool_header *pool, void *p);
/* The header table of arena number an when the map has no slot for it (the radix tree), or NULL. */
pool_header *ms__radix_table(uintptr_t an);

/* The walk of pinning.c, with the runtime held: calls fn for every mapped arena with its header table, whose
 * first ncarved pools were handed out at least once (ref 0: empty now, its pages still resident); the others
 * were never touched. */
void ms__arenas_foreach(void (*fn)(pool_header *pools, uint32_t ncarved, void *arg), void *arg);

/* The header of the pool holding p, or NULL when p lies in none of our arenas: one load of an arena map slot and
 * no access to p's memory, so any pointer may be asked about (CPython >= 3.10's address_in_range). */
static inline pool_header *ms__pool_lookup(const void *p)
{
    uintptr_t an = (uintptr_t)p >> ARENA_BITS;
    pool_header *table = MS_LIKELY(an < ms__arena_map_len) ? ms__arena_map[an] : ms__radix_table(an);
    return table ? table + POOL_INDEX(p) : NULL;
}

static inline int ms__pool_owns(const void *p) { return ms__pool_lookup(p) != NULL; }

/* Block size of a pooled block (ms__pool_owns(p) must hold). */
static inline size_t ms__pool_block_size(const void *p) { return BLOCK_SIZE(ms__pool_lookup(p)->szidx); }

/* Takes a block from a used pool (ref < capacity, so one is there): the most recently freed one, whose line is
 * likely still cached, or else the next never-carved one. Carving reads nothing from the block: the caller is the
 * first to touch it, so no cache miss sits on the allocation's dependency chain (reading a free-list link out of a
 * cold block does; measured in bench/alloc c). */
static inline uint8_t *ms__pool_take(pool_header *pool, unsigned cls)
{
    uint8_t *bp = pool->freeblock;
    if (bp != NULL) {
        pool->freeblock = *(uint8_t **)(void *)bp;
    } else {
        bp = pool->base + pool->nextoffset;
        pool->nextoffset += (uint32_t)BLOCK_SIZE(cls);
    }
    ms__pool_set_ref(pool, pool->ref + 1);
    MS__STAT_ADD(ms__obstats.pool_allocs, 1);
    return bp;
}

/* A block of class cls, or NULL when no arena can be mapped. */
static inline void *ms__pool_alloc(unsigned cls)
{
    MS_ASSERT_1(cls < MS__NB_CLASSES);
    pool_header *pool = ms__usedpools[cls];
    if (MS_UNLIKELY(pool == NULL))
        return ms__pool_alloc_slow(cls);
    uint8_t *bp = ms__pool_take(pool, cls);
    if (MS_UNLIKELY(pool->ref == pool->capacity)) {
        /* Full: off the list (ms__pool_free_slow puts it back). */
        ms__usedpools[cls] = pool->nextpool;
        if (pool->nextpool)
            pool->nextpool->prevpool = NULL;
    }
    return bp;
}

/* The allocation fast path without any call: the first used pool of the class when a block can be taken from it
 * (ms__pool_take) without filling it; NULL otherwise, and ms__pool_alloc then does the list work. */
static inline pool_header *ms__pool_fast(unsigned cls)
{
    pool_header *pool = ms__usedpools[cls];
    return MS_LIKELY(pool != NULL && pool->ref + 1 != pool->capacity) ? pool : NULL;
}

/* The free fast path without any call: pushes p onto its pool's free list when the pool stays used (it was not
 * full and does not become empty) and p passes the fast path's misuse checks (above). Returns 0, having done
 * nothing, in every other case and at any debug level above 0. */
static inline int ms__pool_try_push(pool_header *pool, void *p)
{
    /* One unsigned compare for 2 <= ref < capacity (ref 0 and 1 wrap to huge values). */
    if (MS_DEBUG > 0 || MS_UNLIKELY(pool->ref - 2u >= pool->capacity - 2u) ||
        MS_UNLIKELY(((uintptr_t)p & (MS_ALIGNMENT - 1)) != 0))
        return 0;
    uint8_t *head = pool->freeblock;
    if (MS_UNLIKELY(p == head))
        return 0;
    *(uint8_t **)p = head;
    pool->freeblock = p;
    ms__pool_set_ref(pool, pool->ref - 1);
    MS__STAT_ADD(ms__obstats.pool_frees, 1);
    return 1;
}

/* Releases the pooled block p of `pool` (from ms__pool_lookup(p)). The fast path covers a pool that stays used:
 * it neither was full nor becomes empty. Everything else, and every debug check, is in ms__pool_free_slow. */
static inline void ms__pool_free(pool_header *pool, void *p)
{
    if (!ms__pool_try_push(pool, p))
        ms__pool_free_slow(pool, p);
}

#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_OBMALLOC_H */

/*
 * client/obmalloc.h — the pool allocator's geometry and its fast paths, inlined into mem.c.
 *
 * The design essay is at the top of obmalloc.c; read it first. This header holds what the allocation and free
 * fast paths need to run without a function call: the pool header, the usedpools lists and the radix tree.
 */
#ifndef MEMSCOPE_CLIENT_OBMALLOC_H
#define MEMSCOPE_CLIENT_OBMALLOC_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/obmalloc.h is private to libmemscope"
#endif

#include <stdint.h>

#include <memscope/mem.h>

#include "internal.h"

#pragma GCC visibility push(hidden)

/* ---- Tunables (with the compile-time checks that keep them consistent) ---------------------------------------- */
#define POOL_BITS 14
#define POOL_SIZE ((size_t)1 << POOL_BITS)
#define POOL_MASK (POOL_SIZE - 1)
#define ARENA_BITS 20
#define ARENA_SIZE ((size_t)1 << ARENA_BITS)
#define POOLS_PER_ARENA (ARENA_SIZE / POOL_SIZE)
#define POOL_OVERHEAD 48 /* sizeof(pool_header) rounded up to the block alignment */

_Static_assert(ARENA_SIZE % POOL_SIZE == 0, "an arena holds a whole number of pools");
_Static_assert(MS_SMALL_THRESHOLD == 256 || MS_SMALL_THRESHOLD == 512, "small_threshold is 256 or 512");
_Static_assert(MS__NB_CLASSES * MS__CLASS_GRAIN == MS_SMALL_THRESHOLD, "classes cover the small range exactly");
_Static_assert(MS__CLASS_GRAIN == MS_ALIGNMENT, "class grain is the promised alignment");

/* Radix tree over arena numbers (address >> ARENA_BITS) of a 48-bit address space: 2 levels of 14 bits. */
#define ADDRESS_BITS 48
#define ARENA_NUMBER_BITS (ADDRESS_BITS - ARENA_BITS)
#define RADIX_LEAF_BITS 14
#define RADIX_ROOT_BITS (ARENA_NUMBER_BITS - RADIX_LEAF_BITS)
#define RADIX_LEAF_LEN ((size_t)1 << RADIX_LEAF_BITS)

typedef struct pool_header pool_header;
struct pool_header {
    uint32_t ref;           /* blocks handed out */
    uint32_t szidx;         /* size class while used or full */
    uint8_t *freeblock;     /* free list: blocks freed since the pool was carved; NULL when there are none */
    pool_header *nextpool;  /* usedpools list, or the arena's freepools list */
    pool_header *prevpool;  /* usedpools list only */
    uint32_t arenaindex;    /* index of the owning record in arenas[] */
    uint32_t nextoffset;    /* offset of the first never-carved block */
    uint32_t capacity;      /* blocks of this class that fit: POOL_CAPACITY(block size) */
};
_Static_assert(sizeof(pool_header) <= POOL_OVERHEAD, "pool header fits its reserved space");
_Static_assert(POOL_OVERHEAD % MS_ALIGNMENT == 0, "blocks stay aligned");

#define POOL_ADDR(p) ((pool_header *)((uintptr_t)(p) & ~(uintptr_t)POOL_MASK))
#define BLOCK_SIZE(cls) ((size_t)((cls) + 1) * MS__CLASS_GRAIN)
#define POOL_CAPACITY(size) ((POOL_SIZE - POOL_OVERHEAD) / (size))

/* Heads of the used-pool lists, one per size class (see "One pool" in obmalloc.c). */
extern pool_header *ms__usedpools[MS__NB_CLASSES];
/* Root of the radix tree over arena numbers; a leaf slot holds arena index + 1, or 0 for "not ours". */
extern uint32_t *ms__radix_root[(size_t)1 << RADIX_ROOT_BITS];

/* Slow paths (obmalloc.c). */
void *ms__pool_alloc_slow(unsigned cls);
void ms__pool_free_slow(void *p);

/* True iff p lies inside one of our arenas: two dependent loads, no access to p's memory. */
static inline int ms__pool_owns(const void *p)
{
    uintptr_t an = (uintptr_t)p >> ARENA_BITS;
    if (MS_UNLIKELY(an >> ARENA_NUMBER_BITS))
        return 0;
    const uint32_t *leaf = ms__radix_root[an >> RADIX_LEAF_BITS];
    return leaf != NULL && leaf[an & (RADIX_LEAF_LEN - 1)] != 0;
}

static inline size_t ms__pool_block_size(const void *p) { return BLOCK_SIZE(POOL_ADDR(p)->szidx); }

/* Takes a block from a used pool (ref < capacity, so one is there): the most recently freed one, whose line is
 * likely still cached, or else the next never-carved one. Carving reads nothing from the block: the caller is the
 * first to touch it, so no cache miss sits on the allocation's dependency chain (reading a free-list link out of a
 * cold block does; measured in bench/alloc c). */
static inline uint8_t *ms__pool_take(pool_header *pool, unsigned cls)
{
    uint8_t *bp = pool->freeblock;
    if (bp != NULL) {
        pool->freeblock = *(uint8_t **)bp;
    } else {
        bp = (uint8_t *)pool + pool->nextoffset;
        pool->nextoffset += (uint32_t)BLOCK_SIZE(cls);
    }
    pool->ref++;
    MS__STAT_ADD(ms__obstats.class_in_use[cls], 1);
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

/* The allocation fast path without any call: a block from the first used pool of the class. Returns NULL, having
 * changed nothing, when there is no used pool or the block would fill it; ms__pool_alloc then does the list work. */
static inline void *ms__pool_try_pop(unsigned cls)
{
    pool_header *pool = ms__usedpools[cls];
    if (MS_UNLIKELY(pool == NULL || pool->ref + 1 == pool->capacity))
        return NULL;
    return ms__pool_take(pool, cls);
}

/* The free fast path without any call: pushes p onto its pool's free list when the pool stays used (it was not
 * full and does not become empty). Returns 0, having done nothing, in every other case and at any debug level. */
static inline int ms__pool_try_push(void *p)
{
    pool_header *pool = POOL_ADDR(p);
    if (MS_DEBUG > 0 || MS_UNLIKELY(pool->ref <= 1 || pool->ref == pool->capacity))
        return 0;
    *(uint8_t **)p = pool->freeblock;
    pool->freeblock = p;
    pool->ref--;
    MS__STAT_SUB(ms__obstats.class_in_use[pool->szidx], 1);
    return 1;
}

/* Releases a pooled block (ms__pool_owns(p) must hold). The fast path covers a pool that stays used: it neither
 * was full nor becomes empty. Everything else, and every debug check, is in ms__pool_free_slow. */
static inline void ms__pool_free(void *p)
{
    if (!ms__pool_try_push(p))
        ms__pool_free_slow(p);
}

#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_OBMALLOC_H */

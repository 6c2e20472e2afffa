/*
 * obmalloc.c — pools and arenas: the small-object allocator behind ms_malloc (CPython's Objects/obmalloc.c).
 *
 * Read ms__pool_alloc() and ms__pool_free() first; everything else serves them.
 *
 * ==== Layers ==================================================================================================
 *
 *      ms_malloc / ms_calloc / ms_realloc / ms_free          (mem.c: entry points, system path, tracing hooks)
 *            |                               |
 *            | n < MS_SMALL_THRESHOLD        | n >= MS_SMALL_THRESHOLD
 *            v                               v
 *      ms__pool_alloc(size class)        malloc() + 16-byte size header          (mem.c)
 *            |
 *      pools (16 KiB, one size class each)  <-  arenas (1 MiB, 64 pools, mmap'd, aligned to 1 MiB)   (this file)
 *
 * ==== Size classes ============================================================================================
 *
 *      request (bytes)     block size     class
 *          1 ..  16            16            0
 *         17 ..  32            32            1
 *         33 ..  48            48            2
 *            ...              ...           ...
 *        241 .. 255           256           15        (MS_SMALL_THRESHOLD = 256: 16 classes)
 *        497 .. 511           512           31        (MS_SMALL_THRESHOLD = 512: 32 classes)
 *
 * 16-byte classes give every block the 16-byte alignment that max_align_t needs on x86-64 and AArch64.
 *
 * ==== Why 16 KiB pools and 1 MiB arenas =========================================================================
 *
 * A pool loses the tail that is smaller than one block. With 4 KiB pools the 256-byte class would fit 15 blocks
 * and waste 6% (CPython, header included); with 16 KiB it fits 64 and wastes nothing, the worst class (240 B)
 * wastes 0.4%, and a pool is refilled four times less often. Arenas are mapped aligned to their size, so a pool
 * never straddles two arenas and none is lost to alignment.
 *
 * ==== Finding a block's pool ====================================================================================
 *
 *   ms_free() must tell in O(1), without touching p's memory, whether p is a pooled block and find its pool header.
 *   CPython >= 3.10 walks a radix tree over arena addresses; every level is a dependent load on the free path. Here
 *   the first level is flat: the arena map has one slot per arena number below 2^47 (2^27 slots of 8 bytes),
 *
 *      arena map slot [p >> 20] ---> table of p's arena, or NULL          one load, then the header
 *
 *   reserved once, at the first arena, as 1 GiB of address space with MAP_NORESERVE. Only the pages holding
 *   slots of arenas ever mapped are touched: one 4 KiB page per 512 MiB of address space in use, typically one or
 *   two pages. Measured on bench/alloc b (random-order free), one load instead of the radix tree's two took 3 ns
 *   off each free. Arenas the map has no slot for (addresses above 2^47; every arena when the reservation fails,
 *   under RLIMIT_AS or strict overcommit) go into a two-level radix tree over 48-bit addresses, which is then what
 *   ms__pool_lookup consults: correct everywhere, the map only makes it faster.
 *
 * ==== Pool headers ==============================================================================================
 *
 *   CPython keeps each pool's header at the start of the pool. With 16 KiB pools those headers all sit at
 *   addresses that are equal modulo 16 KiB, so they compete for a handful of cache sets (on a 1 MiB 8-way L2, 8
 *   sets' worth: 64 lines for all pools) and each lives on its own page (a TLB entry per pool). Freeing in random
 *   order then misses on the header of almost every free. So headers live in a table per arena instead, one
 *   cache line each, in memory of their own:
 *
 *      arena map slot of arena A ---> table of A: [hdr 0][hdr 1] ... [hdr 63]       (64 x 64 B = 4 KiB)
 *
 *      arena A (1 MiB):               [pool 0 ][pool 1 ] ... [pool 63]       hdr k describes pool k = A + k*16 KiB
 *
 *   A block's header is table[(address >> 14) & 63], reached through the arena map that the ownership test
 *   reads anyway, so the lookup costs no extra dependent load. Tables of all arenas together are small and dense
 *   (4 KiB per MiB of heap), which keeps them cached; bench/alloc b (random-order free) is the measurement. A
 *   table belongs to an arena record and is reused with it; the pools keep every byte for blocks. Tables are
 *   never freed and all of them are on one list (all_tables), so the statistics can sum the pools' ref counts
 *   from any thread (ms__pool_in_use) instead of the fast paths keeping a counter per size class.
 *
 * ==== One pool ==================================================================================================
 *
 *      pool (16 KiB, aligned; its header is in the arena's table)
 *      +--------+--------+--------+-- ... --+--------+---------------------+------+
 *      | block  | block  | block  |         | block  | never carved        | tail |
 *      +--------+--------+--------+-- ... --+--------+---------------------+------+
 *      ^ base                                        ^ base + nextoffset
 *
 *   Blocks are carved lazily (nextoffset advances one block at a time) so that a fresh pool touches only the
 *   pages it hands out. Freed blocks form a singly linked list through their first word (freeblock); allocation
 *   takes from that list first (LIFO: the block freed last is the one most likely in cache) and carves only when
 *   it is empty. Carving reads no block memory, which is why an emptied pool forgets its free list: reused, it is
 *   carved again from the start, in address order, without loading a cold link per block (CPython keeps the list
 *   when the class is the same; measured here, reading those links costs more than re-initialising the header).
 *   Which misuse ms_free recognises, where, and at what cost: "Misuse checks" in obmalloc.h.
 *
 *   Counts: carved = nextoffset / size = ref + length(free list) <= capacity.
 *   Pool states and the lists they live on:
 *     used   0 < ref < capacity   on usedpools[class], a doubly linked list; it has a free or a carvable block
 *     full   ref == capacity      on no list (ms__pool_free_slow puts it back on usedpools[class])
 *     empty  ref == 0             on its arena's freepools list (singly linked), class forgotten
 *   So the allocation fast path needs the first used pool, its count and its free list: one header line.
 *
 * ==== Arenas ====================================================================================================
 *
 *   arenas[] is an array of arena records (descriptors live outside the arenas, in system memory). A record is
 *   either unused (address == 0, on unused_arena_objects) or describes a mapped arena. usable_arenas lists the
 *   arenas that have at least one free pool, sorted by nfreepools ascending: new pools come from the fullest arena
 *   so that the emptiest ones drain and can be unmapped (CPython's policy). nfp2lasta[n] points at the rightmost
 *   arena with n free pools, which makes re-sorting O(1) when a pool is freed. The rightmost usable arena stays
 *   listed when all its pools are free: keeping one spare avoids mmap/munmap thrashing when a program oscillates
 *   around an arena boundary (CPython bpo-37257).
 *
 *   Any other arena whose pools are all free leaves usable_arenas. CPython unmaps it at once; we do that only when
 *   the decay time is 0 (ms_mem_set_arena_decay_ms). Otherwise it waits on the empty-arena cache for that long:
 *
 *       cache_head (newest) <-> ... <-> cache_tail (oldest)      nextarena / prevarena, empty_since_ms each
 *
 *   new_arena() pops the newest (its pages and pool headers are still resident and warm) before it maps a fresh
 *   one; expired arenas leave from the tail. Why: a program that frees a large structure and builds the next one
 *   (a request, a frame, a GC cycle of garbage) would otherwise unmap every arena and fault each page back in —
 *   measured, that fault traffic is most of the cost of a bulk free-and-reallocate (bench/alloc, workloads b/c),
 *   and it is why jemalloc (dirty_decay_ms) and mimalloc (purge delay) hold freed memory for a while too.
 *   Expiry is checked where the allocator already takes a slow path (a pool returns to its arena, a new arena is
 *   needed) and at safe points (ms_poll); ms_mem_trim() releases everything at once. The cache never holds more
 *   than the program had mapped at its peak, so it raises no high-water mark.
 *
 *   arenas[] only grows when usable_arenas is empty, i.e. when no list holds a pointer into it, so realloc() may
 *   move it (CPython relies on the same fact).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/mem.h>

#include "internal.h"
#include "obmalloc.h"

typedef struct arena_object arena_object;
struct arena_object {
    uintptr_t address;        /* base of the mapping; 0 when the record is unused */
    pool_header *pools;       /* header table, POOLS_PER_ARENA entries; kept when the record is unused */
    uint32_t ncarved;         /* pools handed out at least once: pools[0 .. ncarved-1] */
    pool_header *freepools;   /* empty pools that were carved before */
    uint32_t nfreepools;      /* empty pools: freepools list plus never carved */
    uint32_t ntotalpools;
    arena_object *nextarena;  /* usable_arenas or the cache (mapped), or unused_arena_objects (singly linked) */
    arena_object *prevarena;  /* usable_arenas or the cache */
    uint64_t empty_since_ms;  /* on the cache: when its last pool became free (CLOCK_MONOTONIC_COARSE) */
};

/* The radix tree behind the arena map (see "Finding a block's pool"): arena numbers of a 48-bit address space,
 * 2 levels of 14 bits. */
#define ADDRESS_BITS 48
#define ARENA_NUMBER_BITS (ADDRESS_BITS - ARENA_BITS)
#define RADIX_LEAF_BITS 14
#define RADIX_ROOT_BITS (ARENA_NUMBER_BITS - RADIX_LEAF_BITS)
#define RADIX_LEAF_LEN ((size_t)1 << RADIX_LEAF_BITS)

/* A record's pool headers, with the link that keeps every table ever allocated on all_tables. */
typedef struct header_table header_table;
struct header_table {
    header_table *older; /* set before the table is published, never changed */
    pool_header pools[POOLS_PER_ARENA];
};

#define usedpools ms__usedpools
pool_header *ms__usedpools[MS__NB_CLASSES];
pool_header **ms__arena_map;
uintptr_t ms__arena_map_len;
static pool_header **radix_root[(size_t)1 << RADIX_ROOT_BITS];
static header_table *_Atomic all_tables;

static arena_object *arenas;
static uint32_t maxarenas;
static arena_object *unused_arena_objects;
static arena_object *usable_arenas;
static arena_object *nfp2lasta[POOLS_PER_ARENA + 1];
static arena_object *cache_head, *cache_tail;
static arena_object *cache_pop(void);

#define DEFAULT_DECAY_MS 1000
static int64_t decay_ms = -1; /* -1 until the first arena reads MEMSCOPE_ARENA_DECAY_MS */

ms__obmalloc_stats ms__obstats;

/* ---- Arena map and radix tree (see "Finding a block's pool" at the top) ------------------------------------ */

/* Reserves the arena map; on failure the map stays empty and every arena goes to the radix tree. */
static void arena_map_reserve(void)
{
    void *map = ms__os_reserve(MAP_LEN * sizeof(pool_header *));
    if (map == NULL)
        return;
    ms__arena_map = map;
    ms__arena_map_len = MAP_LEN;
    ms__mem_update_fast_paths();
}

/* The radix leaf slot of arena number an, mapping the leaf when `create` is set (leaves are 128 KiB, one per
 * 16 GiB of address space in use, never released). NULL when there is no leaf or an is beyond 48 bits. */
static pool_header **radix_slot(uintptr_t an, int create)
{
    if (an >> ARENA_NUMBER_BITS)
        return NULL;
    pool_header ***leafp = &radix_root[an >> RADIX_LEAF_BITS];
    if (*leafp == NULL) {
        if (!create)
            return NULL;
        *leafp = ms__os_map_aligned(RADIX_LEAF_LEN * sizeof(pool_header *), 4096);
        if (*leafp == NULL)
            return NULL;
    }
    return &(*leafp)[an & (RADIX_LEAF_LEN - 1)];
}

pool_header *ms__radix_table(uintptr_t an)
{
    pool_header **slot = radix_slot(an, 0);
    return slot ? *slot : NULL;
}

/* Where arena base's table pointer lives: its map slot, else its radix slot (created when `create`). */
static pool_header **arena_slot(uintptr_t base, int create)
{
    uintptr_t an = base >> ARENA_BITS;
    return an < ms__arena_map_len ? &ms__arena_map[an] : radix_slot(an, create);
}

/* ---- Arenas -------------------------------------------------------------------------------------------------- */

/* Maps a new arena and returns its record, or NULL (nothing changed) when memory is exhausted.
 * Called only when usable_arenas is empty: see the note on arenas[] at the top. */
static arena_object *new_arena(void)
{
    if (MS_UNLIKELY(MS__STAT_GET(ms__obstats.arenas_allocated_total) == 0))
        arena_map_reserve();
    if (cache_head != NULL)
        return cache_pop();
    if (unused_arena_objects == NULL) {
        uint32_t grow = maxarenas ? maxarenas : 16;
        if (maxarenas > UINT32_MAX / 2 - grow)
            return NULL;
        arena_object *bigger = realloc(arenas, sizeof(*arenas) * (size_t)(maxarenas + grow));
        if (bigger == NULL)
            return NULL;
        arenas = bigger;
        /* Thread the new records onto the unused list, lowest index first. */
        for (uint32_t i = maxarenas; i < maxarenas + grow; i++) {
            arenas[i].address = 0;
            arenas[i].pools = NULL;
            arenas[i].nextarena = i + 1 < maxarenas + grow ? &arenas[i + 1] : NULL;
        }
        unused_arena_objects = &arenas[maxarenas];
        maxarenas += grow;
    }

    arena_object *ao = unused_arena_objects;
    if (ao->pools == NULL) {
        header_table *t = aligned_alloc(sizeof(pool_header), sizeof(header_table));
        if (t == NULL)
            return NULL;
        /* ref 0 everywhere: a pointer into a pool that was never carved is refused by ms_free's checks, and the
         * statistics count nothing in it. */
        memset(t, 0, sizeof *t);
        t->older = atomic_load_explicit(&all_tables, memory_order_relaxed);
        atomic_store_explicit(&all_tables, t, memory_order_release);
        ao->pools = t->pools;
    }
    uint8_t *base = ms__os_map_aligned(ARENA_SIZE, ARENA_SIZE);
    if (base == NULL)
        return NULL;
    pool_header **slot = arena_slot((uintptr_t)base, 1);
    if (slot == NULL) {
        ms__os_unmap(base, ARENA_SIZE);
        return NULL;
    }
    unused_arena_objects = ao->nextarena;
    for (size_t k = 0; k < POOLS_PER_ARENA; k++) {
        /* A reused table's pools are all empty (ref 0, as the statistics read it): only the placement changes. */
        pool_header *pool = &ao->pools[k];
        MS_ASSERT_1(pool->ref == 0);
        pool->base = base + k * POOL_SIZE;
        pool->arenaindex = (uint32_t)(ao - arenas);
        pool->freeblock = NULL;
        pool->nextpool = pool->prevpool = NULL;
    }
    *slot = ao->pools;

    ao->address = (uintptr_t)base;
    ao->ncarved = 0;
    ao->freepools = NULL;
    ao->nfreepools = ao->ntotalpools = (uint32_t)POOLS_PER_ARENA;
    ao->nextarena = ao->prevarena = NULL;

    MS__STAT_ADD(ms__obstats.arenas_mapped, 1);
    MS__STAT_ADD(ms__obstats.arenas_allocated_total, 1);
    if (MS__STAT_GET(ms__obstats.arenas_mapped) > MS__STAT_GET(ms__obstats.arenas_highwater))
        MS__STAT_SET(ms__obstats.arenas_highwater, MS__STAT_GET(ms__obstats.arenas_mapped));
    return ao;
}

static void release_arena(arena_object *ao)
{
    MS_ASSERT_1(ao->nfreepools == ao->ntotalpools);
    *arena_slot(ao->address, 0) = NULL;
    ms__os_unmap((void *)ao->address, ARENA_SIZE);
    ao->address = 0;
    ao->nextarena = unused_arena_objects;
    unused_arena_objects = ao;
    MS__STAT_SUB(ms__obstats.arenas_mapped, 1);
    MS__STAT_ADD(ms__obstats.arenas_released_total, 1);
}

/* ---- The empty-arena cache (see "Arenas" at the top) ------------------------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t arena_decay_ms(void)
{
    if (MS_UNLIKELY(decay_ms < 0)) {
        const char *env = getenv("MEMSCOPE_ARENA_DECAY_MS");
        char *end = NULL;
        long long v = env ? strtoll(env, &end, 10) : -1;
        decay_ms = (env && *env && *end == '\0' && v >= 0) ? (int64_t)v : DEFAULT_DECAY_MS;
    }
    return decay_ms;
}

static void cache_unlink(arena_object *ao)
{
    if (ao->prevarena)
        ao->prevarena->nextarena = ao->nextarena;
    else
        cache_head = ao->nextarena;
    if (ao->nextarena)
        ao->nextarena->prevarena = ao->prevarena;
    else
        cache_tail = ao->prevarena;
    ao->nextarena = ao->prevarena = NULL;
    MS__STAT_SUB(ms__obstats.arenas_cached, 1);
}

/* The newest cached arena, unlinked: an arena that is all free, as new_arena() returns it. */
static arena_object *cache_pop(void)
{
    arena_object *ao = cache_head;
    cache_unlink(ao);
    return ao;
}

/* Unmaps the oldest cached arenas: all of them when `all`, else those empty for at least the decay time.
 * Returns how many were released. */
static size_t cache_release(int all)
{
    size_t n = 0;
    uint64_t now = all ? 0 : now_ms();
    while (cache_tail != NULL && (all || now - cache_tail->empty_since_ms >= (uint64_t)arena_decay_ms())) {
        arena_object *ao = cache_tail;
        cache_unlink(ao);
        release_arena(ao);
        n++;
    }
    return n;
}

/* An arena all of whose pools are free and which is on no list: cache it, or unmap it when decay is 0. */
static void retire_arena(arena_object *ao)
{
    if (arena_decay_ms() == 0) {
        release_arena(ao);
        return;
    }
    /* Forget the order in which the pools emptied: reused, the arena hands out its pools in address order again,
     * as a fresh one does, so that objects allocated one after the other lie one after the other (measured: a
     * collection walking 3M lists ran 60% slower on pools reused in emptying order). */
    ao->freepools = NULL;
    ao->ncarved = 0;
    ao->empty_since_ms = now_ms();
    ao->prevarena = NULL;
    ao->nextarena = cache_head;
    if (cache_head)
        cache_head->prevarena = ao;
    else
        cache_tail = ao;
    cache_head = ao;
    MS__STAT_ADD(ms__obstats.arenas_cached, 1);
}

void ms__mem_decay_tick(void)
{
    if (cache_tail != NULL)
        cache_release(0);
}

int ms_mem_set_arena_decay_ms(int64_t ms)
{
    if (ms < 0)
        return -EINVAL;
    decay_ms = ms;
    cache_release(ms == 0);
    return 0;
}

int64_t ms_mem_arena_decay_ms(void) { return arena_decay_ms(); }

size_t ms_mem_trim(void)
{
    size_t n = cache_release(1);
    /* The spare, if any: an arena left on usable_arenas with all pools free. Only the rightmost one may be (any
     * other is retired by pool_to_arena), and nfp2lasta names it. */
    arena_object *ao = nfp2lasta[POOLS_PER_ARENA];
    if (ao != NULL) {
        MS_ASSERT_1(ao->nextarena == NULL && ao->nfreepools == ao->ntotalpools);
        nfp2lasta[POOLS_PER_ARENA] = NULL;
        if (ao->prevarena)
            ao->prevarena->nextarena = NULL;
        else
            usable_arenas = NULL;
        release_arena(ao);
        n++;
    }
    return n;
}

/* ---- Pools --------------------------------------------------------------------------------------------------- */

static inline void usedpools_push(pool_header *pool, unsigned cls)
{
    pool_header *head = usedpools[cls];
    pool->prevpool = NULL;
    pool->nextpool = head;
    if (head)
        head->prevpool = pool;
    usedpools[cls] = pool;
}

static inline void usedpools_unlink(pool_header *pool, unsigned cls)
{
    if (pool->prevpool)
        pool->prevpool->nextpool = pool->nextpool;
    else
        usedpools[cls] = pool->nextpool;
    if (pool->nextpool)
        pool->nextpool->prevpool = pool->prevpool;
}

/* Slow path of ms__pool_alloc: no used pool of this class. Takes an empty pool from the fullest usable arena
 * (mapping a new arena if there is none), makes it a used pool of class `cls` and carves its first block. */
static void *alloc_from_new_pool(unsigned cls)
{
    if (usable_arenas == NULL) {
        usable_arenas = new_arena();
        if (usable_arenas == NULL)
            return NULL;
        nfp2lasta[usable_arenas->nfreepools] = usable_arenas;
    }
    arena_object *ao = usable_arenas;
    MS_ASSERT_1(ao->address != 0 && ao->nfreepools > 0);

    /* ao is leftmost, so after losing a pool it is the only arena with nfreepools - 1 free pools. */
    if (nfp2lasta[ao->nfreepools] == ao)
        nfp2lasta[ao->nfreepools] = NULL;
    if (ao->nfreepools > 1)
        nfp2lasta[ao->nfreepools - 1] = ao;

    pool_header *pool = ao->freepools;
    if (pool != NULL) {
        ao->freepools = pool->nextpool;
    } else {
        pool = &ao->pools[ao->ncarved++];
    }
    if (--ao->nfreepools == 0) {
        usable_arenas = ao->nextarena;
        if (usable_arenas)
            usable_arenas->prevarena = NULL;
        ao->nextarena = ao->prevarena = NULL;
    }

    MS__STAT_ADD(ms__obstats.class_pools[cls], 1);
    size_t size = BLOCK_SIZE(cls);
    __atomic_store_n(&pool->szidx, cls, __ATOMIC_RELAXED);
    pool->capacity = (uint32_t)POOL_CAPACITY(size);
    pool->div_magic = DIV_MAGIC(size);
    pool->div_limit = pool->div_magic - 1;
    pool->freeblock = NULL;
    pool->nextoffset = (uint32_t)size;
    /* Release: a thread summing the counts (ms__pool_in_use) that sees ref 1 sees the new class too. */
    __atomic_store_n(&pool->ref, 1, __ATOMIC_RELEASE);
    usedpools_push(pool, cls); /* capacity >= 15: one block never fills it */
    return pool->base;
}

void *ms__pool_alloc_slow(unsigned cls)
{
    void *bp = alloc_from_new_pool(cls);
    if (bp != NULL)
        MS__STAT_ADD(ms__obstats.pool_allocs, 1);
    return bp;
}

/* An empty pool goes back to its arena; the arena moves right in usable_arenas (it has more free pools now), is
 * listed again if it was full, or is unmapped if all its pools are free. See "Arenas" at the top. */
static void pool_to_arena(pool_header *pool)
{
    arena_object *ao = &arenas[pool->arenaindex];
    pool->nextpool = ao->freepools;
    ao->freepools = pool;

    uint32_t nf = ao->nfreepools;
    arena_object *lastnf = nfp2lasta[nf]; /* rightmost arena with ao's old count (maybe ao itself) */
    if (lastnf == ao) {
        arena_object *left = ao->prevarena;
        nfp2lasta[nf] = (left != NULL && left->nfreepools == nf) ? left : NULL;
    }
    ao->nfreepools = ++nf;

    if (nf == ao->ntotalpools && ao->nextarena != NULL) {
        /* All pools free and not the rightmost usable arena: cache or unmap it. */
        if (ao->prevarena == NULL)
            usable_arenas = ao->nextarena;
        else
            ao->prevarena->nextarena = ao->nextarena;
        ao->nextarena->prevarena = ao->prevarena;
        retire_arena(ao);
        ms__mem_decay_tick();
        return;
    }
    if (MS_UNLIKELY(cache_tail != NULL))
        ms__mem_decay_tick();
    if (nf == 1) {
        /* It was full, so it was on no list; one free pool makes it the fullest usable arena. */
        ao->prevarena = NULL;
        ao->nextarena = usable_arenas;
        if (usable_arenas)
            usable_arenas->prevarena = ao;
        usable_arenas = ao;
        if (nfp2lasta[1] == NULL)
            nfp2lasta[1] = ao;
        return;
    }
    if (nfp2lasta[nf] == NULL)
        nfp2lasta[nf] = ao;
    if (ao == lastnf)
        return; /* it was the rightmost of its old group, so it is already in order */

    /* Move ao right after lastnf, the rightmost arena that still has fewer free pools. */
    if (ao->prevarena)
        ao->prevarena->nextarena = ao->nextarena;
    else
        usable_arenas = ao->nextarena;
    ao->nextarena->prevarena = ao->prevarena; /* lastnf is to the right, so nextarena exists */
    ao->prevarena = lastnf;
    ao->nextarena = lastnf->nextarena;
    if (ao->nextarena)
        ao->nextarena->prevarena = ao;
    lastnf->nextarena = ao;
}

int ms__pool_check(pool_header *pool, void *p)
{
    if (MS_UNLIKELY(pool->ref == 0 || pool->szidx >= MS__NB_CLASSES)) {
        ms__fault("ms_free: block is not allocated (double free or corrupt pointer)", p);
        return -EFAULT;
    }
    if (MS_UNLIKELY(!ms__pool_block_start(pool, (uintptr_t)p - (uintptr_t)pool->base))) {
        ms__fault("ms_free: pointer is not the start of a block memscope handed out (an interior pointer?)", p);
        return -EFAULT;
    }
    /* The block freed last in this pool, freed again; at debug level 2 every block of the free list is looked at. */
    if (MS_UNLIKELY(p == pool->freeblock)) {
        ms__fault("ms_free: double free", p);
        return -EFAULT;
    }
    if (MS_DEBUG >= 2) {
        for (uint8_t *b = pool->freeblock; b; b = *(uint8_t **)(void *)b)
            if (b == p) {
                ms__fault("ms_free: double free", p);
                return -EFAULT;
            }
    }
    return 0;
}

void ms__pool_free_slow(pool_header *pool, void *p)
{
    if (ms__pool_check(pool, p) != 0)
        return;
    unsigned cls = pool->szidx;
    int was_full = pool->ref == pool->capacity;
    *(uint8_t **)p = pool->freeblock;
    pool->freeblock = p;
    ms__pool_set_ref(pool, pool->ref - 1);
    MS__STAT_ADD(ms__obstats.pool_frees, 1);

    if (MS_UNLIKELY(was_full)) {
        /* Used again (capacity >= 15, so it cannot also be empty now). */
        usedpools_push(pool, cls);
        return;
    }
    if (MS_UNLIKELY(pool->ref == 0)) {
        usedpools_unlink(pool, cls);
        MS__STAT_SUB(ms__obstats.class_pools[cls], 1);
        pool_to_arena(pool);
    }
}

/* ---- Validation ---------------------------------------------------------------------------------------------- */

static int broken(const char *what, const void *where)
{
    ms__fault(what, where);
    return -EFAULT;
}

static int validate_pool(const pool_header *pool, uint64_t in_use[])
{
    if (pool->szidx >= MS__NB_CLASSES)
        return broken("validate: used pool with a bad size class", pool);
    size_t size = BLOCK_SIZE(pool->szidx), cap = POOL_CAPACITY(size);
    if (pool->capacity != cap)
        return broken("validate: pool capacity does not match its class", pool);
    if (pool->ref == 0 || pool->ref > cap)
        return broken("validate: pool block count out of range", pool);
    size_t nfree = 0;
    for (const uint8_t *b = pool->freeblock; b; b = *(uint8_t *const *)(const void *)b) {
        uintptr_t off = (uintptr_t)b - (uintptr_t)pool->base;
        if (off >= pool->nextoffset || off % size != 0 || ++nfree > cap)
            return broken("validate: free list leaves its pool or loops", b);
    }
    size_t carved = pool->nextoffset / size;
    if (carved > cap || pool->ref + nfree != carved)
        return broken("validate: pool counts disagree (ref + free != carved)", pool);
    int listed = 0;
    for (const pool_header *q = usedpools[pool->szidx]; q; q = q->nextpool)
        listed |= q == pool;
    if (listed != (pool->ref < cap))
        return broken("validate: a pool with free blocks is not on usedpools, or a full one is", pool);
    in_use[pool->szidx] += pool->ref;
    return 0;
}

int ms_mem_validate(void)
{
    uint64_t in_use[MS__NB_CLASSES] = {0};
    uint64_t mapped = 0;
    for (uint32_t i = 0; i < maxarenas; i++) {
        const arena_object *ao = &arenas[i];
        if (ao->address == 0)
            continue;
        mapped++;
        pool_header **slot = arena_slot(ao->address, 0);
        if (slot == NULL || *slot != ao->pools)
            return broken("validate: arena missing from the arena map and the radix tree", (void *)ao->address);
        size_t carved = ao->ncarved;
        uint32_t nfree = (uint32_t)(ao->ntotalpools - carved);
        uint8_t isfree[POOLS_PER_ARENA] = {0};
        for (const pool_header *q = ao->freepools; q; q = q->nextpool) {
            size_t idx = ((uintptr_t)q - (uintptr_t)ao->pools) / sizeof(pool_header);
            if (idx >= carved || isfree[idx] || q->ref != 0)
                return broken("validate: bad arena freepools list", q);
            isfree[idx] = 1;
            nfree++;
        }
        if (nfree != ao->nfreepools)
            return broken("validate: arena free-pool count disagrees with its lists", (void *)ao->address);
        for (size_t k = 0; k < carved; k++) {
            const pool_header *pool = &ao->pools[k];
            if (pool->arenaindex != i || pool->base != (uint8_t *)ao->address + k * POOL_SIZE)
                return broken("validate: pool names the wrong arena", pool);
            if (!isfree[k] && validate_pool(pool, in_use) != 0)
                return -EFAULT;
        }
    }
    uint32_t prev = 0;
    for (const arena_object *ao = usable_arenas; ao; ao = ao->nextarena) {
        if (ao->nfreepools == 0 || ao->nfreepools < prev)
            return broken("validate: usable_arenas not sorted by free pools", (void *)ao->address);
        if ((ao->nextarena == NULL || ao->nextarena->nfreepools != ao->nfreepools) &&
            nfp2lasta[ao->nfreepools] != ao)
            return broken("validate: nfp2lasta does not point at the rightmost arena", (void *)ao->address);
        prev = ao->nfreepools;
    }
    uint64_t cached = 0;
    for (const arena_object *ao = cache_head; ao; ao = ao->nextarena) {
        if (ao->address == 0 || ao->nfreepools != ao->ntotalpools || ++cached > mapped ||
            (ao->nextarena ? ao->nextarena->prevarena != ao : cache_tail != ao))
            return broken("validate: the empty-arena cache holds a used arena or is mislinked", (void *)ao->address);
    }
    if (cached != MS__STAT_GET(ms__obstats.arenas_cached))
        return broken("validate: cached arena count statistic is wrong", NULL);
    if (mapped != MS__STAT_GET(ms__obstats.arenas_mapped))
        return broken("validate: arena count statistic is wrong", NULL);
    uint64_t summed[MS__NB_CLASSES], total = 0;
    ms__pool_in_use(summed);
    for (unsigned c = 0; c < MS__NB_CLASSES; c++) {
        if (in_use[c] != summed[c])
            return broken("validate: a pool with blocks in use is missing from all_tables", NULL);
        total += in_use[c];
    }
    if (total != MS__STAT_GET(ms__obstats.pool_allocs) - MS__STAT_GET(ms__obstats.pool_frees))
        return broken("validate: blocks-in-use statistic is wrong", NULL);
    return 0;
}

/* ---- Walks (pinning.c) ----------------------------------------------------------------------------------------- */

void ms__arenas_foreach(void (*fn)(pool_header *pools, uint32_t ncarved, void *arg), void *arg)
{
    for (uint32_t i = 0; i < maxarenas; i++)
        if (arenas[i].address != 0)
            fn(arenas[i].pools, arenas[i].ncarved, arg);
}

/* ---- Statistics (mem.c) ------------------------------------------------------------------------------------- */

void ms__pool_in_use(uint64_t in_use[MS__NB_CLASSES])
{
    memset(in_use, 0, MS__NB_CLASSES * sizeof *in_use);
    for (const header_table *t = atomic_load_explicit(&all_tables, memory_order_acquire); t; t = t->older) {
        for (size_t k = 0; k < POOLS_PER_ARENA; k++) {
            uint32_t ref = __atomic_load_n(&t->pools[k].ref, __ATOMIC_ACQUIRE);
            if (ref == 0)
                continue;
            uint32_t cls = __atomic_load_n(&t->pools[k].szidx, __ATOMIC_RELAXED);
            if (cls < MS__NB_CLASSES)
                in_use[cls] += ref;
        }
    }
}

size_t ms__pool_size(void) { return POOL_SIZE; }
size_t ms__arena_size(void) { return ARENA_SIZE; }
size_t ms__pool_capacity(unsigned cls) { return POOL_CAPACITY(BLOCK_SIZE(cls)); }
size_t ms__pool_header_table_size(void) { return sizeof(header_table); }

/*
 * client/internal.h — what the files of libmemscope share with each other and nobody else.
 *
 * Names here carry the ms__ prefix. Nothing here is exported from the shared library (hidden visibility);
 * public entry points are only those declared under include/memscope/.
 */
#ifndef MEMSCOPE_CLIENT_INTERNAL_H
#define MEMSCOPE_CLIENT_INTERNAL_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/internal.h is private to libmemscope; include <memscope/memscope.h> instead"
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <memscope/runtime.h>

#include "hashtable.h"

/* Everything declared below is internal to the shared library: direct, GOT-free access from its own code. */
#pragma GCC visibility push(hidden)

/* ---- Graded debug checks (meson -Ddebug_level=N) --------------------------------------------------------- */
#ifndef MS_DEBUG
#  define MS_DEBUG 0
#endif
/* MS_ASSERT_n(cond): checked only when MS_DEBUG >= n; a failure goes to the fault handler. Level 3 adds no
 * assertion of its own: it walks the whole heap (ms_mem_validate) at the safe points, ms_poll() and the end of
 * every collection. */
#define MS__CHECK(level, cond)                                                                                 \
    do {                                                                                                       \
        if (MS_DEBUG >= (level) && MS_UNLIKELY(!(cond)))                                                       \
            ms__fault("internal invariant broken: " #cond " (" __FILE__ ")", NULL);                            \
    } while (0)
#define MS_ASSERT_1(cond) MS__CHECK(1, cond)
#define MS_ASSERT_2(cond) MS__CHECK(2, cond)

/*
 * A built-in type (int.c, str.c, list.c, dict.c, weakref.c): the static type `var`, made of the designated
 * initializers that follow; its public accessor (types are reached through functions, not exported variables:
 * memscope/builtins.h says why); and check(o), the type test without the call through the accessor. Used at file
 * scope and followed by a semicolon.
 */
#define MS__BUILTIN_TYPE(var, accessor, check, ...)                                                            \
    static const ms_type var = {__VA_ARGS__};                                                                  \
    const ms_type *accessor(void) { return &var; }                                                             \
    static inline bool check(const ms_object *o) { return o && ms_type_of(o) == &var; }                        \
    struct ms__builtin_type_##var /* takes the semicolon */

/* Called by ms_lock/ms_trylock: a thread other than the agent's took the runtime lock (agent.c). */
void ms__note_lock_taken(void);

/* Reports misuse or corruption through the installed fault handler (runtime.c). */
void ms__fault(const char *what, const void *ptr);

/*
 * ---- Statistics counters ---------------------------------------------------------------------------------
 * Counters have one writer (the thread holding the runtime) and any number of readers (the agent thread).
 * A relaxed atomic load+store compiles to a plain load/add/store on x86-64 and AArch64 — no locked instruction
 * on the allocation path — while readers still never see a torn value.
 */
typedef _Atomic uint64_t ms__counter;

/* CLOCK_MONOTONIC in nanoseconds: the clock of pauses, walks and deadlines (the agent's, the collector's). */
static inline uint64_t ms__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#define MS__STAT_ADD(c, n)                                                                                     \
    atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + (uint64_t)(n),              \
                          memory_order_relaxed)
#define MS__STAT_SUB(c, n)                                                                                     \
    atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) - (uint64_t)(n),              \
                          memory_order_relaxed)
#define MS__STAT_SET(c, v) atomic_store_explicit(&(c), (uint64_t)(v), memory_order_relaxed)
#define MS__STAT_GET(c) atomic_load_explicit(&(c), memory_order_relaxed)

/*
 * ---- Allocation hooks (tracing) ----------------------------------------------------------------------------
 * mem.c calls these around every allocation when ms__mem_hooks is non-NULL; trace.c installs them while
 * tracing is on. Tracing off therefore costs one load and one well-predicted branch per call.
 *   on_alloc: after a block of `size` requested bytes was handed out at file:line (file may be NULL).
 *   on_free:  before the block at p is released (also for the old block of a moving realloc).
 *   on_realloc: after a block moved or changed size in place (old may equal new).
 * Hooks run with the runtime held and must not allocate from the memscope heap.
 */
typedef struct ms__mem_hooks {
    void (*on_alloc)(void *p, size_t size, const char *file, int line);
    void (*on_free)(void *p);
    void (*on_realloc)(void *old_p, void *new_p, size_t size, const char *file, int line);
} ms__mem_hooks;
extern const ms__mem_hooks *_Atomic ms__mem_hooks_active;
/* Installs h (NULL: none). Always use this rather than storing ms__mem_hooks_active: the malloc fast path keys on
 * a limit that must change with it. */
void ms__mem_set_hooks(const ms__mem_hooks *h);
/* ms_free without the allocation hooks: for a caller that has done their work itself (ms__trace_free). */
void ms__free_unhooked(void *p);
/* ms_free(p), returning the traceback id of p's trace (UINT32_MAX: p untraced, or tracing is off), found by the
 * one lookup that drops the trace: finding it first and freeing after took two (gc.c's grouped teardown). */
uint32_t ms__trace_free(void *p);
/* Recomputes the limits that let ms_malloc/ms_free take their fast paths (hooks installed, arena map reserved). */
void ms__mem_update_fast_paths(void);

/* ---- Library memory ---------------------------------------------------------------------------------------
 * Where an internal table or bump allocator (common/hashtable.h, bump.h) takes its memory (msc_mem_ops, defined
 * there with msc_libc_mem, calloc/free); never the memscope heap. */
/* calloc/free below 4 MiB, above it mmap'd in transparent huge pages (bump.c): for a large table probed at random
 * (the heap snapshot ids), where 4 KiB pages would cost a TLB miss a probe. */
extern const msc_mem_ops ms__huge_mem;

/* ---- Page mapping (os.c): the only place that knows about mmap ------------------------------------------- */
/* Maps `size` bytes aligned to `align` (a power of two, multiple of the page size). NULL on failure. */
void *ms__os_map_aligned(size_t size, size_t align);
void ms__os_unmap(void *p, size_t size);
/* Maps `size` bytes of zeroes without reserving swap for them (MAP_NORESERVE): for a large, sparsely touched
 * table. NULL on failure. */
void *ms__os_reserve(size_t size);
/* Asks for transparent huge pages in [p, p + size) (madvise MADV_HUGEPAGE); a hint, silently ignored where the
 * kernel has none. */
void ms__os_advise_huge(void *p, size_t size);

/* ---- Pools (obmalloc.c, fast paths in obmalloc.h) ----------------------------------------------------------- */
/* Constants of the pool geometry, for statistics. */
size_t ms__pool_size(void);
size_t ms__arena_size(void);
size_t ms__pool_capacity(unsigned cls); /* blocks per pool of class cls */
size_t ms__pool_header_table_size(void); /* bytes of pool headers per mapped arena (kept outside the arena) */

#define MS__NB_CLASSES (MS_SMALL_THRESHOLD / MS__CLASS_GRAIN)
#define MS__CLASS_GRAIN 16
/* Size class of a small request n (1 <= n < MS_SMALL_THRESHOLD). */
#define MS__SIZE_CLASS(n) ((unsigned)(((n) - 1) >> 4))

/* Counters of the pool allocator, written by the thread holding the runtime (obmalloc.c, mem.c), read anywhere.
 * Every allocation and every free bumps exactly one counter, on the fast paths too, and always the same one for
 * pooled blocks: a counter indexed by the block's size class cost the random-order free of bench/alloc b about
 * 6 ns per call, one fixed counter under 1 ns (measured; taking the index from a small per-arena class map that
 * stays cached instead of from the pool header cost as much, so it is the read-modify-write at a varying address
 * among many in flight, not the header miss). Blocks in use per class are the sum of the pools' ref counts
 * instead (ms__pool_in_use). */
typedef struct ms__obmalloc_stats {
    ms__counter arenas_mapped, arenas_allocated_total, arenas_released_total, arenas_highwater;
    ms__counter arenas_cached; /* empty arenas kept mapped for reuse (included in arenas_mapped) */
    ms__counter system_bytes_in_use;
    ms__counter system_allocs, system_frees;  /* system-path blocks handed out / released since start */
    ms__counter pool_allocs, pool_frees;      /* pooled blocks handed out / released since start */
    ms__counter class_pools[MS__NB_CLASSES];  /* used + full pools, per size class */
} ms__obmalloc_stats;
extern ms__obmalloc_stats ms__obstats;

/* Pooled blocks in use per size class: the sum of the ref counts of the pools of each class, read from every pool
 * header table (obmalloc.c). Any thread may call it: header tables are never freed and the counts are read
 * atomically. Exact when the owner is not allocating meanwhile; otherwise each pool is counted as it was at some
 * moment of the walk. O(arenas ever mapped x 64). */
void ms__pool_in_use(uint64_t in_use[MS__NB_CLASSES]);

/* allocs - frees of one pair of counters, and the two totals read (when *total_* are not NULL they are added to).
 * Another thread may read the two a moment apart (and, in C11 terms, out of order): frees is read first and the
 * difference never goes negative. */
static inline uint64_t ms__in_use_totals(const ms__counter *allocs, const ms__counter *frees, uint64_t *total_allocs,
                                         uint64_t *total_frees)
{
    uint64_t f = atomic_load_explicit(frees, memory_order_acquire);
    uint64_t a = atomic_load_explicit(allocs, memory_order_acquire);
    if (total_allocs)
        *total_allocs += a;
    if (total_frees)
        *total_frees += f;
    return a > f ? a - f : 0;
}

/* Unmaps the cached empty arenas whose decay time has passed (obmalloc.c). Cheap when there are none. */
void ms__mem_decay_tick(void);

#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_INTERNAL_H */

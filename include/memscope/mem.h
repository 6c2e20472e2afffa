/*
 * memscope/mem.h — the small-object allocator (CPython's obmalloc for C programs).
 *
 * Contract
 *   - Requests of 1 .. MS_SMALL_THRESHOLD-1 bytes (default 255) are served from pools of fixed-size blocks in
 *     16-byte size classes; a request of 0 bytes is treated as 1. Requests of MS_SMALL_THRESHOLD bytes and more
 *     go to the system allocator (malloc).
 *   - Every returned block is aligned to 16 bytes (MS_ALIGNMENT).
 *   - ms_free() accepts NULL, pooled blocks and system blocks alike and tells them apart in O(1).
 *   - Misuse found by ms_free() and ms_realloc() is reported through the fault handler (memscope/runtime.h), and
 *     the call then does nothing more. In every build, in O(1):
 *       - a pointer that lies in no memscope pool and carries no system-block header (a foreign pointer);
 *       - a pointer into a pool that is not 16-byte aligned (into the middle of a block);
 *       - a pooled block freed again while it is the block freed last in its pool (free(p); free(p));
 *       - a pointer into a pool that has no block in use (a double free that emptied the pool, say).
 *     Checked in O(1) only when the free takes the allocator's slow path (the pool was full or becomes empty; a
 *     few percent of frees) or at -Ddebug_level=1 and above: a 16-byte aligned pointer into a pooled block that
 *     is not its start, or into the part of its pool never handed out. Checked only at -Ddebug_level=2 and above
 *     (a walk of the pool's free list): a pooled block freed twice with other frees into its pool in between.
 *     ms_realloc() of a pooled block always makes the slow path's checks.
 *     Not checked: a second free of a block that was handed out again meanwhile (it is someone else's block by
 *     then), and a second free of a system block whose memory libc has already reused (usually reported as
 *     foreign). Why the default build checks no more: bench/alloc measured the complete checks on the fast
 *     path at 5-14% of its workloads (client/obmalloc.h, "Misuse checks").
 *   - ms_malloc, ms_calloc and ms_realloc are macros that pass the caller's __FILE__ and __LINE__ to the *_at
 *     functions, so that allocation tracing (memscope/trace.h) names the caller's own line. They behave like
 *     functions: arguments are evaluated once, and `ms_malloc` without parentheses names a real function (taking
 *     its address works; such calls are traced without a line).
 *   - Threads: see memscope/runtime.h. Allocation and free need the runtime lock in multi-threaded programs;
 *     the statistics getters do not. Read while another thread allocates, each figure is one it had at some
 *     moment during the call (blocks in use are summed over the pools, O(pools), once per call); read by the
 *     thread that allocates, they are exact.
 *   - Address space: the first arena reserves 1 GiB of address space (MAP_NORESERVE, untouched but for a page or
 *     two) for the map that finds a block's pool in one load. Where that reservation fails (RLIMIT_AS, strict
 *     overcommit) everything works the same through a radix tree, a little slower.
 */
#ifndef MEMSCOPE_MEM_H
#define MEMSCOPE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <memscope/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MS_ALIGNMENT 16

/*
 * What the allocation functions promise the compiler, as mimalloc.h declares its own: the result aliases nothing
 * (malloc), its size (alloc_size: __builtin_object_size, _FORTIFY_SOURCE, -Warray-bounds), a warning when it is
 * dropped (warn_unused_result: the block would leak), and with GCC 11 and later that ms_free releases it
 * (-Wmismatched-dealloc, -Wfree-nonheap-object, -fanalyzer). GCC and clang, C and C++; empty elsewhere. A caller
 * that means to drop a result must still use it somehow (GCC ignores a (void) cast here).
 */
#if defined(__GNUC__) || defined(__clang__)
#  define MS_ATTR_MALLOC __attribute__((malloc))
#  define MS_ATTR_ALLOC_SIZE(i) __attribute__((alloc_size(i)))
#  define MS_ATTR_ALLOC_SIZE2(i, j) __attribute__((alloc_size(i, j)))
#  define MS_ATTR_NODISCARD __attribute__((warn_unused_result))
#else
#  define MS_ATTR_MALLOC
#  define MS_ATTR_ALLOC_SIZE(i)
#  define MS_ATTR_ALLOC_SIZE2(i, j)
#  define MS_ATTR_NODISCARD
#endif
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#  define MS_ATTR_DEALLOC(f, i) __attribute__((malloc(f, i)))
#else
#  define MS_ATTR_DEALLOC(f, i)
#endif

/* Releases a block of ms_malloc & co (NULL: nothing). Misuse: see the contract above. */
MS_API void ms_free(void *p);

/* Allocation entry points. On failure (out of memory, size overflow) they return NULL and set errno to ENOMEM. */
MS_API MS_ATTR_MALLOC MS_ATTR_ALLOC_SIZE(1) MS_ATTR_NODISCARD MS_ATTR_DEALLOC(ms_free, 1)
void *ms_malloc_at(size_t n, const char *file, int line);
MS_API MS_ATTR_MALLOC MS_ATTR_ALLOC_SIZE2(1, 2) MS_ATTR_NODISCARD MS_ATTR_DEALLOC(ms_free, 1)
void *ms_calloc_at(size_t count, size_t size, const char *file, int line);
/* ms_realloc(NULL, n) is ms_malloc(n). On failure NULL is returned and the old block is left untouched.
 * A block moves between the pools and the system allocator when its size crosses the threshold. No `malloc`
 * attribute: the result may be the old block, which holds what it held. */
MS_API MS_ATTR_ALLOC_SIZE(2) MS_ATTR_NODISCARD MS_ATTR_DEALLOC(ms_free, 1)
void *ms_realloc_at(void *p, size_t n, const char *file, int line);

/* The same without a call site (file NULL, line 0 in traces). */
MS_API MS_ATTR_MALLOC MS_ATTR_ALLOC_SIZE(1) MS_ATTR_NODISCARD MS_ATTR_DEALLOC(ms_free, 1) void *ms_malloc(size_t n);
MS_API MS_ATTR_MALLOC MS_ATTR_ALLOC_SIZE2(1, 2) MS_ATTR_NODISCARD MS_ATTR_DEALLOC(ms_free, 1)
void *ms_calloc(size_t count, size_t size);
MS_API MS_ATTR_ALLOC_SIZE(2) MS_ATTR_NODISCARD MS_ATTR_DEALLOC(ms_free, 1) void *ms_realloc(void *p, size_t n);

#define ms_malloc(n) ms_malloc_at((n), __FILE__, __LINE__)
#define ms_calloc(count, size) ms_calloc_at((count), (size), __FILE__, __LINE__)
#define ms_realloc(p, n) ms_realloc_at((p), (n), __FILE__, __LINE__)

/* True iff p is a block handed out by the pools (false for NULL, system blocks and foreign pointers). O(1). */
MS_API bool ms_mem_is_pooled(const void *p);

/* The usable size of a block returned by ms_malloc & co: the block size for pooled blocks, the requested size
 * for system blocks. 0 for NULL. The bytes past the request are the caller's, but the compiler knows only the
 * request (alloc_size above): write them through a pointer it cannot trace back to the allocation, as with
 * glibc's malloc_usable_size under _FORTIFY_SOURCE, or rather ms_realloc to the size needed. */
MS_API size_t ms_mem_usable_size(const void *p);

/* MS_SMALL_THRESHOLD of the library that is running (the headers' value is in memscope/config.h). */
MS_API size_t ms_mem_small_threshold(void);

/* Heap-wide statistics. Every field is a count since the start of the process unless it says "in use". */
typedef struct ms_heap_stats {
    uint64_t pool_bytes_in_use;      /* bytes of pooled blocks handed out (block sizes, not requests) */
    uint64_t system_bytes_in_use;    /* bytes requested by live system-path allocations */
    uint64_t blocks_in_use;          /* pooled blocks handed out */
    uint64_t system_blocks_in_use;   /* live system-path allocations */
    uint64_t arenas_mapped;          /* arenas currently mapped */
    uint64_t arenas_allocated_total; /* arenas mapped since start */
    uint64_t arenas_released_total;  /* arenas returned to the OS since start */
    uint64_t arenas_highwater;       /* most arenas mapped at once */
    uint64_t arena_bytes_mapped;     /* arenas_mapped * arena size */
    uint64_t pools_in_use;           /* pools holding at least one block, or carved and not yet returned */
    uint64_t allocs_total;           /* successful ms_malloc/ms_calloc/ms_realloc-that-allocated calls */
    uint64_t frees_total;            /* blocks released (ms_free, and the old block of a moving ms_realloc) */
    uint64_t arena_size;             /* bytes per arena (constant) */
    uint64_t pool_size;              /* bytes per pool (constant) */
    uint64_t arenas_cached;          /* empty arenas kept mapped for reuse (counted in arenas_mapped too) */
} ms_heap_stats;

MS_API void ms_heap_stats_get(ms_heap_stats *out);

/* One size class of the pools: the data of CPython's sys._debugmallocstats(). */
typedef struct ms_pool_class_stats {
    uint64_t block_size;    /* bytes per block of this class */
    uint64_t pools;         /* pools currently assigned to this class */
    uint64_t blocks_in_use; /* blocks of this class handed out */
    uint64_t blocks_free;   /* blocks available in this class's pools (free lists plus not yet carved) */
} ms_pool_class_stats;

/* Number of size classes: MS_SMALL_THRESHOLD / 16. */
MS_API size_t ms_pool_class_count(void);
/* Fills *out for class i (0-based, block size 16*(i+1)); zeroes *out when i is out of range. */
MS_API void ms_pool_class_stats_get(size_t i, ms_pool_class_stats *out);
/* Fills out[0 .. min(n, count)) for the classes in order, from one walk over the pools (cheaper than calling
 * ms_pool_class_stats_get for each class); returns ms_pool_class_count(). out may be NULL when n is 0. */
MS_API size_t ms_pool_class_stats_get_all(ms_pool_class_stats *out, size_t n);

/* Prints a table like CPython's sys._debugmallocstats(): one row per size class, then arena and pool totals. */
MS_API void ms_debug_mallocstats(FILE *out);

/*
 * Pool pinning: the blocks that keep mostly empty pools, and the arenas around them, from going back to the OS.
 * The bytes look free in blocks_in_use but stay resident; this says who holds them.
 *   - A used pool is pinned when its live bytes (blocks handed out x block size) are at most max_utilization x
 *     the pool size. It wastes the pool size minus its live bytes, charged to its live blocks in equal shares.
 *   - An arena is pinned when it has used pools and every one of them is pinned: its empty pools that were used
 *     before (their pages are resident) are wasted too, charged in equal shares to the live blocks of its pools.
 *     Pools never used since the arena was mapped hold no pages and are not counted; nor are the empty arenas
 *     the allocator keeps mapped for the decay time (ms_mem_set_arena_decay_ms): those are nobody's doing.
 *   - Each live block's share goes to its size class; to its allocation site (the file:line its trace records)
 *     while tracing is on (memscope/trace.h; blocks allocated before tracing started count as untraced); and,
 *     when the block holds a GC-tracked object, to that object's type. Other blocks' types cannot be told from
 *     their bytes, so types cover the tracked objects only.
 * Runs with the runtime held (a safe point in threaded programs): O(arenas x pools), plus O(capacity) per pinned
 * pool while tracing, plus O(tracked objects) for the types when any pool is pinned; the report says what it
 * cost. Memory comes from libc.
 */
typedef struct ms_pinning_site {
    char site[128];           /* "file.c:41", from the macro's __FILE__ and __LINE__ (or the first frame) */
    uint64_t pools;           /* pinned pools holding at least one of its blocks */
    uint64_t blocks;          /* its live blocks in pinned pools */
    uint64_t wasted_bytes;    /* the shares charged to them, rounded */
    double oldest_age_s;      /* age of the oldest of those blocks (the tracer's clock: see memscope/trace.h) */
} ms_pinning_site;

typedef struct ms_pinning_class {
    uint64_t block_size;
    uint64_t pinned_pools;
    uint64_t blocks;       /* live blocks in them */
    uint64_t wasted_bytes; /* their pools' waste plus their share of pinned arenas' */
} ms_pinning_class;

typedef struct ms_pinning_type {
    const char *name; /* the ms_type's name (static storage) */
    uint64_t pools, blocks, wasted_bytes;
} ms_pinning_type;

typedef struct ms_pinning_report {
    double max_utilization;
    uint64_t pinned_pools, pinned_arenas;
    uint64_t wasted_bytes;       /* pool_wasted_bytes + arena_wasted_bytes */
    uint64_t pool_wasted_bytes;  /* sum over pinned pools of pool size - live bytes */
    uint64_t arena_wasted_bytes; /* the used-before empty pools of pinned arenas */
    uint64_t pinned_blocks;      /* live blocks in pinned pools */
    bool tracing;                /* sites were looked up */
    uint64_t untraced_blocks;    /* pinned blocks without a trace, while tracing */
    uint64_t untraced_wasted_bytes;
    uint64_t pools_walked;       /* every used pool */
    uint64_t objects_walked;     /* GC-tracked objects looked at for the types */
    uint64_t walk_ns;            /* wall time of the whole walk */
    /* Largest waste first (ties: more blocks first; classes: the smaller size). */
    size_t nsites;
    ms_pinning_site *sites;
    size_t nclasses; /* only classes with pinned pools */
    ms_pinning_class *classes;
    size_t ntypes;
    ms_pinning_type *types;
} ms_pinning_report;

/* Walks the heap as above. 0 and *out (release it with ms_pinning_report_free); -EINVAL when max_utilization is
 * not within 0 .. 1 (or NaN); -ENOMEM. */
MS_API int ms_pool_pinning(double max_utilization, ms_pinning_report **out);
MS_API void ms_pinning_report_free(ms_pinning_report *r);

/*
 * Returning memory to the OS. An arena whose pools are all free is unmapped (CPython's policy) — but not at once:
 * it is kept mapped, empty, for the arena decay time and reused first if the program allocates again meanwhile,
 * which saves the page faults of refilling a freshly mapped arena (bench/alloc, workloads b and c). One spare
 * arena is kept as in CPython. The decay time defaults to 1000 ms, or MEMSCOPE_ARENA_DECAY_MS (milliseconds) read
 * at the first allocation; 0 unmaps empty arenas immediately, exactly as CPython does. Expired arenas are unmapped
 * on the allocator's slow paths and in ms_poll(), so a program that stops allocating altogether keeps them until
 * its next ms_poll(), ms_mem_trim() or allocation.
 */
/* Sets the decay time (0 or more milliseconds; -EINVAL otherwise) and applies it to the arenas already cached. */
MS_API int ms_mem_set_arena_decay_ms(int64_t ms);
MS_API int64_t ms_mem_arena_decay_ms(void);
/* Unmaps every empty arena now, the cached ones and the spare (like malloc_trim). Returns how many. */
MS_API size_t ms_mem_trim(void);

/*
 * Walks every arena and pool and checks the allocator's invariants (free lists inside their pool, counts that
 * match, arena lists ordered). Returns 0, or -EFAULT after reporting the first broken invariant through the
 * fault handler. O(heap): a test and debugging aid. Needs the runtime lock in multi-threaded programs.
 */
MS_API int ms_mem_validate(void);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_MEM_H */

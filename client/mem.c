/*
 * mem.c — the allocation entry points: route each request to the pools or to the system allocator, keep the
 * heap statistics, and call the tracing hooks.
 *
 * System-path blocks carry a 16-byte header in front of the user's pointer:
 *
 *      malloc() result                 pointer returned to the user (16-byte aligned)
 *      v                               v
 *      +---------------+---------------+-----------------------------+
 *      | size (8 B)    | size ^ MAGIC  |  size bytes                 |
 *      +---------------+---------------+-----------------------------+
 *
 * The size makes system_bytes_in_use exact (the requested bytes, not malloc's rounding) and gives realloc the old
 * size; the check word catches most frees of foreign pointers before they reach glibc.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/mem.h>

#include "internal.h"
#include "obmalloc.h"

#define SMALL MS_SMALL_THRESHOLD
#define SYS_HEADER 16
#define SYS_MAGIC ((size_t)0x6d656d73636f7065ULL) /* "memscope" */

typedef struct sys_header {
    size_t size;
    size_t check;
} sys_header;
_Static_assert(sizeof(sys_header) == SYS_HEADER, "system header keeps 16-byte alignment");

const ms__mem_hooks *_Atomic ms__mem_hooks_active;

/* ms_malloc_at's fast path serves n when n - 1 < malloc_fast_limit: SMALL - 1 normally, 0 while hooks are
 * installed. One compare then says both "small" and "not traced". */
static _Atomic size_t malloc_fast_limit = SMALL - 1;
/* ms_free's fast path reads the arena map slot of p when p >> ARENA_BITS < free_fast_limit: the map's length
 * normally, 0 while hooks are installed or before the map exists. One compare: "mapped, in range, not traced". */
static _Atomic uintptr_t free_fast_limit;

static inline const ms__mem_hooks *hooks(void)
{
    return atomic_load_explicit(&ms__mem_hooks_active, memory_order_relaxed);
}

void ms__mem_update_fast_paths(void)
{
    bool traced = hooks() != NULL;
    atomic_store_explicit(&malloc_fast_limit, traced ? 0 : SMALL - 1, memory_order_relaxed);
    atomic_store_explicit(&free_fast_limit, traced ? 0 : ms__arena_map_len, memory_order_relaxed);
}

void ms__mem_set_hooks(const ms__mem_hooks *h)
{
    atomic_store_explicit(&ms__mem_hooks_active, h, memory_order_release);
    ms__mem_update_fast_paths();
}

/* ---- System path ------------------------------------------------------------------------------------------- */

static void *sys_alloc(size_t n, int zero)
{
    if (n > SIZE_MAX - SYS_HEADER)
        return NULL;
    sys_header *h = zero ? calloc(1, SYS_HEADER + n) : malloc(SYS_HEADER + n);
    if (h == NULL)
        return NULL;
    h->size = n;
    h->check = n ^ SYS_MAGIC;
    MS__STAT_ADD(ms__obstats.system_bytes_in_use, n);
    MS__STAT_ADD(ms__obstats.system_allocs, 1);
    return h + 1;
}

/* The header of a system block, or NULL (after reporting) when p does not look like one of ours. */
static sys_header *sys_header_of(void *p)
{
    sys_header *h = (sys_header *)p - 1;
    if (MS_UNLIKELY(h->check != (h->size ^ SYS_MAGIC))) {
        ms__fault("ms_free/ms_realloc: pointer was not returned by memscope (or its header was overwritten)", p);
        return NULL;
    }
    return h;
}

static void sys_free(sys_header *h)
{
    MS__STAT_SUB(ms__obstats.system_bytes_in_use, h->size);
    MS__STAT_ADD(ms__obstats.system_frees, 1);
    h->check = 0; /* a second free of the same block is caught as foreign */
    free(h);
}

/* ---- Entry points -------------------------------------------------------------------------------------------- */

/* A block of n >= 1 bytes, pooled or system, without statistics of calls or hooks. */
static inline void *raw_alloc(size_t n)
{
    return n < SMALL ? ms__pool_alloc(MS__SIZE_CLASS(n)) : sys_alloc(n, 0);
}

static inline void *finish_alloc(void *p, size_t n, const char *file, int line)
{
    if (MS_UNLIKELY(p == NULL)) {
        errno = ENOMEM;
        return NULL;
    }
    const ms__mem_hooks *h = hooks();
    if (MS_UNLIKELY(h != NULL))
        h->on_alloc(p, n, file, line);
    return p;
}

/* Everything ms_malloc_at's fast path leaves out: zero bytes, the system path, a class with no used pool, a
 * pool that needs refilling, tracing. Kept out of line so the fast path needs no stack frame. */
__attribute__((noinline)) static void *malloc_slow(size_t n, const char *file, int line)
{
    if (n == 0)
        n = 1;
    return finish_alloc(raw_alloc(n), n, file, line);
}

void *ms_malloc_at(size_t n, const char *file, int line)
{
    /* n - 1 wraps for n == 0, which therefore takes the slow path, as does everything while tracing. */
    if (MS_LIKELY(n - 1 < atomic_load_explicit(&malloc_fast_limit, memory_order_relaxed))) {
        unsigned cls = MS__SIZE_CLASS(n);
        pool_header *pool = ms__pool_fast(cls);
        if (MS_LIKELY(pool != NULL))
            return ms__pool_take(pool, cls);
    }
    return malloc_slow(n, file, line);
}

void *ms_calloc_at(size_t count, size_t size, const char *file, int line)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (n == 0)
        n = 1;
    void *p;
    if (n < SMALL) {
        p = ms__pool_alloc(MS__SIZE_CLASS(n));
        if (p)
            memset(p, 0, n);
    } else {
        p = sys_alloc(n, 1);
    }
    return finish_alloc(p, n, file, line);
}

/* ms_free's slow path, calling h (NULL: none). */
static inline void free_with(void *p, const ms__mem_hooks *h)
{
    if (p == NULL)
        return;
    pool_header *pool = ms__pool_lookup(p);
    if (pool != NULL) {
        if (MS_UNLIKELY(h != NULL))
            h->on_free(p);
        ms__pool_free(pool, p);
    } else {
        sys_header *sh = sys_header_of(p);
        if (sh == NULL)
            return;
        if (MS_UNLIKELY(h != NULL))
            h->on_free(p);
        sys_free(sh);
    }
}

__attribute__((noinline)) static void free_slow(void *p) { free_with(p, hooks()); }

void ms__free_unhooked(void *p) { free_with(p, NULL); }

void ms_free(void *p)
{
    uintptr_t an = (uintptr_t)p >> ARENA_BITS;
    if (MS_LIKELY(an < atomic_load_explicit(&free_fast_limit, memory_order_relaxed))) {
        pool_header *table = ms__arena_map[an];
        if (MS_LIKELY(table != NULL) && ms__pool_try_push(table + POOL_INDEX(p), p))
            return;
    }
    free_slow(p);
}

void *ms_realloc_at(void *p, size_t n, const char *file, int line)
{
    if (p == NULL)
        return ms_malloc_at(n, file, line);
    if (n == 0)
        n = 1;

    size_t old_size;
    sys_header *sh = NULL;
    pool_header *pool = ms__pool_lookup(p);
    if (pool != NULL) {
        if (ms__pool_check(pool, p) != 0) {
            errno = EINVAL; /* reported: an interior pointer or a freed block */
            return NULL;
        }
        old_size = BLOCK_SIZE(pool->szidx);
        /* Stay put when the request still fits the block and wastes less than a quarter of it (CPython's rule):
         * shrinking a little is not worth a copy. */
        if (n <= old_size && 4 * n > 3 * old_size) {
            const ms__mem_hooks *h = hooks();
            if (MS_UNLIKELY(h != NULL))
                h->on_realloc(p, p, n, file, line);
            return p;
        }
    } else {
        sh = sys_header_of(p);
        if (sh == NULL) {
            errno = EINVAL;
            return NULL;
        }
        old_size = sh->size;
        if (n >= SMALL) {
            /* System to system: let realloc() grow in place when it can. */
            if (n > SIZE_MAX - SYS_HEADER) {
                errno = ENOMEM;
                return NULL;
            }
            sys_header *nh = realloc(sh, SYS_HEADER + n);
            if (nh == NULL) {
                errno = ENOMEM;
                return NULL;
            }
            MS__STAT_ADD(ms__obstats.system_bytes_in_use, n);
            MS__STAT_SUB(ms__obstats.system_bytes_in_use, nh->size);
            nh->size = n;
            nh->check = n ^ SYS_MAGIC;
            const ms__mem_hooks *h = hooks();
            if (MS_UNLIKELY(h != NULL))
                h->on_realloc(p, nh + 1, n, file, line);
            return nh + 1;
        }
    }

    /* Move: pool -> pool of another class, pool -> system, or system -> pool. */
    void *np = raw_alloc(n);
    if (np == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(np, p, old_size < n ? old_size : n);
    if (sh)
        sys_free(sh);
    else
        ms__pool_free(pool, p);
    const ms__mem_hooks *h = hooks();
    if (MS_UNLIKELY(h != NULL))
        h->on_realloc(p, np, n, file, line);
    return np;
}

/* The plain functions, for callers that take their address. The parentheses stop the macros from expanding. */
void *(ms_malloc)(size_t n) { return ms_malloc_at(n, NULL, 0); }
void *(ms_calloc)(size_t count, size_t size) { return ms_calloc_at(count, size, NULL, 0); }
void *(ms_realloc)(void *p, size_t n) { return ms_realloc_at(p, n, NULL, 0); }

bool ms_mem_is_pooled(const void *p) { return p != NULL && ms__pool_owns(p); }

size_t ms_mem_usable_size(const void *p)
{
    if (p == NULL)
        return 0;
    if (ms__pool_owns(p))
        return ms__pool_block_size(p);
    sys_header *sh = sys_header_of((void *)p);
    return sh ? sh->size : 0;
}

size_t ms_mem_small_threshold(void) { return SMALL; }

/* ---- Statistics ---------------------------------------------------------------------------------------------- */

size_t ms_pool_class_count(void) { return MS__NB_CLASSES; }

/* One walk over the pool headers for all classes (ms__pool_in_use). */
static void class_stats_all(ms_pool_class_stats out[MS__NB_CLASSES])
{
    uint64_t in_use[MS__NB_CLASSES];
    ms__pool_in_use(in_use);
    for (unsigned c = 0; c < MS__NB_CLASSES; c++) {
        uint64_t pools = MS__STAT_GET(ms__obstats.class_pools[c]);
        uint64_t capacity = pools * ms__pool_capacity(c);
        out[c].block_size = (uint64_t)(c + 1) * MS__CLASS_GRAIN;
        out[c].pools = pools;
        out[c].blocks_in_use = in_use[c];
        /* The pool count and the walk are a moment apart when another thread reads: never report a negative
         * free count. */
        out[c].blocks_free = capacity > in_use[c] ? capacity - in_use[c] : 0;
    }
}

void ms_pool_class_stats_get(size_t i, ms_pool_class_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (i >= MS__NB_CLASSES)
        return;
    ms_pool_class_stats all[MS__NB_CLASSES];
    class_stats_all(all);
    *out = all[i];
}

size_t ms_pool_class_stats_get_all(ms_pool_class_stats *out, size_t n)
{
    ms_pool_class_stats all[MS__NB_CLASSES];
    class_stats_all(all);
    size_t k = n < MS__NB_CLASSES ? n : MS__NB_CLASSES;
    if (out != NULL)
        memcpy(out, all, k * sizeof *out);
    return MS__NB_CLASSES;
}

void ms_heap_stats_get(ms_heap_stats *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t in_use[MS__NB_CLASSES];
    ms__pool_in_use(in_use);
    for (unsigned c = 0; c < MS__NB_CLASSES; c++) {
        out->blocks_in_use += in_use[c];
        out->pool_bytes_in_use += in_use[c] * (uint64_t)(c + 1) * MS__CLASS_GRAIN;
        out->pools_in_use += MS__STAT_GET(ms__obstats.class_pools[c]);
    }
    (void)ms__in_use_totals(&ms__obstats.pool_allocs, &ms__obstats.pool_frees, &out->allocs_total,
                            &out->frees_total);
    out->system_bytes_in_use = MS__STAT_GET(ms__obstats.system_bytes_in_use);
    out->system_blocks_in_use = ms__in_use_totals(&ms__obstats.system_allocs, &ms__obstats.system_frees,
                                                  &out->allocs_total, &out->frees_total);
    out->arenas_mapped = MS__STAT_GET(ms__obstats.arenas_mapped);
    out->arenas_allocated_total = MS__STAT_GET(ms__obstats.arenas_allocated_total);
    out->arenas_released_total = MS__STAT_GET(ms__obstats.arenas_released_total);
    out->arenas_highwater = MS__STAT_GET(ms__obstats.arenas_highwater);
    out->arenas_cached = MS__STAT_GET(ms__obstats.arenas_cached);
    out->arena_size = ms__arena_size();
    out->pool_size = ms__pool_size();
    out->arena_bytes_mapped = out->arenas_mapped * out->arena_size;
}

static void row(FILE *out, const char *label, uint64_t value)
{
    fprintf(out, "%-38s= %20" PRIu64 "\n", label, value);
}

void ms_debug_mallocstats(FILE *out)
{
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    fprintf(out, "Small block threshold = %d, in %d size classes.\n\n", SMALL, MS__NB_CLASSES);
    fprintf(out, "class   size   num pools   blocks in use  avail blocks\n");
    fprintf(out, "-----   ----   ---------   -------------  ------------\n");
    uint64_t avail_bytes = 0, quantization = 0;
    ms_pool_class_stats all[MS__NB_CLASSES];
    class_stats_all(all);
    for (size_t i = 0; i < MS__NB_CLASSES; i++) {
        const ms_pool_class_stats cs = all[i];
        if (cs.pools == 0)
            continue;
        fprintf(out, "%5zu %6" PRIu64 " %11" PRIu64 " %15" PRIu64 " %13" PRIu64 "\n", i, cs.block_size, cs.pools,
                cs.blocks_in_use, cs.blocks_free);
        avail_bytes += cs.blocks_free * cs.block_size;
        quantization += cs.pools * (hs.pool_size - ms__pool_capacity((unsigned)i) * cs.block_size);
    }
    fputc('\n', out);
    row(out, "# arenas allocated total", hs.arenas_allocated_total);
    row(out, "# arenas reclaimed", hs.arenas_released_total);
    row(out, "# arenas highwater mark", hs.arenas_highwater);
    row(out, "# arenas allocated current", hs.arenas_mapped);
    row(out, "# arenas kept empty (decay)", hs.arenas_cached);
    char label[64];
    snprintf(label, sizeof label, "%" PRIu64 " arenas * %" PRIu64 " bytes/arena", hs.arenas_mapped, hs.arena_size);
    row(out, label, hs.arena_bytes_mapped);
    fputc('\n', out);
    uint64_t pools_total = hs.arena_bytes_mapped / hs.pool_size;
    uint64_t unused_pools = pools_total - hs.pools_in_use;
    row(out, "# bytes in allocated blocks", hs.pool_bytes_in_use);
    row(out, "# bytes in available blocks", avail_bytes);
    snprintf(label, sizeof label, "%" PRIu64 " unused pools * %" PRIu64 " bytes", unused_pools, hs.pool_size);
    row(out, label, unused_pools * hs.pool_size);
    row(out, "# bytes lost to quantization", quantization);
    row(out, "Total", hs.pool_bytes_in_use + avail_bytes + unused_pools * hs.pool_size + quantization);
    /* Pool headers are not in the arenas (see obmalloc.c), so they are outside CPython's Total. */
    row(out, "# bytes in pool header tables", hs.arenas_mapped * ms__pool_header_table_size());
    fputc('\n', out);
    row(out, "# system-path blocks in use", hs.system_blocks_in_use);
    row(out, "# system-path bytes in use", hs.system_bytes_in_use);
}

/*
 * trace_table.c — the tracer's live table of traces, block address -> (size, traceback id), and the tracer's
 * memory accounting.
 *
 * Both run inside the allocation hooks, so they take their memory from libc (never from the memscope heap) and
 * every byte is counted for ms_trace_get_memory().
 *
 * Traces: block address -> (size, traceback id), in page records found through a small directory; see the
 * comment of the Traces section for why and for its invariants. The tracebacks are in trace_tracebacks.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/mem.h>

#include "hashtable.h"
#include "trace_internal.h"

/* ---- The tracer's own memory ------------------------------------------------------------------------------ */

static ms__counter mem_usage;

void *ms__trace_mem_calloc(size_t n)
{
    void *p = calloc(1, n);
    if (p)
        MS__STAT_ADD(mem_usage, n);
    return p;
}

void *ms__trace_mem_realloc(void *p, size_t old_n, size_t new_n)
{
    void *q = realloc(p, new_n);
    if (q) {
        MS__STAT_SUB(mem_usage, old_n);
        MS__STAT_ADD(mem_usage, new_n);
    }
    return q;
}

void ms__trace_mem_free(void *p, size_t n)
{
    if (!p)
        return;
    free(p);
    MS__STAT_SUB(mem_usage, n);
}

size_t ms__trace_mem_usage(void) { return (size_t)MS__STAT_GET(mem_usage); }

const msc_mem_ops ms__trace_mem = {ms__trace_mem_calloc, ms__trace_mem_free};

/* ---- The birth clock (trace_internal.h) --------------------------------------------------------------------- */

_Atomic uint32_t ms__trace_clock_s;

void ms__trace_tick(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    atomic_store_explicit(&ms__trace_clock_s, (uint32_t)ts.tv_sec, memory_order_relaxed);
}

/* ---- Traces ---------------------------------------------------------------------------------------------- */

/*
 * Blocks are 16-byte aligned (MS_ALIGNMENT), so an address is a page number (p >> PAGE_SHIFT) and a grain
 * (which 16-byte slot of the page). A page record holds the trace of every grain of one 4 KiB page, and a
 * directory (hashtable.h: slots of record pointers, the page number as the hash) finds the record.
 * Why not one hash table of addresses: consecutive allocations sit next to each other (a pool hands out its
 * blocks in address order), and here they land in the same record, usually the one remembered from the
 * previous call, so tracing a loop touches a few cache lines sequentially instead of one random line of a
 * multi-megabyte table per call.
 *   Invariants: rec->live == number of grains with tb1 != 0; a record is in the directory iff live > 0;
 *               last_rec, when set, is in the directory; the directory's own (hashtable.h).
 * Sizes are stored in 32 bits; the rare block of 4 GiB or more stores BIG_SIZE and its size in `big`.
 */
#define PAGE_SHIFT 12
#define GRAIN_SHIFT 4
#define GRAINS (1u << (PAGE_SHIFT - GRAIN_SHIFT))
#define BIG_SIZE UINT32_MAX
#define MAX_SPARE_RECS 16

_Static_assert(MS_ALIGNMENT == 1 << GRAIN_SHIFT, "one grain per aligned block start");

typedef struct page_rec {
    uintptr_t page;       /* address >> PAGE_SHIFT */
    uint32_t live;        /* grains holding a trace */
    uint32_t tb1[GRAINS]; /* traceback id + 1; 0: no trace at this grain */
    uint32_t size[GRAINS];
    uint32_t birth[GRAINS]; /* ms__trace_clock_s at the record */
    struct page_rec *next_spare;
} page_rec;

/* The directory: slots hold record pointers (NULL: empty), hashed by the record's page number. */
static bool dir_used(const void *slot) { return *(page_rec *const *)slot != NULL; }
static uint64_t dir_hash(const void *slot) { return (*(page_rec *const *)slot)->page; }
static bool dir_match(const void *slot, const void *page)
{
    return (*(page_rec *const *)slot)->page == *(const uintptr_t *)page;
}
static const msc_ht_type dir_type = {sizeof(page_rec *), 256, dir_used, dir_hash, &ms__trace_mem};

static msc_hashtable dir = MSC_HASHTABLE_INIT;
static page_rec *last_rec;        /* the record used last, or NULL; always in the directory */
static page_rec *spare_recs;      /* emptied records kept for reuse (allocation churn at a page's edge) */
static unsigned spare_count;
static size_t traces_count;

typedef struct big_size {
    uintptr_t ptr;
    size_t size;
} big_size;
static big_size *big;
static size_t big_len, big_cap;

/* Inlined into the hooks' paths: one call less per traced malloc and free (bench/trace, start(1): 2.5 ns per
 * list element when GCC left it out of line). */
static MSC_ALWAYS_INLINE page_rec *dir_find(uintptr_t page)
{
    if (last_rec && last_rec->page == page)
        return last_rec;
    page_rec **slot = msc_ht_find(&dir, &dir_type, page, dir_match, &page);
    return slot ? (last_rec = *slot) : NULL;
}

/* A new empty record for page, in the directory; NULL when out of memory. */
static page_rec *rec_add(uintptr_t page)
{
    if (msc_ht_reserve(&dir, &dir_type) < 0)
        return NULL;
    page_rec *r = spare_recs;
    if (r) {
        spare_recs = r->next_spare;
        spare_count--;
        memset(r->tb1, 0, sizeof r->tb1);
    } else if (!(r = ms__trace_mem_calloc(sizeof *r))) {
        return NULL;
    }
    ms__trace_tick();
    r->page = page;
    r->live = 0;
    *(page_rec **)msc_ht_probe(&dir, &dir_type, page, NULL, NULL) = r;
    msc_ht_added(&dir);
    return last_rec = r;
}

/* Keeps the empty record r, out of the directory, as a spare, or frees it. */
static void rec_retire(page_rec *r)
{
    if (spare_count < MAX_SPARE_RECS) {
        r->next_spare = spare_recs;
        spare_recs = r;
        spare_count++;
    } else {
        ms__trace_mem_free(r, sizeof *r);
    }
}

/* Takes the empty record r out of the directory. */
static void rec_drop(page_rec *r)
{
    msc_ht_remove(&dir, &dir_type, msc_ht_find(&dir, &dir_type, r->page, dir_match, &r->page));
    if (last_rec == r)
        last_rec = NULL;
    rec_retire(r);
}

static size_t *big_slot(uintptr_t ptr)
{
    for (size_t i = 0; i < big_len; i++)
        if (big[i].ptr == ptr)
            return &big[i].size;
    return NULL;
}

static void big_forget(uintptr_t ptr)
{
    size_t *sz = big_slot(ptr);
    if (sz) {
        big_size *b = (big_size *)(void *)((char *)sz - offsetof(big_size, size));
        *b = big[--big_len];
    }
}

static size_t stored_size(const page_rec *r, unsigned g)
{
    if (MS_LIKELY(r->size[g] != BIG_SIZE))
        return r->size[g];
    size_t *sz = big_slot((r->page << PAGE_SHIFT) | ((uintptr_t)g << GRAIN_SHIFT));
    return sz ? *sz : BIG_SIZE;
}

/* Stores size for ptr at grain g of r; false when a big size could not be recorded. */
static bool store_size(page_rec *r, unsigned g, uintptr_t ptr, size_t size)
{
    if (MS_LIKELY(size < BIG_SIZE)) {
        r->size[g] = (uint32_t)size;
        return true;
    }
    size_t *sz = big_slot(ptr);
    if (!sz) {
        if (big_len == big_cap) {
            size_t cap = big_cap ? big_cap * 2 : 8;
            big_size *b = ms__trace_mem_realloc(big, big_cap * sizeof *big, cap * sizeof *big);
            if (!b)
                return false;
            big = b;
            big_cap = cap;
        }
        big[big_len] = (big_size){.ptr = ptr};
        sz = &big[big_len++].size;
    }
    *sz = size;
    r->size[g] = BIG_SIZE;
    return true;
}

bool ms__traces_put(uintptr_t ptr, size_t size, uint32_t tb, bool *replaced, size_t *old_size)
{
    if (MS_UNLIKELY(ptr & ((1u << GRAIN_SHIFT) - 1)))
        return false; /* not a block start of ours: cannot be represented */
    uintptr_t page = ptr >> PAGE_SHIFT;
    unsigned g = (unsigned)(ptr >> GRAIN_SHIFT) & (GRAINS - 1);
    page_rec *r = dir_find(page);
    if (!r && !(r = rec_add(page)))
        return false;
    bool had = r->tb1[g] != 0;
    size_t old = had ? stored_size(r, g) : 0;
    bool old_big = had && r->size[g] == BIG_SIZE;
    /* store_size() fails only before writing anything: an older record stays whole for the caller to drop. */
    if (MS_UNLIKELY(!store_size(r, g, ptr, size))) {
        if (r->live == 0)
            rec_drop(r);
        return false;
    }
    if (MS_UNLIKELY(old_big && size < BIG_SIZE))
        big_forget(ptr);
    if (!had) {
        r->live++;
        traces_count++;
    }
    r->tb1[g] = tb + 1;
    r->birth[g] = atomic_load_explicit(&ms__trace_clock_s, memory_order_relaxed);
    *replaced = had;
    *old_size = old;
    return true;
}

/* The record and grain of a traced block at ptr, or NULL when ptr is not traced. */
static inline page_rec *traced_at(uintptr_t ptr, unsigned *g)
{
    if (ptr & ((1u << GRAIN_SHIFT) - 1))
        return NULL;
    page_rec *r = dir_find(ptr >> PAGE_SHIFT);
    *g = (unsigned)(ptr >> GRAIN_SHIFT) & (GRAINS - 1);
    return r && r->tb1[*g] ? r : NULL;
}

bool ms__traces_find(uintptr_t ptr, ms__trace_entry *out)
{
    unsigned g;
    page_rec *r = traced_at(ptr, &g);
    if (!r)
        return false;
    *out = (ms__trace_entry){.ptr = ptr, .size = stored_size(r, g), .tb = r->tb1[g] - 1, .birth_s = r->birth[g]};
    return true;
}

bool ms__traces_remove(uintptr_t ptr, size_t *size, uint32_t *tb)
{
    unsigned g;
    page_rec *r = traced_at(ptr, &g);
    if (!r)
        return false;
    *size = stored_size(r, g);
    if (tb)
        *tb = r->tb1[g] - 1;
    if (MS_UNLIKELY(r->size[g] == BIG_SIZE))
        big_forget(ptr);
    r->tb1[g] = 0;
    traces_count--;
    if (--r->live == 0)
        rec_drop(r);
    return true;
}

/* The record in directory slot i, or NULL. */
static page_rec *dir_at(size_t i) { return *(page_rec **)msc_ht_slot(&dir, &dir_type, i); }

void ms__traces_foreach(void (*fn)(const ms__trace_entry *e, void *arg), void *arg)
{
    for (size_t i = 0; i < dir.cap; i++) {
        const page_rec *r = dir_at(i);
        for (unsigned g = 0; r && g < GRAINS; g++) {
            if (!r->tb1[g])
                continue;
            ms__trace_entry e = {.ptr = (r->page << PAGE_SHIFT) | ((uintptr_t)g << GRAIN_SHIFT),
                                 .size = stored_size(r, g), .tb = r->tb1[g] - 1, .birth_s = r->birth[g]};
            fn(&e, arg);
        }
    }
}

void ms__traces_in_range(uintptr_t lo, uintptr_t hi, size_t stride,
                         void (*fn)(const ms__trace_entry *e, void *arg), void *arg)
{
    const page_rec *r = NULL;
    uintptr_t page = 0;
    for (uintptr_t ptr = lo; ptr < hi; ptr += stride) {
        if (!r || ptr >> PAGE_SHIFT != page) {
            page = ptr >> PAGE_SHIFT;
            r = dir_find(page);
            if (!r) { /* no record on this page: go to the first address of the next one */
                uintptr_t next = (page + 1) << PAGE_SHIFT;
                ptr += (next - ptr + stride - 1) / stride * stride - stride;
                continue;
            }
        }
        unsigned g = (unsigned)(ptr >> GRAIN_SHIFT) & (GRAINS - 1);
        if (!r->tb1[g])
            continue;
        ms__trace_entry e = {.ptr = ptr, .size = stored_size(r, g), .tb = r->tb1[g] - 1, .birth_s = r->birth[g]};
        fn(&e, arg);
    }
}

void ms__traces_clear(bool release)
{
    for (size_t i = 0; i < dir.cap; i++) {
        page_rec *r = dir_at(i);
        if (!r)
            continue;
        if (release)
            ms__trace_mem_free(r, sizeof *r);
        else
            rec_retire(r);
    }
    msc_ht_clear(&dir, &dir_type);
    traces_count = 0;
    last_rec = NULL;
    big_len = 0;
    if (release) {
        while (spare_recs) {
            page_rec *r = spare_recs;
            spare_recs = r->next_spare;
            ms__trace_mem_free(r, sizeof *r);
        }
        spare_count = 0;
        msc_ht_free(&dir, &dir_type);
        ms__trace_mem_free(big, big_cap * sizeof *big);
        big = NULL;
        big_cap = 0;
    }
}

bool ms__traces_valid(uint32_t ntb)
{
    size_t live = 0;
    bool last_ok = last_rec == NULL; /* the remembered record must be in the directory */
    for (size_t i = 0; i < dir.cap; i++) {
        const page_rec *r = dir_at(i);
        if (!r)
            continue;
        last_ok = last_ok || r == last_rec;
        uint32_t n = 0;
        for (unsigned g = 0; g < GRAINS; g++) {
            if (!r->tb1[g])
                continue;
            n++;
            if (r->tb1[g] - 1 >= ntb)
                return false;
        }
        if (n == 0 || n != r->live)
            return false;
        live += n;
    }
    return msc_ht_valid(&dir, &dir_type) && live == traces_count && last_ok;
}

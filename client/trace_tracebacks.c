/*
 * trace_tracebacks.c — the tracer's interned raw tracebacks: (file, line, return addresses) -> dense id.
 *
 * Runs inside the allocation hooks: memory from libc through ms__trace_mem_* (counted), never the memscope heap.
 * Each distinct traceback is stored once, in bump-allocated chunks; `tb_index` (open addressing over ids) finds
 * an existing one by content; ids are dense so snapshots can aggregate per traceback with a plain array.
 *   Invariant: tb_count <= tb_index_cap / 2; tbs[id] and tb_hash[id] are set for every id < tb_count.
 * nframes == 1 tracebacks are (file, line) pairs; a one-entry cache makes a loop allocating at one line skip
 * the index entirely.
 */
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"

#define TB_CHUNK_SIZE (64u * 1024u)

typedef struct tb_chunk {
    struct tb_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} tb_chunk;

static tb_chunk *tb_chunks;
static ms__tb **tbs;      /* id -> traceback */
static uint32_t *tb_hash; /* id -> hash, kept to rehash the index without touching the tracebacks */
static uint32_t tb_count, tb_cap;
static uint32_t *tb_index; /* open addressing over ids, MS__TB_NONE = empty */
static uint32_t tb_index_cap;

/* The last (file, line) interned without addresses: loops allocating at one line hit it every time. */
static const char *last_file;
static int last_line = -1;
static uint32_t last_id = MS__TB_NONE;

static uint32_t tb_hash_of(const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    uint64_t h = (uint64_t)(uintptr_t)file * UINT64_C(0x9E3779B97F4A7C15);
    h ^= (uint64_t)(uint32_t)line + UINT64_C(0x632BE59BD9B4E019) + (h << 6) + (h >> 2);
    for (uint32_t i = 0; i < naddrs; i++) {
        h ^= (uint64_t)addrs[i] * UINT64_C(0xC2B2AE3D27D4EB4F);
        h = (h << 27 | h >> 37) * UINT64_C(0x9E3779B97F4A7C15);
    }
    return (uint32_t)(h ^ (h >> 32));
}

static void *tb_bump(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!tb_chunks || tb_chunks->size - tb_chunks->used < n) {
        size_t size = n > TB_CHUNK_SIZE ? n : TB_CHUNK_SIZE;
        tb_chunk *c = ms__trace_mem_calloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->size = size;
        c->next = tb_chunks;
        tb_chunks = c;
    }
    void *p = tb_chunks->data + tb_chunks->used;
    tb_chunks->used += n;
    return p;
}

static bool tb_index_grow(void)
{
    uint32_t cap = tb_index_cap ? tb_index_cap * 2 : 256;
    uint32_t *idx = ms__trace_mem_calloc((size_t)cap * sizeof *idx);
    if (!idx)
        return false;
    memset(idx, 0xff, (size_t)cap * sizeof *idx);
    for (uint32_t id = 0; id < tb_count; id++) {
        uint32_t i = tb_hash[id] & (cap - 1);
        while (idx[i] != MS__TB_NONE)
            i = (i + 1) & (cap - 1);
        idx[i] = id;
    }
    ms__trace_mem_free(tb_index, (size_t)tb_index_cap * sizeof *tb_index);
    tb_index = idx;
    tb_index_cap = cap;
    return true;
}

static bool tb_same(const ms__tb *tb, const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    return tb->file == file && tb->line == line && tb->naddrs == naddrs &&
           (naddrs == 0 || memcmp(tb->addrs, addrs, naddrs * sizeof *addrs) == 0);
}

/* The id of an interned traceback equal to (file, line, addrs), or MS__TB_NONE. */
static uint32_t tb_lookup(uint32_t h, const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    if (!tb_index_cap)
        return MS__TB_NONE;
    for (uint32_t i = h & (tb_index_cap - 1); tb_index[i] != MS__TB_NONE; i = (i + 1) & (tb_index_cap - 1)) {
        uint32_t id = tb_index[i];
        if (tb_hash[id] == h && tb_same(tbs[id], file, line, addrs, naddrs))
            return id;
    }
    return MS__TB_NONE;
}

/* Stores a new traceback and indexes it; MS__TB_NONE when out of memory (nothing changed that matters). */
static uint32_t tb_insert(uint32_t h, const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    if (tb_count == UINT32_MAX - 1)
        return MS__TB_NONE;
    if ((tb_count + 1) * 2 > tb_index_cap && !tb_index_grow())
        return MS__TB_NONE;
    if (tb_count == tb_cap) {
        /* Grow both arrays or neither: allocate the new ones first, then copy. */
        uint32_t cap = tb_cap ? tb_cap * 2 : 256;
        ms__tb **t = ms__trace_mem_calloc((size_t)cap * sizeof *t);
        uint32_t *hs = t ? ms__trace_mem_calloc((size_t)cap * sizeof *hs) : NULL;
        if (!hs) {
            ms__trace_mem_free(t, (size_t)cap * sizeof *t);
            return MS__TB_NONE;
        }
        if (tb_count) {
            memcpy(t, tbs, (size_t)tb_count * sizeof *t);
            memcpy(hs, tb_hash, (size_t)tb_count * sizeof *hs);
        }
        ms__trace_mem_free(tbs, (size_t)tb_cap * sizeof *tbs);
        ms__trace_mem_free(tb_hash, (size_t)tb_cap * sizeof *tb_hash);
        tbs = t;
        tb_hash = hs;
        tb_cap = cap;
    }
    ms__tb *tb = tb_bump(sizeof *tb + (size_t)naddrs * sizeof *addrs);
    if (!tb)
        return MS__TB_NONE;
    tb->file = file;
    tb->line = line;
    tb->naddrs = naddrs;
    if (naddrs)
        memcpy(tb->addrs, addrs, naddrs * sizeof *addrs);
    uint32_t id = tb_count++;
    tbs[id] = tb;
    tb_hash[id] = h;
    uint32_t i = h & (tb_index_cap - 1);
    while (tb_index[i] != MS__TB_NONE)
        i = (i + 1) & (tb_index_cap - 1);
    tb_index[i] = id;
    return id;
}

uint32_t ms__tb_intern(const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    if (naddrs == 0 && file == last_file && line == last_line)
        return last_id;
    uint32_t h = tb_hash_of(file, line, addrs, naddrs);
    uint32_t id = tb_lookup(h, file, line, addrs, naddrs);
    if (id == MS__TB_NONE)
        id = tb_insert(h, file, line, addrs, naddrs);
    if (naddrs == 0 && id != MS__TB_NONE) {
        last_file = file;
        last_line = line;
        last_id = id;
    }
    return id;
}

const ms__tb *ms__tb_get(uint32_t id) { return id < tb_count ? tbs[id] : NULL; }

uint32_t ms__tb_count(void) { return tb_count; }

void ms__tb_clear(bool release)
{
    last_file = NULL;
    last_line = -1;
    last_id = MS__TB_NONE;
    tb_count = 0;
    /* Keep one chunk and the arrays for reuse unless asked to release everything. */
    while (tb_chunks && (release || tb_chunks->next)) {
        tb_chunk *c = tb_chunks;
        tb_chunks = c->next;
        ms__trace_mem_free(c, sizeof *c + c->size);
    }
    if (tb_chunks)
        tb_chunks->used = 0;
    if (release) {
        ms__trace_mem_free(tbs, (size_t)tb_cap * sizeof *tbs);
        ms__trace_mem_free(tb_hash, (size_t)tb_cap * sizeof *tb_hash);
        ms__trace_mem_free(tb_index, (size_t)tb_index_cap * sizeof *tb_index);
        tbs = NULL;
        tb_hash = NULL;
        tb_index = NULL;
        tb_cap = tb_index_cap = 0;
    } else if (tb_index) {
        memset(tb_index, 0xff, (size_t)tb_index_cap * sizeof *tb_index);
    }
}

bool ms__tb_valid(void)
{
    if ((uint64_t)tb_count * 2 > tb_index_cap || tb_count > tb_cap)
        return false;
    for (uint32_t id = 0; id < tb_count; id++) {
        const ms__tb *tb = tbs[id];
        if (tb_hash[id] != tb_hash_of(tb->file, tb->line, tb->addrs, tb->naddrs) ||
            tb_lookup(tb_hash[id], tb->file, tb->line, tb->addrs, tb->naddrs) != id)
            return false;
    }
    return true;
}

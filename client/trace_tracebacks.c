/*
 * trace_tracebacks.c — the tracer's interned raw tracebacks: (file, line, return addresses) -> dense id.
 *
 * Runs inside the allocation hooks: memory from libc through ms__trace_mem (counted), never the memscope heap.
 * Each distinct traceback is stored once, in a bump allocator (bump.h); `tb_index` (hashtable.h: slots of id + 1,
 * hashed by the traceback's content) finds an existing one; ids are dense so snapshots can aggregate per
 * traceback with a plain array.
 *   Invariant: tb_index holds exactly the ids < tb_count; tbs[id] and tb_hash[id] are set for every id < tb_count.
 * nframes == 1 tracebacks are (file, line) pairs; a one-entry cache makes a loop allocating at one line skip
 * the index entirely.
 */
#include <stdlib.h>
#include <string.h>

#include "bump.h"
#include "hashtable.h"
#include "trace_internal.h"

#define TB_CHUNK_SIZE (64u * 1024u)

static ms__bump tb_mem = MS__BUMP_INIT(TB_CHUNK_SIZE, &ms__trace_mem);
static ms__tb **tbs;      /* id -> traceback */
static uint32_t *tb_hash; /* id -> hash, kept to rehash the index without touching the tracebacks */
static uint32_t tb_count, tb_cap;

/* The index: a slot holds id + 1 (0: empty), hashed by tb_hash[id]. */
static bool index_used(const void *slot) { return *(const uint32_t *)slot != 0; }
static uint64_t index_hash(const void *slot) { return tb_hash[*(const uint32_t *)slot - 1]; }
static const msc_ht_type index_type = {sizeof(uint32_t), 256, index_used, index_hash, &ms__trace_mem};
static msc_hashtable tb_index = MSC_HASHTABLE_INIT;

/* The last (file, line) interned without addresses: loops allocating at one line hit it every time. */
static const char *last_file;
static int last_line = -1;
static uint32_t last_id = MS__TB_NONE;

/* The hash of a traceback: its addresses, seeded with the call site. Kept in 32 bits (tb_hash). */
static uint32_t tb_hash_of(const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    uint64_t seed = (uint64_t)(uintptr_t)file * UINT64_C(0x9E3779B97F4A7C15) ^ (uint32_t)line;
    uint64_t h = msc_hash_bytes(addrs, (size_t)naddrs * sizeof *addrs, seed);
    return (uint32_t)(h ^ (h >> 32));
}

static bool tb_same(const ms__tb *tb, const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    return tb->file == file && tb->line == line && tb->naddrs == naddrs &&
           (naddrs == 0 || memcmp(tb->addrs, addrs, naddrs * sizeof *addrs) == 0);
}

typedef struct tb_key {
    uint32_t hash;
    const char *file;
    int line;
    const uintptr_t *addrs;
    uint32_t naddrs;
} tb_key;

static bool index_match(const void *slot, const void *key)
{
    const tb_key *k = key;
    uint32_t id = *(const uint32_t *)slot - 1;
    return tb_hash[id] == k->hash && tb_same(tbs[id], k->file, k->line, k->addrs, k->naddrs);
}

/* The id of an interned traceback equal to (file, line, addrs), or MS__TB_NONE. */
static uint32_t tb_lookup(uint32_t h, const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    tb_key k = {h, file, line, addrs, naddrs};
    const uint32_t *slot = msc_ht_find(&tb_index, &index_type, h, index_match, &k);
    return slot ? *slot - 1 : MS__TB_NONE;
}

/* Stores a new traceback and indexes it; MS__TB_NONE when out of memory (nothing changed that matters). */
static uint32_t tb_insert(uint32_t h, const char *file, int line, const uintptr_t *addrs, uint32_t naddrs)
{
    if (tb_count == UINT32_MAX - 1 || msc_ht_reserve(&tb_index, &index_type) < 0)
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
    ms__tb *tb = ms__bump_alloc(&tb_mem, sizeof *tb + (size_t)naddrs * sizeof *addrs);
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
    *(uint32_t *)msc_ht_probe(&tb_index, &index_type, h, NULL, NULL) = id + 1;
    msc_ht_added(&tb_index);
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
    /* Keep one chunk, the arrays and the index for reuse unless asked to release everything. */
    if (release) {
        ms__bump_free(&tb_mem);
        ms__trace_mem_free(tbs, (size_t)tb_cap * sizeof *tbs);
        ms__trace_mem_free(tb_hash, (size_t)tb_cap * sizeof *tb_hash);
        msc_ht_free(&tb_index, &index_type);
        tbs = NULL;
        tb_hash = NULL;
        tb_cap = 0;
    } else {
        ms__bump_reset(&tb_mem);
        msc_ht_clear(&tb_index, &index_type);
    }
}

bool ms__tb_valid(void)
{
    if (tb_count > tb_cap || tb_index.count != tb_count || !msc_ht_valid(&tb_index, &index_type))
        return false;
    for (uint32_t id = 0; id < tb_count; id++) {
        const ms__tb *tb = tbs[id];
        if (tb_hash[id] != tb_hash_of(tb->file, tb->line, tb->addrs, tb->naddrs) ||
            tb_lookup(tb_hash[id], tb->file, tb->line, tb->addrs, tb->naddrs) != id)
            return false;
    }
    return true;
}

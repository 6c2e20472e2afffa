/*
 * client/bump.h — the one bump allocator of libmemscope's internals: memory handed out by advancing a cursor
 * through chunks, given back all at once. What a snapshot's tracebacks and strings, the tracer's interned
 * tracebacks and the symbolizer's strings are made of: many small pieces that die together.
 *
 *      head -> [chunk: used | free ] -> [older chunk] -> ...        a request that does not fit the head chunk
 *                                                                   starts a new one (a large request gets a
 *                                                                   chunk of its own size)
 *
 * Invariants: every piece is 16-aligned and zeroed when handed out; `bytes` is the size of all chunks held.
 * Chunks come from the allocator's msc_mem_ops (libc, or the tracer's counted memory), never from the memscope
 * heap. Not thread-safe: one owner.
 */
#ifndef MEMSCOPE_CLIENT_BUMP_H
#define MEMSCOPE_CLIENT_BUMP_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/bump.h is private to libmemscope"
#endif

#include <stddef.h>

#include "hashtable.h"
#include "internal.h"

#pragma GCC visibility push(hidden)

typedef struct ms__bump_chunk ms__bump_chunk;
typedef struct ms__bump {
    ms__bump_chunk *head;   /* the chunk being carved; older ones follow */
    size_t bytes;           /* bytes of all chunks held, headers included */
    size_t chunk_size;      /* the usual chunk's payload */
    const msc_mem_ops *mem; /* where chunks come from */
} ms__bump;

#define MS__BUMP_INIT(chunk_size, mem) {NULL, 0, (chunk_size), (mem)}

/* n zeroed bytes, 16-aligned, valid until ms__bump_reset/ms__bump_free; NULL when out of memory. O(1), plus a
 * chunk allocation now and then. */
void *ms__bump_alloc(ms__bump *b, size_t n);
/* Forgets every piece but keeps the oldest chunk (zeroed again) for what comes next. O(bytes used). */
void ms__bump_reset(ms__bump *b);
/* Gives every chunk back. */
void ms__bump_free(ms__bump *b);

/*
 * A set of NUL-terminated strings (slot: one const char *), which interns them: equal strings share one copy,
 * taken from a bump allocator, so pointer equality is string equality. The descriptor is
 * MS__HT_STR_TYPE(min_cap, mem); its strings' hash is msc_hash_bytes(s, strlen(s), 0).
 */
static inline bool ms__str_used(const void *s) { return *(const char *const *)s != NULL; }
static inline uint64_t ms__str_hash(const void *s)
{
    const char *str = *(const char *const *)s;
    return msc_hash_bytes(str, strlen(str), 0);
}
#define MS__HT_STR_TYPE(min_cap, mem) {sizeof(const char *), (min_cap), ms__str_used, ms__str_hash, (mem)}
/* The interned copy of s[0 .. len) (which holds no NUL byte), copied into `strings` when new; NULL when out of
 * memory. O(len). */
const char *ms__str_intern(msc_hashtable *t, const msc_ht_type *ty, ms__bump *strings, const char *s,
                              size_t len);


#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_BUMP_H */

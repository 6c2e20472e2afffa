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
 * Chunks come from the allocator's ms__mem_ops (libc, or the tracer's counted memory), never from the memscope
 * heap. Not thread-safe: one owner.
 */
#ifndef MEMSCOPE_CLIENT_BUMP_H
#define MEMSCOPE_CLIENT_BUMP_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/bump.h is private to libmemscope"
#endif

#include <stddef.h>

#include "internal.h"

#pragma GCC visibility push(hidden)

typedef struct ms__bump_chunk ms__bump_chunk;
typedef struct ms__bump {
    ms__bump_chunk *head;   /* the chunk being carved; older ones follow */
    size_t bytes;           /* bytes of all chunks held, headers included */
    size_t chunk_size;      /* the usual chunk's payload */
    const ms__mem_ops *mem; /* where chunks come from */
} ms__bump;

#define MS__BUMP_INIT(chunk_size, mem) {NULL, 0, (chunk_size), (mem)}

/* n zeroed bytes, 16-aligned, valid until ms__bump_reset/ms__bump_free; NULL when out of memory. O(1), plus a
 * chunk allocation now and then. */
void *ms__bump_alloc(ms__bump *b, size_t n);
/* Forgets every piece but keeps the oldest chunk (zeroed again) for what comes next. O(bytes used). */
void ms__bump_reset(ms__bump *b);
/* Gives every chunk back. */
void ms__bump_free(ms__bump *b);

#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_BUMP_H */

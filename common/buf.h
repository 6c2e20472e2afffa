/*
 * common/buf.h — the one growable byte buffer of memscope: what the agent's socket queues, the snapshot file
 * writer, the daemon's reads, event streams and metrics, and the CLI's HTTP client build text and bytes in.
 *
 *      data                    data + off           data + off + len            data + cap
 *       |   consumed (free)      |   live bytes        |   room                    |
 *
 * Invariants: off + len <= cap; data == NULL iff cap == 0; when len reaches 0 off returns to 0. Growth doubles
 * (from 256 bytes) so appending n bytes in pieces costs O(n) amortized; consumed space at the front is reclaimed
 * (the live bytes slide down) before the buffer grows. Every function that can fail leaves the buffer as it was.
 * An optional bound (`max`) caps the live bytes, for queues that must not grow without limit.
 *
 * Memory comes from the C library (realloc/free), never from memscope's own allocator, so that the buffer can be
 * used by the agent thread and by code that runs while the allocator is being inspected. Not thread-safe: one
 * owner at a time. Header-only (static inline): every binary compiles its own copy and no symbol is defined.
 */
#ifndef MEMSCOPE_COMMON_BUF_H
#define MEMSCOPE_COMMON_BUF_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct msc_buf {
    char *data;
    size_t off, len, cap;
} msc_buf;

#define MSC_BUF_INIT {NULL, 0, 0, 0}
#define MSC_BUF_UNBOUNDED (SIZE_MAX / 4)

/* The live bytes, and where the next appended byte goes. */
static inline char *msc_buf_bytes(const msc_buf *b)
{
    return b->data ? b->data + b->off : NULL; /* NULL + 0 is undefined behaviour in C */
}

static inline char *msc_buf_tail(const msc_buf *b)
{
    return b->data ? b->data + b->off + b->len : NULL;
}

/* Bytes that can be written at msc_buf_tail() without growing. */
static inline size_t msc_buf_room(const msc_buf *b)
{
    return b->cap - b->off - b->len;
}

/*
 * Makes room for `more` bytes after the live ones. Fails with -ENOBUFS when the live bytes would then exceed max
 * (nothing changes), -ENOMEM when memory runs out (nothing changes). 0 otherwise. O(len) when it slides or grows.
 */
static inline int msc_buf_reserve_max(msc_buf *b, size_t more, size_t max)
{
    if (more > max || b->len > max - more)
        return -ENOBUFS;
    if (b->cap - b->off - b->len >= more)
        return 0;
    if (b->off && b->cap - b->len >= more) { /* enough once the consumed front is reclaimed */
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        return 0;
    }
    size_t need = b->len + more, cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = (char *)malloc(cap);
    if (!d)
        return -ENOMEM;
    if (b->len)
        memcpy(d, b->data + b->off, b->len);
    free(b->data);
    b->data = d;
    b->off = 0;
    b->cap = cap;
    return 0;
}

static inline int msc_buf_reserve(msc_buf *b, size_t more)
{
    return msc_buf_reserve_max(b, more, MSC_BUF_UNBOUNDED);
}

/* Counts n bytes written at msc_buf_tail() (n <= msc_buf_room()) as live. */
static inline void msc_buf_commit(msc_buf *b, size_t n)
{
    b->len += n;
}

/* Appends p[0..n): 0, -ENOBUFS (beyond max) or -ENOMEM; all or nothing. */
static inline int msc_buf_append_max(msc_buf *b, const void *p, size_t n, size_t max)
{
    int rc = msc_buf_reserve_max(b, n, max);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(msc_buf_tail(b), p, n);
    b->len += n;
    return 0;
}

static inline int msc_buf_append(msc_buf *b, const void *p, size_t n)
{
    return msc_buf_append_max(b, p, n, MSC_BUF_UNBOUNDED);
}

static inline int msc_buf_puts(msc_buf *b, const char *s)
{
    return msc_buf_append(b, s, strlen(s));
}

static inline int msc_buf_putc(msc_buf *b, char c)
{
    return msc_buf_append(b, &c, 1);
}

/* Appends printf's output (no NUL counted). 0, -ENOMEM, or -EINVAL for a bad format. */
__attribute__((format(printf, 2, 3))) static inline int msc_buf_printf(msc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msc_buf_tail(b), msc_buf_room(b), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= msc_buf_room(b)) {
        int rc = msc_buf_reserve(b, (size_t)n + 1);
        if (rc < 0)
            return rc;
        va_start(ap, fmt);
        vsnprintf(msc_buf_tail(b), msc_buf_room(b), fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

/* A NUL after the live bytes (not counted in len), for code that wants a C string: the bytes, or NULL when
 * memory runs out. */
static inline char *msc_buf_cstr(msc_buf *b)
{
    if (msc_buf_reserve(b, 1) < 0)
        return NULL;
    *msc_buf_tail(b) = '\0';
    return msc_buf_bytes(b);
}

/* Drops the first n live bytes (n <= len). O(1). */
static inline void msc_buf_consume(msc_buf *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (b->len == 0)
        b->off = 0;
}

/* Forgets the live bytes, keeping the memory. */
static inline void msc_buf_clear(msc_buf *b)
{
    b->off = b->len = 0;
}

/* Gives the memory back when the buffer is empty and holds more than `keep` bytes (a burst is over). */
static inline void msc_buf_shrink_idle(msc_buf *b, size_t keep)
{
    if (b->len == 0 && b->cap > keep) {
        free(b->data);
        b->data = NULL;
        b->off = b->cap = 0;
    }
}

static inline void msc_buf_free(msc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

#endif /* MEMSCOPE_COMMON_BUF_H */

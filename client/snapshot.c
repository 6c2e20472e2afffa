/*
 * snapshot.c — the snapshot object: its memory, lazy symbolization, accessors and filters.
 *
 * A snapshot is a list of distinct tracebacks, each with the number and total size of the live blocks it
 * allocated (ms__snap_trace). Taken live (trace.c) a trace holds the raw form — the macro's file:line and the
 * return addresses — and `tb` stays NULL until the first call that needs names symbolizes all traces at once
 * (ms__snapshot_symbolize). Loaded (snapshot_io.c) or filtered snapshots are born symbolized.
 *
 * Memory: everything but the traces array lives in one bump allocator (bump.h), released at once by
 * ms_snapshot_free().
 * Snapshots belong to the application, so their memory comes from libc but is not part of
 * ms_trace_get_memory() (tracemalloc does not count Snapshot objects either).
 * Strings are interned per snapshot: equal strings inside one snapshot share one pointer.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"

/* A snapshot's bump chunks, and the descriptor of its string set. */
#define SNAPSHOT_CHUNK (32u * 1024u)
static const msc_ht_type strings_type = MS__HT_STR_TYPE(64, &msc_libc_mem);

/* ---- Lifecycle ------------------------------------------------------------------------------------------------ */

ms_snapshot *ms__snapshot_new(int traceback_limit)
{
    ms_snapshot *s = calloc(1, sizeof *s);
    if (s) {
        s->traceback_limit = traceback_limit;
        s->mem = (ms__bump)MS__BUMP_INIT(SNAPSHOT_CHUNK, &msc_libc_mem);
    }
    return s;
}

void ms_snapshot_free(ms_snapshot *s)
{
    if (!s)
        return;
    free(s->traces);
    msc_ht_free(&s->strings, &strings_type);
    ms__bump_free(&s->mem);
    free(s);
}

const char *ms__snapshot_intern(ms_snapshot *s, const char *str, size_t len)
{
    return ms__str_intern(&s->strings, &strings_type, &s->mem, str, len);
}

ms_traceback *ms__snapshot_add_traceback(ms_snapshot *s, const ms_frame *frames, size_t n)
{
    ms_traceback *tb = ms__bump_alloc(&s->mem, sizeof *tb + n * sizeof(ms_frame));
    if (!tb)
        return NULL;
    tb->nframes = n;
    for (size_t i = 0; i < n; i++) {
        const char *file = frames[i].filename ? frames[i].filename : MS__UNKNOWN_FILE;
        tb->frames[i].filename = ms__snapshot_intern(s, file, strlen(file));
        tb->frames[i].lineno = frames[i].lineno;
        tb->frames[i].function =
            frames[i].function ? ms__snapshot_intern(s, frames[i].function, strlen(frames[i].function)) : NULL;
        if (!tb->frames[i].filename || (frames[i].function && !tb->frames[i].function))
            return NULL;
    }
    return tb;
}

int ms__snapshot_append(ms_snapshot *s, ms_traceback *tb, uint64_t size, uint64_t count)
{
    if (s->ntraces == s->traces_cap) {
        size_t cap = s->traces_cap ? s->traces_cap * 2 : 16;
        ms__snap_trace *t = realloc(s->traces, cap * sizeof *t);
        if (!t)
            return -ENOMEM;
        s->traces = t;
        s->traces_cap = cap;
    }
    s->traces[s->ntraces++] = (ms__snap_trace){
        .file = tb->frames[0].filename, .line = tb->frames[0].lineno, .tb = tb, .size = size, .count = count};
    return 0;
}

/* ---- Symbolization ---------------------------------------------------------------------------------------- */

int ms__snapshot_symbolize(const ms_snapshot *cs)
{
    /* Logically const: the symbolized form is a cache of what the raw form already says. */
    ms_snapshot *s = (ms_snapshot *)cs;
    if (atomic_load_explicit(&s->symbolized, memory_order_acquire))
        return 0;
    int rc = 0;
    ms__sym_lock();
    if (!atomic_load_explicit(&s->symbolized, memory_order_relaxed)) {
        ms_frame frames[MS_TRACE_MAX_FRAMES];
        int limit = s->traceback_limit < 1 ? 1 : s->traceback_limit;
        for (size_t i = 0; i < s->ntraces && rc == 0; i++) {
            ms__snap_trace *t = &s->traces[i];
            if (t->tb)
                continue;
            size_t n = ms__sym_frames(t->file, t->line, t->addrs, t->naddrs, limit, frames);
            t->tb = ms__snapshot_add_traceback(s, frames, n);
            if (!t->tb)
                rc = -ENOMEM;
        }
        if (rc == 0)
            atomic_store_explicit(&s->symbolized, true, memory_order_release);
        /* Outside a tracing session nobody will ask again soon: give libdw's memory back. */
        if (!ms_trace_is_tracing())
            ms__sym_release();
    }
    ms__sym_unlock();
    return rc;
}

/* ---- Accessors -------------------------------------------------------------------------------------------- */

void ms_snapshot_get_info(const ms_snapshot *s, ms_snapshot_info *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    out->traceback_limit = s->traceback_limit;
    out->timestamp_ns = s->timestamp_ns;
    out->traced_peak = s->traced_peak;
    out->ntraces = s->ntraces;
    for (size_t i = 0; i < s->ntraces; i++) {
        out->total_size += s->traces[i].size;
        out->total_count += s->traces[i].count;
    }
}

int ms_snapshot_trace(const ms_snapshot *s, size_t i, ms_trace *out)
{
    if (!s || i >= s->ntraces)
        return -EINVAL;
    int rc = ms__snapshot_symbolize(s);
    if (rc)
        return rc;
    out->traceback = s->traces[i].tb;
    out->size = s->traces[i].size;
    out->count = s->traces[i].count;
    return 0;
}

/* ---- Filters ----------------------------------------------------------------------------------------------- */

/* Whether f's pattern (and line) matches frames[0], or any frame with all_frames — inclusive or not. */
static bool filter_matches(const ms_trace_filter *f, const ms_traceback *tb)
{
    size_t n = f->all_frames ? tb->nframes : 1;
    for (size_t i = 0; i < n; i++) {
        const ms_frame *fr = &tb->frames[i];
        if (fnmatch(f->filename_pattern, fr->filename, 0) == 0 && (f->lineno == 0 || fr->lineno == f->lineno))
            return true;
    }
    return false;
}

/* tracemalloc's Snapshot.filter_traces: kept when some inclusive filter matches (if there is any) and no
 * exclusive filter matches. */
static bool keep_trace(const ms_trace_filter *filters, size_t n, const ms_traceback *tb)
{
    bool any_inclusive = false, included = false;
    for (size_t i = 0; i < n; i++) {
        if (filters[i].inclusive) {
            any_inclusive = true;
            included = included || filter_matches(&filters[i], tb);
        } else if (filter_matches(&filters[i], tb)) {
            return false;
        }
    }
    return !any_inclusive || included;
}

ms_snapshot *ms_snapshot_filter(const ms_snapshot *s, const ms_trace_filter *filters, size_t n)
{
    if (!s || (n && !filters)) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!filters[i].filename_pattern) {
            errno = EINVAL;
            return NULL;
        }
    }
    if (ms__snapshot_symbolize(s)) {
        errno = ENOMEM;
        return NULL;
    }
    ms_snapshot *out = ms__snapshot_new(s->traceback_limit);
    if (!out)
        goto fail;
    out->timestamp_ns = s->timestamp_ns;
    out->traced_peak = s->traced_peak;
    atomic_store_explicit(&out->symbolized, true, memory_order_relaxed);
    for (size_t i = 0; i < s->ntraces; i++) {
        const ms__snap_trace *t = &s->traces[i];
        if (!keep_trace(filters, n, t->tb))
            continue;
        ms_traceback *tb = ms__snapshot_add_traceback(out, t->tb->frames, t->tb->nframes);
        if (!tb || ms__snapshot_append(out, tb, t->size, t->count))
            goto fail;
    }
    return out;

fail:
    ms_snapshot_free(out);
    errno = ENOMEM;
    return NULL;
}

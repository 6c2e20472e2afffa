/*
 * trace.c — allocation tracing: start/stop, the hooks mem.c calls, traced memory, snapshots of the live traces.
 * Read on_alloc() first.
 *
 * How a block gets traced
 *   ms_malloc(n)  ->  ms_malloc_at(n, __FILE__, __LINE__)  (mem.c)
 *                       allocates, then, if ms__mem_hooks_active != NULL (ms__mem_set_hooks also closes the
 *                       malloc fast path, so tracing-off costs malloc no extra branch and free one):
 *                       -> on_alloc(p, n, file, line)           (here)
 *                            record(): traceback id  = intern(file, line)                  nframes == 1
 *                                                    = intern(file, line, backtrace())     nframes  > 1
 *                                      traces[p]     = (n, id)                             (trace_table.c)
 *                                      current += n; peak = max(peak, current)
 *   ms_free(p)    ->  on_free(p): traces[p] removed, current -= its size.
 *   ms_realloc    ->  on_realloc(old, new, n, file, line): old's record dropped, new recorded at the realloc's
 *                     line (tracemalloc does the same: a grown block belongs to the line that grew it).
 * Tracebacks stay raw (addresses) until a snapshot needs them symbolized (snapshot.c, trace_symbols.c).
 *
 * State: all under the runtime lock (hooks run with it held). The counters are relaxed atomics so that
 * ms_trace_get_traced_memory() and ms_trace_get_memory() may be read by the agent thread without it.
 */
#include <errno.h>
#include <execinfo.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/mem.h>

#include "trace_internal.h"

/* Return addresses captured beyond nframes: room for libmemscope's own frames above the user's (the hook path,
 * mem.c, the object layer), which the symbolizer drops. */
#define CAPTURE_SLACK 8
/* Frames of this file at the top of every backtrace: capture() and record(), both noinline. */
#define CAPTURE_SKIP 2

static _Atomic int nframes_limit; /* 0: not tracing */
static ms__counter traced_current;
static ms__counter traced_peak;
static ms__counter dropped;

/* Captures the stack and interns it with the call site. noinline: it is one of the CAPTURE_SKIP frames. */
static __attribute__((noinline)) uint32_t capture(const char *file, int line, int nframes)
{
    void *buf[MS_TRACE_MAX_FRAMES + CAPTURE_SLACK + CAPTURE_SKIP];
    uintptr_t addrs[MS_TRACE_MAX_FRAMES + CAPTURE_SLACK + CAPTURE_SKIP];
    int n = backtrace(buf, nframes + CAPTURE_SLACK + CAPTURE_SKIP);
    uint32_t naddrs = 0;
    for (int i = CAPTURE_SKIP; i < n; i++)
        addrs[naddrs++] = (uintptr_t)buf[i];
    return ms__tb_intern(file, line, addrs, naddrs);
}

/* Records block p. noinline: the second CAPTURE_SKIP frame, whichever hook called it. */
static __attribute__((noinline)) void record(void *p, size_t size, const char *file, int line)
{
    int nframes = atomic_load_explicit(&nframes_limit, memory_order_relaxed);
    uint32_t tb = nframes <= 1 ? ms__tb_intern(file, line, NULL, 0) : capture(file, line, nframes);
    bool replaced;
    size_t old_size;
    if (MS_UNLIKELY(tb == MS__TB_NONE || !ms__traces_put((uintptr_t)p, size, tb, &replaced, &old_size))) {
        /* The tracer's tables could not grow: the block stays untraced (a later free of it is harmless). If an
         * older record of this address existed, it is stale now: drop it so current stays exact. */
        size_t stale;
        if (ms__traces_remove((uintptr_t)p, &stale, NULL))
            MS__STAT_SUB(traced_current, stale);
        MS__STAT_ADD(dropped, 1);
        return;
    }
    uint64_t cur = MS__STAT_GET(traced_current) - old_size + size;
    MS__STAT_SET(traced_current, cur);
    if (cur > MS__STAT_GET(traced_peak))
        MS__STAT_SET(traced_peak, cur);
}

static void on_alloc(void *p, size_t size, const char *file, int line) { record(p, size, file, line); }

static void on_free(void *p)
{
    size_t size;
    if (ms__traces_remove((uintptr_t)p, &size, NULL))
        MS__STAT_SUB(traced_current, size);
}

uint32_t ms__trace_free(void *p)
{
    if (!ms_trace_is_tracing()) {
        ms_free(p);
        return MS__TB_NONE;
    }
    size_t size;
    uint32_t tb = MS__TB_NONE;
    if (ms__traces_remove((uintptr_t)p, &size, &tb))
        MS__STAT_SUB(traced_current, size);
    ms__free_unhooked(p); /* on_free's work is done */
    return tb;
}

static void on_realloc(void *old_p, void *new_p, size_t size, const char *file, int line)
{
    /* mem.c may already have called on_free(old_p) for a moving realloc: removing twice is harmless. */
    if (old_p != new_p)
        on_free(old_p);
    record(new_p, size, file, line);
}

static const ms__mem_hooks trace_hooks = {
    .on_alloc = on_alloc,
    .on_free = on_free,
    .on_realloc = on_realloc,
};

int ms_trace_start(int nframes)
{
    if (nframes < 1 || nframes > MS_TRACE_MAX_FRAMES)
        return -EINVAL;
    if (nframes > 1) {
        /* The first backtrace() loads the unwinder (libgcc_s) with dlopen and libc malloc: do it here, not in
         * the middle of an allocation. */
        void *warm[4];
        (void)backtrace(warm, 4);
    }
    ms__trace_tick();
    atomic_store_explicit(&nframes_limit, nframes, memory_order_relaxed);
    ms__mem_set_hooks(&trace_hooks);
    return 0;
}

void ms_trace_stop(void)
{
    ms__mem_set_hooks(NULL);
    atomic_store_explicit(&nframes_limit, 0, memory_order_relaxed);
    ms__traces_clear(true);
    ms__tb_clear(true);
    MS__STAT_SET(traced_current, 0);
    MS__STAT_SET(traced_peak, 0);
    ms__sym_lock();
    ms__sym_release();
    ms__sym_unlock();
}

bool ms_trace_is_tracing(void) { return atomic_load_explicit(&nframes_limit, memory_order_relaxed) != 0; }

int ms_trace_get_traceback_limit(void) { return atomic_load_explicit(&nframes_limit, memory_order_relaxed); }

void ms_trace_get_traced_memory(size_t *current, size_t *peak)
{
    /* Peak first: peak >= current holds for any pair a reader can see as long as peak is read no later. */
    uint64_t p = MS__STAT_GET(traced_peak);
    uint64_t c = MS__STAT_GET(traced_current);
    if (current)
        *current = (size_t)c;
    if (peak)
        *peak = (size_t)(p > c ? p : c);
}

void ms_trace_reset_peak(void)
{
    if (ms_trace_is_tracing())
        MS__STAT_SET(traced_peak, MS__STAT_GET(traced_current));
}

void ms_trace_clear_traces(void)
{
    if (!ms_trace_is_tracing())
        return;
    ms__traces_clear(false);
    ms__tb_clear(false);
    MS__STAT_SET(traced_current, 0);
    MS__STAT_SET(traced_peak, 0);
}

size_t ms_trace_get_memory(void) { return ms__trace_mem_usage(); }

uint64_t ms_trace_get_dropped(void) { return MS__STAT_GET(dropped); }

static void sum_sizes(const ms__trace_entry *e, void *arg) { *(uint64_t *)arg += e->size; }

int ms_trace_validate(void)
{
    uint64_t sum = 0;
    ms__traces_foreach(sum_sizes, &sum);
    const char *broken = !ms__tb_valid()                          ? "tracer: traceback index broken"
                         : !ms__traces_valid(ms__tb_count())      ? "tracer: trace table broken"
                         : sum != MS__STAT_GET(traced_current)    ? "tracer: traced size differs from its traces"
                         : MS__STAT_GET(traced_peak) < sum        ? "tracer: peak below current"
                                                                  : NULL;
    if (!broken)
        return 0;
    ms__fault(broken, NULL);
    return -EFAULT;
}

/* ---- Snapshots ---------------------------------------------------------------------------------------------- */

typedef struct per_tb {
    uint64_t *size;
    uint64_t *count;
} per_tb;

static void sum_trace(const ms__trace_entry *e, void *arg)
{
    per_tb *acc = arg;
    acc->size[e->tb] += e->size;
    acc->count[e->tb]++;
}

ms_snapshot *ms_trace_take_snapshot(void)
{
    int limit = ms_trace_get_traceback_limit();
    if (!limit) {
        errno = EINVAL;
        return NULL;
    }
    /* Aggregate the live traces per traceback id: every statistic is a function of the traceback alone. */
    uint32_t ntb = ms__tb_count();
    per_tb acc = {calloc(ntb ? ntb : 1, sizeof *acc.size), calloc(ntb ? ntb : 1, sizeof *acc.count)};
    ms_snapshot *s = ms__snapshot_new(limit);
    if (!acc.size || !acc.count || !s)
        goto fail;
    ms__traces_foreach(sum_trace, &acc);

    size_t used = 0;
    for (uint32_t id = 0; id < ntb; id++)
        used += acc.count[id] != 0;
    s->traces = calloc(used ? used : 1, sizeof *s->traces);
    if (!s->traces)
        goto fail;
    s->traces_cap = used ? used : 1;
    for (uint32_t id = 0; id < ntb; id++) {
        if (!acc.count[id])
            continue;
        const ms__tb *tb = ms__tb_get(id);
        ms__snap_trace *t = &s->traces[s->ntraces++];
        t->file = tb->file ? ms__snapshot_intern(s, tb->file, strlen(tb->file)) : NULL;
        t->line = tb->line;
        t->naddrs = tb->naddrs;
        if (tb->naddrs) {
            uintptr_t *a = ms__bump_alloc(&s->mem, tb->naddrs * sizeof *a);
            if (!a)
                goto fail;
            memcpy(a, tb->addrs, tb->naddrs * sizeof *a);
            t->addrs = a;
        }
        if (tb->file && !t->file)
            goto fail;
        t->size = acc.size[id];
        t->count = acc.count[id];
    }
    s->traced_peak = MS__STAT_GET(traced_peak);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->timestamp_ns = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
    free(acc.size);
    free(acc.count);
    return s;

fail:
    free(acc.size);
    free(acc.count);
    ms_snapshot_free(s);
    errno = ENOMEM;
    return NULL;
}

/* Bytes the collector puts before a tracked object inside its block (object.h: "GC-tracked objects carry a
 * 16-byte header before the object"). */
#define GC_HEADER_SIZE 16

ms_traceback *ms_trace_get_object_traceback(const void *ptr)
{
    ms__trace_entry entry;
    bool found = false;
    if (ms_trace_is_tracing() && ptr) {
        found = ms__traces_find((uintptr_t)ptr, &entry);
        /* An object of a collected type: its block starts GC_HEADER_SIZE bytes earlier. Accept that block only
         * if it reaches past ptr, so ptr lies inside it and no neighbouring block is blamed. */
        if (!found && (uintptr_t)ptr > GC_HEADER_SIZE)
            found = ms__traces_find((uintptr_t)ptr - GC_HEADER_SIZE, &entry) && entry.size > GC_HEADER_SIZE;
    }
    if (!found) {
        errno = ENOENT;
        return NULL;
    }
    const ms__tb *tb = ms__tb_get(entry.tb);
    ms_frame frames[MS_TRACE_MAX_FRAMES];
    ms__sym_lock();
    size_t n = ms__sym_frames(tb->file, tb->line, tb->addrs, tb->naddrs, ms_trace_get_traceback_limit(), frames);
    /* One block: the header, the frames, then every string, so that free() releases it all. */
    size_t bytes = sizeof(ms_traceback) + n * sizeof(ms_frame);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(frames[i].filename) + 1 + (frames[i].function ? strlen(frames[i].function) + 1 : 0);
    ms_traceback *out = malloc(bytes);
    if (out) {
        char *str = (char *)&out->frames[n];
        out->nframes = n;
        for (size_t i = 0; i < n; i++) {
            out->frames[i].lineno = frames[i].lineno;
            size_t len = strlen(frames[i].filename) + 1;
            out->frames[i].filename = memcpy(str, frames[i].filename, len);
            str += len;
            out->frames[i].function = NULL;
            if (frames[i].function) {
                len = strlen(frames[i].function) + 1;
                out->frames[i].function = memcpy(str, frames[i].function, len);
                str += len;
            }
        }
    }
    ms__sym_unlock();
    if (!out)
        errno = ENOMEM;
    return out;
}

/*
 * memscope/trace.h — allocation tracing with call sites and snapshots (CPython's tracemalloc for C programs).
 *
 * Contract
 *   - While tracing is on, every block handed out by ms_malloc/ms_calloc/ms_realloc (and everything built on
 *     them: ms_new, the built-in constructors) is recorded with its requested size and a traceback. Blocks
 *     allocated before ms_trace_start() are not traced; freeing them is harmless.
 *   - Frame 0 of a traceback is the caller's own file:line, passed by the allocation macros (__FILE__,
 *     __LINE__), never a line inside libmemscope. Calls through the plain functions (taking the address of
 *     ms_malloc) have no line: their frame 0 reads "<unknown>":0 unless nframes > 1 recovers it from the stack.
 *   - With nframes > 1, up to nframes-1 callers are captured too (return addresses via backtrace(3)) and turned
 *     into function, file and line lazily, with elfutils libdw, only when a snapshot's statistics, filters,
 *     tracebacks or dump need them; results are cached. Frames inside libmemscope are left out; a call made
 *     from inlined code shows the inlined function and each function it was inlined into, as addr2line -i
 *     does. Frames are ordered most recent first: frames[0] is the allocation site, frames[1] its caller, and
 *     so on. A function that reaches the allocator through a tail call has no frame of its own: frames[0]
 *     keeps its file:line but names its caller's function.
 *   - Tracing off costs one predictable branch per allocation. The tracer's own tables live outside the traced
 *     heap (libc); ms_trace_get_memory() reports their size.
 *   - Snapshots are self-contained: they own every string they show and stay valid after ms_trace_stop(),
 *     ms_trace_clear_traces() or in another process (ms_snapshot_dump/ms_snapshot_load). A snapshot keeps, per
 *     distinct traceback, the number of live blocks and their total size (it does not keep block addresses).
 *   - Differences from tracemalloc, on purpose: a cumulative statistic counts a trace once per distinct key,
 *     even when a recursive traceback holds the same line twice (tracemalloc counts it once per frame).
 *   - Threads: like every memscope call, the tracing calls need the runtime lock in multi-threaded programs
 *     (memscope/runtime.h): ms_trace_start, ms_trace_stop, ms_trace_reset_peak, ms_trace_clear_traces,
 *     ms_trace_validate, ms_trace_take_snapshot and ms_trace_get_object_traceback read or change the live tables.
 *     Exceptions, callable from any thread at any time without the lock: ms_trace_is_tracing,
 *     ms_trace_get_traceback_limit, ms_trace_get_traced_memory, ms_trace_get_memory and ms_trace_get_dropped
 *     (each value read atomically), and ms_trace_format_size (it touches nothing shared). A snapshot belongs to
 *     whoever holds it, not to the runtime: ms_snapshot_get_info, ms_snapshot_trace, ms_snapshot_statistics,
 *     ms_snapshot_compare_to, ms_snapshot_filter, ms_snapshot_dump, ms_trace_print_top and ms_trace_print_diff
 *     may be called from any thread without the lock (their lazy symbolization has a lock of its own), also
 *     on one snapshot from several threads at once, as long as no thread frees it meanwhile; ms_snapshot_load
 *     and ms_snapshot_load_verbose from any thread; ms_snapshot_free from any one thread once the others are
 *     done with it.
 */
#ifndef MEMSCOPE_TRACE_H
#define MEMSCOPE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <memscope/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest traceback depth ms_trace_start() accepts (tracemalloc accepts 65535; C stacks are shallower). */
#define MS_TRACE_MAX_FRAMES 256

/* ---- Tracing ---------------------------------------------------------------------------------------------- */

/*
 * Starts tracing, keeping up to nframes frames per traceback (1 <= nframes <= MS_TRACE_MAX_FRAMES). Calling it
 * while tracing only changes the depth used for later allocations, as tracemalloc.start() does.
 * Returns 0, -EINVAL for a bad nframes, -ENOMEM when the tracer's tables could not be allocated.
 */
MS_API int ms_trace_start(int nframes);
/* Stops tracing and releases every trace, traceback and cached symbol. Harmless when not tracing. */
MS_API void ms_trace_stop(void);
MS_API bool ms_trace_is_tracing(void);
/* The depth given to ms_trace_start() (0 when not tracing). */
MS_API int ms_trace_get_traceback_limit(void);

/* Total requested size of the traced blocks alive now, and the most it reached since tracing started, since
 * ms_trace_reset_peak() or since ms_trace_clear_traces(). Both 0 when not tracing. Either pointer may be NULL. */
MS_API void ms_trace_get_traced_memory(size_t *current, size_t *peak);
/* Sets the peak to the current traced size. */
MS_API void ms_trace_reset_peak(void);
/* Forgets every trace (blocks stay allocated; freeing them later is harmless) and sets current and peak to 0. */
MS_API void ms_trace_clear_traces(void);
/* Bytes the tracer itself uses for its tables, tracebacks and symbol cache (outside the traced heap). */
MS_API size_t ms_trace_get_memory(void);
/* Allocations that could not be traced because the tracer's own tables could not grow (libc out of memory).
 * Such blocks are simply not traced; the allocation itself succeeded. */
MS_API uint64_t ms_trace_get_dropped(void);

/*
 * Checks the tracer's tables: every trace reachable and counted, every traceback id valid and found again by
 * content, the traced size equal to the sum of the traces, the peak not below it. Returns 0, or -EFAULT after
 * reporting the first broken invariant through the fault handler. O(traces + tracebacks): a test and debugging
 * aid (runs fine when not tracing).
 */
MS_API int ms_trace_validate(void);

/* ---- Tracebacks ------------------------------------------------------------------------------------------ */

typedef struct ms_frame {
    const char *filename; /* source file; "<unknown>" when not known (never NULL) */
    int lineno;           /* line in filename; 0 when not known */
    const char *function; /* enclosing function; NULL when not known (always NULL for nframes == 1) */
} ms_frame;

/* A C flexible array member; C++ compilers accept it as an extension (hence the pragma: -Wpedantic). */
#if defined(__cplusplus) && defined(__GNUC__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wpedantic"
#endif
typedef struct ms_traceback {
    size_t nframes;    /* >= 1 */
    ms_frame frames[]; /* most recent first: frames[0] is the allocation site */
} ms_traceback;
#if defined(__cplusplus) && defined(__GNUC__)
#  pragma GCC diagnostic pop
#endif

/*
 * The traceback of the traced block starting at ptr, or of the object ptr returned by ms_new() (whose block
 * begins with the collector's header), symbolized; NULL (errno ENOENT) when ptr is not traced (not a block or
 * object start, allocated while tracing was off, or tracing is off), NULL (errno ENOMEM) when out of
 * memory. The result is one allocation owned by the caller: release it with free(). O(nframes) plus the first
 * symbolization of its addresses.
 */
MS_API ms_traceback *ms_trace_get_object_traceback(const void *ptr);

/* ---- Snapshots -------------------------------------------------------------------------------------------- */

typedef struct ms_snapshot ms_snapshot;

/*
 * A copy of the traces alive now (their tracebacks interned, not yet symbolized). Returns NULL with errno
 * EINVAL when tracing is off, ENOMEM when out of memory. O(traces). Release with ms_snapshot_free().
 */
MS_API ms_snapshot *ms_trace_take_snapshot(void);
MS_API void ms_snapshot_free(ms_snapshot *s);

/* What a snapshot holds as a whole: easy to export. */
typedef struct ms_snapshot_info {
    int traceback_limit;     /* nframes when it was taken */
    uint64_t timestamp_ns;   /* CLOCK_REALTIME when it was taken, in ns since the epoch */
    uint64_t total_size;     /* sum of the sizes of its traces */
    uint64_t total_count;    /* number of blocks */
    uint64_t traced_peak;    /* ms_trace_get_traced_memory()'s peak when it was taken */
    size_t ntraces;          /* number of distinct tracebacks (see ms_snapshot_trace) */
} ms_snapshot_info;
MS_API void ms_snapshot_get_info(const ms_snapshot *s, ms_snapshot_info *out);

/* One entry of a snapshot: the blocks sharing one traceback. */
typedef struct ms_trace {
    const ms_traceback *traceback; /* owned by the snapshot */
    uint64_t size;                 /* total requested size of the blocks */
    uint64_t count;                /* number of blocks */
} ms_trace;
/* Entry i (0 <= i < info.ntraces), symbolizing the snapshot first if needed. Returns 0, -EINVAL for a bad i,
 * -ENOMEM if symbolization ran out of memory. */
MS_API int ms_snapshot_trace(const ms_snapshot *s, size_t i, ms_trace *out);

/* ---- Statistics --------------------------------------------------------------------------------------------- */

typedef enum ms_stat_key {
    MS_STAT_FILENAME,  /* group by frames[0].filename (lineno 0) */
    MS_STAT_LINENO,    /* group by frames[0].filename and lineno */
    MS_STAT_TRACEBACK, /* group by the whole traceback */
} ms_stat_key;

typedef struct ms_stat {
    const char *filename;          /* owned by the snapshot */
    int lineno;                    /* 0 for MS_STAT_FILENAME */
    uint64_t size;                 /* total requested size of the blocks */
    uint64_t count;                /* number of blocks */
    const ms_traceback *traceback; /* MS_STAT_TRACEBACK: the whole traceback; NULL for the other keys */
} ms_stat;

typedef struct ms_stat_diff {
    const char *filename;          /* owned by the snapshot it came from */
    int lineno;
    uint64_t size;                 /* in `now` */
    int64_t size_diff;             /* now - old */
    uint64_t count;                /* in `now` */
    int64_t count_diff;            /* now - old */
    const ms_traceback *traceback; /* MS_STAT_TRACEBACK only */
} ms_stat_diff;

/*
 * Groups the snapshot's traces by key and stores the array of statistics in *out, sorted by size, then count,
 * descending (ties by key, ascending). With cumulative, every frame of a traceback counts, not only frames[0]
 * (MS_STAT_FILENAME and MS_STAT_LINENO only). Returns the number of statistics; the caller releases *out with
 * free(). The pointers inside stay valid while the snapshot lives.
 * On error returns 0 with *out NULL and errno EINVAL (bad key, cumulative with MS_STAT_TRACEBACK) or ENOMEM; an
 * empty snapshot also returns 0 with *out NULL, leaving errno untouched. O(n log n) in distinct tracebacks.
 */
MS_API size_t ms_snapshot_statistics(const ms_snapshot *s, ms_stat_key key, bool cumulative, ms_stat **out);

/*
 * The statistics of `now` against those of `old`, grouped the same way, sorted by |size_diff|, size,
 * |count_diff|, count, descending. Keys only in `old` appear with size 0 and negative diffs. Same errors and
 * ownership as ms_snapshot_statistics(); the pointers inside point into `now` or `old`.
 */
MS_API size_t ms_snapshot_compare_to(const ms_snapshot *now, const ms_snapshot *old, ms_stat_key key,
                                     bool cumulative, ms_stat_diff **out);

/* ---- Filters ------------------------------------------------------------------------------------------------ */

/* tracemalloc.Filter: a frame matches when fnmatch(filename_pattern, filename, 0) succeeds and, if lineno is not
 * 0, its line is lineno. Without all_frames only frames[0] is looked at; with it, any frame matching is enough. */
typedef struct ms_trace_filter {
    bool inclusive;               /* true: keep only matching traces; false: drop matching traces */
    const char *filename_pattern; /* glob, as fnmatch(3) with no flags ('*' also matches '/') */
    int lineno;                   /* 0: any line */
    bool all_frames;
} ms_trace_filter;

/*
 * A new snapshot holding the traces of s that pass: every exclusive filter rejects none of its frames and, if
 * there is any inclusive filter, at least one inclusive filter matches (tracemalloc's Snapshot.filter_traces).
 * n == 0 copies s. Returns NULL with errno EINVAL (NULL pattern) or ENOMEM. Release with ms_snapshot_free().
 */
MS_API ms_snapshot *ms_snapshot_filter(const ms_snapshot *s, const ms_trace_filter *filters, size_t n);

/* ---- Output ----------------------------------------------------------------------------------------------- */

/*
 * Prints the first `limit` statistics (all when limit is 0), one per line exactly like Python's print(stat):
 *     demo.c:42: size=3126 KiB, count=100001, average=32 B
 * For MS_STAT_TRACEBACK each line is followed by the traceback, one line per frame, most recent first:
 *       File "demo.c", line 42, in build_list
 * Returns the number of lines of statistics printed, or a negative errno-style code.
 */
MS_API int ms_trace_print_top(FILE *out, const ms_snapshot *s, ms_stat_key key, size_t limit);
/* The same for ms_snapshot_compare_to(), like Python's print(stat_diff):
 *     demo.c:42: size=3126 KiB (+782 KiB), count=100001 (+25000), average=32 B */
MS_API int ms_trace_print_diff(FILE *out, const ms_snapshot *now, const ms_snapshot *old, ms_stat_key key,
                               size_t limit);
/* Python's tracemalloc._format_size(): "36 B", "3.4 MiB", "+1.1 KiB" with sign. Writes at most n bytes
 * (NUL included) and returns buf. */
MS_API char *ms_trace_format_size(double size, bool sign, char *buf, size_t n);

/* ---- Files (docs/TRACE_FORMAT.md) -------------------------------------------------------------------------- */

/* Writes the snapshot, symbolized, to path (replaced atomically through a temporary file beside it).
 * Returns 0 or a negative errno-style code (-ENOMEM, or the errno of the failed file operation). */
MS_API int ms_snapshot_dump(const ms_snapshot *s, const char *path);
/* Reads a snapshot written by ms_snapshot_dump(). A file that is truncated, corrupted (checksum, bounds) or of
 * an unknown format version is rejected: NULL with errno EBADMSG (ENOTSUP for a newer version), or the errno of
 * the failed file operation. Never crashes on hostile input. */
MS_API ms_snapshot *ms_snapshot_load(const char *path);
/* The same, also writing a one-line reason into errbuf (errlen bytes, NUL included) on failure. */
MS_API ms_snapshot *ms_snapshot_load_verbose(const char *path, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_TRACE_H */

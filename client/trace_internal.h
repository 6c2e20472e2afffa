/*
 * client/trace_internal.h — what the tracer's files share: the live tables (trace_table.c, trace_tracebacks.c),
 * the symbolizer (trace_symbols.c), the snapshot layout (snapshot*.c) and the tracer's own memory accounting.
 *
 * Layering, bottom up:
 *     trace_mem (in trace_table.c)  libc allocations of the tracer, counted for ms_trace_get_memory()
 *     trace_table.c                 block address -> (size, traceback id)
 *     trace_tracebacks.c            interned raw tracebacks
 *     trace.c                       start/stop, the hooks mem.c calls, traced memory, take_snapshot
 *     trace_symbols.c               return address -> function, file, line (libdw), cached
 *     snapshot.c                    snapshots: symbolization, statistics, compare, filter, print
 *     snapshot_io.c                 dump/load (docs/TRACE_FORMAT.md)
 * Nothing here allocates from the memscope heap: the hooks run inside ms_malloc and must not re-enter it.
 */
#ifndef MEMSCOPE_CLIENT_TRACE_INTERNAL_H
#define MEMSCOPE_CLIENT_TRACE_INTERNAL_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/trace_internal.h is private to libmemscope"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <memscope/trace.h>

#include "bump.h"
#include "hashtable.h"
#include "internal.h"

/* ---- The tracer's own memory (libc), counted ------------------------------------------------------------ */
/* calloc/realloc/free through libc, keeping ms__trace_mem_usage() exact. Callers pass the sizes back on free. */
void *ms__trace_mem_calloc(size_t n);
void *ms__trace_mem_realloc(void *p, size_t old_n, size_t new_n);
void ms__trace_mem_free(void *p, size_t n);
size_t ms__trace_mem_usage(void);
/* The same as an msc_mem_ops, for the tracer's tables and bump allocators (hashtable.h, bump.h). */
extern const msc_mem_ops ms__trace_mem;

/* ---- Raw tracebacks, interned ----------------------------------------------------------------------------- */
/*
 * A traceback as captured: the macro's file:line and the return addresses backtrace() gave, starting with the
 * caller of the capture function (so addrs[0..k) are libmemscope frames — the hook, mem.c, maybe the object
 * layer — and the user's frames follow; the symbolizer tells them apart). Interned: two captures with the same
 * file pointer, line and addresses share one ms__tb and one id. Ids are dense, 0 .. ms__tb_count()-1.
 */
typedef struct ms__tb {
    const char *file; /* the macro's __FILE__ (static storage of the caller), or NULL */
    int line;
    uint32_t naddrs;
    uintptr_t addrs[]; /* return addresses, innermost first */
} ms__tb;

#define MS__TB_NONE UINT32_MAX

/* Interns (file, line, addrs[0..naddrs)); returns its id or MS__TB_NONE when out of memory. O(naddrs). */
uint32_t ms__tb_intern(const char *file, int line, const uintptr_t *addrs, uint32_t naddrs);
const ms__tb *ms__tb_get(uint32_t id);
uint32_t ms__tb_count(void);

/* ---- Live traces: block address -> (size, traceback) ------------------------------------------------------ */
typedef struct ms__trace_entry {
    uintptr_t ptr;    /* 0: empty slot */
    size_t size;      /* requested size */
    uint32_t tb;      /* traceback id */
    uint32_t birth_s; /* ms__trace_clock_s when the block was recorded */
} ms__trace_entry;

/*
 * The traces' birth clock: seconds of CLOCK_MONOTONIC_COARSE, as ms__trace_tick() last read them. It is read,
 * never the clock itself, on every traced allocation: a clock call there would cost start(1) a third of its time
 * (bench/trace). Ticked when tracing starts, whenever a trace needs a new page record (once per 4 KiB page of
 * new blocks), and by the agent thread each time it wakes (at least once per stats interval), so a birth time is
 * late by at most that long. What it serves: the age of the blocks that pin pools (pinning.c).
 */
extern _Atomic uint32_t ms__trace_clock_s;
void ms__trace_tick(void);

/* Records ptr (replacing an older record of the same address): returns true, with *replaced and the size it
 * replaced in *old_size; or false when the table could not grow or ptr is not 16-aligned, leaving an older
 * record of ptr, if any, unchanged (the caller drops it). Amortized O(1). */
bool ms__traces_put(uintptr_t ptr, size_t size, uint32_t tb, bool *replaced, size_t *old_size);
/* Removes ptr's record; returns true, its size in *size and (tb not NULL) its traceback id in *tb, or false when
 * ptr is not traced. O(1). */
bool ms__traces_remove(uintptr_t ptr, size_t *size, uint32_t *tb);
/* Copies ptr's record into *out and returns true, or returns false when ptr is not traced. O(1). */
bool ms__traces_find(uintptr_t ptr, ms__trace_entry *out);
/* Calls fn for every record (in table order). */
void ms__traces_foreach(void (*fn)(const ms__trace_entry *e, void *arg), void *arg);
/* Calls fn for the record of every address lo, lo + stride, ... below hi that has one (stride: a multiple of 16),
 * in address order, without touching the range's memory: O(addresses), a page without records skipped whole. */
void ms__traces_in_range(uintptr_t lo, uintptr_t hi, size_t stride,
                         void (*fn)(const ms__trace_entry *e, void *arg), void *arg);
/* Checks the table's invariants (trace_table.c), every traceback id below ntb. O(table). */
bool ms__traces_valid(uint32_t ntb);
/* Checks the traceback index: every id is found again by content. O(tracebacks). */
bool ms__tb_valid(void);
/* Drops every record; with release, gives the table's memory back to libc too. */
void ms__traces_clear(bool release);
/* Drops every traceback (ids restart at 0); with release, gives their memory back to libc too. */
void ms__tb_clear(bool release);

/* ---- Symbols (trace_symbols.c) ----------------------------------------------------------------------------- */
/*
 * The symbolizer is shared by all snapshots; ms__sym_lock() guards it and the lazy symbolization of snapshots,
 * so that snapshot readers need not hold the runtime lock.
 */
void ms__sym_lock(void);
void ms__sym_unlock(void);
/*
 * The frames of a raw traceback, at most `limit` (>= 1), into out: frame 0 is file:line (when file is NULL: the
 * first frame outside libmemscope, or "<unknown>":0) with the function of the first return address outside
 * libmemscope; then the callers of that function. Leading libmemscope frames are skipped; a return address
 * inside inlined code gives one frame per inlined call (innermost first), as addr2line -i does. Strings belong to the
 * symbolizer (valid until ms__sym_release()) or are `file`. Must hold ms__sym_lock. Returns the count (>= 1).
 */
size_t ms__sym_frames(const char *file, int line, const uintptr_t *addrs, uint32_t naddrs, int limit,
                      ms_frame *out);
/* Frees the cache (counted in ms__trace_mem_usage(); libdw's own memory is not) and closes libdw. Must hold
 * ms__sym_lock. The next lookup opens libdw again. */
void ms__sym_release(void);

/* ---- Snapshots (snapshot.c, snapshot_io.c) ---------------------------------------------------------------- */
/* One distinct traceback of a snapshot and its blocks. */
typedef struct ms__snap_trace {
    /* raw form (taken live): file/line from the macro and the return addresses; naddrs 0 after a load */
    const char *file; /* interned in the snapshot's strings */
    int line;
    uint32_t naddrs;
    const uintptr_t *addrs;
    ms_traceback *tb; /* symbolized form; NULL until symbolized */
    uint64_t size;
    uint64_t count;
} ms__snap_trace;

struct ms_snapshot {
    int traceback_limit;
    uint64_t timestamp_ns;
    uint64_t traced_peak;
    size_t ntraces;
    ms__snap_trace *traces;
    _Atomic bool symbolized; /* every traces[i].tb is set; written under ms__sym_lock */
    size_t traces_cap;       /* traces is a libc array of this capacity (grown by ms__snapshot_append) */
    ms__bump mem;            /* addresses, tracebacks, strings (libc), released with the snapshot */
    msc_hashtable strings;   /* the snapshot's strings, interned in mem: equal strings share one pointer */
};

/* An empty snapshot; NULL when out of memory. */
ms_snapshot *ms__snapshot_new(int traceback_limit);
/* Interns the string s (copied into the snapshot); NULL when out of memory. */
const char *ms__snapshot_intern(ms_snapshot *s, const char *str, size_t len);
/* Symbolizes every trace of s if not done yet (thread-safe). Returns 0 or -ENOMEM. */
int ms__snapshot_symbolize(const ms_snapshot *s);
/* A traceback of n (>= 1) frames copied into s, strings interned in s; NULL when out of memory. */
ms_traceback *ms__snapshot_add_traceback(ms_snapshot *s, const ms_frame *frames, size_t n);
/* Appends a symbolized trace (tb owned by s) to s; the traces array grows as needed. 0 or -ENOMEM. */
int ms__snapshot_append(ms_snapshot *s, ms_traceback *tb, uint64_t size, uint64_t count);

#define MS__UNKNOWN_FILE "<unknown>"

#endif /* MEMSCOPE_CLIENT_TRACE_INTERNAL_H */

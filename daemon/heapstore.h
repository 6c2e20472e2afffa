/*
 * daemon/heapstore.h — the heap snapshots on disk, their index in memory, and a small cache of their analyses.
 *
 * On disk, in <data-dir>/heapsnapshots/, for snapshot <sid>:
 *   <sid>.mshg           the graph's wire image as the agent sent it (common/heapgraph.h): what is analysed again
 *                        after a restart, without parsing JSON
 *   <sid>.heapsnapshot   the V8 document (msc_hg_write_v8) that GET .../heapsnapshots/{sid} serves, for DevTools
 *   <sid>.json           {"id", "app", "pid", "app_id", "time", "objects", "edges", "bytes", "pause_ms"}, written
 *                        last: a snapshot whose .json is missing was never stored (a crash half-way)
 * each written to a temporary file, fsync'ed, renamed, and the directory fsync'ed (fs.h's msd_tmpfile). Ids are
 * positive and keep increasing across restarts. A snapshot belongs to the app that took it, by name (as trace
 * snapshots do, snapstore.h): a program that restarts keeps its heap snapshots.
 *
 * In memory: the index of every stored snapshot (loaded once at startup), and the analyses
 * (msd_heap_analyse) of the MSD_HEAP_CACHE most recently used snapshots. A query for a cached analysis is
 * answered from the loop; a miss reads the .mshg and analyses it on the worker thread (worker.h), as a store
 * writes and analyses a new snapshot there: disk and analysis never run on the loop.
 *
 * Jobs are served in order, one worker job at a time; a job that needs no worker (a list, a cached query, an
 * open) does not wait for one that does. Callbacks run on the loop, exactly once per accepted call, after the
 * call has returned; -ECANCELED when the daemon stops first.
 */
#ifndef MEMSCOPE_DAEMON_HEAPSTORE_H
#define MEMSCOPE_DAEMON_HEAPSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "snapshot.h"

#define MSD_HEAP_CACHE 4 /* analyses kept in memory (about 12 bytes per node each, heapanalysis.h) */

/* What the index keeps of a stored heap snapshot (GET .../heapsnapshots lists these). */
typedef struct msd_heapinfo {
    msd_snapinfo s;     /* id, app (malloc'ed), pid, app_id, time (wall, when stored): snapindex.h; traces 0 */
    uint64_t objects;   /* the graph's nodes but the two synthetic ones */
    uint64_t edges;     /* every edge of the graph (the roots' included) */
    uint64_t bytes;     /* size of the .heapsnapshot file */
    double pause_ms;    /* the app's pause to walk its heap, as it said */
} msd_heapinfo;

int msd_heapstore_start(msd_daemon *d);
void msd_heapstore_stop(msd_daemon *d);
void msd_heapstore_free(msd_daemon *d);

/*
 * Stores a received wire image: wire (malloc'ed, so 4-byte aligned; consumed) of len bytes, from app `app`
 * (pid, app_id), whose walk paused it pause_ms. Parsed (msc_hg_parse), written and analysed on the worker.
 * done(arg, status, why, info): 0 with the new entry (valid during the call), or -EPROTO (not a heap graph: why
 * says which rule it broke), -ECANCELED, or the errno of the disk operation that failed (why says which).
 * Returns 0, or -ENOMEM without calling done (wire freed).
 */
typedef void (*msd_heap_put_fn)(void *arg, int status, const char *why, const msd_heapinfo *info);
int msd_heapstore_put(msd_daemon *d, void *wire, size_t len, const char *app, int64_t pid, uint64_t app_id,
                      double pause_ms, msd_heap_put_fn done, void *arg);

/* Documents: done(arg, status, why, json) with status 0 and the document (a reference the callee takes), or a
 * negative errno and a message: -ENOENT no such snapshot (or, for retainers, no object of that type), -EPERM a
 * snapshot of another app, -EPROTO a corrupt .mshg, -ECANCELED, -ENOMEM, or an analysis's or the disk's error. */
typedef void (*msd_heap_doc_fn)(void *arg, int status, const char *why, msd_blob *json);
/* {"snapshots": [{"id", "app", "pid", "app_id", "time", "objects", "edges", "bytes", "pause_ms"}]}, oldest first:
 * the heap snapshots of app `app`. Returns 0 or -ENOMEM (no callback). */
int msd_heapstore_list(msd_daemon *d, const char *app, msd_heap_doc_fn done, void *arg);
/* Snapshot sid of app `app`: type NULL, msd_heap_types_json's document; else msd_heap_retainers_json's for
 * type (type_len bytes) and limit. Returns 0 or -ENOMEM (no callback). */
int msd_heapstore_query(msd_daemon *d, const char *app, int64_t sid, const char *type, size_t type_len,
                        unsigned limit, msd_heap_doc_fn done, void *arg);

/* The .heapsnapshot file of snapshot sid of app `app`, opened for reading: done(arg, 0, "", fd, size) — the
 * callee owns fd — or a negative errno and a message (fd -1). Returns 0 or -ENOMEM (no callback). */
typedef void (*msd_heap_file_fn)(void *arg, int status, const char *why, int fd, uint64_t size);
int msd_heapstore_open(msd_daemon *d, const char *app, int64_t sid, msd_heap_file_fn done, void *arg);

/* The name of the app whose heap snapshots have app id, or else pid, `key`, for apps the registry has forgotten;
 * NULL when none (or while the index is loading). O(snapshots). */
const char *msd_heapstore_app_of(const msd_daemon *d, uint64_t key);

/* Jobs accepted and not finished (the one with the worker included). O(1). */
size_t msd_heapstore_jobs(const msd_daemon *d);

#endif /* MEMSCOPE_DAEMON_HEAPSTORE_H */

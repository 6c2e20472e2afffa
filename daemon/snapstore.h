/*
 * daemon/snapstore.h — the trace snapshots on disk and their index in memory.
 *
 * On disk: <data-dir>/snapshots/<id>.json (snapshot.h's document), mode 0600, written to a temporary file,
 * fsync'ed, renamed, and the directory fsync'ed: a crash leaves the old set or the new one, never half a file.
 * Ids are positive and keep increasing across restarts (one more than the largest found when the daemon
 * started). In memory: an index of every stored snapshot (snapshot.h's msd_snapinfo), loaded once at startup
 * and kept up to date, so that listing costs O(snapshots) and reads no file.
 *
 * Disk work never runs on the loop: every operation is a job that runs on the daemon's worker thread (worker.h:
 * started when there is work, gone when there is none; shared with the heap snapshot store) on data it owns, and
 * reports on the loop. Jobs run one at a time, in the order they were asked for, so they
 * see each other's effects (a diff asked for after a store sees the new snapshot; anything asked for at startup
 * waits for the index).
 *
 * Callbacks run on the loop, exactly once per accepted call, after the call has returned.
 */
#ifndef MEMSCOPE_DAEMON_SNAPSTORE_H
#define MEMSCOPE_DAEMON_SNAPSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "snapshot.h"

/* Starts the store: the index loads from cfg.data_dir in the background. 0 or -ENOMEM. */
int msd_snapstore_start(msd_daemon *d);
/* Ends every job now: each callback that has not run runs with -ECANCELED (a job already on a worker thread
 * finishes its disk work, and its result is dropped). Idempotent. */
void msd_snapstore_stop(msd_daemon *d);
/* After the loop has ended. */
void msd_snapstore_free(msd_daemon *d);

/* Stores an agent's trace.snapshot result (consumed) as a snapshot of app `app` (pid, app_id) taken now.
 * done(arg, id, traces): id > 0, or -EPROTO (the result has no "traces" array), -ECANCELED, or the errno of
 * the disk operation that failed (logged). Returns 0, or -ENOMEM without calling done. */
typedef void (*msd_snap_put_fn)(void *arg, int64_t id, size_t traces);
int msd_snapstore_put(msd_daemon *d, cJSON *result, const char *app, int64_t pid, uint64_t app_id,
                      msd_snap_put_fn done, void *arg);

/* The snapshots of app `app` (NULL: every app), oldest first, as the JSON array GET .../trace/snapshots serves:
 * [{"id", "app", "pid", "app_id", "time", "traces"}]. done(arg, status, why, json): status 0 with the document (a
 * reference the callee takes), else a negative errno and a message. Returns 0 or -ENOMEM (no callback). */
typedef void (*msd_snap_doc_fn)(void *arg, int status, const char *why, msd_blob *json);
int msd_snapstore_list(msd_daemon *d, const char *app, msd_snap_doc_fn done, void *arg);

/* The diff of snapshots from -> to (msd_snapshot_diff's document, plus "from" and "to"), both of which must be
 * snapshots of app `app`: -ENOENT "no such snapshot N", -EPERM "snapshot N belongs to another app", -EPROTO a
 * corrupt file, -ECANCELED, -ENOMEM. Returns 0 or -ENOMEM (no callback). */
int msd_snapstore_diff(msd_daemon *d, const char *app, int64_t from, int64_t to, const char *key, size_t limit,
                       msd_snap_doc_fn done, void *arg);

/* The name of the app whose snapshots have app id, or else pid, `key` (the newest such snapshot), for apps the
 * registry has forgotten; NULL when none (or while the index is still loading). O(snapshots). */
const char *msd_snapstore_app_of(const msd_daemon *d, uint64_t key);

#endif /* MEMSCOPE_DAEMON_SNAPSTORE_H */

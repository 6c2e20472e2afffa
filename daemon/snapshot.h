/*
 * daemon/snapshot.h — trace snapshots: stored on disk under --data-dir so they outlive the daemon, and compared
 * by the daemon (tracemalloc's Snapshot.compare_to), so agents need no snapshot storage.
 *
 * On disk: <data-dir>/snapshots/<id>.json, mode 0600, written atomically (temporary file + rename), holding
 *   {"id", "app": name, "pid", "app_id", "time", "traceback_limit", "truncated", "traces": [...]}
 * where traces are the agent's trace.snapshot result (docs/PROTOCOL.md §5). Ids are positive integers that keep
 * increasing across restarts (the next id is one more than the largest file name found).
 */
#ifndef MEMSCOPE_DAEMON_SNAPSHOT_H
#define MEMSCOPE_DAEMON_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/*
 * Stores the agent's trace.snapshot result for the given app. Returns the new id (> 0), -EPROTO when result is
 * not a snapshot (no "traces" array), or another negative errno (after logging) when it cannot be written.
 */
int64_t msd_snapshot_store(const char *data_dir, const char *app, int64_t pid, uint64_t app_id, const cJSON *result);

/*
 * Parses a stored snapshot document (pure: no I/O) and checks its shape: a "traces" array whose entries have
 * numeric "size" and "count" and a "frames" array of {"file": string, "lineno": integer}.
 * Returns the document, or NULL with a reason in err when it is malformed. The fuzzers' entry point.
 */
cJSON *msd_snapshot_parse(const char *text, size_t len, char *err, size_t errlen);

/* Reads and parses snapshot `id`. NULL with errno ENOENT (no such snapshot), EPROTO (corrupt) or another. */
cJSON *msd_snapshot_load(const char *data_dir, int64_t id);

/* The stored snapshots' {"id", "app", "pid", "app_id", "time", "traces"} (a count) for the app named `app`, or
 * for every app when app is NULL, oldest first. NULL when out of memory; an empty list when none exist. */
cJSON *msd_snapshot_list(const char *data_dir, const char *app);

/*
 * Compares two parsed snapshots grouped by key ("lineno", "filename" or "traceback"):
 *   {"key", "from", "to", "stats": [{"file", "lineno", "size", "size_diff", "count", "count_diff",
 *     "traceback"?}]} sorted by size_diff (growing first), then size, at most `limit` entries (0: all).
 * Returns NULL with errno EINVAL for an unknown key, ENOMEM when out of memory. O(n log n) in the traces.
 */
cJSON *msd_snapshot_diff(const cJSON *from, const cJSON *to, const char *key, size_t limit);

#endif /* MEMSCOPE_DAEMON_SNAPSHOT_H */

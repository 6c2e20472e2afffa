/*
 * daemon/snapshot.h — trace snapshots as documents: what is stored, its index entry, and the diff of two of
 * them (tracemalloc's Snapshot.compare_to), so agents need no snapshot storage. Pure functions over cJSON trees
 * (fuzz targets); the disk, the index and the thread they run on are snapstore.c's.
 *
 * A stored snapshot is the document
 *   {"id", "app": name, "pid", "app_id", "time", "traceback_limit", "truncated", "ntraces", "traces": [...]}
 * where traces are the agent's trace.snapshot result (docs/PROTOCOL.md section 5). A snapshot belongs to the
 * app that took it: its name (a program that restarts keeps its snapshots), its pid and app id at the time.
 */
#ifndef MEMSCOPE_DAEMON_SNAPSHOT_H
#define MEMSCOPE_DAEMON_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* What the index keeps of a stored snapshot (GET .../trace/snapshots lists these). */
typedef struct msd_snapinfo {
    int64_t id;
    char *app;       /* malloc'ed */
    int64_t pid;
    uint64_t app_id;
    double time;     /* wall, when it was taken */
    size_t traces;
} msd_snapinfo;

/*
 * The document to store for an agent's trace.snapshot result (consumed: its "traces" move into the document).
 * NULL with *err = -EPROTO when result is not a snapshot (no "traces" array), or -ENOMEM.
 */
cJSON *msd_snapshot_document(cJSON *result, const msd_snapinfo *info, int *err);

/*
 * Parses a stored snapshot document and checks its shape: a "traces" array whose entries have numeric "size"
 * and "count" and a "frames" array of {"file": string, "lineno": integer}. Returns the document, or NULL with a
 * reason in err when it is malformed. The fuzzers' entry point.
 */
cJSON *msd_snapshot_parse(const char *text, size_t len, char *err, size_t errlen);

/* The index entry of a parsed document: 0, -EPROTO (no positive "id" or string "app"), -ENOMEM. */
int msd_snapshot_info(const cJSON *doc, msd_snapinfo *out);
void msd_snapinfo_free(msd_snapinfo *info);

/*
 * Compares two parsed snapshots grouped by key ("lineno", "filename" or "traceback"):
 *   {"key", "from", "to", "stats": [{"file", "lineno", "size", "size_diff", "count", "count_diff",
 *     "traceback"?}]} sorted by size_diff (growing first), then size, at most `limit` entries (0: all).
 * Returns NULL with errno EINVAL for an unknown key, ENOMEM when out of memory. O(n log n) in the traces.
 */
cJSON *msd_snapshot_diff(const cJSON *from, const cJSON *to, const char *key, size_t limit);

#endif /* MEMSCOPE_DAEMON_SNAPSHOT_H */

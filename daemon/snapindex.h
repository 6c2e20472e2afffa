/*
 * daemon/snapindex.h — the in-memory index of a snapshot store, shared by the trace snapshots (snapstore.c) and
 * the heap snapshots (heapstore.c): entries sorted by id, each beginning with the msd_snapinfo (snapshot.h) that
 * says whose snapshot it is (the app's name, its pid and app id then, the time), followed by whatever else the
 * store lists; and the scan of a store's directory that fills it at start. Core layer: loop thread only by its
 * users' rule (the scan runs on the stores' worker).
 *
 * Invariants: ids ascend strictly; next_id is one more than the largest id ever added (ids are never reused, and
 * keep increasing across restarts because the load adds what it found on disk); the index owns each entry's app
 * string.
 */
#ifndef MEMSCOPE_DAEMON_SNAPINDEX_H
#define MEMSCOPE_DAEMON_SNAPINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

typedef struct msd_snapindex {
    void *entries;  /* n entries of elem bytes, each starting with an msd_snapinfo */
    size_t n, cap, elem;
    int64_t next_id;
} msd_snapindex;

/* An empty index of entries of elem bytes (elem >= sizeof(msd_snapinfo)). */
void msd_snapindex_init(msd_snapindex *ix, size_t elem);
/* Frees the entries' app strings and the array. */
void msd_snapindex_free(msd_snapindex *ix);

/* Entry i (i < n), and the entry with this id or NULL. O(1), O(log n). */
const msd_snapinfo *msd_snapindex_at(const msd_snapindex *ix, size_t i);
const msd_snapinfo *msd_snapindex_find(const msd_snapindex *ix, int64_t id);

/* Appends a copy of entry (elem bytes) and takes its app string (set to NULL in entry); its id must be above
 * every id in the index. 0 or -ENOMEM (nothing changes: entry keeps its string). */
int msd_snapindex_add(msd_snapindex *ix, void *entry);
/* Sorts n entries of elem bytes by id (a load's findings, before they are added). */
void msd_snapindex_sort(void *entries, size_t n, size_t elem);

/* A store's reader of the metadata file `path` of snapshot `id` into entry (elem bytes, an msd_snapinfo first):
 * 0, or negative when the file is no snapshot of ours (entry then holds nothing to free). */
typedef int (*msd_snapindex_load_fn)(void *ctx, const char *path, int64_t id, void *entry);
/*
 * What a store's directory holds at start: every file <id>.json (id > 0) that load reads and whose snapinfo has
 * that id, in *found (n entries of elem bytes, sorted by id; the caller adds them and frees the array), others
 * left alone and not listed (drop frees an entry that was read but not kept). Stops early, keeping what it found,
 * when memory is short. A missing directory is an empty store. O(files log files).
 */
void msd_snapindex_scan(const char *dir, size_t elem, msd_snapindex_load_fn load, void (*drop)(void *entry),
                        void *ctx, void **found, size_t *n);

/* The entry `id` if it belongs to app `app`: else NULL, and why says so ("no such <what> N", or "<what> N
 * belongs to another app (...), not to ...") with *status -ENOENT or -EPERM. */
const msd_snapinfo *msd_snapindex_owned(const msd_snapindex *ix, int64_t id, const char *app, const char *what,
                                        int *status, char *why, size_t whylen);

/* The name of the app of the newest entry with app id, or else pid, `key`; NULL when none. O(n). */
const char *msd_snapindex_app_of(const msd_snapindex *ix, uint64_t key);

#endif /* MEMSCOPE_DAEMON_SNAPINDEX_H */

/*
 * daemon/worker.h — the daemon's disk and analysis worker: one thread, shared by the stores (snapstore.c for
 * trace snapshots, heapstore.c for heap snapshots), that exists only while there is work.
 *
 * A process that has threads pays for them on every system call on a descriptor (the kernel then counts the
 * references to the open file, fget/fput, instead of taking its single-threaded fast path): with libuv's pool,
 * whose threads live until exit, that was 3% of the CPU of every GET and of every read of an app's socket, for
 * stores that are idle nearly always. So the thread is started when work arrives and leaves after
 * MSD_WORKER_IDLE_MS without any: an idle daemon is single-threaded.
 *
 *   loop: msd_worker_submit(w) --> [todo, FIFO] --cond--> thread: w->run(w) --> [done] --uv_async--> loop: w->done(w)
 *
 * Items run one at a time in the order they were submitted, each on data it owns alone (the loop does not touch
 * it between submit and done), and w->done runs on the loop exactly once per accepted item — also after
 * msd_worker_stop(): an item not started yet is then not run, only done (with w->ran false), and the one
 * running finishes first. Loop thread only, but for run.
 */
#ifndef MEMSCOPE_DAEMON_WORKER_H
#define MEMSCOPE_DAEMON_WORKER_H

#include <stdbool.h>

#include "daemon.h"
#include "list.h"

#define MSD_WORKER_IDLE_MS 200 /* the thread leaves after this long without work (a new one is cheap next to an fsync) */

typedef struct msd_work msd_work;
struct msd_work {
    void (*run)(msd_work *w);  /* on the worker thread */
    void (*done)(msd_work *w); /* then on the loop; may submit again, or free w */
    bool ran;                  /* run has run (false when msd_worker_stop() took the item before it started) */
    msc_list link;             /* private */
};

/* Creates d->worker (no thread yet). 0 or -ENOMEM. */
int msd_worker_start(msd_daemon *d);
/* Queues w: 0, or -ECANCELED (stopping) without calling anything. When no thread can be started, w is done
 * (on the loop, later) with ran false, as if stopped. */
int msd_worker_submit(msd_daemon *d, msd_work *w);
/* Work not started yet is done without running (on the next loop turn); the item running finishes. Idempotent. */
void msd_worker_stop(msd_daemon *d);
/* After the loop has ended: joins the thread. */
void msd_worker_free(msd_daemon *d);
/* Items submitted and not done yet. O(1). */
size_t msd_worker_pending(const msd_daemon *d);

#endif /* MEMSCOPE_DAEMON_WORKER_H */

/*
 * daemon/snapstore.c — the snapshot store (see snapstore.h). Entry points: msd_snapstore_put(),
 * msd_snapstore_list(), msd_snapstore_diff(); read next_job() first, it is the queue.
 *
 * A job has up to three steps:
 *   start   on the loop, when the job reaches the head of the queue: checks against the index, prepares what
 *           the worker needs (paths, the id); may finish the job at once (a list, a refused diff)
 *   run     on the store's worker thread: the disk work and the parsing, on data the job owns alone
 *   after   on the loop: updates the index, calls the caller back
 * The queue runs one job at a time, so the index changes only between jobs and a worker never shares data with
 * the loop. A job cancelled by msd_snapstore_stop() while its run step is on a worker keeps only its memory:
 * its caller was told -ECANCELED already, and `after` just frees it.
 *
 * The run step goes to the daemon's worker thread (worker.h: one thread, shared with the heap snapshot store,
 * that exists only while there is work), not libuv's pool, whose threads would live until exit and tax every
 * system call of the daemon.
 *
 *   loop:   next_job --msd_worker_submit--> worker thread: job_run(j) --> loop: job_back: after
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "array.h"
#include "fs.h"
#include "list.h"
#include "snapindex.h"
#include "snapstore.h"
#include "worker.h"

#define SNAPSHOT_FILE_MAX (8u << 20) /* a larger file is not a snapshot of ours (a frame is 1 MiB) */

typedef enum job_kind { J_INDEX, J_PUT, J_LIST, J_DIFF } job_kind;

typedef struct job {
    msd_work work;          /* the run step, on the worker */
    struct msd_snapstore *st;
    job_kind kind;
    msc_list link;          /* the queue */
    bool cancelled;
    int status;             /* 0 or a negative errno, set by run or start */
    char why[192];          /* a message for status < 0 */
    void *arg;
    msd_snap_put_fn put_done;
    msd_snap_doc_fn doc_done;
    /* J_INDEX: what the worker found */
    msd_snapinfo *found;
    size_t nfound;
    /* J_PUT */
    cJSON *result;          /* consumed by run */
    msd_snapinfo info;      /* the new snapshot's entry (info.app owned) */
    /* J_LIST, J_DIFF */
    char *app;              /* NULL: every app */
    int64_t from, to;
    char key[16];
    size_t limit;
    msd_blob *doc;          /* the answer */
    /* paths (J_PUT: the file; J_DIFF: the two files) */
    char *path[2];
} job;

typedef struct msd_snapstore {
    msd_daemon *d;
    char *dir;              /* <data-dir>/snapshots */
    msd_snapindex ix;       /* of msd_snapinfo */
    bool ready;             /* the index is loaded */
    msc_list queue;         /* job.link; the head runs */
    bool running;           /* the head's run step is with the worker */
    bool stopped;
    uv_timer_t kick;        /* starts the queue on the next loop turn */
} msd_snapstore;

static void next_job(msd_snapstore *st);
static void on_kick(uv_timer_t *t);

/* ---- The index -------------------------------------------------------------------------------------------- */

const char *msd_snapstore_app_of(const msd_daemon *d, uint64_t key)
{
    const msd_snapstore *st = d->snaps;
    return st && st->ready ? msd_snapindex_app_of(&st->ix, key) : NULL;
}

/* ---- Files (worker side) ------------------------------------------------------------------------------------ */

static cJSON *load(const char *path, job *j, int64_t id)
{
    char *text = NULL, err[128];
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : msd_read_fd(fd, SNAPSHOT_FILE_MAX, &text, &len);
    if (rc < 0) {
        j->status = rc == -ENOENT ? -ENOENT : rc;
        snprintf(j->why, sizeof(j->why), rc == -ENOENT ? "no such snapshot %lld" : "cannot read snapshot %lld: %s",
                 (long long)id, strerror(-rc));
        return NULL;
    }
    cJSON *doc = msd_snapshot_parse(text, len, err, sizeof(err));
    free(text);
    if (!doc) {
        j->status = -EPROTO;
        snprintf(j->why, sizeof(j->why), "snapshot %lld is corrupt: %s", (long long)id, err);
    }
    return doc;
}

static int index_load(void *ctx, const char *path, int64_t id, void *entry)
{
    job *j = ctx;
    cJSON *doc = load(path, j, id);
    int rc = doc ? msd_snapshot_info(doc, entry) : -EPROTO;
    cJSON_Delete(doc);
    j->status = 0; /* a file that is no snapshot fails no job */
    return rc;
}

static void index_drop(void *entry) { msd_snapinfo_free(entry); }

static void run_index(job *j)
{
    void *found;
    msd_snapindex_scan(j->st->dir, sizeof(*j->found), index_load, index_drop, j, &found, &j->nfound);
    j->found = found;
}

static void run_put(job *j)
{
    int err = 0;
    cJSON *doc = msd_snapshot_document(j->result, &j->info, &err);
    j->result = NULL;
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    if (doc)
        j->info.traces = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "traces"));
    cJSON_Delete(doc);
    if (!text) {
        j->status = err ? err : -ENOMEM;
        return;
    }
    int rc = msd_mkdir_private(j->st->dir);
    msd_tmpfile t;
    if (rc == 0 && (rc = msd_tmpfile_open(&t, j->path[0])) == 0) {
        rc = msd_tmpfile_write(&t, text, strlen(text));
        rc = rc < 0 ? (msd_tmpfile_abort(&t), rc) : msd_tmpfile_commit(&t, j->st->dir);
    }
    if (rc < 0) {
        j->status = rc;
        snprintf(j->why, sizeof(j->why), "cannot write %s: %s", j->path[0], strerror(-rc));
    }
    free(text);
}

static void run_diff(job *j)
{
    cJSON *a = load(j->path[0], j, j->from);
    cJSON *b = a ? load(j->path[1], j, j->to) : NULL;
    cJSON *diff = b ? msd_snapshot_diff(a, b, j->key, j->limit) : NULL;
    if (diff && cJSON_AddNumberToObject(diff, "from", (double)j->from) &&
        cJSON_AddNumberToObject(diff, "to", (double)j->to))
        j->doc = msd_blob_from_string(cJSON_PrintUnformatted(diff));
    if (b && !j->doc)
        j->status = -ENOMEM;
    cJSON_Delete(diff);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void run(job *j)
{
    switch (j->kind) {
    case J_INDEX: run_index(j); break;
    case J_PUT: run_put(j); break;
    case J_DIFF: run_diff(j); break;
    case J_LIST: break;
    }
}

static void job_run(msd_work *w)
{
    run(msc_list_entry(w, job, work));
}

/* ---- Jobs (loop side) ------------------------------------------------------------------------------------------ */

static void job_free(job *j)
{
    cJSON_Delete(j->result);
    for (size_t i = 0; i < j->nfound; i++)
        msd_snapinfo_free(&j->found[i]);
    free(j->found);
    msd_snapinfo_free(&j->info);
    msd_blob_unref(j->doc);
    free(j->app);
    free(j->path[0]);
    free(j->path[1]);
    free(j);
}

/* Tells the caller how the job ended (once; not for a cancelled job, whose caller has been told). */
static void report(job *j)
{
    if (j->cancelled)
        return;
    j->cancelled = true;
    if (j->put_done)
        j->put_done(j->arg, j->status < 0 ? j->status : j->info.id, j->info.traces);
    if (j->doc_done) {
        msd_blob *doc = j->status < 0 ? NULL : j->doc;
        j->doc = NULL;
        j->doc_done(j->arg, j->status, j->why, doc);
    }
}

/* The loop side of a finished job: the index learns what it did, the caller hears of it. */
static void finish(job *j)
{
    msd_snapstore *st = j->st;
    if (!j->cancelled && j->kind == J_INDEX) {
        for (size_t i = 0; i < j->nfound; i++)
            if (msd_snapindex_add(&st->ix, &j->found[i]) < 0)
                msd_log("snapshot index: out of memory: snapshot %lld is not listed", (long long)j->found[i].id);
        if (st->ix.n)
            msd_log("%zu trace snapshots in %s", st->ix.n, st->dir);
        st->ready = true;
    } else if (!j->cancelled && j->kind == J_PUT) {
        if (j->status == 0 && msd_snapindex_add(&st->ix, &j->info) < 0)
            msd_log("snapshot index: out of memory: snapshot %lld is stored but not listed", (long long)j->info.id);
        else if (j->status < 0 && j->status != -EPROTO)
            msd_log("trace snapshot not stored: %s", j->why);
    }
    report(j);
    job_free(j);
}

/* The worker handed a job back (ran false: the worker was stopped, or had no thread, before it ran). */
static void job_back(msd_work *w)
{
    job *j = msc_list_entry(w, job, work);
    msd_snapstore *st = j->st;
    if (!w->ran && !j->cancelled) {
        j->status = -ECANCELED;
        snprintf(j->why, sizeof(j->why), "the disk worker could not run the job");
    }
    st->running = false;
    msc_list_remove(&j->link);
    finish(j);
    if (!st->stopped)
        next_job(st);
}

/* The start step: 0 when the job needs its run step, else it is finished here. */
static int start(job *j)
{
    msd_snapstore *st = j->st;
    if (j->kind == J_PUT) {
        j->info.id = st->ix.next_id++;
        if (asprintf(&j->path[0], "%s/%lld.json", st->dir, (long long)j->info.id) < 0) {
            j->path[0] = NULL;
            j->status = -ENOMEM;
            return -1;
        }
        return 0;
    }
    if (j->kind == J_LIST) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr && i < st->ix.n; i++) {
            const msd_snapinfo *s = msd_snapindex_at(&st->ix, i);
            if (j->app && strcmp(s->app, j->app) != 0)
                continue;
            cJSON *o = cJSON_CreateObject();
            if (!o || !cJSON_AddItemToArray(arr, o) || !cJSON_AddNumberToObject(o, "id", (double)s->id) ||
                !cJSON_AddStringToObject(o, "app", s->app) || !cJSON_AddNumberToObject(o, "pid", (double)s->pid) ||
                !cJSON_AddNumberToObject(o, "app_id", (double)s->app_id) ||
                !cJSON_AddNumberToObject(o, "time", s->time) ||
                !cJSON_AddNumberToObject(o, "traces", (double)s->traces)) {
                cJSON_Delete(arr);
                arr = NULL;
            }
        }
        j->doc = arr ? msd_blob_from_string(cJSON_PrintUnformatted(arr)) : NULL;
        cJSON_Delete(arr);
        if (!j->doc)
            j->status = -ENOMEM;
        return -1;
    }
    if (j->kind == J_DIFF) {
        int64_t ids[2] = {j->from, j->to};
        for (int i = 0; i < 2; i++) {
            if (!msd_snapindex_owned(&st->ix, ids[i], j->app, "snapshot", &j->status, j->why, sizeof(j->why)))
                return -1;
            if (asprintf(&j->path[i], "%s/%lld.json", st->dir, (long long)ids[i]) < 0) {
                j->path[i] = NULL;
                j->status = -ENOMEM;
                return -1;
            }
        }
    }
    return 0;
}

/* Runs the jobs at the head of the queue until one needs a worker. */
static void next_job(msd_snapstore *st)
{
    while (!st->running && !msc_list_empty(&st->queue)) {
        job *j = msc_list_entry(msc_list_first(&st->queue), job, link);
        if (start(j) == 0) {
            j->work.run = job_run;
            j->work.done = job_back;
            int rc = msd_worker_submit(st->d, &j->work);
            if (rc == 0) {
                st->running = true;
                return;
            }
            j->status = rc;
            snprintf(j->why, sizeof(j->why), "daemon shutting down");
        }
        msc_list_remove(&j->link);
        finish(j);
    }
}

static job *new_job(msd_daemon *d, job_kind kind)
{
    msd_snapstore *st = d->snaps;
    job *j = st && !st->stopped ? calloc(1, sizeof(*j)) : NULL;
    if (j) {
        j->st = st;
        j->kind = kind;
        msc_list_init(&j->link);
    }
    return j;
}

/* Queues j; it runs when the jobs before it have finished — at the earliest on the next loop turn, so that no
 * callback runs inside the call that asked for the job. */
static void submit(job *j)
{
    msd_snapstore *st = j->st;
    msc_list_push_back(&st->queue, &j->link);
    if (!st->running)
        uv_timer_start(&st->kick, on_kick, 0, 0);
}

static void on_kick(uv_timer_t *t)
{
    msd_snapstore *st = t->data;
    if (!st->stopped)
        next_job(st);
}

int msd_snapstore_start(msd_daemon *d)
{
    msd_snapstore *st = calloc(1, sizeof(*st));
    if (!st || asprintf(&st->dir, "%s/snapshots", d->cfg.data_dir) < 0) {
        free(st);
        return -ENOMEM;
    }
    st->d = d;
    msd_snapindex_init(&st->ix, sizeof(msd_snapinfo));
    msc_list_init(&st->queue);
    uv_timer_init(d->loop, &st->kick);
    st->kick.data = st;
    d->snaps = st;
    job *j = new_job(d, J_INDEX);
    if (j)
        submit(j);
    else
        msd_snapstore_stop(d); /* msd_snapstore_free() after the loop has closed the timer */
    return j ? 0 : -ENOMEM;
}

void msd_snapstore_stop(msd_daemon *d)
{
    msd_snapstore *st = d->snaps;
    if (!st || st->stopped)
        return;
    st->stopped = true;
    uv_close((uv_handle_t *)&st->kick, NULL); /* closing a timer stops it */
    /* Every caller hears now; the job with the worker (the head, when running) is freed by job_back(). */
    msc_list_foreach_safe (it, next, &st->queue) {
        job *j = msc_list_entry(it, job, link);
        j->status = -ECANCELED;
        snprintf(j->why, sizeof(j->why), "daemon shutting down");
        report(j);
        if (!(st->running && it == msc_list_first(&st->queue))) {
            msc_list_remove(&j->link);
            job_free(j);
        }
    }
}

void msd_snapstore_free(msd_daemon *d)
{
    msd_snapstore *st = d->snaps;
    if (!st)
        return;
    msd_snapindex_free(&st->ix);
    free(st->dir);
    free(st);
    d->snaps = NULL;
}

int msd_snapstore_put(msd_daemon *d, cJSON *result, const char *app, int64_t pid, uint64_t app_id,
                      msd_snap_put_fn done, void *arg)
{
    job *j = new_job(d, J_PUT);
    if (!j || !(j->info.app = strdup(app))) {
        free(j);
        cJSON_Delete(result);
        return -ENOMEM;
    }
    j->result = result;
    j->info.pid = pid;
    j->info.app_id = app_id;
    j->info.time = msd_now_wall();
    j->put_done = done;
    j->arg = arg;
    submit(j);
    return 0;
}

int msd_snapstore_list(msd_daemon *d, const char *app, msd_snap_doc_fn done, void *arg)
{
    job *j = new_job(d, J_LIST);
    if (!j || (app && !(j->app = strdup(app)))) {
        free(j);
        return -ENOMEM;
    }
    j->doc_done = done;
    j->arg = arg;
    submit(j);
    return 0;
}

int msd_snapstore_diff(msd_daemon *d, const char *app, int64_t from, int64_t to, const char *key, size_t limit,
                       msd_snap_doc_fn done, void *arg)
{
    job *j = new_job(d, J_DIFF);
    if (!j || !(j->app = strdup(app))) {
        free(j);
        return -ENOMEM;
    }
    j->from = from;
    j->to = to;
    snprintf(j->key, sizeof(j->key), "%s", key);
    j->limit = limit;
    j->doc_done = done;
    j->arg = arg;
    submit(j);
    return 0;
}

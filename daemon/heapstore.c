/*
 * daemon/heapstore.c — the heap snapshot store (see heapstore.h). Entry points: msd_heapstore_put(),
 * msd_heapstore_query(); read next_jobs() first, it is the queue.
 *
 * A job has up to three steps, as in snapstore.c:
 *   start   on the loop: checks against the index and the cache; finishes the job when that is enough (a list,
 *           a refused or cached query, an open), else says it needs the worker
 *   run     on the worker thread (worker.h): parsing, files, analysis, on data the job owns alone
 *   after   on the loop: the index and the cache learn what it did, the caller hears of it
 * The queue is scanned in order; one job at a time is with the worker, and a job that needs none is started
 * even when an earlier one waits for the worker (a list is not held up by a snapshot being analysed). start is
 * called again for a waiting job each time the queue moves, so a query that missed the cache hits it if the job
 * before it brought that analysis in. Nothing but the index job starts before the index is loaded.
 *
 * The cache holds at most MSD_HEAP_CACHE analyses, touched on the loop only (a worker job builds a new one and
 * hands it over in `after`); the least recently used goes first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "array.h"
#include "buf.h"
#include "fs.h"
#include "heapanalysis.h"
#include "heapgraph.h"
#include "heapstore.h"
#include "list.h"
#include "snapindex.h"
#include "worker.h"

#define META_FILE_MAX 65536 /* a larger .json is not one of ours */

typedef enum job_kind { J_INDEX, J_PUT, J_LIST, J_QUERY, J_OPEN } job_kind;

typedef struct job {
    msd_work work;
    struct msd_heapstore *st;
    job_kind kind;
    msc_list link;              /* the queue */
    bool cancelled;             /* the caller has been told */
    bool with_worker;
    int status;
    char why[256];
    void *arg;
    msd_heap_put_fn put_done;
    msd_heap_doc_fn doc_done;
    msd_heap_file_fn file_done;
    /* J_INDEX */
    msd_heapinfo *found;
    size_t nfound;
    /* J_PUT: the wire image (freed by run), the new entry (info.app owned) */
    void *wire;
    size_t wire_len;
    msd_heapinfo info;
    /* J_LIST, J_QUERY, J_OPEN */
    char *app;
    int64_t sid;
    char *type;                 /* J_QUERY: NULL for the types document */
    size_t type_len;
    unsigned limit;
    char *base;                 /* "<dir>/<sid>": the worker's files */
    msd_heap_analysis *analysis;/* made by run (J_PUT, J_QUERY), handed to the cache by after */
    msd_blob *doc;
    int fd;
    uint64_t size;
    double run_s;               /* how long run took (for the log) */
} job;

typedef struct cache_entry {
    int64_t sid;                /* 0: empty */
    msd_heap_analysis *a;
    uint64_t used;              /* st->clock when last used */
} cache_entry;

typedef struct msd_heapstore {
    msd_daemon *d;
    char *dir;                  /* <data-dir>/heapsnapshots */
    msd_snapindex ix;           /* of msd_heapinfo */
    bool ready;
    msc_list queue;             /* job.link */
    size_t njobs;
    bool running;               /* a job is with the worker */
    bool stopped;
    uv_timer_t kick;
    cache_entry cache[MSD_HEAP_CACHE];
    uint64_t clock;
} msd_heapstore;

static void next_jobs(msd_heapstore *st);

static void info_free(msd_heapinfo *i)
{
    msd_snapinfo_free(&i->s);
}

/* ---- The index and the cache (loop side) ------------------------------------------------------------------ */

static msd_heap_analysis *cache_get(msd_heapstore *st, int64_t sid)
{
    for (size_t i = 0; i < MSD_HEAP_CACHE; i++)
        if (st->cache[i].sid == sid && st->cache[i].a) {
            st->cache[i].used = ++st->clock;
            return st->cache[i].a;
        }
    return NULL;
}

/* Takes a; evicts the least recently used entry when full. */
static void cache_put(msd_heapstore *st, int64_t sid, msd_heap_analysis *a)
{
    cache_entry *victim = &st->cache[0];
    for (size_t i = 0; i < MSD_HEAP_CACHE; i++) {
        cache_entry *e = &st->cache[i];
        if (e->sid == sid || !e->a) {
            victim = e;
            break;
        }
        if (e->used < victim->used)
            victim = e;
    }
    msd_heap_analysis_free(victim->a);
    *victim = (cache_entry){.sid = sid, .a = a, .used = ++st->clock};
}

const char *msd_heapstore_app_of(const msd_daemon *d, uint64_t key)
{
    const msd_heapstore *st = d->heaps;
    return st && st->ready ? msd_snapindex_app_of(&st->ix, key) : NULL;
}

size_t msd_heapstore_jobs(const msd_daemon *d)
{
    return d->heaps ? d->heaps->njobs : 0;
}

/* ---- Files (worker side) ------------------------------------------------------------------------------------- */

static int fail(job *j, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(job *j, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->why, sizeof(j->why), fmt, ap);
    va_end(ap);
    j->status = status;
    return status;
}

static cJSON *meta_document(const msd_heapinfo *i)
{
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddNumberToObject(o, "id", (double)i->s.id) && cJSON_AddStringToObject(o, "app", i->s.app) &&
        cJSON_AddNumberToObject(o, "pid", (double)i->s.pid) &&
        cJSON_AddNumberToObject(o, "app_id", (double)i->s.app_id) && cJSON_AddNumberToObject(o, "time", i->s.time) && cJSON_AddNumberToObject(o, "objects", (double)i->objects) &&
        cJSON_AddNumberToObject(o, "edges", (double)i->edges) && cJSON_AddNumberToObject(o, "bytes", (double)i->bytes) &&
        cJSON_AddNumberToObject(o, "pause_ms", i->pause_ms))
        return o;
    cJSON_Delete(o);
    return NULL;
}

/* A number member of o that is a whole number >= 0 (or, when whole is false, any finite number >= 0). */
static bool meta_number(const cJSON *o, const char *name, bool whole, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 1.8e19))
        return false;
    *out = v->valuedouble;
    return !whole || *out == (double)(uint64_t)*out;
}

/* The entry a .json describes: 0, or -EPROTO (not ours), -ENOMEM, or the read's errno. */
static int meta_load(const char *path, msd_heapinfo *out)
{
    char *text = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : msd_read_fd(fd, META_FILE_MAX, &text, &len);
    if (rc < 0)
        return rc;
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(o, "app");
    double id, pid, app_id, time, objects, edges, bytes, pause;
    rc = -EPROTO;
    if (cJSON_IsString(app) && meta_number(o, "id", true, &id) && id >= 1 && meta_number(o, "pid", true, &pid) &&
        meta_number(o, "app_id", true, &app_id) && meta_number(o, "time", false, &time) &&
        meta_number(o, "objects", true, &objects) && meta_number(o, "edges", true, &edges) &&
        meta_number(o, "bytes", true, &bytes) && meta_number(o, "pause_ms", false, &pause)) {
        *out = (msd_heapinfo){.s = {.id = (int64_t)id, .pid = (int64_t)pid, .app_id = (uint64_t)app_id,
                                    .time = time, .app = strdup(app->valuestring)},
                              .objects = (uint64_t)objects, .edges = (uint64_t)edges, .bytes = (uint64_t)bytes,
                              .pause_ms = pause};
        rc = out->s.app ? 0 : -ENOMEM;
    }
    cJSON_Delete(o);
    return rc;
}

static int index_load(void *ctx, const char *path, int64_t id, void *entry)
{
    (void)ctx;
    (void)id;
    return meta_load(path, entry);
}

static void index_drop(void *entry) { info_free(entry); }

static void run_index(job *j)
{
    void *found;
    msd_snapindex_scan(j->st->dir, sizeof(*j->found), index_load, index_drop, NULL, &found, &j->nfound);
    j->found = found;
}

static int sink_file(void *ctx, const void *bytes, size_t n)
{
    return msd_tmpfile_write(ctx, bytes, n);
}

/* Writes one file of the snapshot atomically: the wire image (g NULL) or the V8 document of g. */
static int write_one(job *j, const char *suffix, const msc_hg *g, uint64_t *size)
{
    char *path = NULL;
    if (asprintf(&path, "%s%s", j->base, suffix) < 0)
        return fail(j, -ENOMEM, "out of memory");
    msd_tmpfile t;
    int rc = msd_tmpfile_open(&t, path);
    if (rc == 0) {
        if (g)
            rc = msc_hg_write_v8(g, sink_file, &t);
        else
            rc = msd_tmpfile_write(&t, j->wire, j->wire_len);
        if (rc < 0)
            msd_tmpfile_abort(&t);
        else if (size)
            *size = t.size;
        if (rc == 0)
            rc = msd_tmpfile_commit(&t, j->st->dir);
    }
    if (rc < 0)
        fail(j, rc, "cannot write %s: %s", path, strerror(-rc));
    free(path);
    return rc;
}

static void unlink_suffix(const job *j, const char *suffix)
{
    char *path = NULL;
    if (asprintf(&path, "%s%s", j->base, suffix) >= 0) {
        unlink(path);
        free(path);
    }
}

static void run_put(job *j)
{
    msc_hg g;
    char err[200] = "";
    if (msc_hg_parse(j->wire, j->wire_len, &g, err, sizeof(err)) < 0) {
        fail(j, -EPROTO, "the app's heap graph is corrupt: %s", err);
        goto out;
    }
    j->info.objects = g.node_count >= 2 ? g.node_count - 2 : 0;
    j->info.edges = g.edge_count;
    int rc = msd_mkdir_private(j->st->dir);
    if (rc < 0) {
        fail(j, rc, "cannot create %s: %s", j->st->dir, strerror(-rc));
        goto out;
    }
    if (write_one(j, ".mshg", NULL, NULL) < 0)
        goto out;
    if (write_one(j, ".heapsnapshot", &g, &j->info.bytes) < 0) {
        unlink_suffix(j, ".mshg");
        goto out;
    }
    /* Analysed now, while the graph is in memory: the POST's answer waits for it so that the first question
     * after it is answered from the cache. A failed analysis does not fail the store (the files are what
     * counts); a query will say why it fails. */
    if (msd_heap_analyse(&g, &j->analysis, err, sizeof(err)) < 0)
        j->analysis = NULL;
    cJSON *meta = meta_document(&j->info);
    char *text = meta ? cJSON_PrintUnformatted(meta) : NULL;
    cJSON_Delete(meta);
    char *path = NULL;
    msd_tmpfile t;
    if (!text || asprintf(&path, "%s.json", j->base) < 0) {
        path = NULL;
        rc = -ENOMEM;
    } else if ((rc = msd_tmpfile_open(&t, path)) == 0) {
        rc = msd_tmpfile_write(&t, text, strlen(text));
        rc = rc < 0 ? (msd_tmpfile_abort(&t), rc) : msd_tmpfile_commit(&t, j->st->dir);
    }
    if (rc < 0) {
        fail(j, rc, "cannot write %s.json: %s", j->base, strerror(-rc));
        unlink_suffix(j, ".mshg");
        unlink_suffix(j, ".heapsnapshot");
    }
    free(path);
    free(text);
out:
    free(j->wire);
    j->wire = NULL;
}

/* A cache miss: the wire image from disk, analysed. */
static void run_query(job *j)
{
    char *path = NULL, *text = NULL;
    size_t len = 0;
    if (asprintf(&path, "%s.mshg", j->base) < 0) {
        fail(j, -ENOMEM, "out of memory");
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    /* msd_read_fd's buffer comes from malloc: aligned as msc_hg_parse needs. */
    int rc = fd < 0 ? -errno : msd_read_fd(fd, SIZE_MAX / 2, &text, &len);
    free(path);
    if (rc < 0) {
        fail(j, rc, "cannot read heap snapshot %lld: %s", (long long)j->sid, strerror(-rc));
        return;
    }
    msc_hg g;
    char err[200] = "";
    if (msc_hg_parse(text, len, &g, err, sizeof(err)) < 0)
        fail(j, -EPROTO, "heap snapshot %lld is corrupt: %s", (long long)j->sid, err);
    else if ((rc = msd_heap_analyse(&g, &j->analysis, err, sizeof(err))) < 0)
        fail(j, rc, "cannot analyse heap snapshot %lld: %s", (long long)j->sid, err[0] ? err : strerror(-rc));
    free(text);
}

static void job_run(msd_work *w)
{
    job *j = msc_list_entry(w, job, work);
    double t0 = msd_now_mono();
    switch (j->kind) {
    case J_INDEX: run_index(j); break;
    case J_PUT: run_put(j); break;
    case J_QUERY: run_query(j); break;
    case J_LIST: case J_OPEN: break;
    }
    j->run_s = msd_now_mono() - t0;
}

/* ---- Jobs (loop side) ---------------------------------------------------------------------------------------- */

static void job_free(job *j)
{
    for (size_t i = 0; i < j->nfound; i++)
        info_free(&j->found[i]);
    free(j->found);
    free(j->wire);
    info_free(&j->info);
    free(j->app);
    free(j->type);
    free(j->base);
    msd_heap_analysis_free(j->analysis);
    msd_blob_unref(j->doc);
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

/* Tells the caller how the job ended (once; not for a cancelled job, whose caller has been told). */
static void report(job *j)
{
    if (j->cancelled)
        return;
    j->cancelled = true;
    if (j->status == 0)
        j->why[0] = '\0';
    if (j->put_done)
        j->put_done(j->arg, j->status, j->why, j->status == 0 ? &j->info : NULL);
    if (j->doc_done) {
        msd_blob *doc = j->status < 0 ? NULL : j->doc;
        j->doc = NULL;
        j->doc_done(j->arg, j->status, j->why, doc);
    }
    if (j->file_done) {
        int fd = j->status < 0 ? -1 : j->fd;
        j->fd = -1;
        j->file_done(j->arg, j->status, j->why, fd, j->size);
    }
}

static void finish(job *j)
{
    msc_list_remove(&j->link);
    j->st->njobs--;
    report(j);
    job_free(j);
}

/* The document of a query from an analysis. */
static void query_document(job *j, const msd_heap_analysis *a)
{
    msc_buf out = MSC_BUF_INIT;
    int rc = j->type ? msd_heap_retainers_json(a, j->type, j->type_len, j->limit, &out)
                     : msd_heap_types_json(a, &out);
    if (rc == 0 && msc_buf_cstr(&out)) {
        j->doc = msd_blob_adopt(out.data, out.len, out.cap - 1); /* takes the buffer, also when it fails */
        out = (msc_buf)MSC_BUF_INIT;
        if (!j->doc)
            fail(j, -ENOMEM, "out of memory");
    } else if (rc == -ENOENT) {
        fail(j, -ENOENT, "no object of type \"%.*s\" in heap snapshot %lld",
             (int)(j->type_len > 100 ? 100 : j->type_len), j->type, (long long)j->sid);
    } else if (rc == 0 || rc == -ENOMEM) {
        fail(j, -ENOMEM, "out of memory");
    } else {
        fail(j, rc, "cannot analyse heap snapshot %lld: %s", (long long)j->sid, strerror(-rc));
    }
    msc_buf_free(&out);
}

/* The index entry of j's snapshot, or NULL after failing j (no such snapshot, or another app's). */
static const msd_snapinfo *owned(job *j)
{
    return msd_snapindex_owned(&j->st->ix, j->sid, j->app, "heap snapshot", &j->status, j->why, sizeof(j->why));
}

static cJSON *list_document(const msd_heapstore *st, const char *app)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "snapshots");
    if (!arr) {
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t i = 0; i < st->ix.n; i++) {
        const msd_heapinfo *s = (const msd_heapinfo *)msd_snapindex_at(&st->ix, i);
        if (strcmp(s->s.app, app) != 0)
            continue;
        cJSON *e = meta_document(s);
        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* The start step: true when j needs the worker, false when it is finished (j->status says how). */
static bool start(job *j)
{
    msd_heapstore *st = j->st;
    switch (j->kind) {
    case J_INDEX:
        return true;
    case J_PUT:
        if (!j->info.s.id)
            j->info.s.id = st->ix.next_id++;
        if (!j->base && asprintf(&j->base, "%s/%lld", st->dir, (long long)j->info.s.id) < 0) {
            j->base = NULL;
            fail(j, -ENOMEM, "out of memory");
            return false;
        }
        return true;
    case J_LIST: {
        cJSON *o = list_document(st, j->app);
        j->doc = o ? msd_blob_from_string(cJSON_PrintUnformatted(o)) : NULL;
        cJSON_Delete(o);
        if (!j->doc)
            fail(j, -ENOMEM, "out of memory");
        return false;
    }
    case J_OPEN: {
        if (!owned(j))
            return false;
        char *path = NULL;
        if (asprintf(&path, "%s/%lld.heapsnapshot", st->dir, (long long)j->sid) < 0) {
            fail(j, -ENOMEM, "out of memory");
            return false;
        }
        /* open and fstat on the loop: metadata, no data (the driver sends the file from the page cache). */
        struct stat sb;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        int e = fd < 0 ? errno : fstat(fd, &sb) < 0 ? errno : !S_ISREG(sb.st_mode) ? EINVAL : 0;
        if (e) {
            if (fd >= 0)
                close(fd);
            fail(j, -e, "cannot open heap snapshot %lld: %s", (long long)j->sid, strerror(e));
        } else {
            j->fd = fd;
            j->size = (uint64_t)sb.st_size;
        }
        free(path);
        return false;
    }
    case J_QUERY: {
        if (!owned(j))
            return false;
        const msd_heap_analysis *a = cache_get(st, j->sid);
        if (a) {
            query_document(j, a);
            return false;
        }
        if (!j->base && asprintf(&j->base, "%s/%lld", st->dir, (long long)j->sid) < 0) {
            j->base = NULL;
            fail(j, -ENOMEM, "out of memory");
            return false;
        }
        return true;
    }
    }
    return false;
}

/* The after step of a job the worker ran (or, ran false, took back unrun because it was stopping). */
static void job_back(msd_work *w)
{
    job *j = msc_list_entry(w, job, work);
    msd_heapstore *st = j->st;
    st->running = false;
    j->with_worker = false;
    if (!w->ran && j->status == 0)
        fail(j, -ECANCELED, "daemon shutting down");
    if (!j->cancelled && j->kind == J_INDEX) {
        for (size_t i = 0; i < j->nfound; i++)
            if (msd_snapindex_add(&st->ix, &j->found[i]) < 0)
                msd_log("heap snapshot index: out of memory: snapshot %lld is not listed", (long long)j->found[i].s.id);
        if (st->ix.n)
            msd_log("%zu heap snapshots in %s", st->ix.n, st->dir);
        st->ready = true;
    } else if (!j->cancelled && j->kind == J_PUT && j->status == 0) {
        msd_heapinfo copy = j->info; /* j->info stays whole for the caller */
        if (!(copy.s.app = strdup(j->info.s.app)) || msd_snapindex_add(&st->ix, &copy) < 0) {
            free(copy.s.app);
            msd_log("heap snapshot index: out of memory: snapshot %lld is stored but not listed",
                    (long long)j->info.s.id);
        }
        msd_log("heap snapshot %lld of %s (pid %lld): %llu objects, %llu edges, %llu bytes; parsed, written and "
                "analysed in %.0f ms", (long long)j->info.s.id, j->info.s.app, (long long)j->info.s.pid,
                (unsigned long long)j->info.objects, (unsigned long long)j->info.edges,
                (unsigned long long)j->info.bytes, j->run_s * 1000);
        if (j->analysis) {
            cache_put(st, j->info.s.id, j->analysis);
            j->analysis = NULL;
        }
    } else if (!j->cancelled && j->kind == J_PUT && j->status != -EPROTO) {
        msd_log("heap snapshot not stored: %s", j->why);
    } else if (!j->cancelled && j->kind == J_QUERY && j->status == 0) {
        msd_debug(st->d, "heap snapshot %lld: read and analysed again in %.0f ms", (long long)j->sid, j->run_s * 1000);
        cache_put(st, j->sid, j->analysis);
        const msd_heap_analysis *a = j->analysis;
        j->analysis = NULL;
        query_document(j, a);
    }
    if (j->kind == J_INDEX && j->cancelled)
        st->ready = true;
    finish(j);
    if (!st->stopped)
        next_jobs(st);
}

/* Starts what can start: every job that needs no worker, and the first that needs it when it is free. */
static void next_jobs(msd_heapstore *st)
{
    msc_list_foreach_safe (it, next, &st->queue) {
        job *j = msc_list_entry(it, job, link);
        if (j->with_worker)
            continue;
        if (!st->ready && j->kind != J_INDEX)
            break;
        if (!start(j)) {
            finish(j);
            continue;
        }
        if (st->running)
            continue; /* waits for the worker; start runs again when the queue moves */
        j->work.run = job_run;
        j->work.done = job_back;
        if (msd_worker_submit(st->d, &j->work) < 0) {
            fail(j, -ECANCELED, "daemon shutting down");
            finish(j);
            continue;
        }
        j->with_worker = true;
        st->running = true;
        if (j->kind == J_INDEX)
            break; /* nothing else starts before the index is loaded */
    }
}

static void on_kick(uv_timer_t *t)
{
    msd_heapstore *st = t->data;
    if (!st->stopped)
        next_jobs(st);
}

static job *new_job(msd_daemon *d, job_kind kind, const char *app)
{
    msd_heapstore *st = d->heaps;
    job *j = st && !st->stopped ? calloc(1, sizeof(*j)) : NULL;
    if (!j)
        return NULL;
    j->st = st;
    j->kind = kind;
    j->fd = -1;
    msc_list_init(&j->link);
    if (app && !(j->app = strdup(app))) {
        free(j);
        return NULL;
    }
    return j;
}

/* Queues j: it starts on the next loop turn at the earliest, so that no callback runs inside the call. */
static void submit(job *j)
{
    msd_heapstore *st = j->st;
    msc_list_push_back(&st->queue, &j->link);
    st->njobs++;
    uv_timer_start(&st->kick, on_kick, 0, 0);
}

int msd_heapstore_start(msd_daemon *d)
{
    msd_heapstore *st = calloc(1, sizeof(*st));
    if (!st || asprintf(&st->dir, "%s/heapsnapshots", d->cfg.data_dir) < 0) {
        free(st);
        return -ENOMEM;
    }
    st->d = d;
    msd_snapindex_init(&st->ix, sizeof(msd_heapinfo));
    msc_list_init(&st->queue);
    uv_timer_init(d->loop, &st->kick);
    st->kick.data = st;
    d->heaps = st;
    job *j = new_job(d, J_INDEX, NULL);
    if (j)
        submit(j);
    else
        msd_heapstore_stop(d);
    return j ? 0 : -ENOMEM;
}

void msd_heapstore_stop(msd_daemon *d)
{
    msd_heapstore *st = d->heaps;
    if (!st || st->stopped)
        return;
    st->stopped = true;
    uv_close((uv_handle_t *)&st->kick, NULL);
    /* Every caller hears now; the job with the worker is freed by job_back(). */
    msc_list_foreach_safe (it, next, &st->queue) {
        job *j = msc_list_entry(it, job, link);
        fail(j, -ECANCELED, "daemon shutting down");
        report(j);
        if (!j->with_worker)
            finish(j);
    }
}

void msd_heapstore_free(msd_daemon *d)
{
    msd_heapstore *st = d->heaps;
    if (!st)
        return;
    msd_snapindex_free(&st->ix);
    for (size_t i = 0; i < MSD_HEAP_CACHE; i++)
        msd_heap_analysis_free(st->cache[i].a);
    free(st->dir);
    free(st);
    d->heaps = NULL;
}

int msd_heapstore_put(msd_daemon *d, void *wire, size_t len, const char *app, int64_t pid, uint64_t app_id,
                      double pause_ms, msd_heap_put_fn done, void *arg)
{
    job *j = new_job(d, J_PUT, NULL);
    if (!j || !(j->info.s.app = strdup(app))) {
        free(j);
        free(wire);
        return -ENOMEM;
    }
    j->wire = wire;
    j->wire_len = len;
    j->info.s.pid = pid;
    j->info.s.app_id = app_id;
    j->info.s.time = msd_now_wall();
    j->info.pause_ms = pause_ms;
    j->put_done = done;
    j->arg = arg;
    submit(j);
    return 0;
}

int msd_heapstore_list(msd_daemon *d, const char *app, msd_heap_doc_fn done, void *arg)
{
    job *j = new_job(d, J_LIST, app);
    if (!j)
        return -ENOMEM;
    j->doc_done = done;
    j->arg = arg;
    submit(j);
    return 0;
}

int msd_heapstore_query(msd_daemon *d, const char *app, int64_t sid, const char *type, size_t type_len,
                        unsigned limit, msd_heap_doc_fn done, void *arg)
{
    job *j = new_job(d, J_QUERY, app);
    if (!j)
        return -ENOMEM;
    if (type && !(j->type = strndup(type, type_len))) {
        job_free(j);
        return -ENOMEM;
    }
    j->sid = sid;
    j->type_len = type_len;
    j->limit = limit;
    j->doc_done = done;
    j->arg = arg;
    submit(j);
    return 0;
}

int msd_heapstore_open(msd_daemon *d, const char *app, int64_t sid, msd_heap_file_fn done, void *arg)
{
    job *j = new_job(d, J_OPEN, app);
    if (!j)
        return -ENOMEM;
    j->sid = sid;
    j->file_done = done;
    j->arg = arg;
    submit(j);
    return 0;
}

/*
 * daemon/worker.c — the shared worker thread (see worker.h). Entry points: msd_worker_submit(), worker_main().
 *
 * Invariants: every accepted item is on exactly one of todo (submitted, under mu), the thread's hands (between
 * taking it from todo and putting it on done) or done (under mu, the loop told by uv_async_send) until on_back()
 * takes it and calls its done; `pending` counts them all (loop side). uv_async_send() calls may coalesce, so
 * on_back() takes the whole done list each time. The async handle closes once the worker is stopped and nothing
 * is pending.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "worker.h"

typedef struct msd_worker {
    pthread_mutex_t mu;     /* guards todo, done, alive and quit */
    pthread_cond_t wake;    /* the thread waits on it for todo or quit (CLOCK_MONOTONIC) */
    msc_list todo, done;    /* msd_work.link */
    bool alive;             /* a thread is there to take todo (it clears this itself as it leaves) */
    bool quit;              /* msd_worker_free(): leave now */
    bool joinable;          /* tid is a thread not joined yet (alive or gone) */
    pthread_t tid;
    uv_async_t back;        /* the thread's "done has items" */
    size_t pending;         /* loop side: accepted and not done yet */
    bool stopped;
    bool closed;            /* back is closing */
} msd_worker;

static void *worker_main(void *arg)
{
    msd_worker *wk = arg;
    pthread_mutex_lock(&wk->mu);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += MSD_WORKER_IDLE_MS / 1000;
        until.tv_nsec += (MSD_WORKER_IDLE_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        int rc = 0;
        while (msc_list_empty(&wk->todo) && !wk->quit && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&wk->wake, &wk->mu, &until);
        if (msc_list_empty(&wk->todo)) { /* idle for MSD_WORKER_IDLE_MS, or told to quit */
            wk->alive = false;
            pthread_mutex_unlock(&wk->mu);
            return NULL;
        }
        msd_work *w = msc_list_entry(msc_list_first(&wk->todo), msd_work, link);
        msc_list_remove(&w->link);
        pthread_mutex_unlock(&wk->mu);
        w->run(w);
        w->ran = true;
        pthread_mutex_lock(&wk->mu);
        msc_list_push_back(&wk->done, &w->link);
        uv_async_send(&wk->back);
    }
}

static void maybe_close(msd_worker *wk)
{
    if (wk->stopped && wk->pending == 0 && !wk->closed) {
        wk->closed = true;
        uv_close((uv_handle_t *)&wk->back, NULL);
    }
}

/* The thread handed items back (or msd_worker_stop() moved unstarted ones here). */
static void on_back(uv_async_t *a)
{
    msd_worker *wk = a->data;
    msc_list got;
    msc_list_init(&got);
    pthread_mutex_lock(&wk->mu);
    while (!msc_list_empty(&wk->done)) {
        msc_list *n = msc_list_first(&wk->done);
        msc_list_remove(n);
        msc_list_push_back(&got, n);
    }
    pthread_mutex_unlock(&wk->mu);
    while (!msc_list_empty(&got)) {
        msd_work *w = msc_list_entry(msc_list_first(&got), msd_work, link);
        msc_list_remove(&w->link);
        wk->pending--;
        w->done(w); /* may submit again, or free w */
    }
    maybe_close(wk);
}

int msd_worker_start(msd_daemon *d)
{
    msd_worker *wk = calloc(1, sizeof(*wk));
    if (!wk)
        return -ENOMEM;
    msc_list_init(&wk->todo);
    msc_list_init(&wk->done);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wk->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&wk->mu, NULL);
    uv_async_init(d->loop, &wk->back, on_back);
    wk->back.data = wk;
    d->worker = wk;
    return 0;
}

int msd_worker_submit(msd_daemon *d, msd_work *w)
{
    msd_worker *wk = d->worker;
    if (!wk || wk->stopped)
        return -ECANCELED;
    w->ran = false;
    wk->pending++;
    pthread_mutex_lock(&wk->mu);
    int rc = 0;
    if (!wk->alive) {
        if (wk->joinable) /* the previous thread has left or is leaving: reap it (at once) */
            pthread_join(wk->tid, NULL);
        wk->joinable = false;
        rc = pthread_create(&wk->tid, NULL, worker_main, wk);
        wk->joinable = wk->alive = rc == 0;
    }
    if (rc == 0) {
        msc_list_push_back(&wk->todo, &w->link);
        pthread_cond_signal(&wk->wake);
    } else { /* no thread: done without running, from the loop */
        msd_log("cannot start the worker thread: %s", strerror(rc));
        msc_list_push_back(&wk->done, &w->link);
        uv_async_send(&wk->back);
    }
    pthread_mutex_unlock(&wk->mu);
    return 0;
}

void msd_worker_stop(msd_daemon *d)
{
    msd_worker *wk = d->worker;
    if (!wk || wk->stopped)
        return;
    wk->stopped = true;
    pthread_mutex_lock(&wk->mu);
    bool moved = !msc_list_empty(&wk->todo);
    while (!msc_list_empty(&wk->todo)) {
        msc_list *n = msc_list_first(&wk->todo);
        msc_list_remove(n);
        msc_list_push_back(&wk->done, n);
    }
    if (moved)
        uv_async_send(&wk->back);
    pthread_mutex_unlock(&wk->mu);
    maybe_close(wk);
}

void msd_worker_free(msd_daemon *d)
{
    msd_worker *wk = d->worker;
    if (!wk)
        return;
    pthread_mutex_lock(&wk->mu);
    wk->quit = true; /* an idle thread leaves now rather than after MSD_WORKER_IDLE_MS */
    pthread_cond_signal(&wk->wake);
    pthread_mutex_unlock(&wk->mu);
    if (wk->joinable)
        pthread_join(wk->tid, NULL);
    pthread_mutex_destroy(&wk->mu);
    pthread_cond_destroy(&wk->wake);
    free(wk);
    d->worker = NULL;
}

size_t msd_worker_pending(const msd_daemon *d)
{
    return d->worker ? d->worker->pending : 0;
}

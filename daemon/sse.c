/*
 * daemon/sse.c — Server-Sent Events for the dashboard (the format is in sse.h). Entry points: msd_sse_open()
 * (a browser connects), on_registry() (the registry tells us what happened), stream_read() (the driver asks for
 * bytes to send).
 *
 * A stream is a queue of unsent bytes per client (an msc_buf). push() appends an event and wakes the client's
 * request; stream_read() hands queued bytes to the driver, or says "nothing now" (the driver then suspends the
 * connection until the next wake: no busy loop, no timeout while suspended). A client whose queue would exceed
 * MSD_SSE_CLIENT_MAX is dropped: its queue is freed at once and the next read ends the stream with an error. A
 * client that does not read at all never gets that read; the driver's idle timeout (30 s) closes it, and
 * stream_done() frees it. A browser that went away while its stream was idle is found out by the next heartbeat
 * (the write fails): at most MSD_SSE_HEARTBEAT_MS late.
 * Invariant: every client on the list has a live stream; stream_done() is the only place a client is freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "appdoc.h"
#include "buf.h"
#include "list.h"
#include "registry.h"
#include "sse.h"

#define IDLE_KEEP (64u * 1024) /* an empty queue keeps at most this much buffer */

typedef struct client {
    struct msd_sse *sse;
    msd_req *r;            /* the stream's request, until stream_done() */
    msc_buf queue;         /* unsent bytes */
    bool dropped;          /* fell behind: end the stream at the next read */
    msc_list link;
} client;

typedef struct msd_sse {
    msd_daemon *d;
    uv_timer_t heartbeat;
    bool closing;          /* streams end once their queue is empty */
    msc_list clients;
    unsigned nclients;
} msd_sse;

unsigned msd_sse_clients(const msd_daemon *d)
{
    return d->sse ? d->sse->nclients : 0;
}

static void drop(client *c, const char *why)
{
    if (c->dropped)
        return;
    c->dropped = true;
    msc_buf_free(&c->queue);
    c->sse->d->counters.streams_dropped++;
    msd_log("event stream dropped: %s", why);
    msd_req_wake(c->r);
}

/* Appends the concatenation of n parts to c's queue, all or nothing. Drops the client (and returns -ENOBUFS)
 * when that would exceed MSD_SSE_CLIENT_MAX or memory runs out. O(bytes). */
static int push_parts(client *c, const char *const *parts, const size_t *lens, int n)
{
    if (c->dropped)
        return -ENOBUFS;
    size_t add = 0;
    for (int i = 0; i < n; i++)
        add += lens[i];
    int rc = msc_buf_reserve_max(&c->queue, add, MSD_SSE_CLIENT_MAX);
    if (rc < 0) {
        drop(c, rc == -ENOBUFS ? "the client is not reading fast enough" : "out of memory");
        return -ENOBUFS;
    }
    for (int i = 0; i < n; i++)
        msc_buf_append(&c->queue, parts[i], lens[i]); /* room reserved: cannot fail */
    msd_req_wake(c->r);
    return 0;
}

/* Queues "event: NAME\ndata: JSON\n\n"; json is one line (sse.h). */
static int push_event(client *c, const char *name, const char *json, size_t json_len)
{
    const char *parts[] = {"event: ", name, "\ndata: ", json, "\n\n"};
    const size_t lens[] = {7, strlen(name), 7, json_len, 2};
    return push_parts(c, parts, lens, 5);
}

static int push_raw(client *c, const char *s)
{
    const char *parts[] = {s};
    const size_t lens[] = {strlen(s)};
    return push_parts(c, parts, lens, 1);
}

/* The app's latest document as a stats event, or a stats-skipped notice when it is too large to queue. */
static void push_stats(client *c, msd_app *app, msd_blob *doc)
{
    if (doc->len <= MSD_SSE_CLIENT_MAX / 2) {
        push_event(c, "stats", doc->data, doc->len);
    } else {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "{\"id\":%llu}", (unsigned long long)app->id);
        push_event(c, "stats-skipped", buf, (size_t)n);
    }
}

/* Every client gets event NAME with json; NULL json means we ran out of memory building it: then every client
 * is dropped, because a stream that silently missed an event would show a wrong picture (reconnecting fixes it). */
static void broadcast(msd_sse *s, const char *name, char *json)
{
    msc_list_foreach_safe (it, next, &s->clients) {
        client *c = msc_list_entry(it, client, link);
        if (json)
            push_event(c, name, json, strlen(json));
        else
            drop(c, "out of memory building an event");
    }
    free(json);
}

/* The registry's listener: runs on the loop, from ipc.c callbacks or the sweep timer. */
static void on_registry(void *arg, msd_event what, msd_app *app)
{
    msd_sse *s = arg;
    if (msc_list_empty(&s->clients))
        return; /* nobody is watching: no cost */
    if (what == MSD_EV_STATS) {
        msd_blob *doc = msd_appdoc_latest(app);
        if (!doc) {
            broadcast(s, "stats", NULL);
            return;
        }
        msc_list_foreach_safe (it, next, &s->clients)
            push_stats(msc_list_entry(it, client, link), app, doc);
        msd_blob_unref(doc);
        return;
    }
    static const char *const names[] = {[MSD_EV_CONNECT] = "connect", [MSD_EV_DISCONNECT] = "disconnect",
                                        [MSD_EV_REMOVE] = "remove"};
    cJSON *o = msd_appdoc_summary(app);
    char *json = NULL;
    if (o && cJSON_AddStringToObject(o, "event", names[what]))
        json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    broadcast(s, "app", json);
}

static void on_heartbeat(uv_timer_t *t)
{
    msd_sse *s = t->data;
    msc_list_foreach_safe (it, next, &s->clients)
        push_raw(msc_list_entry(it, client, link), ": keepalive\n\n");
}

static long stream_read(void *cls, char *buf, size_t max)
{
    client *c = cls;
    if (c->dropped)
        return MSD_STREAM_ERROR;
    if (c->queue.len == 0)
        return c->sse->closing ? MSD_STREAM_END : 0;
    size_t n = c->queue.len < max ? c->queue.len : max;
    memcpy(buf, msc_buf_bytes(&c->queue), n);
    msc_buf_consume(&c->queue, n);
    msc_buf_shrink_idle(&c->queue, IDLE_KEEP); /* a burst (the hello) is over: give the memory back */
    return (long)n;
}

static void stream_done(void *cls)
{
    client *c = cls;
    msc_list_remove(&c->link);
    c->sse->nclients--;
    msc_buf_free(&c->queue);
    free(c);
}

static const msd_stream_ops stream_ops = {stream_read, stream_done};

/* The first bytes of a stream: reconnect delay, the apps list, every app's latest stats. */
static void push_hello(msd_sse *s, client *c)
{
    push_raw(c, "retry: 2000\n\n");
    cJSON *o = cJSON_CreateObject(), *apps = cJSON_AddArrayToObject(o, "apps");
    bool ok = apps && cJSON_AddStringToObject(o, "daemon", MSD_VERSION) &&
              cJSON_AddNumberToObject(o, "heartbeat_ms", MSD_SSE_HEARTBEAT_MS);
    msd_registry *reg = s->d->reg;
    for (msd_app *a = msd_registry_first(reg); ok && a; a = msd_registry_next(reg, a)) {
        cJSON *sum = msd_appdoc_summary(a);
        ok = sum && cJSON_AddItemToArray(apps, sum);
    }
    char *json = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!json) {
        drop(c, "out of memory building the hello event");
        return;
    }
    push_event(c, "hello", json, strlen(json));
    free(json);
    /* The budget check keeps it bounded: apps whose document no longer fits in half the client budget are left
     * for their next sample. */
    for (msd_app *a = msd_registry_first(reg); a && !c->dropped; a = msd_registry_next(reg, a)) {
        msd_blob *doc = msd_appdoc_latest(a);
        if (doc && c->queue.len + doc->len < MSD_SSE_CLIENT_MAX / 2)
            push_stats(c, a, doc);
        msd_blob_unref(doc);
    }
}

void msd_sse_open(msd_daemon *d, msd_req *r)
{
    msd_sse *s = d->sse;
    if (!s || s->closing) {
        msd_req_error(r, 503, "the daemon is shutting down");
        return;
    }
    if (s->nclients >= MSD_SSE_MAX_CLIENTS) {
        msd_req_error(r, 503, "too many event streams open");
        return;
    }
    msd_resp resp = {.status = 200, .type = "text/event-stream"};
    resp.headers[resp.nheaders++] = (msd_header){"Cache-Control", "no-store"};
    resp.headers[resp.nheaders++] = (msd_header){"X-Content-Type-Options", "nosniff"};
    resp.headers[resp.nheaders++] = (msd_header){"X-Accel-Buffering", "no"};
    if (strcmp(r->method, "HEAD") == 0) { /* the headers only */
        msd_req_answer(r, &resp);
        return;
    }
    client *c = calloc(1, sizeof(*c));
    if (!c) {
        msd_req_error(r, 500, "out of memory");
        return;
    }
    c->sse = s;
    c->r = r;
    msc_list_push_back(&s->clients, &c->link);
    s->nclients++;
    push_hello(s, c);
    /* From here on the driver owns c's lifetime: stream_done() unlinks and frees it (at once if the stream cannot
     * be created). */
    resp.stream = &stream_ops;
    resp.stream_cls = c;
    msd_req_answer(r, &resp);
}

int msd_sse_start(msd_daemon *d)
{
    msd_sse *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->d = d;
    msc_list_init(&s->clients);
    if (msd_registry_listen(d->reg, on_registry, s) < 0) {
        free(s);
        return -ENOMEM;
    }
    uv_timer_init(d->loop, &s->heartbeat);
    s->heartbeat.data = s;
    uv_timer_start(&s->heartbeat, on_heartbeat, MSD_SSE_HEARTBEAT_MS, MSD_SSE_HEARTBEAT_MS);
    d->sse = s;
    return 0;
}

void msd_sse_stop(msd_daemon *d)
{
    msd_sse *s = d->sse;
    if (!s || s->closing)
        return;
    s->closing = true;
    msd_registry_unlisten(d->reg, on_registry, s);
    uv_close((uv_handle_t *)&s->heartbeat, NULL); /* closing a timer stops it */
    msc_list_foreach (it, &s->clients)
        msd_req_wake(msc_list_entry(it, client, link)->r); /* each stream now ends once its queue is sent */
}

void msd_sse_free(msd_daemon *d)
{
    free(d->sse); /* the driver has ended every stream (msd_http_stop): no client is left */
    d->sse = NULL;
}

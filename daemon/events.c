/*
 * daemon/events.c — Server-Sent Events for the dashboard (the format is in events.h). Entry points:
 * msd_events_open() (a browser connects), on_registry() (the registry tells us what happened), reader() (MHD
 * asks for bytes to send).
 *
 * How a stream works with libmicrohttpd in external-epoll mode on one thread:
 *   - The response is MHD_create_response_from_callback() of unknown size (chunked). Each client has a queue of
 *     unsent bytes; reader() copies from it into MHD's write buffer.
 *   - When the queue is empty, reader() suspends the connection and returns 0: MHD then stops polling that
 *     socket entirely (no busy loop, no timeout while suspended). microhttpd.h prescribes exactly this pattern.
 *   - push() appends an event and resumes a suspended client. In external polling mode MHD notices a resume
 *     only when MHD_run() is next called, so we ask http.c to run it on the next loop turn (msd_http_wake):
 *     we never call MHD_run() from here (we may be inside an MHD or ipc callback).
 *   - A client whose queue would exceed MSD_EVENTS_CLIENT_MAX is dropped: its queue is freed at once and the
 *     next reader() call ends the stream with an error. A client that does not read at all never gets that
 *     call; MHD closes it after its idle timeout (30 s, http.c), and the free callback releases the rest.
 *   - MHD does not poll a suspended connection, so a browser that went away unnoticed while its stream was idle
 *     is found out by the next heartbeat (the write fails, MHD closes it): at most MSD_EVENTS_HEARTBEAT_MS late.
 *   - MHD owns the response; client_free() (its free callback) is the only place a client is freed.
 * Invariant: every client in the list is alive (not yet freed by MHD); c->suspended iff we suspended it and
 * have not resumed it since.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <uv.h>

#include "api.h"
#include "events.h"
#include "http.h"
#include "registry.h"

#define READ_BLOCK (16u * 1024) /* the most MHD asks for at once */
#define IDLE_KEEP (64u * 1024)  /* an empty queue keeps at most this much buffer */

typedef struct client {
    struct MHD_Connection *conn;
    char *buf;             /* unsent bytes are buf[off .. off + len) */
    size_t off, len, cap;
    bool suspended;
    bool dropped;          /* fell behind: end the stream at the next read */
    struct client *prev, *next;
} client;

/* One daemon per process (main.c), hence one stream registry; loop thread only. */
static struct {
    msd_daemon *d;
    uv_timer_t heartbeat;
    bool started;          /* the timer exists (closed in msd_events_stop) */
    bool closing;          /* streams end once their queue is empty */
    bool listening;        /* we are the registry's listener */
    client *clients;
    unsigned nclients;
    unsigned long dropped;
} ev;

unsigned msd_events_clients(void)
{
    return ev.nclients;
}

unsigned long msd_events_dropped(void)
{
    return ev.dropped;
}

static void wake(client *c)
{
    if (c->suspended) {
        c->suspended = false;
        MHD_resume_connection(c->conn);
        msd_http_wake(ev.d); /* external polling: MHD acts on the resume only when it runs */
    }
}

static void drop(client *c, const char *why)
{
    if (c->dropped)
        return;
    c->dropped = true;
    free(c->buf);
    c->buf = NULL;
    c->off = c->len = c->cap = 0;
    ev.dropped++;
    msd_log("event stream dropped: %s", why);
    wake(c);
}

/*
 * Appends the concatenation of n parts to c's queue, all or nothing. Drops the client (and returns -ENOBUFS)
 * when that would exceed MSD_EVENTS_CLIENT_MAX or memory runs out. O(bytes) plus an occasional compaction.
 */
static int push_parts(client *c, const char *const *parts, const size_t *lens, int n)
{
    if (c->dropped)
        return -ENOBUFS;
    size_t add = 0;
    for (int i = 0; i < n; i++)
        add += lens[i];
    if (c->len + add > MSD_EVENTS_CLIENT_MAX) {
        drop(c, "the client is not reading fast enough");
        return -ENOBUFS;
    }
    if (c->off + c->len + add > c->cap) {
        if (c->off) { /* slide the unsent bytes to the front first */
            memmove(c->buf, c->buf + c->off, c->len);
            c->off = 0;
        }
        if (c->len + add > c->cap) {
            size_t ncap = c->cap ? c->cap : 4096;
            while (ncap < c->len + add)
                ncap *= 2;
            if (ncap > MSD_EVENTS_CLIENT_MAX)
                ncap = MSD_EVENTS_CLIENT_MAX;
            char *nb = realloc(c->buf, ncap);
            if (!nb) {
                drop(c, "out of memory");
                return -ENOBUFS;
            }
            c->buf = nb;
            c->cap = ncap;
        }
    }
    for (int i = 0; i < n; i++) {
        memcpy(c->buf + c->off + c->len, parts[i], lens[i]);
        c->len += lens[i];
    }
    wake(c);
    return 0;
}

/* Queues "event: NAME\ndata: JSON\n\n" (json has no newline: cJSON's unformatted output never does). */
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
static void push_stats(client *c, const msd_app *app)
{
    if (!app->latest)
        return;
    if (app->latest->len <= MSD_EVENTS_CLIENT_MAX / 2) {
        push_event(c, "stats", app->latest->data, app->latest->len);
    } else {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "{\"id\":%llu}", (unsigned long long)app->id);
        push_event(c, "stats-skipped", buf, (size_t)n);
    }
}

/* Every client gets event NAME with json; NULL json means we ran out of memory building it: then every client
 * is dropped, because a stream that silently missed an event would show a wrong picture (reconnecting fixes it). */
static void broadcast(const char *name, char *json)
{
    for (client *c = ev.clients, *n; c; c = n) {
        n = c->next;
        if (json)
            push_event(c, name, json, strlen(json));
        else
            drop(c, "out of memory building an event");
    }
    free(json);
}

/* The registry's listener: runs on the loop, from ipc.c callbacks or the sweep timer. */
static void on_registry(void *arg, msd_event what, const msd_app *app)
{
    if (!ev.clients)
        return; /* nobody is watching: no cost */
    if (what == MSD_EV_STATS) {
        for (client *c = ev.clients, *n; c; c = n) {
            n = c->next;
            push_stats(c, app);
        }
        return;
    }
    static const char *const names[] = {[MSD_EV_CONNECT] = "connect", [MSD_EV_DISCONNECT] = "disconnect",
                                        [MSD_EV_REMOVE] = "remove"};
    cJSON *o = msd_app_summary(app);
    char *json = NULL;
    if (o && cJSON_AddStringToObject(o, "event", names[what]))
        json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    broadcast("app", json);
}

static void on_heartbeat(uv_timer_t *t)
{
    for (client *c = ev.clients, *n; c; c = n) {
        n = c->next;
        push_raw(c, ": keepalive\n\n");
    }
}

/* MHD asks for up to max bytes of client cls's stream. */
static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    client *c = cls;
    if (c->dropped)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (c->len == 0) {
        if (ev.closing)
            return MHD_CONTENT_READER_END_OF_STREAM;
        c->suspended = true;
        MHD_suspend_connection(c->conn);
        return 0; /* nothing now; push() resumes us */
    }
    size_t n = c->len < max ? c->len : max;
    memcpy(buf, c->buf + c->off, n);
    c->off += n;
    c->len -= n;
    if (c->len == 0) {
        c->off = 0;
        if (c->cap > IDLE_KEEP) { /* a burst (the hello) is over: give the memory back */
            free(c->buf);
            c->buf = NULL;
            c->cap = 0;
        }
    }
    return (ssize_t)n;
}

static void client_free(void *cls)
{
    client *c = cls;
    if (c->prev)
        c->prev->next = c->next;
    else
        ev.clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ev.nclients--;
    free(c->buf);
    free(c);
}

/* The first bytes of a stream: reconnect delay, the apps list, every app's latest stats. */
static void push_hello(client *c)
{
    push_raw(c, "retry: 2000\n\n");
    cJSON *o = cJSON_CreateObject(), *apps = cJSON_AddArrayToObject(o, "apps");
    bool ok = apps && cJSON_AddStringToObject(o, "daemon", MSD_VERSION) &&
              cJSON_AddNumberToObject(o, "heartbeat_ms", MSD_EVENTS_HEARTBEAT_MS);
    for (msd_app *a = msd_registry_first(ev.d->reg); ok && a; a = msd_registry_next(a)) {
        cJSON *s = msd_app_summary(a);
        ok = s && cJSON_AddItemToArray(apps, s);
    }
    char *json = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!json) {
        drop(c, "out of memory building the hello event");
        return;
    }
    push_event(c, "hello", json, strlen(json));
    free(json);
    /* Latest stats, newest apps first would be nicer for huge registries; the budget check keeps it bounded:
     * apps whose document no longer fits in half the client budget are left for their next sample. */
    for (msd_app *a = msd_registry_first(ev.d->reg); a && !c->dropped; a = msd_registry_next(a))
        if (a->latest && c->len + a->latest->len < MSD_EVENTS_CLIENT_MAX / 2)
            push_stats(c, a);
}

static enum MHD_Result send_error(struct MHD_Connection *mc, unsigned status, const char *msg)
{
    static char oom[] = "{\"error\":\"out of memory\"}";
    msd_blob *b = msd_api_error(msg);
    struct MHD_Response *r = MHD_create_response_from_buffer(b ? b->len : sizeof(oom) - 1, b ? b->data : oom,
                                                             b ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    msd_blob_unref(b);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

int msd_events_open(msd_daemon *d, struct MHD_Connection *mc, bool head)
{
    if (!ev.started || ev.closing)
        return send_error(mc, MHD_HTTP_SERVICE_UNAVAILABLE, "the daemon is shutting down");
    if (ev.nclients >= MSD_EVENTS_MAX_CLIENTS)
        return send_error(mc, MHD_HTTP_SERVICE_UNAVAILABLE, "too many event streams open");
    struct MHD_Response *r;
    client *c = NULL;
    if (head) {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        if (!(c = calloc(1, sizeof(*c))))
            return send_error(mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        c->conn = mc;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READ_BLOCK, reader, c, client_free);
        if (!r) {
            free(c);
            return send_error(mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        }
        /* From here on MHD owns c through the response: client_free() unlinks and frees it. */
        c->next = ev.clients;
        if (ev.clients)
            ev.clients->prev = c;
        ev.clients = c;
        ev.nclients++;
        push_hello(c);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(mc, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* frees c now if queueing failed; else when the stream ends */
    return ret;
}

int msd_events_start(msd_daemon *d)
{
    ev.d = d;
    ev.closing = false;
    uv_timer_init(d->loop, &ev.heartbeat);
    uv_timer_start(&ev.heartbeat, on_heartbeat, MSD_EVENTS_HEARTBEAT_MS, MSD_EVENTS_HEARTBEAT_MS);
    ev.started = true;
    int rc = msd_registry_set_listener(d->reg, on_registry, NULL);
    if (rc < 0) {
        msd_log("event stream: the registry already has a listener; the dashboard will not update live");
        return rc;
    }
    ev.listening = true;
    return 0;
}

void msd_events_stop(msd_daemon *d)
{
    if (!ev.started || ev.closing)
        return;
    ev.closing = true;
    if (ev.listening)
        msd_registry_set_listener(d->reg, NULL, NULL);
    ev.listening = false;
    uv_timer_stop(&ev.heartbeat);
    uv_close((uv_handle_t *)&ev.heartbeat, NULL);
    for (client *c = ev.clients; c; c = c->next)
        wake(c); /* reader() now ends each stream once its queue is sent */
}

/*
 * daemon/http.c — the HTTP driver: libmicrohttpd inside the libuv loop, requests handed to the route table
 * (route.h). Entry points: msd_http_start(), on_request(). The only file that knows libmicrohttpd.
 *
 * How MHD and libuv share the work (one thread, no locks):
 *   - MHD runs in "external epoll" mode (MHD_USE_EPOLL without an internal thread). All of its sockets live in
 *     one epoll fd, which is itself pollable: a uv_poll watches it for readability and calls MHD_run().
 *   - After every MHD_run() we ask MHD_get_timeout() when MHD wants to run again (connection timeouts, data it
 *     has buffered but not processed) and arm a uv_timer for it. MHD's contract is exactly this pair.
 *   - A view that answers later (an app's reply, a disk job) leaves the request unanswered: the connection is
 *     suspended (MHD_suspend_connection). When the answer comes (from the loop), answer() builds the response,
 *     resumes the connection and arms the timer for 0 ms; MHD then calls on_request() again and we queue it.
 *     MHD is never re-entered from inside one of its own callbacks.
 *   - A stream (Server-Sent Events) is a callback response; when its view has nothing to send, reader()
 *     suspends the connection, and the view's msd_req_wake() resumes it (MHD does not poll a suspended socket).
 *
 * Checks made here, before any view sees a request: the Host header must name the bound address or localhost
 * (DNS rebinding), only GET, HEAD and POST exist, every POST must carry "Authorization: Bearer <token>" (checked
 * before its body is read), and bodies are limited to MSD_API_BODY_MAX bytes. No CORS headers are ever sent, so
 * browsers keep other origins from reading the API.
 *
 * Slow clients: MHD's inactivity timeout and connection limit alone let a slowloris win — connections that send
 * their headers a byte at a time are never idle, and once they fill --max-http MHD stops accepting, so every
 * other client waits in the kernel's backlog. So every connection is tracked from accept (see "Slow clients"):
 * one that has waited for a request's headers longer than HEADER_DEADLINE_S is shut down, and when the
 * connections reach a soft limit below --max-http, the one that has waited longest for its headers makes room for
 * the newcomer. A client that sends whole requests is never waiting long, so it is not the one evicted.
 *
 * HTTP keep-alive: every request is answered from MHD's last callback for it. libmicrohttpd 0.9.75 treats a
 * response queued from the first call as "early" and closes the connection after it, which made every client
 * pay a TCP connect, accept and MHD's per-connection setup per request (5x the cost of a GET). The refusals of
 * the first call (403, 405, 401, 413) stay early on purpose: they must not read a POST's body.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uv.h>

#include "buf.h"
#include "host.h"
#include "http.h"
#include "list.h"
#include "metrics.h"
#include "route.h"
#include "token.h"

#define HEADER_DEADLINE_S 10.0 /* longest wait for a request's headers (slowloris) */
#define GUARD_PERIOD_MS 1000   /* how often the header deadline is checked */
/* MHD's memory per connection (request line and headers; bigger requests get 414/431). MHD's default, 32 KiB:
 * libmicrohttpd 0.9.75 zeroes the whole area after every request of a kept-alive connection, so 64 KiB cost a
 * 64 KiB memset per request — a tenth of a GET's CPU. */
#define MEMORY_PER_CONNECTION (32 * 1024)
#define STREAM_BLOCK (16u * 1024) /* the most a stream is asked for at once */

/*
 * One request, from its headers to its completion (MHD's con_cls). For a stream it also lives until the
 * stream's response is freed: refs counts the request (dropped on completion) and the stream (dropped when MHD
 * frees the response), whichever goes last frees it.
 */
typedef struct hreq {
    msd_req r;                   /* what the views see */
    struct msd_http *h;
    struct MHD_Connection *conn; /* NULL once the request completed */
    msc_buf body;
    bool too_big;
    bool dispatching;            /* the handler runs: an answer is queued when it returns */
    bool answered;
    bool suspended;              /* waiting for a late answer (on h->suspended) */
    unsigned status;
    struct MHD_Response *resp;   /* the answer, until queued; or: */
    msd_blob *shared;            /* a shared blob to answer from the response cache (a reference) */
    msc_list link;               /* h->suspended */
    /* a stream */
    const msd_stream_ops *ops;
    void *cls;
    bool stream_paused;          /* reader() suspended the connection: nothing to send */
    unsigned refs;
} hreq;

/* One accepted connection (MHD_OPTION_NOTIFY_CONNECTION), for the slow-client guard. */
typedef struct conn_track {
    int fd;
    bool in_request;      /* on_request() has seen this request's headers and it has not completed yet */
    double waiting_since; /* monotonic: accept, or the end of the previous request on a kept-alive connection */
    msc_list link;        /* h->conns, oldest first */
} conn_track;

/*
 * Responses to shared documents. An app's latest stats document is one blob that every poller gets until the app
 * sends the next one; building an MHD response and its headers for each request was the part of a GET that the
 * bare libmicrohttpd server does not do. So the response to a shared blob (one the caller does not own alone) is
 * built once and queued again and again — MHD responses are reference counted for exactly that. A slot keeps
 * its response, and the response keeps a reference to its blob (released by blob_free), so the key stays a live,
 * unique pointer while the slot holds it. A slot is replaced when another shared blob hashes to it; MHD keeps an
 * evicted response alive for the connections still sending it. At most RESPONSE_CACHE blobs are held this way.
 */
#define RESPONSE_CACHE 64
typedef struct cached_response {
    msd_blob *blob;
    struct MHD_Response *resp;
} cached_response;

typedef struct msd_http {
    msd_daemon *d;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_timer_t guard;       /* enforces HEADER_DEADLINE_S */
    msc_list conns;         /* conn_track.link, every open connection, oldest first */
    size_t nconns;
    size_t soft_limit;      /* at this many connections, the longest-waiting one is shut down for a newcomer */
    size_t max_conns;       /* --max-http: MHD's own limit */
    bool rerun;             /* a connection closed while MHD was at its limit: run MHD again (see run_mhd) */
    int port;
    char bound[INET6_ADDRSTRLEN + 2]; /* the bound address as it appears in a Host header ("[::1]" for IPv6) */
    bool wildcard;                    /* bound to 0.0.0.0 or :: */
    msc_list suspended;     /* hreq.link: requests waiting for a late answer */
    size_t streams;         /* stream responses alive */
    bool started;
    cached_response cache[RESPONSE_CACHE];
} msd_http;

/* ---- Driving MHD from the loop ------------------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

static void schedule(msd_http *h)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
        uv_timer_start(&h->timer, on_timer, ms > 3600000 ? 3600000 : (uint64_t)ms, 0);
    else
        uv_timer_stop(&h->timer);
}

static void run_mhd(msd_http *h)
{
    MHD_run(h->mhd);
    /* At its connection limit MHD stops watching the listening socket; when a connection then closes inside
     * MHD_run() it only starts watching again at the next MHD_run(), and nothing else may wake us for that:
     * the clients waiting in the kernel's backlog would hang. So run it again on the next loop turn. */
    if (h->rerun) {
        h->rerun = false;
        uv_timer_start(&h->timer, on_timer, 0, 0);
        return;
    }
    schedule(h);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    run_mhd(p->data);
}

/* MHD acts on a resume only when it runs: on the next loop turn, never from inside whoever called us. */
static void run_soon(msd_http *h)
{
    if (h->started)
        uv_timer_start(&h->timer, on_timer, 0, 0);
}

/* ---- Responses ---------------------------------------------------------------------------------------------- */

static void blob_free(void *cls)
{
    msd_blob_unref(cls);
}

static void add_headers(struct MHD_Response *resp, const msd_resp *a)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type ? a->type : "application/json");
    if (!a->type) { /* the API's defaults; the other views set their own */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    }
    for (size_t i = 0; i < a->nheaders; i++)
        MHD_add_response_header(resp, a->headers[i].name, a->headers[i].value);
}

static void stream_done(void *cls);
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max);

/* The cached response for shared blob b (the caller's reference is consumed), or NULL when out of memory. */
static struct MHD_Response *cached(msd_http *h, msd_blob *b)
{
    cached_response *c = &h->cache[((uintptr_t)b >> 4) % RESPONSE_CACHE];
    if (c->blob == b) {
        msd_blob_unref(b); /* the cached response holds its own reference */
        return c->resp;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free, b);
    if (!r) {
        msd_blob_unref(b);
        return NULL;
    }
    add_headers(r, &(msd_resp){.status = 200});
    if (c->resp)
        MHD_destroy_response(c->resp); /* MHD keeps it alive for the connections still sending it */
    *c = (cached_response){b, r};
    return r;
}

/* Builds hr's answer from a (consumed: its body reference passes to the response or is released). A 200 with a
 * blob that someone else holds too (an app's document) is answered from the cache when it is queued. */
static void make_response(msd_http *h, hreq *hr, msd_resp *a)
{
    struct MHD_Response *resp;
    msd_blob *b = a->body;
    if (a->stream) {
        hr->ops = a->stream;
        hr->cls = a->stream_cls;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, hr, stream_done);
        if (!resp) {
            a->stream->done(a->stream_cls);
            hr->ops = NULL;
            return;
        }
        hr->refs++;
        h->streams++;
    } else if (a->file) {
        resp = MHD_create_response_from_fd64(a->file_size, a->file_fd); /* MHD closes the fd with the response */
        if (!resp) {
            close(a->file_fd);
            return;
        }
    } else if (b && a->status == 200 && !a->type && !a->nheaders && b->refs > 1) {
        hr->shared = b;
        return;
    } else if (b) {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free, b);
        if (!resp) {
            msd_blob_unref(b);
            return;
        }
    } else {
        resp = MHD_create_response_from_buffer(a->static_len, (void *)a->static_body, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return;
    }
    add_headers(resp, a);
    hr->resp = resp;
}

/* Queues hr's answer (from on_request: MHD accepts a response only there). */
static enum MHD_Result queue(hreq *hr)
{
    unsigned status = hr->status;
    if (hr->shared) {
        struct MHD_Response *c = cached(hr->h, hr->shared);
        hr->shared = NULL;
        if (c)
            return MHD_queue_response(hr->conn, status, c); /* the cache keeps its reference */
    }
    struct MHD_Response *resp = hr->resp;
    hr->resp = NULL;
    if (!resp) { /* the answer could not be built: the daemon's static out-of-memory answer */
        msd_resp oom = msd_resp_out_of_memory();
        make_response(hr->h, hr, &oom);
        if (!(resp = hr->resp))
            return MHD_NO;
        hr->resp = NULL;
        status = (unsigned)oom.status;
    }
    enum MHD_Result ret = MHD_queue_response(hr->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* msd_req's answer: the response is built now; it is queued from on_request (see the top of the file). */
static void answer(msd_req *r, msd_resp *a)
{
    hreq *hr = (hreq *)r;
    msd_http *h = hr->h;
    if (hr->answered) { /* a view's bug: a second answer. The first one stands. */
        msd_log("a request was answered twice: %s %s", r->method, r->path);
        msd_blob_unref(a->body);
        if (a->stream)
            a->stream->done(a->stream_cls);
        if (a->file)
            close(a->file_fd);
        return;
    }
    hr->answered = true;
    hr->status = (unsigned)a->status;
    make_response(h, hr, a);
    if (hr->suspended) {
        msc_list_remove(&hr->link);
        hr->suspended = false;
        MHD_resume_connection(hr->conn);
        run_soon(h);
    }
}

/* ---- Streams ------------------------------------------------------------------------------------------------ */

static void hreq_unref(hreq *hr)
{
    if (--hr->refs == 0) {
        msc_buf_free(&hr->body);
        free(hr);
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    hreq *hr = cls;
    long n = hr->ops->read(hr->cls, buf, max);
    if (n == MSD_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == 0 && hr->conn) { /* nothing to send: MHD stops polling the socket until wake() */
        hr->stream_paused = true;
        MHD_suspend_connection(hr->conn);
    }
    return (ssize_t)n;
}

static void stream_done(void *cls)
{
    hreq *hr = cls;
    hr->h->streams--;
    hr->ops->done(hr->cls);
    hr->ops = NULL;
    hreq_unref(hr);
}

static void wake(msd_req *r)
{
    hreq *hr = (hreq *)r;
    if (hr->stream_paused && hr->conn) {
        hr->stream_paused = false;
        MHD_resume_connection(hr->conn);
        run_soon(hr->h);
    }
}

/* ---- Slow clients -------------------------------------------------------------------------------------------- */

/* Closes a connection from outside MHD: shutdown(2) makes MHD see the end of the stream on its next run, and MHD
 * closes the socket itself (it owns the fd). Idempotent. */
static void evict(conn_track *t)
{
    if (t->fd >= 0)
        shutdown(t->fd, SHUT_RDWR);
    t->fd = -1;
}

static void on_guard(uv_timer_t *timer)
{
    msd_http *h = timer->data;
    double now = msd_now_mono();
    bool any = false;
    msc_list_foreach (it, &h->conns) {
        conn_track *t = msc_list_entry(it, conn_track, link);
        if (!t->in_request && t->fd >= 0 && now - t->waiting_since > HEADER_DEADLINE_S) {
            evict(t);
            any = true;
        }
    }
    if (any)
        run_mhd(h);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    msd_http *h = cls;
    conn_track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (!t)
            return;
        msc_list_remove(&t->link);
        if (h->nconns >= h->max_conns)
            h->rerun = true;
        h->nconns--;
        free(t);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    t = calloc(1, sizeof(*t));
    if (!t) { /* out of memory: refuse the newcomer rather than serve it unguarded */
        if (ci)
            shutdown(ci->connect_fd, SHUT_RDWR);
        return;
    }
    t->fd = ci ? ci->connect_fd : -1;
    t->waiting_since = msd_now_mono();
    if (h->nconns >= h->soft_limit) { /* make room: the oldest connection still waiting for headers goes */
        msc_list_foreach (it, &h->conns) {
            conn_track *o = msc_list_entry(it, conn_track, link);
            if (!o->in_request && o->fd >= 0) {
                evict(o);
                break;
            }
        }
    }
    msc_list_push_back(&h->conns, &t->link);
    h->nconns++;
    *socket_context = t;
}

/* Marks the connection's request as started (headers in) or finished (waiting for the next one). */
static void track_request(struct MHD_Connection *mc, bool started)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_track *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    t->in_request = started;
    if (!started)
        t->waiting_since = msd_now_mono();
}

/* ---- Requests ------------------------------------------------------------------------------------------------ */

static const char *get_query(msd_req *r, const char *name)
{
    hreq *hr = (hreq *)r;
    return hr->conn ? MHD_lookup_connection_value(hr->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

static const char *get_header(msd_req *r, const char *name)
{
    hreq *hr = (hreq *)r;
    return hr->conn ? MHD_lookup_connection_value(hr->conn, MHD_HEADER_KIND, name) : NULL;
}

/* An answer from the first callback (see the top of the file): status and an error message. */
static enum MHD_Result refuse(msd_http *h, struct MHD_Connection *mc, unsigned status, const char *msg)
{
    hreq tmp = {.h = h, .conn = mc, .r.answer = answer};
    msd_req_error(&tmp.r, (int)status, msg);
    return queue(&tmp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    msd_http *h = cls;
    hreq *hr = *con_cls;
    if (!hr) { /* first call: the headers are in */
        track_request(mc, true);
        if (!msd_host_allowed(h->bound, h->wildcard, h->port,
                              MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
            return refuse(h, mc, MHD_HTTP_FORBIDDEN, "Host header not allowed: use localhost or the bound address");
        if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return refuse(h, mc, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
        bool authorized = msd_token_check(
            h->d->token, MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
        if (msd_route_needs_token(method) && !authorized)
            return refuse(h, mc, MHD_HTTP_UNAUTHORIZED, "missing or wrong token: send Authorization: Bearer <token>");
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > MSD_API_BODY_MAX)
            return refuse(h, mc, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        if (!(hr = calloc(1, sizeof(*hr))))
            return refuse(h, mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        hr->h = h;
        hr->conn = mc;
        hr->refs = 1;
        msc_list_init(&hr->link);
        hr->r = (msd_req){.method = method, .path = url, .authorized = authorized, .query = get_query,
                          .header = get_header, .answer = answer, .wake = wake, .driver = h};
        *con_cls = hr;
        return MHD_YES; /* answered from the last call, so that the connection is kept alive */
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        int rc = hr->too_big ? -ENOBUFS : msc_buf_append_max(&hr->body, upload_data, n, MSD_API_BODY_MAX);
        if (rc == -ENOBUFS) {
            hr->too_big = true; /* keep reading and dropping; answer 413 at the end */
            return MHD_YES;
        }
        return rc < 0 ? MHD_NO : MHD_YES; /* out of memory: drop the connection */
    }
    if (hr->answered) /* resumed with a late answer */
        return queue(hr);
    if (hr->too_big)
        return refuse(h, mc, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    if (hr->body.len && !msc_buf_cstr(&hr->body))
        return refuse(h, mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    hr->r.body = msc_buf_bytes(&hr->body);
    hr->r.body_len = hr->body.len;
    hr->dispatching = true;
    msd_route_dispatch(h->d, h->d->routes, h->d->nroutes, &hr->r);
    hr->dispatching = false;
    if (hr->answered)
        return queue(hr);
    /* The view answers later: answer() resumes us. */
    hr->suspended = true;
    msc_list_push_back(&h->suspended, &hr->link);
    MHD_suspend_connection(mc);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    msd_http *h = cls;
    /* Counted here, where every request ends whoever answered it. */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_HTTP_STATUS);
    if (ci)
        msd_count_http(&h->d->counters, ci->http_status);
    track_request(mc, false);
    hreq *hr = *con_cls;
    if (!hr)
        return;
    /* MHD never completes a suspended connection (all are resumed before stopping), so hr is off the list. */
    if (hr->resp)
        MHD_destroy_response(hr->resp);
    msd_blob_unref(hr->shared);
    hr->resp = NULL;
    hr->shared = NULL;
    hr->conn = NULL; /* a stream still alive must not touch the connection any more */
    *con_cls = NULL;
    hreq_unref(hr);
}

/* ---- Start and stop ------------------------------------------------------------------------------------------ */

/* Creates, binds and listens on the HTTP socket ourselves: clear errors, and port 0 works. */
static int listen_socket(msd_http *h, const char *host, int port, int *family)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    const char *name = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, name, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof(*s4);
        snprintf(h->bound, sizeof(h->bound), "%s", name);
        h->wildcard = s4->sin_addr.s_addr == htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET6, name, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*s6);
        snprintf(h->bound, sizeof(h->bound), "[%s]", name);
        h->wildcard = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
    } else {
        msd_log("--http: \"%s\" is not a numeric IPv4/IPv6 address or localhost", host);
        return -EINVAL;
    }
    *family = ss.ss_family;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 511) < 0) {
        int e = errno;
        if (e == EADDRINUSE)
            msd_log("cannot listen on %s:%d: the port is in use (another memscoped? choose one with --http ADDR:PORT)",
                    h->bound, port);
        else
            msd_log("cannot listen on %s:%d: %s", h->bound, port, strerror(e));
        close(fd);
        return -e;
    }
    sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    h->port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
    return fd;
}

int msd_http_start(msd_daemon *d, int *port)
{
    msd_http *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->d = d;
    msc_list_init(&h->conns);
    msc_list_init(&h->suspended);
    /* Keep an eighth of --max-http (at least one) free for clients that send whole requests. */
    size_t max = (size_t)d->cfg.http_connections;
    h->max_conns = max;
    h->soft_limit = max > 8 ? max - max / 8 : (max > 1 ? max - 1 : 1);
    int family = AF_INET;
    int fd = listen_socket(h, d->cfg.http_host, d->cfg.http_port, &family);
    if (fd < 0) {
        free(h);
        return fd;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                              MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)d->cfg.http_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)d->cfg.http_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_PER_CONNECTION,
                              MHD_OPTION_END);
    if (!h->mhd) {
        msd_log("cannot start the HTTP server (libmicrohttpd)");
        close(fd);
        free(h);
        return -EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    int rc = info ? uv_poll_init(d->loop, &h->poll, info->epoll_fd) : -EIO;
    if (rc < 0) {
        msd_log("cannot watch the HTTP server's epoll fd: %s", rc == -EIO ? "no fd" : uv_strerror(rc));
        MHD_stop_daemon(h->mhd);
        free(h);
        return rc;
    }
    h->poll.data = h;
    uv_timer_init(d->loop, &h->timer);
    h->timer.data = h;
    uv_timer_init(d->loop, &h->guard);
    h->guard.data = h;
    uv_timer_start(&h->guard, on_guard, GUARD_PERIOD_MS, GUARD_PERIOD_MS);
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    h->started = true;
    d->http = h;
    schedule(h);
    *port = h->port;
    return 0;
}

void msd_http_stop(msd_daemon *d)
{
    msd_http *h = d->http;
    if (!h || !h->started)
        return;
    /* Every module that answers late has answered by now (ipc failed its app requests, the snapshot store its
     * jobs); anything left gets 503 so that no connection is suspended when MHD stops. */
    while (!msc_list_empty(&h->suspended)) {
        hreq *hr = msc_list_entry(msc_list_first(&h->suspended), hreq, link);
        msd_req_error(&hr->r, 503, "daemon shutting down");
    }
    h->started = false;
    /* Queue the answers of resumed connections, and let the event streams (whose views have been told to end
     * them) send their last chunk: one MHD_run() is not always enough for that, and a stream cut before it is an
     * error in the browser (net::ERR_INCOMPLETE_CHUNKED_ENCODING). MHD runs again whenever one of its sockets is
     * ready (its epoll fd polls readable), for at most 100 ms in all. */
    MHD_run(h->mhd);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    double deadline = msd_now_mono() + 0.1;
    while (info && h->streams > 0) {
        int left_ms = (int)((deadline - msd_now_mono()) * 1000.0);
        if (left_ms <= 0)
            break;
        struct pollfd pfd = {.fd = info->epoll_fd, .events = POLLIN};
        if (poll(&pfd, 1, left_ms) < 0 && errno != EINTR)
            break;
        MHD_run(h->mhd);
    }
    /* Stop watching the epoll fd before MHD closes it. */
    uv_close((uv_handle_t *)&h->poll, NULL);
    uv_close((uv_handle_t *)&h->timer, NULL);
    uv_close((uv_handle_t *)&h->guard, NULL);
    MHD_stop_daemon(h->mhd); /* closes every connection (on_connection() frees their trackers) and the socket */
    h->mhd = NULL;
    for (size_t i = 0; i < RESPONSE_CACHE; i++)
        if (h->cache[i].resp) {
            MHD_destroy_response(h->cache[i].resp); /* releases the blob (blob_free) */
            h->cache[i] = (cached_response){0};
        }
}

void msd_http_free(msd_daemon *d)
{
    free(d->http);
    d->http = NULL;
}

/*
 * daemon/http.c — libmicrohttpd inside the libuv loop. Entry points: msd_http_start(), on_request().
 *
 * How MHD and libuv share the work (one thread, no locks):
 *   - MHD runs in "external epoll" mode (MHD_USE_EPOLL without an internal thread). All of its sockets live in
 *     one epoll fd, which is itself pollable: a uv_poll watches it for readability and calls MHD_run().
 *   - After every MHD_run() we ask MHD_get_timeout() when MHD wants to run again (connection timeouts, data it
 *     has buffered but not processed) and arm a uv_timer for it. MHD's contract is exactly this pair.
 *   - A request that needs an app (POST gc, trace/top, ...) is handed to api.c, which forwards it over ipc.c and
 *     answers later. Meanwhile the connection is suspended (MHD_suspend_connection). When the answer comes (from
 *     an ipc read or deadline callback, on the loop), we store it, MHD_resume_connection() and arm the timer for
 *     0 ms; MHD then calls on_request() again for that connection and we queue the stored answer. MHD is never
 *     re-entered from inside one of its own callbacks.
 * The registry is therefore only ever touched from the loop thread, by ipc.c and by on_request() via api.c.
 *
 * Checks made here, before api.c sees a request: the Host header must name the bound address or localhost
 * (DNS rebinding), every POST must carry "Authorization: Bearer <token>", bodies are limited to
 * MSD_API_BODY_MAX bytes, and only GET, HEAD and POST exist. No CORS headers are ever sent, so browsers keep other
 * origins from reading the API.
 *
 * Slow clients (issue 8): MHD's inactivity timeout and connection limit alone let a slowloris win — connections
 * that send their headers a byte at a time are never idle, and once they fill --max-http MHD stops accepting, so
 * every other client waits in the kernel's backlog. So every connection is tracked from accept (see "Slow
 * clients" below): one that has waited for a request's headers longer than HEADER_DEADLINE_S is shut down, and
 * when the connections reach a soft limit below --max-http, the one that has waited longest for its headers makes
 * room for the newcomer. A client that sends whole requests is never waiting long, so it is not the one evicted.
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

#define HEADER_DEADLINE_S 10.0 /* longest wait for a request's headers (slowloris) */
#define GUARD_PERIOD_MS 1000   /* how often the header deadline is checked */
/* MHD's memory per connection (request line and headers; bigger requests get 414/431). MHD's default, 32 KiB:
 * libmicrohttpd 0.9.75 zeroes the whole area after every request of a kept-alive connection, so 64 KiB cost a
 * 64 KiB memset per request — a tenth of a GET's CPU. */
#define MEMORY_PER_CONNECTION (32 * 1024)

#include "api.h"
#include "assets.h"
#include "events.h"
#include "host.h"
#include "http.h"
#include "metrics.h"
#include "token.h"

/* Who answers a request once it is complete (on_request's last call). */
typedef enum req_kind { REQ_API, REQ_WEB, REQ_METRICS } req_kind;

typedef struct req {
    struct msd_http *h;
    struct MHD_Connection *conn;
    req_kind kind;
    char *body;
    size_t len, cap;
    bool authorized;
    bool too_big;
    bool suspended;
    bool done;          /* the answer below is ready */
    int status;
    msd_blob *answer;
    struct req *prev, *next; /* suspended list */
} req;

/* One accepted connection (MHD_OPTION_NOTIFY_CONNECTION), for the slow-client guard. */
typedef struct conn_track {
    int fd;
    bool in_request;      /* on_request() has seen this request's headers and it has not completed yet */
    double waiting_since; /* monotonic: accept, or the end of the previous request on a kept-alive connection */
    struct conn_track *prev, *next;
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
    conn_track *conns;      /* every open connection, oldest first */
    conn_track *conns_tail;
    size_t nconns;
    size_t soft_limit;      /* at this many connections, the longest-waiting one is shut down for a newcomer */
    size_t max_conns;       /* --max-http: MHD's own limit */
    bool rerun;             /* a connection closed while MHD was at its limit: run MHD again (see run_mhd) */
    int port;
    char bound[INET6_ADDRSTRLEN + 2]; /* the bound address as it appears in a Host header ("[::1]" for IPv6) */
    bool wildcard;                    /* bound to 0.0.0.0 or :: */
    req *suspended;
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

/* ---- Answers ------------------------------------------------------------------------------------------------- */

static void blob_free(void *cls)
{
    msd_blob_unref(cls);
}

static void add_json_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
}

/* Queues blob b (consumed) as a JSON answer; b == NULL (out of memory) sends a static 500. */
static enum MHD_Result send_blob(struct MHD_Connection *mc, int status, msd_blob *b)
{
    static char oom[] = "{\"error\":\"out of memory\"}";
    struct MHD_Response *r;
    if (b) {
        r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free, b);
    } else {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        r = MHD_create_response_from_buffer(sizeof(oom) - 1, oom, MHD_RESPMEM_PERSISTENT);
    }
    if (!r) {
        msd_blob_unref(b);
        return MHD_NO;
    }
    add_json_headers(r);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
    enum MHD_Result ret = MHD_queue_response(mc, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* send_blob for answers that may be a shared document: a 200 with a blob someone else also holds is answered from
 * the response cache (see cached_response). */
static enum MHD_Result send_answer(msd_http *h, struct MHD_Connection *mc, int status, msd_blob *b)
{
    if (status != MHD_HTTP_OK || b == NULL || b->refs < 2)
        return send_blob(mc, status, b);
    cached_response *c = &h->cache[((uintptr_t)b >> 4) % RESPONSE_CACHE];
    if (c->blob == b) {
        msd_blob_unref(b); /* the cached response holds its own reference */
    } else {
        struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free, b);
        if (!r)
            return send_blob(mc, status, b);
        add_json_headers(r);
        if (c->resp)
            MHD_destroy_response(c->resp);
        c->blob = b;
        c->resp = r;
    }
    return MHD_queue_response(mc, MHD_HTTP_OK, c->resp);
}

static enum MHD_Result send_error(struct MHD_Connection *mc, int status, const char *msg)
{
    return send_blob(mc, status, msd_api_error(msg));
}

/* Called by api.c (from the loop, later) with the answer to a suspended request. */
static void on_answer(void *ctx, int status, msd_blob *body)
{
    req *r = ctx;
    r->status = status;
    r->answer = body;
    r->done = true;
    if (!r->suspended)
        return;
    msd_http *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else
        h->suspended = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->suspended = false;
    MHD_resume_connection(r->conn);
    uv_timer_start(&h->timer, on_timer, 0, 0); /* run MHD soon, not from inside whoever called us */
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
    for (conn_track *t = h->conns; t; t = t->next)
        if (!t->in_request && t->fd >= 0 && now - t->waiting_since > HEADER_DEADLINE_S) {
            evict(t);
            any = true;
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
        if (t->prev)
            t->prev->next = t->next;
        else
            h->conns = t->next;
        if (t->next)
            t->next->prev = t->prev;
        else
            h->conns_tail = t->prev;
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
        for (conn_track *o = h->conns; o; o = o->next)
            if (!o->in_request && o->fd >= 0) {
                evict(o);
                break;
            }
    }
    t->prev = h->conns_tail;
    if (h->conns_tail)
        h->conns_tail->next = t;
    else
        h->conns = t;
    h->conns_tail = t;
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

static const char *get_arg(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result dispatch(msd_http *h, struct MHD_Connection *mc, req *r, const char *url, const char *method)
{
    msd_api_req q = {
        .method = method, .path = url, .arg = get_arg, .arg_ctx = mc,
        .body = r->body, .body_len = r->len, .authorized = r->authorized,
    };
    int status;
    msd_blob *body;
    if (msd_api_handle(h->d, &q, &status, &body, on_answer, r))
        return send_answer(h, mc, status, body);
    /* Waiting on an app: on_answer() resumes us. */
    r->suspended = true;
    r->prev = NULL;
    r->next = h->suspended;
    if (h->suspended)
        h->suspended->prev = r;
    h->suspended = r;
    MHD_suspend_connection(mc);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    msd_http *h = cls;
    req *r = *con_cls;
    if (r && r->done) { /* resumed with the app's answer */
        msd_blob *b = r->answer;
        r->answer = NULL;
        return send_blob(mc, r->status, b);
    }
    if (!r) { /* first call: the headers are in */
        track_request(mc, true);
        if (!msd_host_allowed(h->bound, h->wildcard, h->port,
                              MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
            return send_error(mc, MHD_HTTP_FORBIDDEN, "Host header not allowed: use localhost or the bound address");
        bool post = strcmp(method, "POST") == 0;
        if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return send_error(mc, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
        req_kind kind = REQ_API;
        if (!post && msd_web_owns(url)) /* the dashboard's files and its event stream: assets.c, events.c */
            kind = REQ_WEB;
        else if (!post && strcmp(url, "/metrics") == 0) /* Prometheus/OpenMetrics exposition: metrics_http.c */
            kind = REQ_METRICS;
        bool authorized = msd_token_check(
            h->d->token, MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
        if (post && !authorized)
            return send_error(mc, MHD_HTTP_UNAUTHORIZED, "missing or wrong token: send Authorization: Bearer <token>");
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (post && cl && strtoull(cl, NULL, 10) > MSD_API_BODY_MAX)
            return send_error(mc, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        r = calloc(1, sizeof(*r));
        if (!r)
            return send_error(mc, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        r->h = h;
        r->conn = mc;
        r->kind = kind;
        r->authorized = authorized;
        *con_cls = r;
        /* Every request is answered from the last call (the whole request is in): the API, the dashboard's files
         * and /metrics alike. libmicrohttpd 0.9.75 treats a response queued from the first call as "early" and
         * closes the connection after it (no keep-alive), which made every client (API scripts, a browser
         * loading the dashboard, a Prometheus scrape) pay a TCP connect, accept and MHD's per-connection setup
         * per request. The refusals above stay early on purpose: they must not read a POST's body. */
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big || r->len + n > MSD_API_BODY_MAX) {
            r->too_big = true;
            return MHD_YES; /* keep reading and dropping; answer 413 at the end */
        }
        if (r->len + n + 1 > r->cap) {
            size_t ncap = r->cap ? r->cap : 1024;
            while (ncap < r->len + n + 1)
                ncap *= 2;
            char *nb = realloc(r->body, ncap);
            if (!nb)
                return MHD_NO; /* out of memory: drop the connection */
            r->body = nb;
            r->cap = ncap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->too_big)
        return send_error(mc, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    switch (r->kind) {
    case REQ_WEB:
        return (enum MHD_Result)msd_web_answer(h->d, mc, url, method);
    case REQ_METRICS:
        return (enum MHD_Result)msd_metrics_answer(h->d, mc, method);
    case REQ_API:
        break;
    }
    return dispatch(h, mc, r, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    /* Counted here, where every request ends whoever queued its answer (API, dashboard, /metrics). */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_HTTP_STATUS);
    if (ci)
        msd_metrics_count_http(ci->http_status);
    track_request(mc, false);
    req *r = *con_cls;
    if (!r)
        return;
    /* MHD never completes a suspended connection (we resume them all before stopping), so r is off the list. */
    msd_blob_unref(r->answer);
    free(r->body);
    free(r);
    *con_cls = NULL;
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
    h->started = false;
    /* ipc has failed every app request by now, which answered and resumed their connections; anything left
     * gets 503 so that no connection is suspended when MHD stops. */
    while (h->suspended)
        on_answer(h->suspended, 503, msd_api_error("daemon shutting down"));
    /* Queue the answers of resumed connections, and let the dashboard's event streams (msd_events_stop() asked
     * them to end) send their last chunk: one MHD_run() is not always enough for that, and a stream cut before
     * it is an error in the browser (net::ERR_INCOMPLETE_CHUNKED_ENCODING). MHD runs again whenever one of its
     * sockets is ready (its epoll fd polls readable), for at most 100 ms in all. */
    MHD_run(h->mhd);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    double deadline = msd_now_mono() + 0.1;
    while (info && msd_events_clients() > 0) {
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

void msd_http_wake(msd_daemon *d)
{
    msd_http *h = d->http;
    if (h && h->started)
        uv_timer_start(&h->timer, on_timer, 0, 0); /* as on_answer(): MHD runs on the next loop turn */
}

void msd_http_free(msd_daemon *d)
{
    free(d->http);
    d->http = NULL;
}

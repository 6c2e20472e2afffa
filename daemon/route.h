/*
 * daemon/route.h — how a view sees an HTTP request, how it answers, and the table that says which view
 * answers which URL.
 *
 * The HTTP driver (http.c) turns each libmicrohttpd request into an msd_req, finds its route in the table
 * (routes.c lists every URL the daemon serves) and calls the route's handler. The handler answers once, with
 * msd_req_answer() or one of its shorthands — at once, or later from the loop (after an app's reply, a disk
 * job) — and never sees libmicrohttpd: the fuzzers drive the same handlers with requests of their own whose
 * answer function records what comes back.
 *
 *   http.c (driver) --msd_route_dispatch()--> routes.c table --handler--> api.c / sse.c / web.c / metrics_view.c
 *        ^                                                                        |
 *        +---------------------- r->answer(r, &resp), r->wake(r) -----------------+   (function pointers:
 *                                                                                       the driver's own)
 *
 * Loop thread only. An msd_req lives from the handler's call until its answer has been given (for a stream,
 * until the stream's free callback has run): a handler that answers later keeps the pointer until then.
 */
#ifndef MEMSCOPE_DAEMON_ROUTE_H
#define MEMSCOPE_DAEMON_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "daemon.h"

#define MSD_API_BODY_MAX 65536 /* larger request bodies get 413 */
#define MSD_PATH_MAX 1024      /* longer paths get 414 */
#define MSD_ROUTE_PARAMS 4     /* {name} segments a pattern may have */
#define MSD_RESP_HEADERS 8

typedef struct msd_req msd_req;

/* A streamed body (Server-Sent Events): the driver asks for bytes until the end. */
typedef struct msd_stream_ops {
    /* Writes up to max bytes into buf: returns how many (> 0), 0 when there is nothing now (the driver stops
     * asking until msd_req_wake()), or MSD_STREAM_END / MSD_STREAM_ERROR to end the stream. */
    long (*read)(void *cls, char *buf, size_t max);
    /* The stream is over, whatever the reason (its end, the client gone, the daemon stopping): called once,
     * after which the msd_req of the stream is gone. */
    void (*done)(void *cls);
} msd_stream_ops;
#define MSD_STREAM_END (-1L)
#define MSD_STREAM_ERROR (-2L)

typedef struct msd_header {
    const char *name, *value;
} msd_header;

/* An answer. Strings need only live until msd_req_answer() returns (the driver copies them). */
typedef struct msd_resp {
    int status;
    const char *type;               /* Content-Type; NULL: application/json */
    msd_blob *body;                 /* the body: a reference the driver takes over; or NULL and: */
    const void *static_body;        /* bytes that outlive the daemon's use of them (the embedded files) */
    size_t static_len;
    msd_header headers[MSD_RESP_HEADERS];
    size_t nheaders;
    const msd_stream_ops *stream;   /* a stream instead of a body (then body and static_body are unused) */
    void *stream_cls;
    bool file;                      /* a file instead of a body: file_size bytes of file_fd, sent from the page */
    int file_fd;                    /* cache by the driver (never read into memory), which closes the fd */
    uint64_t file_size;
} msd_resp;

struct msd_req {
    /* the request, read-only for handlers */
    const char *method;             /* "GET", "HEAD" or "POST" (the driver answers other methods itself) */
    const char *path;               /* the URL path, without the query string */
    const char *params[MSD_ROUTE_PARAMS]; /* the segments the route's {name}s matched, in order */
    const char *rest;               /* what a final {name...} matched ("app.js" of "/assets/app.js"), else NULL */
    const char *body;               /* a POST's body (may be NULL when body_len is 0) */
    size_t body_len;
    bool authorized;                /* the request carried the right Bearer token */
    /* set by whoever drives the request (http.c, a fuzzer) */
    const char *(*query)(msd_req *r, const char *name);  /* a query argument, or NULL */
    const char *(*header)(msd_req *r, const char *name); /* a request header, or NULL */
    void (*answer)(msd_req *r, msd_resp *resp);          /* exactly once per request */
    void (*wake)(msd_req *r);                            /* a stream has bytes again */
    void *driver;
    char segs[MSD_PATH_MAX + 1];    /* private: the path split into segments (params point here) */
};

static inline const char *msd_req_query(msd_req *r, const char *name)
{
    return r->query ? r->query(r, name) : NULL;
}

static inline const char *msd_req_header(msd_req *r, const char *name)
{
    return r->header ? r->header(r, name) : NULL;
}

/* Answers r (see msd_resp). */
static inline void msd_req_answer(msd_req *r, msd_resp *resp)
{
    r->answer(r, resp);
}

/* A stream of r has bytes to read again. */
static inline void msd_req_wake(msd_req *r)
{
    r->wake(r);
}

/* Answers with a JSON body (a reference, consumed); NULL means out of memory: a 500 with a static body. */
void msd_req_json(msd_req *r, int status, msd_blob *body);
/* The answer when memory ran out: {"error":"out of memory"}, 500, from static storage (cannot fail). */
msd_resp msd_resp_out_of_memory(void);
/* Answers with o serialized (o consumed); NULL, or memory running out while printing, is a 500. */
void msd_req_cjson(msd_req *r, int status, cJSON *o);
/* msd_req_cjson() for a document that was built (built true) or not (memory ran out half-way: a 500; o freed). */
void msd_req_built(msd_req *r, int status, cJSON *o, bool built);
/* The error answer of the daemon: {"error": msg} with status, and the headers its status calls for
 * (WWW-Authenticate on 401, Allow on 405). The only place an error body is built. */
void msd_req_error(msd_req *r, int status, const char *msg);

/* ---- The URL table ------------------------------------------------------------------------------------------ */

typedef void (*msd_handler)(msd_daemon *d, msd_req *r);

typedef struct msd_route {
    const char *method;  /* "GET" (which also answers HEAD) or "POST" */
    const char *pattern; /* "/api/v1/apps/{id}/gc", segment by segment: {name} matches any one segment, a final
                          * {name...} the rest of the path (one segment or more); empty segments are ignored */
    msd_handler fn;
} msd_route;

/* Every URL memscoped serves (routes.c). */
extern const msd_route msd_routes[];
extern const size_t msd_routes_count;

/* True when method (GET, HEAD, POST) needs the token: the driver checks it before reading a body. */
bool msd_route_needs_token(const char *method);

/*
 * Finds r's route in the table and runs its handler, or answers 414 (path too long), 404 (no route for this
 * path and method) or 401 (a POST without the token). Fills r->params and r->rest. O(routes x segments).
 */
void msd_route_dispatch(msd_daemon *d, const msd_route *table, size_t n, msd_req *r);

#endif /* MEMSCOPE_DAEMON_ROUTE_H */

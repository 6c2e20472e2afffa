/*
 * daemon/api.h — the JSON API (issue 5's endpoint list), independent of the HTTP library.
 *
 * http.c turns each HTTP request into an msd_api_req and sends back what msd_api_handle() answers. Keeping
 * libmicrohttpd out of this interface lets the fuzzers (issue 8) drive the whole API with plain structs.
 */
#ifndef MEMSCOPE_DAEMON_API_H
#define MEMSCOPE_DAEMON_API_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"

#define MSD_API_BODY_MAX 65536 /* larger request bodies get 413 */

typedef struct msd_api_req {
    const char *method;    /* "GET", "HEAD", "POST", ... */
    const char *path;      /* the URL path, without the query string */
    /* Query argument by name, or NULL. */
    const char *(*arg)(void *arg_ctx, const char *name);
    void *arg_ctx;
    const char *body;      /* POST body (may be NULL when body_len is 0) */
    size_t body_len;
    bool authorized;       /* the request carried the right Bearer token */
} msd_api_req;

/* The answer to a request: a status and a JSON body (an owned reference; NULL only when out of memory, which
 * the HTTP layer answers with a static 500). */
typedef void (*msd_api_done_fn)(void *ctx, int status, msd_blob *body);

/*
 * Answers req. Returns 1 with *status and *body (a reference the caller owns) set when the answer is ready now;
 * returns 0 when the answer needs the app: done(ctx, status, body) will then be called exactly once from the
 * loop, later (never from inside this call). Can't fail otherwise: out of memory is a 500 answer.
 */
int msd_api_handle(msd_daemon *d, const msd_api_req *req, int *status, msd_blob **body, msd_api_done_fn done,
                   void *ctx);

/* {"error": msg} as a blob; NULL when out of memory. */
msd_blob *msd_api_error(const char *msg);

#endif /* MEMSCOPE_DAEMON_API_H */

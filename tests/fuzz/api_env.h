/*
 * tests/fuzz/api_env.h — a daemon without sockets for the API fuzzers: a registry with a few apps, a private
 * data directory with two stored snapshots, the real snapshot store and event stream on a loop of its own, and a
 * stand-in for ipc.c that records the request a handler forwards so the fuzzer can answer it (with a reply it
 * chose, a timeout or a disconnect) the way ipc.c would: later, from outside the handler.
 *
 * Requests go through the daemon's own route table (msd_route_dispatch), with an msd_req whose answer function
 * records what comes back, so the whole API is reached without libmicrohttpd.
 */
#ifndef MEMSCOPE_FUZZ_API_ENV_H
#define MEMSCOPE_FUZZ_API_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"
#include "route.h"

#define FUZZ_TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* What the stand-in msd_ipc_request() saw last. */
typedef struct fuzz_forward {
    bool pending;
    msd_reply_fn cb;
    void *arg;
    char method[32];
} fuzz_forward;

extern fuzz_forward fuzz_fwd;
extern int fuzz_ipc_fail; /* 0, or the error the next msd_ipc_request() returns (-ENOTCONN, -ENOBUFS, -ENOMEM) */

/* One request as the HTTP driver would hand it over. */
typedef struct fuzz_http {
    const char *method, *path;
    const char *(*query)(void *ctx, const char *name); /* may be NULL: no query */
    void *query_ctx;
    const char *body;
    size_t body_len;
    bool authorized;
} fuzz_http;

/* The daemon, built once (aborts when it cannot be: the fuzzer would test nothing). */
msd_daemon *fuzz_daemon(void);

/*
 * Runs one request to completion: the route table, then, when the handler forwarded to the app, the recorded
 * callback with reply_status and the reply text (a whole reply message; when it does not parse as one, the app
 * "times out"), and the loop until the snapshot store has answered. Checks that exactly one answer comes, with
 * a plausible status and a JSON body for JSON answers (a stream is read to its end), and frees it.
 */
void fuzz_request(const fuzz_http *in, int reply_status, const char *reply, size_t reply_len);

#endif

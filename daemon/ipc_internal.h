/*
 * daemon/ipc_internal.h — what ipc.c (connections, frames) and request.c (requests to apps) share.
 * Nothing else may include it.
 */
#ifndef MEMSCOPE_DAEMON_IPC_INTERNAL_H
#define MEMSCOPE_DAEMON_IPC_INTERNAL_H

#ifndef MSD_IPC_PRIVATE
#  error "ipc_internal.h is private to ipc.c and request.c; include ipc.h"
#endif

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "ipc.h"
#include "list.h"

#define READ_CHUNK 65536u
#define BUF_KEEP 16384u               /* an idle connection keeps at most this much buffer */
#define WRITE_QUEUE_MAX (1u << 20)    /* an app that lets this much pile up is not reading: requests fail */
#define HELLO_TIMEOUT_S 5.0
#define TICK_MS 100

typedef struct msd_conn {
    uv_pipe_t pipe;
    msd_daemon *d;
    msd_app *app;
    msc_buf buf;        /* bytes read but not yet decoded: never a complete frame between reads */
    double accepted;    /* monotonic */
    uint64_t next_id;
    bool closing;
    bool close_after_write; /* refused: close once the refusal is flushed */
    bool bye;
    msc_list link;      /* ipc->conns */
} msd_conn;

struct msd_request {
    msd_conn *c;
    uint64_t id;
    double deadline;    /* monotonic */
    msd_reply_fn cb;
    void *arg;
    msc_list link;      /* ipc->requests */
};

struct msd_ipc {
    uv_pipe_t server;
    uv_timer_t tick;
    msc_list conns;     /* msd_conn.link */
    size_t nconns;
    msc_list requests;  /* msd_request.link */
    size_t npending;    /* length of requests */
    unsigned ticks;
    /* Every stats message is parsed into this model, which then changes places with the app's previous one
     * (msd_registry_stats): steady traffic allocates nothing. */
    msd_stats scratch;
    /* Reads land here when the connection holds no partial frame (the common case: one whole stats message
     * per read). Frames are handled straight from it and only a partial tail is copied to the connection's own
     * buffer, so steady traffic costs no allocation per read. Safe to share: libuv runs alloc_cb and read_cb
     * back to back for one stream at a time, and everything runs on the loop thread. */
    uint8_t scratch_bytes[READ_CHUNK];
    bool stopped;
};

/* Frames and queues msg on c. 0, -ENOMEM, -ENOBUFS (the peer is not reading), -EMSGSIZE, -ECONNRESET (closing),
 * or a libuv error. (ipc.c) */
int msd_conn_send(msd_conn *c, const cJSON *msg);
/* Closes c (idempotent), failing its requests. why == NULL: a clean end, not logged as an error. (ipc.c) */
void msd_conn_close(msd_conn *c, const char *why);

/* Fails every request of c (of every connection when c is NULL) with status. (request.c) */
void msd_requests_fail(msd_ipc *ipc, msd_conn *c, int status);
/* Hands a reply to its request; an unknown id is logged and ignored. (request.c) */
void msd_requests_reply(msd_conn *c, msd_msg *m);
/* Fails the requests whose deadline is before now with -ETIMEDOUT. (request.c) */
void msd_requests_expire(msd_ipc *ipc, double now);

#endif /* MEMSCOPE_DAEMON_IPC_INTERNAL_H */

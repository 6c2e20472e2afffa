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
#define BATCH_RATE 2000               /* wakeups per second for app traffic above which reads go in batches */
#define BATCH_MS 1                    /* ... on this beat, while apps keep sending */
#define BATCH_IDLE 100                /* beats that find nothing before reads go back to waking the loop */

typedef struct msd_conn {
    uv_pipe_t pipe;     /* for writing and closing; reads go through the read set (fd) */
    int fd;             /* the pipe's fd while it is in the read set, else -1 */
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
    int timeout_ms;     /* each binary frame moves the deadline this far from now */
    msd_bytes_fn bytes; /* NULL: binary frames with this id are ignored */
    msd_reply_fn cb;
    void *arg;
    msc_list link;      /* ipc->requests */
};

/*
 * Reading in batches. The apps' sockets are not read by libuv streams but through a read set of our own (an
 * epoll fd, rfd, itself watched by one uv_poll): when it has bytes, every ready connection is read. At 10,000
 * apps a message arrives every 100 us, and waking the loop for each one (a context switch, an epoll_wait, then
 * the read) cost as much as reading it. So when the set wakes the loop more than BATCH_RATE times a second, the
 * uv_poll is stopped and the set is read on a BATCH_MS timer instead, as long as each beat finds something: one
 * wakeup then serves about ten messages. Stats wait at most BATCH_MS longer; HTTP, on its own poll, not at all.
 * Below that rate (1000 apps at 1 Hz) every message is read as it comes, which costs the same. The set is
 * edge-triggered: a level-triggered one polls each socket it reported once more, only to find it empty (see
 * conn_read() in ipc.c for what that asks of the reader).
 */
struct msd_ipc {
    uv_pipe_t server;
    uv_timer_t tick;
    int rfd;            /* the read set: every connection's fd, EPOLLIN, data.ptr = the msd_conn */
    uv_poll_t rpoll;    /* watches rfd while no batch is being read */
    uv_timer_t batch;   /* the next batch */
    unsigned wakeups;   /* by rpoll since window_ms (loop time), to measure its rate */
    unsigned idle_beats;/* consecutive batches that found nothing */
    uint64_t window_ms;
    msc_list conns;     /* msd_conn.link */
    size_t nconns;
    msc_list requests;  /* msd_request.link */
    size_t npending;    /* length of requests */
    unsigned ticks;
    /* Every stats message is parsed into this model, which then changes places with the app's previous one
     * (msd_registry_stats): steady traffic allocates nothing. */
    msd_stats *scratch;
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
/* Hands a binary frame's data to its request; an unknown id (or a request that takes no bytes) is ignored.
 * (request.c) */
void msd_requests_binary(msd_conn *c, uint32_t id, const uint8_t *data, size_t len);
/* Fails the requests whose deadline is before now with -ETIMEDOUT. (request.c) */
void msd_requests_expire(msd_ipc *ipc, double now);

#endif /* MEMSCOPE_DAEMON_IPC_INTERNAL_H */

/*
 * daemon/ipc.h — the apps' side of memscoped: the Unix socket server, one connection per app, frames in and
 * out, and requests from the API to an app with their replies and deadlines.
 *
 * Loop thread only. Request callbacks run from the loop (on the reply, on the deadline, or when the app goes
 * away; a binary frame's, as it is read) and never from inside msd_ipc_request() itself.
 */
#ifndef MEMSCOPE_DAEMON_IPC_H
#define MEMSCOPE_DAEMON_IPC_H

#include <cjson/cJSON.h>

#include "daemon.h"
#include "message.h"
#include "registry.h"

typedef struct msd_ipc msd_ipc;
typedef struct msd_request msd_request;

/*
 * The outcome of a request. status 0: the app answered and `reply` is its message (reply->ok, reply->result or
 * reply->error; valid during the call only, but the callee may detach reply->result from reply->json and keep
 * it). -ETIMEDOUT: no answer before the deadline. -ECONNRESET: the app disconnected first (or the daemon is
 * stopping). reply is NULL unless status is 0.
 */
typedef void (*msd_reply_fn)(void *arg, int status, msd_msg *reply);

/* Adopts listen_fd (a listening Unix socket from msd_socket_listen) and starts accepting. 0 or negative errno. */
int msd_ipc_start(msd_daemon *d, int listen_fd);

/* Stops accepting, closes every connection (failing their requests with -ECONNRESET) and the listener.
 * The handles finish closing when the loop runs; msd_ipc_free() after the loop has ended. */
void msd_ipc_stop(msd_daemon *d);
void msd_ipc_free(msd_daemon *d);

/*
 * Sends {"type":"request","id":..,"method":method,"params":params} to the app and calls cb(arg, ...) exactly once
 * later. params is consumed (also on failure; NULL sends {}). Returns 0, or without calling cb: -ENOTCONN the app
 * is disconnected; -ENOBUFS the app has not read what it was sent (more than 1 MiB queued); -ENOMEM.
 */
int msd_ipc_request(msd_daemon *d, msd_app *app, const char *method, cJSON *params, int timeout_ms,
                    msd_reply_fn cb, void *arg);

/*
 * msd_ipc_request() for a method whose result comes in binary frames (docs/PROTOCOL.md section 6: heapsnapshot).
 * bytes(arg, data, len) is called for each binary frame carrying the request's id, in order, before cb; each one
 * moves the deadline to timeout_ms from now (a large result is not cut off by the timeout meant for a missing
 * reply). When bytes returns a negative errno, the request fails at once: cb(arg, that status, NULL), and the
 * rest of the transfer (frames and reply) is ignored as belonging to an unknown request.
 */
typedef int (*msd_bytes_fn)(void *arg, const uint8_t *data, size_t len);
int msd_ipc_request_bytes(msd_daemon *d, msd_app *app, const char *method, cJSON *params, int timeout_ms,
                          msd_bytes_fn bytes, msd_reply_fn cb, void *arg);

/* Connections open now (with or without hello), and requests waiting for a reply. O(1). */
size_t msd_ipc_connections(const msd_daemon *d);
size_t msd_ipc_pending(const msd_daemon *d);

#endif /* MEMSCOPE_DAEMON_IPC_H */

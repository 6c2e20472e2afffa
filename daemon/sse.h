/*
 * daemon/sse.h — the live stream of the dashboard: Server-Sent Events on GET /api/v1/events.
 *
 * What a client receives (each `data:` is one line of JSON):
 *   retry: 2000                        reconnect 2 s after losing the daemon (EventSource does it by itself)
 *   event: hello   {"daemon", "heartbeat_ms", "apps": [app summaries as in GET /api/v1/apps]}
 *                  then one `stats` event per app that has stats: the stream starts with a full picture, so a
 *                  client that reconnects needs no other request to resynchronize
 *   event: app     {"event": "connect"|"disconnect"|"remove", <the app summary>}
 *   event: stats   the app's latest document, byte for byte what GET /api/v1/apps/{id} serves, on every sample
 *   event: stats-skipped {"id"}  instead of a stats event whose document is larger than half the client budget:
 *                  the client fetches GET /api/v1/apps/{id} itself
 *   : keepalive    a comment every MSD_SSE_HEARTBEAT_MS, so proxies and MHD's idle timeout keep the stream open
 * Documents are compact JSON (appdoc.h), so an event's data is always one line.
 *
 * Memory is bounded per client: a client's unsent bytes may not exceed MSD_SSE_CLIENT_MAX; a client that falls
 * that far behind is dropped (its stream ends; EventSource reconnects and starts over from `hello`), so a slow or
 * stalled browser never makes the daemon grow. At most MSD_SSE_MAX_CLIENTS streams are open at once (503).
 *
 * Loop thread only. The stream is the HTTP driver's streamed response (route.h); the view hears the registry's
 * events as a listener.
 */
#ifndef MEMSCOPE_DAEMON_SSE_H
#define MEMSCOPE_DAEMON_SSE_H

#include "route.h"

#define MSD_SSE_CLIENT_MAX (1u << 20) /* unsent bytes per client before it is dropped */
#define MSD_SSE_MAX_CLIENTS 64
#define MSD_SSE_HEARTBEAT_MS 15000

/* Subscribes to the registry and starts the heartbeat timer. Call after the registry exists. 0 or -ENOMEM. */
int msd_sse_start(msd_daemon *d);

/* Ends every stream (each client gets what is queued, then the end of the stream), unsubscribes, closes the
 * timer. Call before msd_http_stop(), which then lets the streams finish. Idempotent. */
void msd_sse_stop(msd_daemon *d);
/* After the loop has ended. */
void msd_sse_free(msd_daemon *d);

/* GET (or HEAD) /api/v1/events: a new stream, or a JSON 503 when there are too many or the daemon stops. */
void msd_sse_open(msd_daemon *d, msd_req *r);

/* Streams open now. */
unsigned msd_sse_clients(const msd_daemon *d);

#endif /* MEMSCOPE_DAEMON_SSE_H */

/*
 * daemon/events.h — the live stream of the dashboard: Server-Sent Events on GET /api/v1/events.
 *
 * What a client receives (each `data:` is one line of JSON):
 *   retry: 2000                        reconnect 2 s after losing the daemon (EventSource does it by itself)
 *   event: hello   {"daemon", "heartbeat_ms", "apps": [app summaries as in GET /api/v1/apps]}
 *                  then one `stats` event per app that has stats: the stream starts with a full picture, so a
 *                  client that reconnects needs no other request to resynchronize
 *   event: app     {"event": "connect"|"disconnect"|"remove", <the app summary>}
 *   event: stats   the app's latest document, byte for byte what GET /api/v1/apps/{id} serves, on every sample
 *   : keepalive    a comment every MSD_EVENTS_HEARTBEAT_MS, so proxies and MHD's idle timeout keep the stream open
 *
 * Memory is bounded per client: a client's unsent bytes may not exceed MSD_EVENTS_CLIENT_MAX; a client that falls
 * that far behind is dropped (its stream ends; EventSource reconnects and starts over from `hello`), so a slow or
 * stalled browser never makes the daemon grow. At most MSD_EVENTS_MAX_CLIENTS streams are open at once (503).
 * A stats document larger than half the client budget is announced as `event: stats-skipped {"id"}` instead.
 *
 * Loop thread only (daemon.h). The stream is a libmicrohttpd callback response whose connection is suspended
 * while there is nothing to send and resumed when an event is queued.
 */
#ifndef MEMSCOPE_DAEMON_EVENTS_H
#define MEMSCOPE_DAEMON_EVENTS_H

#include <stdbool.h>

#include "daemon.h"

#define MSD_EVENTS_PATH "/api/v1/events"
#define MSD_EVENTS_CLIENT_MAX (1u << 20) /* unsent bytes per client before it is dropped */
#define MSD_EVENTS_MAX_CLIENTS 64
#define MSD_EVENTS_HEARTBEAT_MS 15000

/* Subscribes to the registry and starts the heartbeat timer. Call after the registry and the HTTP server exist.
 * Returns 0, or -EBUSY when the registry already has a listener (the stream then carries heartbeats only). */
int msd_events_start(msd_daemon *d);

/* Ends every stream (each client gets what is queued, then end of stream), unsubscribes, closes the timer.
 * Call before msd_http_stop(), which then lets MHD finish and free the streams. Idempotent. */
void msd_events_stop(msd_daemon *d);

/* Answers GET (or HEAD) /api/v1/events on connection mc: a new stream, or a JSON 503 when there are too many.
 * Returns what MHD's access handler must return (MHD_YES or MHD_NO). */
struct MHD_Connection;
int msd_events_open(msd_daemon *d, struct MHD_Connection *mc, bool head);

/* Counters for tests and logs: streams open now, streams dropped for falling behind since start. */
unsigned msd_events_clients(void);
unsigned long msd_events_dropped(void);

#endif /* MEMSCOPE_DAEMON_EVENTS_H */

/*
 * daemon/api.h — the JSON API's handlers (routes.c maps the URLs to them). Each takes the request as route.h
 * describes it and answers once, at once or later (forwarded to the app, or a disk job); none knows HTTP.
 *
 *   GET  /healthz, /api/v1/version, /api/v1/apps
 *   GET  /api/v1/apps/{id}                       the app's latest document (appdoc.h)
 *   GET  /api/v1/apps/{id}/history?seconds=N     columns of the main series
 *   GET  /api/v1/apps/{id}/growth                leak suspects over the history window
 *   POST /api/v1/apps/{id}/gc {"generation"}     forwarded: gc.collect      (rate limited: 429)
 *   POST /api/v1/apps/{id}/gc/enable|gc/disable  forwarded: gc.enable / gc.disable
 *   POST /api/v1/apps/{id}/gc/threshold          forwarded: gc.set_threshold
 *   POST /api/v1/apps/{id}/trace {"action"}      forwarded: trace.start / trace.stop
 *   GET  /api/v1/apps/{id}/trace/top?key&limit   forwarded: trace.top
 *   POST /api/v1/apps/{id}/trace/snapshots       forwarded: trace.snapshot, stored on disk; answers its id
 *   GET  /api/v1/apps/{id}/trace/snapshots       the stored snapshots of this app (by name)
 *   GET  /api/v1/apps/{id}/trace/diff?from&to&key&limit   computed from two stored snapshots of this app
 *   POST /api/v1/apps/{id}/heapsnapshot          forwarded: heapsnapshot (binary frames), stored; its id and sizes
 *   GET  /api/v1/apps/{id}/heapsnapshots         the stored heap snapshots of this app (by name)
 *   GET  /api/v1/apps/{id}/heapsnapshots/{sid}   the .heapsnapshot file (an attachment, for Chrome DevTools)
 *   GET  /api/v1/apps/{id}/heapsnapshots/{sid}/types              per type: count, self and retained bytes
 *   GET  /api/v1/apps/{id}/heapsnapshots/{sid}/retainers?type&limit   the type's objects by retainer path
 * {id} is the app id or, failing that, a pid. Status codes: 400 bad body or query (the message gives the range,
 * from common/protocol.h), 401 no token, 404 unknown app, path or snapshot (or a snapshot of another app), 409 app
 * disconnected, 429 too many collections, 502 the app answered with an error (or a heap graph that is not one),
 * 503 the app is not reading its socket, 504 the app did not answer in --request-timeout (or its heap graph
 * stopped arriving for that long), 507 a heap graph larger than --heapsnapshot-max.
 */
#ifndef MEMSCOPE_DAEMON_API_H
#define MEMSCOPE_DAEMON_API_H

#include "route.h"

void msd_api_healthz(msd_daemon *d, msd_req *r);
void msd_api_version(msd_daemon *d, msd_req *r);
void msd_api_apps(msd_daemon *d, msd_req *r);
void msd_api_app(msd_daemon *d, msd_req *r);
void msd_api_history(msd_daemon *d, msd_req *r);
void msd_api_growth(msd_daemon *d, msd_req *r);
void msd_api_gc(msd_daemon *d, msd_req *r);
void msd_api_gc_enable(msd_daemon *d, msd_req *r);
void msd_api_gc_disable(msd_daemon *d, msd_req *r);
void msd_api_gc_threshold(msd_daemon *d, msd_req *r);
void msd_api_gc_cycles(msd_daemon *d, msd_req *r);
void msd_api_gc_cycles_set(msd_daemon *d, msd_req *r);
void msd_api_pools_pinning(msd_daemon *d, msd_req *r);
void msd_api_trace(msd_daemon *d, msd_req *r);
void msd_api_trace_top(msd_daemon *d, msd_req *r);
void msd_api_snapshot_take(msd_daemon *d, msd_req *r);
void msd_api_snapshot_list(msd_daemon *d, msd_req *r);
void msd_api_trace_diff(msd_daemon *d, msd_req *r);
void msd_api_heapsnapshot_take(msd_daemon *d, msd_req *r);
void msd_api_heapsnapshot_list(msd_daemon *d, msd_req *r);
void msd_api_heapsnapshot_get(msd_daemon *d, msd_req *r);
void msd_api_heapsnapshot_types(msd_daemon *d, msd_req *r);
void msd_api_heapsnapshot_retainers(msd_daemon *d, msd_req *r);

#endif /* MEMSCOPE_DAEMON_API_H */

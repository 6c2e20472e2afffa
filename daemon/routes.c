/*
 * daemon/routes.c — every URL memscoped serves, and which view answers it. The HTTP driver (http.c) dispatches
 * through this table (route.h) and knows no view; to add an endpoint, add its handler to a view and a line here.
 * A state-changing endpoint must be a POST: the driver refuses a POST without the token before reading its body.
 */
#include "api.h"
#include "metrics.h"
#include "route.h"
#include "sse.h"
#include "web.h"

const msd_route msd_routes[] = {
    /* the daemon */
    {"GET", "/healthz", msd_api_healthz},
    {"GET", "/api/v1/version", msd_api_version},
    {"GET", "/metrics", msd_metrics_scrape},
    /* the apps */
    {"GET", "/api/v1/apps", msd_api_apps},
    {"GET", "/api/v1/events", msd_sse_open},
    {"GET", "/api/v1/apps/{id}", msd_api_app},
    {"GET", "/api/v1/apps/{id}/history", msd_api_history},
    {"GET", "/api/v1/apps/{id}/growth", msd_api_growth},
    /* the collector, in the app */
    {"POST", "/api/v1/apps/{id}/gc", msd_api_gc},
    {"POST", "/api/v1/apps/{id}/gc/enable", msd_api_gc_enable},
    {"POST", "/api/v1/apps/{id}/gc/disable", msd_api_gc_disable},
    {"POST", "/api/v1/apps/{id}/gc/threshold", msd_api_gc_threshold},
    {"GET", "/api/v1/apps/{id}/gc/cycles", msd_api_gc_cycles},
    {"POST", "/api/v1/apps/{id}/gc/cycles", msd_api_gc_cycles_set},
    {"GET", "/api/v1/apps/{id}/pools/pinning", msd_api_pools_pinning},
    /* tracing, in the app; snapshots, in the daemon */
    {"POST", "/api/v1/apps/{id}/trace", msd_api_trace},
    {"GET", "/api/v1/apps/{id}/trace/top", msd_api_trace_top},
    {"POST", "/api/v1/apps/{id}/trace/snapshots", msd_api_snapshot_take},
    {"GET", "/api/v1/apps/{id}/trace/snapshots", msd_api_snapshot_list},
    {"GET", "/api/v1/apps/{id}/trace/diff", msd_api_trace_diff},
    /* heap snapshots: taken in the app, stored and analysed in the daemon */
    {"POST", "/api/v1/apps/{id}/heapsnapshot", msd_api_heapsnapshot_take},
    {"GET", "/api/v1/apps/{id}/heapsnapshots", msd_api_heapsnapshot_list},
    {"GET", "/api/v1/apps/{id}/heapsnapshots/{sid}", msd_api_heapsnapshot_get},
    {"GET", "/api/v1/apps/{id}/heapsnapshots/{sid}/types", msd_api_heapsnapshot_types},
    {"GET", "/api/v1/apps/{id}/heapsnapshots/{sid}/retainers", msd_api_heapsnapshot_retainers},
    /* the dashboard */
    {"GET", "/", msd_web_file},
    {"GET", "/index.html", msd_web_file},
    {"GET", "/favicon.ico", msd_web_file},
    {"GET", "/assets/{file...}", msd_web_file},
};
const size_t msd_routes_count = sizeof(msd_routes) / sizeof(msd_routes[0]);

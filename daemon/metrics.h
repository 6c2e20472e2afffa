/*
 * daemon/metrics.h — GET /metrics: the registry's latest samples and the daemon's own counters in the Prometheus
 * text exposition format 0.0.4, or OpenMetrics 1.0 when the scraper's Accept header asks for it.
 *
 * Two halves, so the writer can be tested without a loop or an HTTP server:
 *   metrics.c       the pure writer (msd_metrics_render) over plain structs and the apps' typed models
 *                   (stats.h); part of msd_core.
 *   metrics_view.c  the route: walks the registry, fills the structs, negotiates the format, answers.
 *
 * Series (labels app="name", pid="1234" on every per-app series; all names in base units):
 *   memscope_app_connected, memscope_app_last_update_timestamp_seconds, memscope_app_stats_received_total,
 *   memscope_app_stats_dropped_total                                   one per app (connected or retained)
 *   memscope_heap_*  (pool/system/arena bytes, blocks, arenas, pools, allocations/frees totals)
 *   memscope_pool_*{size_class="16"}                                   non-empty size classes only
 *   memscope_objects_{alive,created_total,destroyed_total}
 *   memscope_type_*{type="Node"}                                      the top K types by bytes (--metrics-top-types)
 *   memscope_types                                                     how many types the app reported (before the cut)
 *   memscope_gc_*{generation="0"} and memscope_gc_{enabled,pause_seconds_total,pause_max_seconds,garbage_objects}
 *   memscope_trace_{enabled,frames,traced_bytes,peak_bytes}
 *   memscope_daemon_* (apps, connections, frames, HTTP requests by code, start time, build info)
 * Stats series are exported for connected apps only: a disconnected app's last sample is frozen, and exporting it
 * for --retain seconds would draw a flat line where the app is gone. Its memscope_app_connected is 0 instead.
 *
 * Cardinality: per app about 45 series, plus 3 per non-empty size class (<= 32), plus 4 per type for at most K
 * types (default 20): at most ~220 series per app with the defaults, whatever the app does.
 *
 * Cost of a scrape: O(series) formatting from the models, nothing parsed; O(types log types) per app for the cut.
 */
#ifndef MEMSCOPE_DAEMON_METRICS_H
#define MEMSCOPE_DAEMON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "stats.h"

#define MSD_METRICS_TOP_TYPES_DEFAULT 20
#define MSD_METRICS_TOP_TYPES_MAX 10000

#define MSD_METRICS_CT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"
#define MSD_METRICS_CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

typedef enum msd_metrics_format {
    MSD_METRICS_PROMETHEUS = 0, /* text format 0.0.4 */
    MSD_METRICS_OPENMETRICS,    /* OpenMetrics 1.0.0 */
} msd_metrics_format;

/* Counts one HTTP answer with this status in c; codes outside 100..599 are ignored. O(1), can't fail. */
void msd_count_http(msd_counters *c, unsigned status);

/* What the writer needs of one app. Pointers are borrowed for the duration of msd_metrics_render(). */
typedef struct msd_metrics_app {
    const char *name;
    int64_t pid;
    bool connected;
    double last_update;   /* wall time of the latest stats, 0 = none yet */
    uint64_t samples;     /* stats messages received */
    const msd_stats *stats; /* the latest stats message's model, or NULL */
} msd_metrics_app;

/* What the writer needs of the daemon itself. */
typedef struct msd_metrics_self {
    size_t apps;             /* in the registry, connected or retained */
    size_t apps_connected;
    size_t connections;      /* open app connections, with or without hello */
    size_t pending_requests; /* API requests waiting for an app */
    double start_time;       /* wall, seconds */
    double cpu_seconds;      /* user + system CPU time of the daemon; < 0: unknown */
    double rss_bytes;        /* resident set size; < 0: unknown */
    const msd_counters *counters;
} msd_metrics_self;

/*
 * The whole exposition document for these apps and this daemon, in format fmt, as a blob (NULL when out of
 * memory). top_types: per-type series for at most this many types per app, the largest by bytes (0: none).
 * Apps that share a (name, pid) pair — a process that reconnected — are exported once, preferring the connected
 * entry then the later one in the array, so every series is unique. Stats series come only from the models of
 * connected apps. Cost: O(series), plus O(types log types) per app for the cut.
 */
msd_blob *msd_metrics_render(const msd_metrics_app *apps, size_t napps, const msd_metrics_self *self,
                             msd_metrics_format fmt, int top_types);

/* The format an Accept header asks for: OpenMetrics when it lists application/openmetrics-text with a q-value
 * above 0 and not below text/plain's; else the 0.0.4 text format (also for NULL). O(len). */
msd_metrics_format msd_metrics_negotiate(const char *accept);

/* Appends s as a label value to be put between double quotes: \ " and newline escaped, invalid UTF-8 replaced
 * by U+FFFD so the scraper's parser never rejects the document. out must hold 3 * strlen(s) + 1 bytes (the worst
 * case: every byte an invalid one). Returns the length written (NUL not counted). Exposed for the tests. */
size_t msd_metrics_escape_label(char *out, const char *s);

/* ---- The route (metrics_view.c) ---- */
struct msd_req;
/* GET/HEAD /metrics. Out of memory: a 500. */
void msd_metrics_scrape(msd_daemon *d, struct msd_req *r);

#endif /* MEMSCOPE_DAEMON_METRICS_H */

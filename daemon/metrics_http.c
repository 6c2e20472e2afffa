/*
 * daemon/metrics_http.c — the GET /metrics route: what the registry, ipc and the process know, handed to the pure
 * writer in metrics.c, and its document sent with the Content-Type of the negotiated format.
 * Entry point: msd_metrics_answer(), called by http.c for GET/HEAD /metrics (no token: a read-only GET, like the
 * rest of the API; the Host check of http.c still applies).
 *
 * Cost per scrape: one cJSON parse of each connected app's cached document (~20 us for 4 KB), on the loop thread.
 * At 1000 apps that is ~20 ms every scrape interval (15 s by default in Prometheus): well under 1% of the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ipc.h"
#include "metrics.h"
#include "registry.h"

int msd_metrics_top_types = MSD_METRICS_TOP_TYPES_DEFAULT;

static void blob_free(void *cls)
{
    msd_blob_unref(cls);
}

/* The process's start time (wall seconds) from /proc/self/stat: field 22 is the start in clock ticks after boot,
 * and CLOCK_BOOTTIME says how long ago boot was. 0 when unknown. Computed once: it does not change. */
static double start_time(void)
{
    static double cached = -1;
    if (cached >= 0)
        return cached;
    cached = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return cached;
    char line[1024];
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')'); /* the command name may hold spaces and parentheses: skip past its last ')' */
    if (!p)
        return cached;
    unsigned long long ticks = 0;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field != 22 || sscanf(p, "%llu", &ticks) != 1)
        return cached;
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec boot;
    if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &boot) != 0)
        return cached;
    double since_start = (double)boot.tv_sec + boot.tv_nsec / 1e9 - (double)ticks / (double)hz;
    cached = msd_now_wall() - since_start;
    return cached;
}

static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    unsigned long long size, resident;
    int ok = fscanf(f, "%llu %llu", &size, &resident) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? (double)resident * (double)page : -1;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The document for the registry as it is now. NULL when out of memory. O(apps). */
static msd_blob *render(msd_daemon *d, msd_metrics_format fmt)
{
    size_t napps = msd_registry_count(d->reg);
    msd_metrics_app *apps = napps ? calloc(napps, sizeof(*apps)) : NULL;
    if (napps && !apps)
        return NULL;
    size_t i = 0, connected = 0;
    for (msd_app *a = msd_registry_first(d->reg); a && i < napps; a = msd_registry_next(a), i++) {
        apps[i] = (msd_metrics_app){
            .name = a->name, .pid = a->pid, .connected = a->connected, .last_update = a->last_update,
            .samples = a->samples, .doc = a->latest ? a->latest->data : NULL, .doc_len = a->latest ? a->latest->len : 0,
        };
        connected += a->connected;
    }
    msd_metrics_self self = {
        .apps = napps, .apps_connected = connected, .connections = msd_ipc_connections(d),
        .pending_requests = msd_ipc_pending(d), .start_time = start_time(), .cpu_seconds = cpu_seconds(),
        .rss_bytes = rss_bytes(), .counters = &msd_counters,
    };
    msd_blob *b = msd_metrics_render(apps, i, &self, fmt, msd_metrics_top_types);
    free(apps);
    return b;
}

int msd_metrics_answer(msd_daemon *d, struct MHD_Connection *mc, const char *method)
{
    static char oom[] = "out of memory\n";
    msd_metrics_format fmt =
        msd_metrics_negotiate(MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    msd_blob *b = render(d, fmt);
    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    if (b) {
        r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free, b);
        if (!r)
            msd_blob_unref(b);
    } else {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        r = MHD_create_response_from_buffer(sizeof(oom) - 1, oom, MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            !b ? "text/plain; charset=utf-8"
                            : fmt == MSD_METRICS_OPENMETRICS ? MSD_METRICS_CT_OPENMETRICS
                                                              : MSD_METRICS_CT_PROMETHEUS);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    (void)method; /* HEAD: MHD sends the headers only */
    enum MHD_Result ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

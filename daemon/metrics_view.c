/*
 * daemon/metrics_view.c — the GET /metrics route: what the registry, ipc and the process know, handed to the
 * pure writer in metrics.c, and its document sent with the Content-Type of the negotiated format.
 * Entry point: msd_metrics_scrape() (no token: a read-only GET, like the rest of the API; the driver's Host check
 * still applies).
 *
 * Cost per scrape: formatting the series of each connected app from its model (stats.h), on the loop thread;
 * nothing is parsed (bench/daemon/run.sh prints the scrape time at 1000 apps).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "metrics.h"
#include "registry.h"
#include "route.h"

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
    size_t i = 0;
    for (msd_app *a = msd_registry_first(d->reg); a && i < napps; a = msd_registry_next(d->reg, a), i++)
        apps[i] = (msd_metrics_app){
            .name = a->name, .pid = a->pid, .connected = a->connected, .last_update = a->last_update,
            .samples = a->samples, .stats = a->samples ? a->stats : NULL,
        };
    msd_metrics_self self = {
        .apps = napps, .apps_connected = msd_registry_connected(d->reg), .connections = msd_ipc_connections(d),
        .pending_requests = msd_ipc_pending(d), .start_time = d->started, .cpu_seconds = cpu_seconds(),
        .rss_bytes = rss_bytes(), .counters = &d->counters,
    };
    msd_blob *b = msd_metrics_render(apps, i, &self, fmt, d->cfg.metrics_top_types);
    free(apps);
    return b;
}

void msd_metrics_scrape(msd_daemon *d, msd_req *r)
{
    msd_metrics_format fmt = msd_metrics_negotiate(msd_req_header(r, "Accept"));
    msd_blob *b = render(d, fmt);
    if (!b) {
        static const char oom[] = "out of memory\n";
        msd_resp resp = {.status = 500, .type = "text/plain; charset=utf-8", .static_body = oom,
                         .static_len = sizeof(oom) - 1};
        msd_req_answer(r, &resp);
        return;
    }
    msd_resp resp = {.status = 200, .body = b,
                     .type = fmt == MSD_METRICS_OPENMETRICS ? MSD_METRICS_CT_OPENMETRICS : MSD_METRICS_CT_PROMETHEUS};
    resp.headers[resp.nheaders++] = (msd_header){"Cache-Control", "no-store"};
    resp.headers[resp.nheaders++] = (msd_header){"Vary", "Accept"};
    resp.headers[resp.nheaders++] = (msd_header){"X-Content-Type-Options", "nosniff"};
    msd_req_answer(r, &resp); /* HEAD: the driver sends the headers only */
}

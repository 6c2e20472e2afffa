/*
 * cli/cmd_stats.c — the read-only views: `memscope ls`, `memscope stats APP`, `memscope growth APP` and
 * `memscope version`. Each prints the daemon's document unchanged with --json, else aligned tables.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- ls ---------------------------------------------------------------------------------------------------- */

static void ls_usage(FILE *out)
{
    fprintf(out, "Usage: memscope ls [--json]\n"
                 "List the apps memscoped knows: connected ones and those gone within its --retain window.\n"
                 "Columns: ID, PID, NAME, STATE (connected, or gone for how long), UP (since it connected),\n"
                 "UPDATED (age of the latest stats), SAMPLES (stats messages received).\n");
}

int cmd_ls(cli_ctx *c, int argc, char **argv)
{
    cli_reply r;
    int rc = cli_parse_opts(c, argc, argv, &(cli_opts){.help = ls_usage, .shortopts = ":h"});
    if (rc < 0)
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps");
    if (rc >= 0)
        return rc;
    const cJSON *apps = jget(r.json, "apps"), *e;
    if (cJSON_GetArraySize(apps) == 0) {
        printf("no apps: memscoped at %s has none (run one with MEMSCOPE_SOCKET set to the daemon's socket)\n",
               c->url);
        cli_reply_free(&r);
        return CLI_OK;
    }
    table *t = table_new("rrllrrr", "ID", "PID", "NAME", "STATE", "UP", "UPDATED", "SAMPLES", (char *)NULL);
    double now = now_wall();
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX];
    cJSON_ArrayForEach(e, apps) {
        bool conn = jbool(e, "connected", false);
        double since = jnum(e, "connected_at", NAN), upd = jnum(e, "last_update", NAN);
        double gone = jnum(e, "disconnected_at", NAN);
        table_row(t);
        table_cell(t, "%s", fmt_count(a, jnum(e, "id", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "pid", NAN)));
        table_cell(t, "%s", jstr(e, "name", "?"));
        if (conn)
            table_cell(t, "connected");
        else
            table_cell(t, "gone %s", fmt_age(a, now - gone));
        table_cell(t, "%s", fmt_age(a, (conn ? now : gone) - since));
        if (isnan(upd))
            table_cell(t, "never");
        else
            table_cell(t, "%s ago", fmt_age(b, now - upd));
        table_cell(t, "%s", fmt_count(a, jnum(e, "samples", NAN)));
    }
    cli_reply_free(&r); /* the cells are copies */
    return table_end(t, stdout, 0);
}

/* ---- stats ------------------------------------------------------------------------------------------------- */

static void stats_usage(FILE *out)
{
    fprintf(out, "Usage: memscope stats APP [-n TYPES] [--pools] [--json]\n"
                 "Show the latest statistics an app sent: heap, objects, GC per generation, the types using the\n"
                 "most memory, allocation tracing. APP is an id, a pid or a name.\n"
                 "\n"
                 "  -n, --top N   rows of the types table, largest bytes first (default 10, 0 = all)\n"
                 "  --pools       also the pool allocator's size classes in use\n"
                 "  --json        the daemon's document, unchanged (GET /api/v1/apps/{id})\n");
}

typedef struct stats_opts {
    long top;
    bool pools;
} stats_opts;

static int stats_opt(cli_ctx *c, int o, void *arg)
{
    stats_opts *so = arg;
    if (o == 'n')
        return cli_parse_long("stats", "-n", optarg, 0, 1000000, &so->top) < 0 ? -1 : 1;
    if (o == 'P') {
        so->pools = true;
        return 1;
    }
    return 0;
}

static void kv(table *t, const char *k, const char *v)
{
    table_row(t);
    table_cell(t, "%s", k);
    table_cell(t, "%s", v);
}

static int print_types(const cJSON *types, FILE *out, long top)
{
    size_t n;
    const cJSON **v = jsorted_desc(types, "bytes", &n);
    if (!v) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    if (n == 0) {
        free(v);
        return CLI_OK;
    }
    table *t = table_new("lrrrr", "TYPE", "ALIVE", "BYTES", "CREATED", "DESTROYED", (char *)NULL);
    size_t shown = top > 0 && (size_t)top < n ? (size_t)top : n;
    char a[CLI_FMT_MAX];
    for (size_t i = 0; i < shown; i++) {
        table_row(t);
        table_cell(t, "%s", jstr(v[i], "name", "?"));
        table_cell(t, "%s", fmt_count(a, jnum(v[i], "alive", NAN)));
        table_cell(t, "%s", fmt_size(a, jnum(v[i], "bytes", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(v[i], "created", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(v[i], "destroyed", NAN)));
    }
    if (shown < n)
        fprintf(out, "\nTypes (top %zu of %zu by bytes)\n", shown, n);
    else
        fprintf(out, "\nTypes (%zu, by bytes)\n", n);
    free(v);
    return table_end(t, out, 2);
}

static int print_gc(const cJSON *gc, FILE *out)
{
    if (!gc)
        return CLI_OK;
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX], x[CLI_FMT_MAX];
    fprintf(out, "\nGC (%s): pauses %s total, %s max; garbage %s\n", jbool(gc, "enabled", false) ? "enabled" : "disabled",
            fmt_duration(a, jnum(gc, "pause_total_ns", NAN)), fmt_duration(b, jnum(gc, "pause_max_ns", NAN)),
            fmt_count(x, jnum(gc, "garbage", NAN)));
    table *t =
        table_new("rrrrrr", "GEN", "COUNT", "THRESHOLD", "COLLECTIONS", "COLLECTED", "UNCOLLECTABLE", (char *)NULL);
    const cJSON *g;
    int i = 0;
    cJSON_ArrayForEach(g, jget(gc, "generations")) {
        table_row(t);
        table_cell(t, "%d", i++);
        table_cell(t, "%s", fmt_count(a, jnum(g, "count", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(g, "threshold", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(g, "collections", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(g, "collected", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(g, "uncollectable", NAN)));
    }
    return table_end(t, out, 2);
}

static int print_pools(const cJSON *pools, FILE *out)
{
    table *t = table_new("rrrrr", "BLOCK", "POOLS", "IN USE", "FREE", "USED", (char *)NULL);
    const cJSON *p;
    char a[CLI_FMT_MAX];
    cJSON_ArrayForEach(p, pools) {
        double used = jnum(p, "blocks_in_use", 0), fr = jnum(p, "blocks_free", 0);
        if (jnum(p, "pools", 0) == 0 && used == 0)
            continue; /* size classes never used are noise */
        table_row(t);
        table_cell(t, "%s", fmt_size(a, jnum(p, "block_size", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(p, "pools", NAN)));
        table_cell(t, "%s", fmt_count(a, used));
        table_cell(t, "%s", fmt_count(a, fr));
        table_cell(t, "%.0f%%", used + fr > 0 ? 100 * used / (used + fr) : 0);
    }
    fprintf(out, "\nPools (size classes in use)\n");
    return table_end(t, out, 2);
}

static int print_stats(const cli_app *app, const cJSON *doc, FILE *out, long top, bool pools)
{
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX], x[CLI_FMT_MAX];
    double time = jnum(doc, "time", NAN);
    fprintf(out, "%s  id %lld  pid %lld  %s  stats #%s at %s (%s ago)\n", jstr(doc, "name", app->name), app->id,
            app->pid, app->connected ? "connected" : "disconnected", fmt_count(x, jnum(doc, "seq", NAN)),
            fmt_clock(a, time), fmt_age(b, now_wall() - time));

    const cJSON *heap = jget(doc, "heap");
    table *t = table_new("ll", "", "", (char *)NULL);
    double pool = jnum(heap, "pool_bytes_in_use", NAN), sys = jnum(heap, "system_bytes_in_use", NAN);
    char line[256];
    snprintf(line, sizeof(line), "%s (pools %s + system %s)", fmt_size(a, pool + sys), fmt_size(b, pool),
             fmt_size(x, sys));
    kv(t, "in use", line);
    snprintf(line, sizeof(line), "%s in pools, %s from the system", fmt_count(a, jnum(heap, "blocks_in_use", NAN)),
             fmt_count(b, jnum(heap, "system_blocks_in_use", NAN)));
    kv(t, "blocks", line);
    snprintf(line, sizeof(line), "%s mapped (%s), highwater %s", fmt_count(a, jnum(heap, "arenas_mapped", NAN)),
             fmt_size(b, jnum(heap, "arena_bytes_mapped", NAN)), fmt_count(x, jnum(heap, "arenas_highwater", NAN)));
    kv(t, "arenas", line);
    snprintf(line, sizeof(line), "%s in use", fmt_count(a, jnum(heap, "pools_in_use", NAN)));
    kv(t, "pools", line);
    snprintf(line, sizeof(line), "%s allocations, %s frees", fmt_count(a, jnum(heap, "allocs_total", NAN)),
             fmt_count(b, jnum(heap, "frees_total", NAN)));
    kv(t, "calls", line);
    const cJSON *rc_ = jget(doc, "refcount");
    snprintf(line, sizeof(line), "%s alive, %s created, %s destroyed", fmt_count(a, jnum(rc_, "objects_alive", NAN)),
             fmt_count(b, jnum(rc_, "objects_created", NAN)), fmt_count(x, jnum(rc_, "objects_destroyed", NAN)));
    kv(t, "objects", line);
    const cJSON *tr = jget(doc, "trace");
    if (tr && jbool(tr, "tracing", false))
        snprintf(line, sizeof(line), "on (%s frames): %s traced, peak %s", fmt_count(a, jnum(tr, "nframes", NAN)),
                 fmt_size(b, jnum(tr, "current", NAN)), fmt_size(x, jnum(tr, "peak", NAN)));
    else
        snprintf(line, sizeof(line), "%s", tr ? "off" : "-");
    kv(t, "tracing", line);
    fprintf(out, "\n");
    /* A list of "key value" lines: the table's headers are empty, so table_end() leaves them out. */
    if (table_end(t, out, 2) != CLI_OK || print_gc(jget(doc, "gc"), out) != CLI_OK ||
        print_types(jget(doc, "types"), out, top) != CLI_OK)
        return CLI_FAIL;
    return pools ? print_pools(jget(doc, "pools"), out) : CLI_OK;
}

int cmd_stats(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {{"top", required_argument, NULL, 'n'},
                                           {"pools", no_argument, NULL, 'P'}, {NULL, 0, NULL, 0}};
    stats_opts so = {.top = 10};
    cli_app app;
    cli_reply r;
    int rc = cli_parse_app(c, argc, argv,
                           &(cli_opts){.help = stats_usage, .extra = extra, .shortopts = ":hn:", .on_opt = stats_opt,
                                       .arg = &so},
                           &app);
    if (rc < 0)
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld", app.id);
    if (rc >= 0)
        return rc;
    rc = print_stats(&app, r.json, stdout, so.top, so.pools);
    cli_reply_free(&r);
    return rc;
}

/* ---- growth ------------------------------------------------------------------------------------------------ */

static void growth_usage(FILE *out)
{
    fprintf(out, "Usage: memscope growth APP [--json]\n"
                 "Leak suspects: the types whose count of live objects rose steadily (never fell) over the daemon's\n"
                 "history window, fastest first, like objgraph.show_growth(). Needs a few history points: on a\n"
                 "freshly connected app the list may be empty.\n");
}

int cmd_growth(cli_ctx *c, int argc, char **argv)
{
    cli_app app;
    cli_reply r;
    int rc = cli_parse_app(c, argc, argv, &(cli_opts){.help = growth_usage, .shortopts = ":h"}, &app);
    if (rc < 0)
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/growth", app.id);
    if (rc >= 0)
        return rc;
    const cJSON *types = jget(r.json, "types"), *e;
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX], w[CLI_FMT_MAX];
    int n = cJSON_GetArraySize(types);
    double points = jnum(r.json, "points", NAN);
    fmt_age(a, jnum(r.json, "span_s", NAN));
    if (n == 0) {
        printf("%s: no steadily growing types over %s (%s history points, window %s)\n", app.name, a,
               fmt_count(b, points), fmt_age(w, jnum(r.json, "window_s", NAN)));
        cli_reply_free(&r);
        return CLI_OK;
    }
    printf("%s (id %lld): %d leak suspect%s, rising over %s (%.0f points)\n", app.name, app.id, n, n == 1 ? "" : "s",
           a, points);
    table *t = table_new("lrrrrr", "TYPE", "ALIVE", "FIRST", "DELTA", "RATE", "STEPS UP", (char *)NULL);
    cJSON_ArrayForEach(e, types) {
        table_row(t);
        table_cell(t, "%s", jstr(e, "type", "?"));
        table_cell(t, "%s", fmt_count(a, jnum(e, "alive", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "first", NAN)));
        table_cell(t, "%s", fmt_delta(a, jnum(e, "delta", NAN)));
        table_cell(t, "+%s", fmt_rate(a, jnum(e, "rate_per_s", NAN)));
        table_cell(t, "%s/%s", fmt_count(a, jnum(e, "steps_up", NAN)), fmt_count(b, jnum(e, "steps", NAN)));
    }
    cli_reply_free(&r); /* the cells are copies */
    return table_end(t, stdout, 2);
}

/* ---- version ----------------------------------------------------------------------------------------------- */

static void version_usage(FILE *out)
{
    fprintf(out, "Usage: memscope version [--json]\nPrint the client's version and the daemon's (GET /api/v1/version).\n");
}

int cmd_version(cli_ctx *c, int argc, char **argv)
{
    cli_reply r;
    int rc = cli_parse_opts(c, argc, argv, &(cli_opts){.help = version_usage, .shortopts = ":h"});
    if (rc < 0)
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/version");
    if (rc >= 0)
        return rc;
    printf("memscope %s\nmemscoped %s at %s (protocol %.0f, API v%.0f)\n", CLI_VERSION, jstr(r.json, "daemon", "?"),
           c->url, jnum(r.json, "protocol", 0), jnum(r.json, "api", 0));
    cli_reply_free(&r);
    return CLI_OK;
}

/*
 * cli/cmd_pools.c — `memscope pools APP [--max-utilization F] [-n N]`: pool pinning (issue 16). The pools whose
 * few live blocks keep them, and the arenas around them, from going back to the OS, and who those blocks are:
 * the allocation sites (while the app traces), the size classes and the types (GC-tracked objects) they are
 * charged to (GET /api/v1/apps/{id}/pools/pinning, a walk of the app's pools at its next safe point).
 *
 *   Pinned pools of docstore (id 1): 390 of 400 used pools at <= 25% utilization, 6 arenas; 11.8 MiB wasted
 *   (6.1 MiB in pools, 5.7 MiB in arenas); walk 1.20 ms
 *
 * then a table per grouping. A pinned pool's waste (its size minus its live bytes), and the resident empty pools
 * of an arena that only pinned pools keep mapped, are charged in equal shares to the live blocks that pin them.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: memscope pools APP [--max-utilization F] [-n N] [--json]\n"
                 "Pool pinning: the pools that a few live blocks keep from going back to the OS (a used pool whose\n"
                 "live bytes are at most F of its size), the arenas only such pools keep mapped, and who pins them:\n"
                 "the allocation sites of their live blocks (while the app traces: memscope trace APP start), their\n"
                 "size classes and their types (GC-tracked objects). Each live block of a pinned pool carries an\n"
                 "equal share of its pool's waste and of its arena's resident empty pools. The app pauses for the\n"
                 "walk of its pools.\n"
                 "\n"
                 "  -u, --max-utilization F  a pool is pinned at or below this fraction of live bytes, 0 to 1\n"
                 "                           (default 0.25)\n"
                 "  -n, --limit N            at most N sites and N types, the most wasteful first (1 to 1000,\n"
                 "                           default 20)\n"
                 "  --json                   the daemon's document, unchanged\n");
}

typedef struct pools_opts {
    double max_utilization;
    long limit;
} pools_opts;

/* s as a number from 0 to 1 (a fraction: 0.25 is 25%); -1 after a usage error. */
static int parse_fraction(const char *what, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0 && v <= 1)) {
        cli_usage_error("pools", "%s: \"%s\" is not a number from 0 to 1", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int on_opt(cli_ctx *c, int o, void *arg)
{
    (void)c;
    pools_opts *p = arg;
    switch (o) {
    case 'u': return parse_fraction("--max-utilization", optarg, &p->max_utilization) < 0 ? -1 : 1;
    case 'n': return cli_parse_long("pools", "-n", optarg, 1, 1000, &p->limit) < 0 ? -1 : 1;
    default: return 0;
    }
}

/* For the heading of a limited list: "; -n for more" when the daemon sent as many rows as were asked for (it
 * does not say how many there were), else "". */
static const char *more(const cJSON *arr, long limit)
{
    return cJSON_GetArraySize(arr) >= limit ? "; -n for more" : "";
}

/* A table of sites or types (name under `key`): pools, blocks, wasted, and with `age` the oldest block's age. */
static int print_groups(const cJSON *rows, const char *key, bool age)
{
    const cJSON *e;
    char a[CLI_FMT_MAX];
    table *t = age ? table_new("lrrrr", "SITE", "POOLS", "BLOCKS", "WASTED", "OLDEST", (char *)NULL)
                   : table_new("lrrr", "TYPE", "POOLS", "BLOCKS", "WASTED", (char *)NULL);
    cJSON_ArrayForEach(e, rows) {
        table_row(t);
        table_cell(t, "%s", jstr(e, key, "?"));
        table_cell(t, "%s", fmt_count(a, jnum(e, "pools", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "blocks", NAN)));
        table_cell(t, "%s", fmt_size(a, jnum(e, "wasted_bytes", NAN)));
        if (age)
            table_cell(t, "%s", fmt_age(a, jnum(e, "oldest_age_s", NAN)));
    }
    return table_end(t, stdout, 2);
}

static int print_sites(const cli_app *app, const cJSON *doc, long limit)
{
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX];
    if (!jbool(doc, "tracing", false)) {
        printf("\nSites: the app does not trace; for the allocation sites of the pinned blocks: memscope trace %s "
               "start\n",
               app->name);
        return CLI_OK;
    }
    const cJSON *sites = jget(doc, "sites");
    double untraced = jnum(doc, "untraced_blocks", 0);
    printf("\nSites (the pinned blocks' allocation sites, most waste first%s)\n", more(sites, limit));
    if (untraced > 0)
        printf("  %s pinned blocks (%s) were allocated before tracing started: untraced\n", fmt_count(a, untraced),
               fmt_size(b, jnum(doc, "untraced_wasted_bytes", NAN)));
    if (cJSON_GetArraySize(sites) == 0)
        return CLI_OK;
    return print_groups(sites, "site", true);
}

static int print_classes(const cJSON *classes)
{
    const cJSON *e;
    char a[CLI_FMT_MAX];
    if (cJSON_GetArraySize(classes) == 0)
        return CLI_OK;
    printf("\nSize classes\n");
    table *t = table_new("rrrr", "BLOCK", "PINNED POOLS", "BLOCKS", "WASTED", (char *)NULL);
    cJSON_ArrayForEach(e, classes) {
        table_row(t);
        table_cell(t, "%s", fmt_size(a, jnum(e, "size", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "pinned_pools", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "blocks", NAN)));
        table_cell(t, "%s", fmt_size(a, jnum(e, "wasted_bytes", NAN)));
    }
    return table_end(t, stdout, 2);
}

static int print_types(const cJSON *types, long limit)
{
    if (cJSON_GetArraySize(types) == 0)
        return CLI_OK;
    printf("\nTypes (GC-tracked objects, most waste first%s)\n", more(types, limit));
    return print_groups(types, "type", false);
}

static int print_pinning(const cli_app *app, const cJSON *doc, long limit)
{
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX], n[CLI_FMT_MAX], x[CLI_FMT_MAX], y[CLI_FMT_MAX], z[CLI_FMT_MAX], w[CLI_FMT_MAX];
    double pinned = jnum(doc, "pinned_pools", 0), arenas = jnum(doc, "pinned_arenas", NAN);
    double pct = 100 * jnum(doc, "max_utilization", NAN);
    fmt_count(b, jnum(doc, "pools_walked", NAN));
    fmt_duration(w, jnum(doc, "walk_ms", NAN) * 1e6);
    if (pinned == 0) {
        printf("Pinned pools of %s (id %lld): none of %s used pools at <= %g%% utilization; walk %s\n", app->name,
               app->id, b, pct, w);
        return CLI_OK;
    }
    printf("Pinned pools of %s (id %lld): %s of %s used pools at <= %g%% utilization, %s arena%s; %s wasted (%s in "
           "pools, %s in arenas); walk %s\n",
           app->name, app->id, fmt_count(a, pinned), b, pct, fmt_count(n, arenas), arenas == 1 ? "" : "s",
           fmt_size(x, jnum(doc, "wasted_bytes", NAN)), fmt_size(y, jnum(doc, "pool_wasted_bytes", NAN)),
           fmt_size(z, jnum(doc, "arena_wasted_bytes", NAN)), w);
    if (print_sites(app, doc, limit) != CLI_OK || print_classes(jget(doc, "classes")) != CLI_OK)
        return CLI_FAIL;
    return print_types(jget(doc, "types"), limit);
}

int cmd_pools(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {
        {"max-utilization", required_argument, NULL, 'u'}, {"limit", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0},
    };
    pools_opts p = {.max_utilization = 0.25, .limit = 20};
    cli_app app;
    cli_reply r;
    int rc = cli_parse_app(c, argc, argv,
                           &(cli_opts){.help = usage, .extra = extra, .shortopts = ":hu:n:", .on_opt = on_opt,
                                       .arg = &p},
                           &app);
    /* The fraction as parsed, exactly (the daemon reads it with strtod too), and short when that is exact: 0.1,
     * not 0.10000000000000001, in the daemon's logs. */
    char u[32];
    snprintf(u, sizeof(u), "%.15g", p.max_utilization);
    if (strtod(u, NULL) != p.max_utilization)
        snprintf(u, sizeof(u), "%.17g", p.max_utilization);
    if (rc < 0)
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/pools/pinning?max_utilization=%s&limit=%ld", app.id, u,
                       p.limit);
    if (rc >= 0)
        return rc;
    rc = print_pinning(&app, r.json, p.limit);
    cli_reply_free(&r);
    return rc;
}

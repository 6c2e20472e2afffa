/*
 * cli/cmd_history.c — `memscope history APP`: the daemon's per-app time series (heap, objects, collections,
 * pauses) as a table of evenly spaced rows, with a first-to-last summary line.
 */
#include <math.h>
#include <stdlib.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: memscope history APP [--seconds N] [-n ROWS] [--json]\n"
                 "The app's recent history as the daemon keeps it (see memscoped --history): heap in use, objects\n"
                 "alive, collections per generation, collector pauses and garbage, one row per sample.\n"
                 "\n"
                 "  --seconds N   how far back (default: the whole window)\n"
                 "  -n, --rows N  at most N rows, evenly spaced, the latest always included (default 20; 0 = all)\n"
                 "  --json        the daemon's document (columns of numbers), unchanged\n");
}

typedef struct history_opts {
    long seconds, rows;
} history_opts;

static int on_opt(cli_ctx *c, int o, void *arg)
{
    history_opts *h = arg;
    if (o == 's')
        return cli_parse_long("history", "--seconds", optarg, 1, 100000000, &h->seconds) < 0 ? -1 : 1;
    if (o == 'n')
        return cli_parse_long("history", "-n", optarg, 0, 1000000, &h->rows) < 0 ? -1 : 1;
    return 0;
}

static double at(const cJSON *o, const char *key, int i)
{
    const cJSON *v = cJSON_GetArrayItem(jget(o, key), i);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static double gen_at(const cJSON *o, int gen, int i)
{
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(jget(o, "gc_collections"), gen), i);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int print_history(const cli_app *app, const cJSON *h, long rows)
{
    int n = cJSON_GetArraySize(jget(h, "time"));
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX], x[CLI_FMT_MAX], y[CLI_FMT_MAX], z[CLI_FMT_MAX], w[CLI_FMT_MAX];
    if (n == 0) {
        printf("%s (id %lld): no history yet\n", app->name, app->id);
        return CLI_OK;
    }
    double h0 = at(h, "heap_bytes", 0), h1 = at(h, "heap_bytes", n - 1);
    printf("%s (id %lld): %d points over %s; heap %s -> %s (%s), objects %s -> %s\n", app->name, app->id, n,
           fmt_age(a, at(h, "time", n - 1) - at(h, "time", 0)), fmt_size(b, h0), fmt_size(x, h1),
           fmt_size_delta(y, h1 - h0), fmt_count(z, at(h, "objects_alive", 0)),
           fmt_count(w, at(h, "objects_alive", n - 1)));
    table *t =
        table_new("lrrrrrrr", "TIME", "HEAP", "OBJECTS", "GC0", "GC1", "GC2", "PAUSES", "GARBAGE", (char *)NULL);
    int shown = rows > 0 && rows < n ? (int)rows : n;
    for (int k = 0; k < shown; k++) {
        /* Row k of `shown` maps onto the n points so that the last row is the last point. */
        int i = shown == 1 ? n - 1 : (int)((long long)k * (n - 1) / (shown - 1));
        table_row(t);
        table_cell(t, "%s", fmt_clock(a, at(h, "time", i)));
        table_cell(t, "%s", fmt_size(a, at(h, "heap_bytes", i)));
        table_cell(t, "%s", fmt_count(a, at(h, "objects_alive", i)));
        for (int g = 0; g < 3; g++)
            table_cell(t, "%s", fmt_count(a, gen_at(h, g, i)));
        table_cell(t, "%s", fmt_duration(a, at(h, "gc_pause_total_ns", i)));
        table_cell(t, "%s", fmt_count(a, at(h, "garbage", i)));
    }
    return table_end(t, stdout, 2);
}

int cmd_history(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {{"seconds", required_argument, NULL, 's'},
                                           {"rows", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
    history_opts ho = {.rows = 20};
    cli_app app;
    cli_reply r;
    int rc = cli_parse_app(
        c, argc, argv, &(cli_opts){.help = usage, .extra = extra, .shortopts = ":hn:", .on_opt = on_opt, .arg = &ho},
        &app);
    if (rc < 0)
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/history?seconds=%ld", app.id, ho.seconds);
    if (rc >= 0)
        return rc;
    rc = print_history(&app, r.json, ho.rows);
    cli_reply_free(&r);
    return rc;
}

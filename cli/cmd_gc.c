/*
 * cli/cmd_gc.c — `memscope gc APP [-g 0|1|2]`: a collection run inside the app (a stop-the-world pause for it),
 * and what it freed by type; with --enable, --disable or --threshold, the collector's switches instead.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: memscope gc APP [-g 0|1|2] [--json]\n"
                 "       memscope gc APP --enable | --disable | --threshold T0[,T1[,T2]]\n"
                 "Run a cycle collection in the app at its next safe point and show what it freed, by type.\n"
                 "Needs the API token (see memscope --help).\n"
                 "\n"
                 "  -g, --generation N   collect generations 0..N (default 2: a full collection)\n"
                 "  --enable, --disable  switch the app's automatic collector on or off\n"
                 "  --threshold LIST     set the generations' thresholds, e.g. 700,10,10\n"
                 "  --json               the app's answer, unchanged\n");
}

enum { ACT_COLLECT, ACT_ENABLE, ACT_DISABLE, ACT_THRESHOLD };

typedef struct gc_opts {
    long gen;
    int action, actions;
    const char *thresholds;
    msc_buf body; /* the request's JSON, built once the options are read */
} gc_opts;

static int on_opt(cli_ctx *c, int o, void *arg)
{
    gc_opts *g = arg;
    switch (o) {
    case 'g':
        return cli_parse_long("gc", "-g", optarg, 0, 2, &g->gen) < 0 ? -1 : 1;
    case 'E': g->action = ACT_ENABLE; g->actions++; return 1;
    case 'D': g->action = ACT_DISABLE; g->actions++; return 1;
    case 'T': g->action = ACT_THRESHOLD; g->actions++; g->thresholds = optarg; return 1;
    default: return 0;
    }
}

/* The check of the options, and the request's JSON from them: {"generation":N}, {"thresholds":[...]} from
 * "700,10,10", or empty. Returns -1 when the verb should go on, else the exit code after the error was printed
 * (options that exclude each other, a bad list, out of memory). */
static int request_body(void *arg)
{
    gc_opts *g = arg;
    msc_buf *body = &g->body;
    if (g->actions > 1)
        return cli_usage_error("gc", "--enable, --disable and --threshold exclude each other");
    int rc = 0;
    if (g->action == ACT_COLLECT) {
        rc = msc_buf_printf(body, "{\"generation\":%ld}", g->gen);
    } else if (g->action == ACT_THRESHOLD) {
        rc = msc_buf_puts(body, "{\"thresholds\":[");
        const char *p = g->thresholds;
        for (int n = 0;; n++) {
            char *end;
            long x = strtol(p, &end, 10);
            if (end == p || x < 0 || x > 1000000000 || n == 3 || (*end && *end != ','))
                return cli_usage_error("gc", "--threshold: \"%s\" is not 1 to 3 comma-separated whole numbers",
                                       g->thresholds);
            rc |= msc_buf_printf(body, "%s%ld", n ? "," : "", x);
            if (!*end)
                break;
            p = end + 1;
        }
        rc |= msc_buf_puts(body, "]}");
    }
    if (rc < 0 || !msc_buf_cstr(body)) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    return -1;
}

static int print_collect(const cli_app *app, const cJSON *res)
{
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX], d[CLI_FMT_MAX];
    printf("%s (id %lld): generation %.0f collection freed %s objects (%s uncollectable) in %s\n", app->name, app->id,
           jnum(res, "generation", NAN), fmt_count(a, jnum(res, "collected", NAN)),
           fmt_count(b, jnum(res, "uncollectable", NAN)), fmt_duration(d, jnum(res, "duration_ns", NAN)));
    const cJSON *by = jget(res, "by_type"), *e;
    if (cJSON_GetArraySize(by) == 0)
        return CLI_OK;
    table *t = table_new("lr", "TYPE", "COLLECTED", (char *)NULL);
    cJSON_ArrayForEach(e, by) {
        table_row(t);
        table_cell(t, "%s", jstr(e, "type", "?"));
        table_cell(t, "%s", fmt_count(a, jnum(e, "collected", NAN)));
    }
    return table_end(t, stdout, 2);
}

int cmd_gc(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {
        {"generation", required_argument, NULL, 'g'}, {"enable", no_argument, NULL, 'E'},
        {"disable", no_argument, NULL, 'D'}, {"threshold", required_argument, NULL, 'T'}, {NULL, 0, NULL, 0},
    };
    static const char *const suffix[] = {"gc", "gc/enable", "gc/disable", "gc/threshold"};
    gc_opts g = {.gen = 2, .body = MSC_BUF_INIT};
    cli_app app;
    cli_reply r;
    int rc = cli_parse_app(c, argc, argv,
                           &(cli_opts){.help = usage, .extra = extra, .shortopts = ":hg:", .on_opt = on_opt,
                                       .check = request_body, .arg = &g},
                           &app);
    if (rc < 0)
        rc = cli_fetch(c, "POST", msc_buf_bytes(&g.body), &r, "/api/v1/apps/%lld/%s", app.id, suffix[g.action]);
    msc_buf_free(&g.body);
    if (rc >= 0)
        return rc;
    rc = CLI_OK;
    if (g.action == ACT_COLLECT) {
        rc = print_collect(&app, r.json);
    } else if (g.action == ACT_THRESHOLD) {
        const cJSON *v;
        printf("%s (id %lld): thresholds", app.name, app.id);
        cJSON_ArrayForEach(v, jget(r.json, "thresholds")) printf(" %.0f", cJSON_GetNumberValue(v));
        putchar('\n');
    } else {
        printf("%s (id %lld): automatic collection %s (was %s)\n", app.name, app.id,
               jbool(r.json, "enabled", false) ? "enabled" : "disabled",
               jbool(r.json, "was_enabled", false) ? "enabled" : "disabled");
    }
    cli_reply_free(&r);
    return rc;
}

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

/* "700,10,10" -> {"thresholds":[700,10,10]}; NULL after a usage error (or out of memory, reported). */
static char *threshold_body(const char *list, bool *oom)
{
    long v[3];
    int n = 0;
    for (const char *p = list;;) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > 1000000000 || n == 3)
            return NULL;
        v[n++] = x;
        if (!*end)
            break;
        if (*end != ',')
            return NULL;
        p = end + 1;
    }
    char *out = NULL;
    int rc = n == 1 ? asprintf(&out, "{\"thresholds\":[%ld]}", v[0])
           : n == 2 ? asprintf(&out, "{\"thresholds\":[%ld,%ld]}", v[0], v[1])
                    : asprintf(&out, "{\"thresholds\":[%ld,%ld,%ld]}", v[0], v[1], v[2]);
    if (rc < 0) {
        *oom = true;
        return NULL;
    }
    return out;
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
    table *t = table_new("lr", "TYPE", "COLLECTED", NULL);
    if (!t) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    cJSON_ArrayForEach(e, by) {
        table_row(t);
        table_cell(t, "%s", jstr(e, "type", "?"));
        table_cell(t, "%s", fmt_count(a, jnum(e, "collected", NAN)));
    }
    int rc = table_print(t, stdout, 2) < 0 ? CLI_FAIL : CLI_OK;
    table_free(t);
    return rc;
}

int cmd_gc(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {
        {"generation", required_argument, NULL, 'g'}, {"enable", no_argument, NULL, 'E'},
        {"disable", no_argument, NULL, 'D'}, {"threshold", required_argument, NULL, 'T'}, {NULL, 0, NULL, 0},
    };
    gc_opts g = {.gen = 2};
    int rc = cli_parse_opts(c, argc, argv, usage, extra, ":hg:", on_opt, &g);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage_error("gc", "missing APP");
    if (optind + 1 < argc)
        return cli_usage_error("gc", "unexpected argument '%s'", argv[optind + 1]);
    if (g.actions > 1)
        return cli_usage_error("gc", "--enable, --disable and --threshold exclude each other");
    char *body = NULL;
    if (g.action == ACT_THRESHOLD) {
        bool oom = false;
        if (!(body = threshold_body(g.thresholds, &oom))) {
            if (oom) {
                cli_error("out of memory");
                return CLI_FAIL;
            }
            return cli_usage_error("gc", "--threshold: \"%s\" is not 1 to 3 comma-separated whole numbers",
                                   g.thresholds);
        }
    } else if (g.action == ACT_COLLECT && asprintf(&body, "{\"generation\":%ld}", g.gen) < 0) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    static const char *const suffix[] = {"gc", "gc/enable", "gc/disable", "gc/threshold"};
    cli_app app;
    cli_reply r;
    char path[96];
    rc = cli_resolve(c, argv[optind], &app);
    if (rc == CLI_OK) {
        snprintf(path, sizeof(path), "/api/v1/apps/%lld/%s", app.id, suffix[g.action]);
        rc = cli_call(c, "POST", path, body, &r);
    }
    free(body);
    if (rc != CLI_OK)
        return rc;
    if (c->json) {
        cli_print_raw(&r);
    } else if (g.action == ACT_COLLECT) {
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

/*
 * cli/cmd_gc.c — `memscope gc APP [-g 0|1|2]`: a collection run inside the app (a stop-the-world pause for it),
 * and what it freed by type (with --cycles, and by cycle maker: the allocation sites or types of the cycles it
 * freed); with --enable, --disable or --threshold, the collector's switches instead; with --cycle-table, the
 * app's cycle makers since start (or --recent: of its last 16 collections), --cycles-on/--cycles-off the
 * switch of their counting.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: memscope gc APP [-g 0|1|2] [--json]\n"
                 "       memscope gc APP --enable | --disable | --threshold T0[,T1[,T2]]\n"
                 "       memscope gc APP --cycle-table [--recent] | --cycles-on | --cycles-off\n"
                 "Run a cycle collection in the app at its next safe point and show what it freed, by type.\n"
                 "Needs the API token (see memscope --help), except --cycle-table.\n"
                 "\n"
                 "  -g, --generation N   collect generations 0..N (default 2: a full collection)\n"
                 "  --cycles             also show who made the cycles it freed: the allocation site of each\n"
                 "                       cycle's objects while the app traces (memscope trace APP start), else\n"
                 "                       the cycle's types (\"Folder×2+Document\")\n"
                 "  --cycle-table        no collection: the app's cycle makers since its counting began\n"
                 "  --recent             with --cycle-table: of its last 16 collections only\n"
                 "  --cycles-on, --cycles-off  count cycle makers in every collection, or stop (it costs each\n"
                 "                       collection a walk of its garbage)\n"
                 "  --enable, --disable  switch the app's automatic collector on or off\n"
                 "  --threshold LIST     set the generations' thresholds, e.g. 700,10,10\n"
                 "  --json               the app's answer, unchanged\n");
}

enum { ACT_COLLECT, ACT_ENABLE, ACT_DISABLE, ACT_THRESHOLD, ACT_CYCLE_TABLE, ACT_CYCLES_ON, ACT_CYCLES_OFF };

typedef struct gc_opts {
    long gen;
    int action, actions;
    bool cycles, recent;
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
    case 'c': g->cycles = true; return 1;
    case 't': g->action = ACT_CYCLE_TABLE; g->actions++; return 1;
    case 'r': g->recent = true; return 1;
    case 'O': g->action = ACT_CYCLES_ON; g->actions++; return 1;
    case 'F': g->action = ACT_CYCLES_OFF; g->actions++; return 1;
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
        return cli_usage_error("gc", "--enable, --disable, --threshold, --cycle-table, --cycles-on and --cycles-off "
                                     "exclude each other");
    if (g->recent && g->action != ACT_CYCLE_TABLE)
        return cli_usage_error("gc", "--recent goes with --cycle-table");
    if (g->cycles && g->action != ACT_COLLECT)
        return cli_usage_error("gc", "--cycles goes with a collection");
    int rc = 0;
    if (g->action == ACT_CYCLES_ON || g->action == ACT_CYCLES_OFF) {
        rc = msc_buf_printf(body, "{\"enabled\":%s}", g->action == ACT_CYCLES_ON ? "true" : "false");
    } else if (g->action == ACT_COLLECT) {
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

/* The cycle-maker groups: who made them, how many cycles, objects and bytes, and their types. */
static int print_cycles(const cJSON *groups)
{
    const cJSON *e;
    if (cJSON_GetArraySize(groups) == 0) {
        printf("no cycles\n");
        return CLI_OK;
    }
    table *t = table_new("lrrrl", "MADE BY", "CYCLES", "OBJECTS", "SIZE", "TYPES", (char *)NULL);
    char a[CLI_FMT_MAX];
    cJSON_ArrayForEach(e, groups) {
        msc_buf types = MSC_BUF_INIT;
        const cJSON *ty;
        int rc = 0;
        cJSON_ArrayForEach(ty, jget(e, "types")) {
            rc |= msc_buf_printf(&types, "%s%s %s", types.len ? ", " : "", ty->string ? ty->string : "?",
                                 fmt_count(a, cJSON_GetNumberValue(ty)));
        }
        table_row(t);
        table_cell(t, "%s", jbool(e, "other", false) ? "(other)" : jstr(e, "key", "?"));
        table_cell(t, "%s", fmt_count(a, jnum(e, "cycles", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "objects", NAN)));
        table_cell(t, "%s", fmt_size(a, jnum(e, "bytes", NAN)));
        table_cell(t, "%s", rc < 0 || !msc_buf_cstr(&types) ? "?" : msc_buf_cstr(&types));
        msc_buf_free(&types);
    }
    return table_end(t, stdout, 2);
}

static int print_collect(const cli_app *app, const cJSON *res, bool cycles)
{
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX], d[CLI_FMT_MAX];
    printf("%s (id %lld): generation %.0f collection freed %s objects (%s uncollectable) in %s\n", app->name, app->id,
           jnum(res, "generation", NAN), fmt_count(a, jnum(res, "collected", NAN)),
           fmt_count(b, jnum(res, "uncollectable", NAN)), fmt_duration(d, jnum(res, "duration_ns", NAN)));
    const cJSON *by = jget(res, "by_type"), *e;
    int rc = CLI_OK;
    if (cJSON_GetArraySize(by) > 0) {
        table *t = table_new("lr", "TYPE", "COLLECTED", (char *)NULL);
        cJSON_ArrayForEach(e, by) {
            table_row(t);
            table_cell(t, "%s", jstr(e, "type", "?"));
            table_cell(t, "%s", fmt_count(a, jnum(e, "collected", NAN)));
        }
        rc = table_end(t, stdout, 2);
    }
    if (cycles && rc == CLI_OK) {
        printf("cycle makers of this collection:\n");
        rc = print_cycles(jget(res, "groups"));
    }
    return rc;
}

static int print_cycle_table(const cli_app *app, const cJSON *res)
{
    printf("%s (id %lld): cycle makers %s%s, %.0f collection%s counted%s\n", app->name, app->id,
           jbool(res, "recent", false) ? "of the last collections" : "since counting began",
           jbool(res, "tracing", false) ? "" : " (not tracing: by type)", jnum(res, "collections", 0),
           jnum(res, "collections", 0) == 1 ? "" : "s",
           jbool(res, "enabled", false) ? "" : "; counting is off (memscope gc APP --cycles-on)");
    return print_cycles(jget(res, "groups"));
}

int cmd_gc(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {
        {"generation", required_argument, NULL, 'g'}, {"enable", no_argument, NULL, 'E'},
        {"disable", no_argument, NULL, 'D'},          {"threshold", required_argument, NULL, 'T'},
        {"cycles", no_argument, NULL, 'c'},           {"cycle-table", no_argument, NULL, 't'},
        {"recent", no_argument, NULL, 'r'},           {"cycles-on", no_argument, NULL, 'O'},
        {"cycles-off", no_argument, NULL, 'F'},       {NULL, 0, NULL, 0},
    };
    static const char *const suffix[] = {"gc", "gc/enable", "gc/disable", "gc/threshold", "gc/cycles", "gc/cycles",
                                         "gc/cycles"};
    gc_opts g = {.gen = 2, .body = MSC_BUF_INIT};
    cli_app app;
    cli_reply r;
    int rc = cli_parse_app(c, argc, argv,
                           &(cli_opts){.help = usage, .extra = extra, .shortopts = ":hg:", .on_opt = on_opt,
                                       .check = request_body, .arg = &g},
                           &app);
    if (rc < 0 && g.action == ACT_CYCLE_TABLE)
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/gc/cycles?recent=%d&limit=65", app.id, g.recent);
    else if (rc < 0)
        rc = cli_fetch(c, "POST", msc_buf_bytes(&g.body), &r, "/api/v1/apps/%lld/%s", app.id, suffix[g.action]);
    msc_buf_free(&g.body);
    if (rc >= 0)
        return rc;
    rc = CLI_OK;
    if (g.action == ACT_COLLECT) {
        rc = print_collect(&app, r.json, g.cycles);
    } else if (g.action >= ACT_CYCLE_TABLE) {
        rc = print_cycle_table(&app, r.json);
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

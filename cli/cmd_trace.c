/*
 * cli/cmd_trace.c — `memscope trace APP ACTION`: allocation tracing in the app (tracemalloc's model).
 *
 *   start [-n FRAMES]    trace.start in the app, FRAMES return addresses per allocation (default 1)
 *   stop                 trace.stop (drops the traces)
 *   top [-n N] [--by K]  the N biggest allocation sites of a fresh snapshot, grouped by lineno/filename/traceback
 *   snapshot             a snapshot stored by the daemon on disk; prints its id
 *   snapshots            the stored snapshots of this app's name
 *   diff A B [-n N] [--by K]   what grew between two stored snapshots
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "protocol.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: memscope trace APP start [-n FRAMES]\n"
                 "       memscope trace APP stop\n"
                 "       memscope trace APP top [-n N] [--by lineno|filename|traceback]\n"
                 "       memscope trace APP snapshot\n"
                 "       memscope trace APP snapshots\n"
                 "       memscope trace APP diff A B [-n N] [--by lineno|filename|traceback]\n"
                 "Allocation tracing inside the app, like Python's tracemalloc. start/stop/snapshot need the token.\n"
                 "\n"
                 "  -n N        start: frames kept per allocation (1..%d, default 1);\n"
                 "              top, diff: rows shown (0..%d, default %d; 0 = all)\n"
                 "  --by KEY    group by source line (lineno, default), file (filename) or whole call stack\n"
                 "              (traceback: start with -n > 1 to get deeper stacks)\n"
                 "  --json      the daemon's document, unchanged\n"
                 "Snapshots are kept by the daemon (in its --data-dir), so `diff` works after the app has gone.\n",
            MSC_TRACE_FRAMES_MAX, MSC_TOP_LIMIT_MAX, MSC_TOP_LIMIT_DEFAULT);
}

typedef struct trace_opts {
    const char *n; /* checked once the action is known: whether it applies depends on it */
    const char *by;
} trace_opts;

static int on_opt(cli_ctx *c, int o, void *arg)
{
    trace_opts *t = arg;
    if (o == 'n')
        t->n = optarg;
    else if (o == 'b')
        t->by = optarg;
    else
        return 0;
    return 1;
}

/* "file:line", or "file" when grouped by file (lineno 0). */
static void location(char *buf, size_t n, const cJSON *e)
{
    double line = jnum(e, "lineno", 0);
    if (line > 0)
        snprintf(buf, n, "%s:%.0f", jstr(e, "file", "?"), line);
    else
        snprintf(buf, n, "%s", jstr(e, "file", "?"));
}

static void print_frames(const cJSON *frames)
{
    const cJSON *f;
    char loc[1024];
    cJSON_ArrayForEach(f, frames) {
        location(loc, sizeof(loc), f);
        const char *fn = jstr(f, "function", NULL);
        printf("      %s%s%s\n", loc, fn ? " in " : "", fn ? fn : "");
    }
}

/* top and diff share their layout; diff adds the two *_diff columns. */
static int print_stats_list(const cJSON *stats, bool diff, bool traceback)
{
    char a[CLI_FMT_MAX], loc[1024];
    const cJSON *e;
    if (traceback) {
        /* Stacks do not fit in a table row: one block per entry, tracemalloc style. */
        int i = 1;
        cJSON_ArrayForEach(e, stats) {
            char s[CLI_FMT_MAX], avg[CLI_FMT_MAX];
            double size = jnum(e, "size", NAN), count = jnum(e, "count", NAN);
            printf("#%d: %s in %s blocks (average %s)", i++, fmt_size(s, size), fmt_count(a, count),
                   fmt_size(avg, count > 0 ? size / count : NAN));
            if (diff) {
                printf(", %s", fmt_size_delta(s, jnum(e, "size_diff", NAN)));
                printf(" and %s blocks since the first snapshot", fmt_delta(a, jnum(e, "count_diff", NAN)));
            }
            putchar('\n');
            print_frames(jget(e, "traceback"));
        }
        return CLI_OK;
    }
    table *t = diff ? table_new("rrrrl", "SIZE", "DIFF", "COUNT", "DIFF", "LOCATION", (char *)NULL)
                    : table_new("rrrl", "SIZE", "COUNT", "AVERAGE", "LOCATION", (char *)NULL);
    cJSON_ArrayForEach(e, stats) {
        double size = jnum(e, "size", NAN), count = jnum(e, "count", NAN);
        location(loc, sizeof(loc), e);
        table_row(t);
        table_cell(t, "%s", fmt_size(a, size));
        if (diff)
            table_cell(t, "%s", fmt_size_delta(a, jnum(e, "size_diff", NAN)));
        table_cell(t, "%s", fmt_count(a, count));
        if (diff)
            table_cell(t, "%s", fmt_delta(a, jnum(e, "count_diff", NAN)));
        else
            table_cell(t, "%s", fmt_size(a, count > 0 ? size / count : NAN));
        table_cell(t, "%s", loc);
    }
    return table_end(t, stdout, 2);
}

static int print_snapshots(const cJSON *list)
{
    const cJSON *e;
    if (cJSON_GetArraySize(list) == 0) {
        printf("no snapshots stored for this app's name (take one with: memscope trace APP snapshot)\n");
        return CLI_OK;
    }
    table *t = table_new("rllrr", "ID", "TAKEN", "APP", "PID", "TRACES", (char *)NULL);
    char a[CLI_FMT_MAX];
    cJSON_ArrayForEach(e, list) {
        table_row(t);
        table_cell(t, "%s", fmt_count(a, jnum(e, "id", NAN)));
        table_cell(t, "%s", fmt_datetime(a, jnum(e, "time", NAN)));
        table_cell(t, "%s", jstr(e, "app", "?"));
        table_cell(t, "%s", fmt_count(a, jnum(e, "pid", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "traces", NAN)));
    }
    return table_end(t, stdout, 0);
}

int cmd_trace(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {{"by", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
    trace_opts to = {0};
    int rc = cli_parse_opts(
        c, argc, argv,
        &(cli_opts){.help = usage, .extra = extra, .shortopts = ":hn:", .on_opt = on_opt, .arg = &to, .args = true});
    if (rc >= 0)
        return rc;
    if (optind + 2 > argc)
        return cli_usage_error("trace", optind >= argc ? "missing APP and action" : "missing action");
    const char *spec = argv[optind], *act = argv[optind + 1];
    char **rest = argv + optind + 2;
    int nrest = argc - optind - 2;
    static const char *const acts[] = {"start", "stop", "top", "snapshot", "snapshots", "diff"};
    size_t k = 0;
    while (k < 6 && strcmp(acts[k], act) != 0)
        k++;
    if (k == 6)
        return cli_usage_error("trace", "unknown action '%s' (start, stop, top, snapshot, snapshots, diff)", act);
    bool is_diff = k == 5, is_top = k == 2, is_start = k == 0;
    if (nrest != (is_diff ? 2 : 0))
        return nrest > (is_diff ? 2 : 0)
                   ? cli_usage_error("trace", "unexpected argument '%s'", rest[is_diff ? 2 : 0])
                   : cli_usage_error("trace", "diff needs two snapshot ids");
    long n = is_start ? 1 : MSC_TOP_LIMIT_DEFAULT;
    if (to.n && !(is_start || is_top || is_diff))
        return cli_usage_error("trace", "-n does not apply to '%s'", act);
    if (to.by && !(is_top || is_diff))
        return cli_usage_error("trace", "--by does not apply to '%s'", act);
    /* The range is the protocol's, and memscoped checks it (a 400 that names it): one judge, so the client can
     * never refuse what the daemon accepts. */
    if (to.n && cli_parse_integer("trace", "-n", to.n, &n) < 0)
        return CLI_USAGE;
    const char *by = to.by ? to.by : "lineno";
    if (strcmp(by, "lineno") != 0 && strcmp(by, "filename") != 0 && strcmp(by, "traceback") != 0)
        return cli_usage_error("trace", "--by: \"%s\" is not lineno, filename or traceback", by);
    long from = 0, tosnap = 0;
    if (is_diff && (cli_parse_long("trace", "snapshot id A", rest[0], 1, 2000000000, &from) < 0 ||
                    cli_parse_long("trace", "snapshot id B", rest[1], 1, 2000000000, &tosnap) < 0))
        return CLI_USAGE;

    /* The diff reads stored snapshots only, which outlive their app: a numeric APP needs no live app. */
    cli_app app = {0};
    if (is_diff && cli_is_number(spec)) {
        app.id = strtoll(spec, NULL, 10);
    } else if (cli_resolve(c, spec, &app) != CLI_OK) {
        return CLI_FAIL;
    }
    char body[64];
    cli_reply r;
    switch (k) {
    case 0:
        snprintf(body, sizeof(body), "{\"action\":\"start\",\"nframes\":%ld}", n);
        rc = cli_fetch(c, "POST", body, &r, "/api/v1/apps/%lld/trace", app.id);
        break;
    case 1:
        rc = cli_fetch(c, "POST", "{\"action\":\"stop\"}", &r, "/api/v1/apps/%lld/trace", app.id);
        break;
    case 2:
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/trace/top?key=%s&limit=%ld", app.id, by, n);
        break;
    case 3:
        rc = cli_fetch(c, "POST", NULL, &r, "/api/v1/apps/%lld/trace/snapshots", app.id);
        break;
    case 4:
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/trace/snapshots", app.id);
        break;
    default:
        /* The app is part of the question: memscoped answers 404 for snapshots that are not this app's. */
        rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/trace/diff?from=%ld&to=%ld&key=%s&limit=%ld", app.id,
                       from, tosnap, by, n);
        break;
    }
    if (rc >= 0)
        return rc;
    rc = CLI_OK;
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX];
    const bool tb = strcmp(by, "traceback") == 0;
    switch (k) {
    case 0:
        printf("%s (id %lld): tracing started, %.0f frame%s per allocation\n", app.name, app.id,
               jnum(r.json, "nframes", (double)n), jnum(r.json, "nframes", (double)n) == 1 ? "" : "s");
        break;
    case 1:
        printf("%s (id %lld): tracing stopped\n", app.name, app.id);
        break;
    case 2:
        printf("%s (id %lld): top %d by %s of %s traced in %s blocks\n", app.name, app.id,
               cJSON_GetArraySize(jget(r.json, "stats")), by, fmt_size(a, jnum(r.json, "total_size", NAN)),
               fmt_count(b, jnum(r.json, "total_count", NAN)));
        rc = print_stats_list(jget(r.json, "stats"), false, tb);
        break;
    case 3:
        printf("%s (id %lld): snapshot %.0f stored (%.0f traces)\n", app.name, app.id, jnum(r.json, "id", NAN),
               jnum(r.json, "traces", NAN));
        break;
    case 4:
        rc = print_snapshots(jget(r.json, "snapshots"));
        break;
    default:
        printf("snapshot %ld -> %ld, by %s\n", from, tosnap, by);
        rc = print_stats_list(jget(r.json, "stats"), true, tb);
        break;
    }
    cli_reply_free(&r);
    return rc;
}

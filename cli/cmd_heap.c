/*
 * cli/cmd_heap.c — "why is it alive?" (issue 15): heap snapshots and retainer paths.
 *
 *   memscope why APP TYPE [-n LIMIT] [--snapshot SID]   the objects of TYPE grouped by their shortest path from a
 *                                                       root, largest group first
 *   memscope heapsnapshot APP [-o FILE] [--snapshot SID] a snapshot taken (or an existing one) and downloaded as
 *                                                       a .heapsnapshot file (Chrome DevTools' Memory tab loads it)
 *   memscope heapsnapshot APP --list                    the heap snapshots stored for the app's name
 *
 * Both take the snapshot with POST /api/v1/apps/{id}/heapsnapshot (the token: it pauses the app for the walk of
 * its heap), unless --snapshot names one already stored; the analysis is the daemon's
 * (GET .../heapsnapshots/{sid}/retainers). A path is printed the way it reads in code:
 *
 *     9805 objects, 1.2 MiB retained: audit (list, 1 external ref) -[i]-> AuditEntry
 *
 * the root first (its label, if the app gave it one with ms_root_name, then its type and how many references
 * from outside the heap hold it), then each edge: a list index `-[i]->`, a field `-.parent->`, a dict key
 * ` ['cache'] ->`, an unnamed reference `-<ref 0>->`.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void why_usage(FILE *out)
{
    fprintf(out, "Usage: memscope why APP TYPE [-n LIMIT] [--snapshot SID] [--json]\n"
                 "What keeps the objects of TYPE alive: takes a heap snapshot of the app (it pauses for the walk of\n"
                 "its heap; needs the API token, see memscope --help), then groups the objects of TYPE by their\n"
                 "shortest retainer path from a root, the largest group first.\n"
                 "\n"
                 "  -n, --limit N       show at most N groups (default 10)\n"
                 "  -s, --snapshot SID  use the stored heap snapshot SID instead of taking one (no token needed)\n"
                 "  --json              the daemon's retainers document, unchanged\n"
                 "\n"
                 "Each line: objects in the group, the bytes freed if they all went, and the path, read like code:\n"
                 "  audit (list, 1 external ref) -[i]-> AuditEntry    a root labelled 'audit' (ms_root_name): a list\n"
                 "                                                    held by 1 reference from outside the heap\n"
                 "  Folder -.parent-> Folder   a field;   dict ['cache'] -> Document   a dict entry\n"
                 "  (unreachable) Folder       garbage the collector has not freed yet (no root reaches it)\n");
}

static void snap_usage(FILE *out)
{
    fprintf(out, "Usage: memscope heapsnapshot APP [-o FILE] [--snapshot SID] [--json]\n"
                 "       memscope heapsnapshot APP --list [--json]\n"
                 "Takes a heap snapshot of the app (it pauses for the walk of its heap; needs the API token, see\n"
                 "memscope --help) and downloads it as a .heapsnapshot file: Chrome DevTools (Memory tab, Load),\n"
                 "memlab and other V8 heap tools open it. With --list, shows the ones stored instead.\n"
                 "\n"
                 "  -l, --list          the heap snapshots memscoped stores for the app's name: id, when, objects,\n"
                 "                      edges, size and the app's pause\n"
                 "  -o, --output FILE   where to write it (\"-\": standard output); default: the name memscoped\n"
                 "                      suggests, else APP-SID.heapsnapshot in the current directory\n"
                 "  -s, --snapshot SID  download the stored heap snapshot SID instead of taking one\n"
                 "  --json              print the snapshot's summary as JSON, with the file written (\"file\")\n");
}

typedef struct heap_opts {
    const char *verb;
    const char *limit, *snapshot, *output; /* as given; numbers checked by check_numbers */
    long n, sid;
    bool list;
} heap_opts;

static int on_opt(cli_ctx *c, int o, void *arg)
{
    (void)c;
    heap_opts *h = arg;
    switch (o) {
    case 'n': h->limit = optarg; return 1;
    case 's': h->snapshot = optarg; return 1;
    case 'o': h->output = optarg; return 1;
    case 'l': h->list = true; return 1;
    default: return 0;
    }
}

/* The numbers of the options, before any request: -1 to go on, else CLI_USAGE (printed). The daemon judges
 * their ranges. */
static int check_numbers(void *arg)
{
    heap_opts *h = arg;
    if (h->limit && cli_parse_integer(h->verb, "-n", h->limit, &h->n) < 0)
        return CLI_USAGE;
    if (h->snapshot && cli_parse_integer(h->verb, "--snapshot", h->snapshot, &h->sid) < 0)
        return CLI_USAGE;
    if (h->output && !h->output[0])
        return cli_usage_error(h->verb, "-o needs a file name");
    if (h->list && (h->output || h->snapshot))
        return cli_usage_error(h->verb, "--list takes neither -o nor --snapshot");
    return -1;
}

/* s percent-encoded for a query string (RFC 3986 unreserved characters kept) into b. -1 out of memory. */
static int query_escape(msc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
            rc |= msc_buf_putc(b, (char)*p);
        else
            rc |= msc_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    return rc < 0 || !msc_buf_cstr(b) ? -1 : 0;
}

/* Takes a snapshot (POST .../heapsnapshot): CLI_OK with its reply in *r (never printed here, even with --json),
 * else CLI_FAIL with the error printed. */
static int take_snapshot(cli_ctx *c, const cli_app *app, cli_reply *r)
{
    bool json = c->json;
    c->json = false;
    int rc = cli_fetch(c, "POST", "{}", r, "/api/v1/apps/%lld/heapsnapshot", app->id);
    c->json = json;
    return rc < 0 ? CLI_OK : rc;
}

/* "heap snapshot 3: 48213 objects, 96022 edges, 3.1 MiB, pause 3.21 ms" */
static void print_snapshot_line(const cli_app *app, const cJSON *s)
{
    char o[CLI_FMT_MAX], e[CLI_FMT_MAX], b[CLI_FMT_MAX], p[CLI_FMT_MAX];
    printf("%s (id %lld): heap snapshot %.0f: %s objects, %s edges, %s, pause %s\n", app->name, app->id,
           jnum(s, "id", NAN), fmt_count(o, jnum(s, "objects", NAN)), fmt_count(e, jnum(s, "edges", NAN)),
           fmt_size(b, jnum(s, "bytes", NAN)), fmt_duration(p, jnum(s, "pause_ms", NAN) * 1e6));
}

/* The snapshot id of --snapshot, or of a snapshot taken now (its line printed unless --json). CLI_OK or the
 * exit code after an error. */
static int snapshot_id(cli_ctx *c, const cli_app *app, const heap_opts *h, long *sid, cli_reply *taken)
{
    *taken = (cli_reply){0};
    if (h->snapshot) {
        *sid = h->sid;
        return CLI_OK;
    }
    int rc = take_snapshot(c, app, taken);
    if (rc != CLI_OK)
        return rc;
    double id = jnum(taken->json, "id", NAN);
    if (!(id >= 0 && id == floor(id))) {
        cli_reply_free(taken);
        cli_error("%s: memscoped's answer to the snapshot has no id", c->subject);
        return CLI_FAIL;
    }
    *sid = (long)id;
    return CLI_OK;
}

/* An edge label of the daemon's paths, as it reads in code: "[i]" / "[1532]" (a list index) -> "-[i]->",
 * ".parent" -> "-.parent->", "['cache']" (a dict key) -> " ['cache'] ->", "<ref 0>" -> "-<ref 0>->". */
static int put_edge(msc_buf *b, const char *edge)
{
    bool index = edge[0] == '[' && edge[1] && strspn(edge + 1, "0123456789i") == strlen(edge) - 2 &&
                 edge[strlen(edge) - 1] == ']';
    if (edge[0] == '[' && !index)
        return msc_buf_printf(b, " %s -> ", edge);
    return msc_buf_printf(b, " -%s-> ", edge);
}

/* One group's path: the root, then each step. Appends to b; -1 out of memory. */
static int put_path(msc_buf *b, const cJSON *group)
{
    const cJSON *root = jget(group, "root"), *path = jget(group, "path");
    int n = cJSON_GetArraySize(path);
    const cJSON *first = cJSON_GetArrayItem(path, 0);
    const char *name = jstr(root, "name", NULL);
    const char *type = jstr(root, "type", jstr(first, "type", "?"));
    double ext = jnum(root, "external_refs", 0);
    char refs[64] = "";
    if (ext > 0)
        snprintf(refs, sizeof(refs), "%.0f external ref%s", ext, ext == 1 ? "" : "s");
    int rc;
    if (name && ext == 0 && strcmp(name, "(unreachable)") == 0)
        rc = msc_buf_printf(b, "(unreachable) %s", type); /* garbage: hangs from the synthetic node directly */
    else if (name)
        rc = msc_buf_printf(b, "%s (%s%s%s)", name, type, refs[0] ? ", " : "", refs);
    else if (refs[0])
        rc = msc_buf_printf(b, "%s (%s)", type, refs);
    else
        rc = msc_buf_puts(b, type);
    for (int i = 0; i + 1 < n; i++) {
        const cJSON *step = cJSON_GetArrayItem(path, i), *next = cJSON_GetArrayItem(path, i + 1);
        rc |= put_edge(b, jstr(step, "edge", "?"));
        rc |= msc_buf_puts(b, jstr(next, "type", "?"));
    }
    return rc < 0 || !msc_buf_cstr(b) ? -1 : 0;
}

static int print_retainers(const cJSON *doc, const char *type)
{
    const cJSON *paths = jget(doc, "paths"), *g;
    char a[CLI_FMT_MAX], s[CLI_FMT_MAX];
    int shown = cJSON_GetArraySize(paths);
    double groups = jnum(doc, "groups", shown);
    printf("%s: %s objects, %.0f retainer path%s%s\n", jstr(doc, "type", type), fmt_count(a, jnum(doc, "objects", NAN)),
           groups, groups == 1 ? "" : "s", groups > shown ? " (the largest shown; -n for more)" : "");
    int wc = 0, ws = 0;
    cJSON_ArrayForEach(g, paths) {
        int x = (int)strlen(fmt_count(a, jnum(g, "count", NAN))), y = (int)strlen(fmt_size(s, jnum(g, "retained_bytes", NAN)));
        wc = x > wc ? x : wc;
        ws = y > ws ? y : ws;
    }
    msc_buf line = MSC_BUF_INIT;
    int rc = CLI_OK;
    cJSON_ArrayForEach(g, paths) {
        msc_buf_clear(&line);
        if (put_path(&line, g) < 0) {
            cli_error("out of memory");
            rc = CLI_FAIL;
            break;
        }
        printf("  %*s objects, %*s retained: %s\n", wc, fmt_count(a, jnum(g, "count", NAN)), ws,
               fmt_size(s, jnum(g, "retained_bytes", NAN)), msc_buf_bytes(&line));
    }
    msc_buf_free(&line);
    return rc;
}

int cmd_why(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {
        {"limit", required_argument, NULL, 'n'}, {"snapshot", required_argument, NULL, 's'}, {NULL, 0, NULL, 0},
    };
    heap_opts h = {.verb = "why", .n = 10};
    int rc = cli_parse_opts(c, argc, argv,
                            &(cli_opts){.help = why_usage, .extra = extra, .shortopts = ":hn:s:", .on_opt = on_opt,
                                        .check = check_numbers, .arg = &h, .args = true});
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage_error("why", "missing APP");
    if (optind + 1 >= argc)
        return cli_usage_error("why", "missing TYPE (a type name, as `memscope stats APP` lists them)");
    if (optind + 2 < argc)
        return cli_usage_error("why", "unexpected argument '%s'", argv[optind + 2]);
    const char *type = argv[optind + 1];
    if (!type[0])
        return cli_usage_error("why", "TYPE is empty");
    long sid;
    cli_app app;
    if (cli_resolve(c, argv[optind], &app) != CLI_OK)
        return CLI_FAIL;
    cli_reply taken, r;
    if ((rc = snapshot_id(c, &app, &h, &sid, &taken)) != CLI_OK)
        return rc;
    if (taken.json && !c->json)
        print_snapshot_line(&app, taken.json);
    cli_reply_free(&taken);
    msc_buf q = MSC_BUF_INIT;
    if (query_escape(&q, type) < 0) {
        msc_buf_free(&q);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/heapsnapshots/%ld/retainers?type=%s&limit=%ld", app.id,
                   sid, msc_buf_bytes(&q), h.n);
    msc_buf_free(&q);
    if (rc >= 0)
        return rc;
    rc = print_retainers(r.json, type);
    cli_reply_free(&r);
    return rc;
}

/* APP-SID.heapsnapshot, the app's name reduced to characters that are safe in a file name. */
static void fallback_name(char *buf, size_t n, const cli_app *app, long sid)
{
    char name[sizeof(app->name)];
    size_t k = 0;
    for (const char *p = app->name; *p && k + 1 < sizeof(name); p++) {
        bool safe = isalnum((unsigned char)*p) || *p == '-' || *p == '_' || (*p == '.' && k > 0);
        name[k++] = safe ? *p : '_';
    }
    name[k] = '\0';
    snprintf(buf, n, "%s-%ld.heapsnapshot", k ? name : "app", sid);
}

/* The list of GET .../heapsnapshots, newest last, as a table. */
static int print_heapsnapshots(const cli_app *app, const cJSON *list)
{
    if (cJSON_GetArraySize(list) == 0) {
        printf("no heap snapshots stored for %s (take one with: memscope heapsnapshot %s)\n", app->name, app->name);
        return CLI_OK;
    }
    table *t = table_new("rlrrrrr", "ID", "TAKEN", "PID", "OBJECTS", "EDGES", "SIZE", "PAUSE", (char *)NULL);
    char a[CLI_FMT_MAX];
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        table_row(t);
        table_cell(t, "%s", fmt_count(a, jnum(e, "id", NAN)));
        table_cell(t, "%s", fmt_datetime(a, jnum(e, "time", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "pid", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "objects", NAN)));
        table_cell(t, "%s", fmt_count(a, jnum(e, "edges", NAN)));
        table_cell(t, "%s", fmt_size(a, jnum(e, "bytes", NAN)));
        table_cell(t, "%s", fmt_duration(a, jnum(e, "pause_ms", NAN) * 1e6));
    }
    return table_end(t, stdout, 0);
}

int cmd_heapsnapshot(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {
        {"output", required_argument, NULL, 'o'}, {"snapshot", required_argument, NULL, 's'},
        {"list", no_argument, NULL, 'l'},         {NULL, 0, NULL, 0},
    };
    heap_opts h = {.verb = "heapsnapshot"};
    cli_app app;
    int rc = cli_parse_app(c, argc, argv,
                           &(cli_opts){.help = snap_usage, .extra = extra, .shortopts = ":ho:s:l", .on_opt = on_opt,
                                       .check = check_numbers, .arg = &h},
                           &app);
    if (rc >= 0)
        return rc;
    if (h.list) {
        cli_reply r;
        if ((rc = cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld/heapsnapshots", app.id)) >= 0)
            return rc; /* an error, or --json: printed */
        rc = print_heapsnapshots(&app, jget(r.json, "snapshots"));
        cli_reply_free(&r);
        return rc;
    }
    long sid;
    cli_reply taken;
    if ((rc = snapshot_id(c, &app, &h, &sid, &taken)) != CLI_OK)
        return rc;
    bool to_stdout = h.output && strcmp(h.output, "-") == 0;
    if (taken.json && !c->json && !to_stdout)
        print_snapshot_line(&app, taken.json);
    char fallback[sizeof(app.name) + 48];
    fallback_name(fallback, sizeof(fallback), &app, sid);
    cli_download d = {.file = h.output, .fallback = fallback};
    rc = cli_download_to(c, &d, "/api/v1/apps/%lld/heapsnapshots/%ld", app.id, sid);
    if (rc == CLI_OK && !to_stdout) {
        char b[CLI_FMT_MAX];
        if (c->json) {
            cJSON *doc = taken.json ? cJSON_Duplicate(taken.json, true) : cJSON_CreateObject();
            if (doc && !taken.json)
                cJSON_AddNumberToObject(doc, "id", (double)sid);
            char *text = NULL;
            if (!doc || !cJSON_AddStringToObject(doc, "file", d.saved) ||
                !cJSON_AddNumberToObject(doc, "file_bytes", (double)d.bytes) || !(text = cJSON_PrintUnformatted(doc))) {
                cli_error("out of memory");
                rc = CLI_FAIL;
            } else {
                printf("%s\n", text);
            }
            free(text);
            cJSON_Delete(doc);
        } else {
            printf("saved %s (%s): load it in Chrome DevTools (Memory tab, Load) or memlab\n", d.saved,
                   fmt_size(b, (double)d.bytes));
        }
    }
    cli_reply_free(&taken);
    return rc;
}

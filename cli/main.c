/*
 * cli/main.c — `memscope`, the command-line client of memscoped's JSON API. Read this file first.
 *
 *   memscope [GLOBAL OPTIONS] VERB [ARGS] [OPTIONS]
 *
 * Global options may come before the verb or anywhere after it (each verb's getopt table includes them), so
 * `memscope stats docstore --json` and `memscope --json stats docstore` are the same. Verbs live in cmd_*.c and
 * watch.c; each returns the process's exit code: CLI_OK (0), CLI_FAIL (1: the daemon said no, or could not be
 * reached), CLI_USAGE (2: the command line is wrong). Errors are one line on stderr, "memscope: ...".
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

static const struct verb {
    const char *name;
    cli_verb_fn fn;
    const char *summary;
} verbs[] = {
    {"ls", cmd_ls, "list the apps memscoped knows (connected and recently gone)"},
    {"stats", cmd_stats, "an app's latest heap, object, type, pool and GC statistics"},
    {"gc", cmd_gc, "run a collection in the app and show what it freed, by type"},
    {"trace", cmd_trace, "allocation tracing: start, stop, top, snapshot, snapshots, diff"},
    {"watch", cmd_watch, "a live view of an app, refreshed like top (q or Ctrl-C quits)"},
    {"why", cmd_why, "what keeps a type's objects alive: their retainer paths in a heap snapshot"},
    {"heapsnapshot", cmd_heapsnapshot, "take a heap snapshot and download it (.heapsnapshot, for DevTools)"},
    {"pools", cmd_pools, "pool pinning: who keeps mostly empty pools and arenas mapped (sites, classes, types)"},
    {"growth", cmd_growth, "leak suspects: types whose live count rose steadily"},
    {"history", cmd_history, "the app's recent time series: heap, objects, collections, pauses"},
    {"version", cmd_version, "the client's and the daemon's versions"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: memscope [OPTIONS] VERB [ARGS]\n"
            "Inspect and control apps linked with libmemscope, through the memscoped daemon's HTTP API.\n"
            "\n"
            "Verbs:\n");
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        fprintf(out, "  %-12s  %s\n", verbs[i].name, verbs[i].summary);
    fprintf(out,
            "\n"
            "APP is an app id, a pid or a name (as `memscope ls` shows them).\n"
            "\n"
            "Options (before or after the verb):\n"
            "  --url URL          memscoped's address (default $MEMSCOPE_URL, else " CLI_DEFAULT_URL ");\n"
            "                     the dashboard URL with ?token= is accepted and its token used\n"
            "  --token-file FILE  the API token for actions (default $MEMSCOPE_TOKEN as the token itself, else\n"
            "                     the file beside the daemon's socket: $XDG_RUNTIME_DIR/memscope/memscoped.token,\n"
            "                     /run/memscope/memscoped.token for root, or beside $MEMSCOPE_SOCKET when set)\n"
            "  --json             print the daemon's JSON documents instead of tables\n"
            "  --timeout SECONDS  give up on a request after this long (default 30)\n"
            "  -h, --help         this help; `memscope VERB --help` for a verb's\n"
            "  --version          print the version\n"
            "\n"
            "Exit status: 0 ok, 1 error from the daemon (or daemon unreachable, unknown app), 2 usage error.\n"
            "See memscope(1).\n");
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("memscope: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("memscope: ", stderr);
    vfprintf(stderr, fmt, ap);
    if (verb)
        fprintf(stderr, " (see memscope %s --help)\n", verb);
    else
        fputs(" (see memscope --help)\n", stderr);
    va_end(ap);
    return CLI_USAGE;
}

/* s as a whole decimal number a long holds. */
static bool whole(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

int cli_parse_long(const char *verb, const char *what, const char *s, long lo, long hi, long *out)
{
    long v;
    if (!whole(s, &v) || v < lo || v > hi) {
        cli_usage_error(verb, "%s: \"%s\" is not a whole number from %ld to %ld", what, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_integer(const char *verb, const char *what, const char *s, long *out)
{
    if (!whole(s, out)) {
        cli_usage_error(verb, "%s: \"%s\" is not a whole number", what, s);
        return -1;
    }
    return 0;
}

int cli_parse_seconds(const char *verb, const char *what, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        cli_usage_error(verb, "%s: \"%s\" is not a number of seconds from %g to %g", what, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int set_url(cli_ctx *c, const char *v)
{
    if (!v[0]) {
        cli_usage_error(NULL, "--url needs a non-empty value");
        return -1;
    }
    char *u = strdup(v);
    if (!u) {
        cli_error("out of memory");
        return -1;
    }
    free(c->url);
    c->url = u;
    if (cli_take_url_token(c) < 0) {
        cli_error("out of memory");
        return -1;
    }
    return 0;
}

int cli_global_option(cli_ctx *c, const char *verb, int opt, char **argv)
{
    switch (opt) {
    case 0x1001:
        return set_url(c, optarg) < 0 ? -1 : 1;
    case 0x1002:
        if (!optarg[0]) {
            cli_usage_error(verb, "--token-file needs a file name");
            return -1;
        }
        c->token_file = optarg;
        return 1;
    case 0x1003:
        c->json = true;
        return 1;
    case 0x1004:
        return cli_parse_seconds(verb, "--timeout", optarg, 0.001, 86400, &c->timeout_s) < 0 ? -1 : 1;
    case ':':
        cli_usage_error(verb, "option %s needs a value", argv[optind - 1]);
        return -1;
    default: {
        /* opterr is off so that this one line is the only message. A long option is the argument just consumed
         * (optopt is then 0, or the option's val when it was given a value it does not take); a short one is
         * named by optopt (it may sit inside a group like -xg). */
        const char *arg = argv[optind - 1];
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) == 0 && eq && optopt)
            cli_usage_error(verb, "option %.*s takes no value", (int)(eq - arg), arg);
        else if (strncmp(arg, "--", 2) == 0)
            cli_usage_error(verb, "unknown option %s", arg);
        else if (optopt > 0 && optopt < 128)
            cli_usage_error(verb, "unknown option -%c", optopt);
        else
            cli_usage_error(verb, "unknown option %s", arg);
        return -1;
    }
    }
}

int cli_parse_opts(cli_ctx *c, int argc, char **argv, const cli_opts *o)
{
    struct option opts[24] = {{"help", no_argument, NULL, 'h'}, CLI_GLOBAL_OPTIONS};
    size_t n = 5;
    for (const struct option *x = o->extra; x && x->name && n + 1 < sizeof(opts) / sizeof(opts[0]); x++)
        opts[n++] = *x;
    opts[n] = (struct option){0};
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, o->shortopts, opts, NULL)) != -1) {
        if (opt == 'h') {
            o->help(stdout);
            return CLI_OK;
        }
        int g = o->on_opt && opt != '?' && opt != ':' ? o->on_opt(c, opt, o->arg) : 0;
        if (g < 0)
            return CLI_USAGE;
        if (g == 0 && cli_global_option(c, argv[0], opt, argv) <= 0)
            return CLI_USAGE;
    }
    if (!o->args && optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    return o->check ? o->check(o->arg) : -1;
}

int cli_parse_app(cli_ctx *c, int argc, char **argv, const cli_opts *o, cli_app *app)
{
    cli_opts one = *o;
    one.args = true;
    int rc = cli_parse_opts(c, argc, argv, &one);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage_error(argv[0], "missing APP");
    if (optind + 1 < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind + 1]);
    return cli_resolve(c, argv[optind], app) == CLI_OK ? -1 : CLI_FAIL;
}

static const struct verb *find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

/* Global options before the verb. Returns -1 to continue with argv[optind] as the verb, or an exit code. */
static int parse_leading(cli_ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, CLI_GLOBAL_OPTIONS, {NULL, 0, NULL, 0},
    };
    int o;
    opterr = 0;
    /* "+": stop at the verb, whose own options are its business. */
    while ((o = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        if (o == 'h') {
            usage(stdout);
            return CLI_OK;
        }
        if (o == 'V') {
            printf("memscope %s\n", CLI_VERSION);
            return CLI_OK;
        }
        if (cli_global_option(c, NULL, o, argv) <= 0)
            return CLI_USAGE;
    }
    return -1;
}

static int init_from_env(cli_ctx *c)
{
    const char *u = getenv("MEMSCOPE_URL");
    c->url = strdup(u && u[0] ? u : CLI_DEFAULT_URL);
    if (!c->url || cli_take_url_token(c) < 0)
        return -1;
    const char *t = getenv("MEMSCOPE_TOKEN");
    if (t && t[0] && !c->token && !(c->token = strdup(t)))
        return -1;
    c->timeout_s = 30;
    return 0;
}

int main(int argc, char **argv)
{
    cli_ctx c = {0};
    int rc;
    if (init_from_env(&c) < 0) {
        cli_error("out of memory");
        rc = CLI_FAIL;
        goto out;
    }
    if ((rc = parse_leading(&c, argc, argv)) >= 0)
        goto out;
    if (optind >= argc) {
        usage(stderr);
        rc = CLI_USAGE;
        goto out;
    }
    const char *name = argv[optind];
    /* `memscope help VERB` is `memscope VERB --help`. */
    if (strcmp(name, "help") == 0) {
        const struct verb *v = optind + 1 < argc ? find_verb(argv[optind + 1]) : NULL;
        if (optind + 1 < argc && !v) {
            rc = cli_usage_error(NULL, "unknown verb '%s'", argv[optind + 1]);
            goto out;
        }
        if (!v) {
            usage(stdout);
            rc = CLI_OK;
            goto out;
        }
        char *hargv[] = {argv[optind + 1], (char *)"--help", NULL};
        optind = 0;
        rc = v->fn(&c, 2, hargv);
        goto out;
    }
    const struct verb *v = find_verb(name);
    if (!v) {
        rc = cli_usage_error(NULL, "unknown verb '%s'", name);
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cli_error("cannot initialize libcurl");
        rc = CLI_FAIL;
        goto out;
    }
    int vargc = argc - optind;
    char **vargv = argv + optind;
    optind = 0; /* 0, not 1: fully reinitializes GNU getopt (its permutation state) for the verb's parse */
    rc = v->fn(&c, vargc, vargv);
    cli_http_close(&c);
    curl_global_cleanup();
out:
    free(c.url);
    free(c.token);
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_OK) {
        /* A closed pipe or a full disk must not look like success to a script. */
        cli_error("cannot write the output: %s", strerror(errno));
        rc = CLI_FAIL;
    }
    return rc;
}

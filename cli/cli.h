/*
 * cli/cli.h — what the files of the `memscope` command-line client share. Read main.c first.
 *
 *   main.c     global options, verb dispatch, exit codes, usage texts
 *   http.c     the connection to memscoped (libcurl): requests, token, error lines
 *   resolve.c  APP (an id, a pid or a name) -> app id, through GET /api/v1/apps
 *   json.c     reading members of the daemon's documents without a NULL check at every step
 *   format.c   units (KiB/MiB, ns/us/ms) and aligned tables
 *   cmd_*.c    one file per verb family (cmd_stats.c: ls, stats, growth, version; cmd_gc.c; cmd_trace.c;
 *              cmd_heap.c: why, heapsnapshot; cmd_pools.c: pools)
 *   cmd_history.c  the time series;  watch.c  the refreshing view
 *
 * Exit codes are the contract with scripts: 0 ok, 1 the daemon (or the way to it) failed, 2 usage. Every error is
 * one line on stderr starting with "memscope: ". Only the client's own files include this header.
 */
#ifndef MEMSCOPE_CLI_H
#define MEMSCOPE_CLI_H

#ifndef MEMSCOPE_CLI_BUILD
#error "cli/cli.h is private to the memscope command-line client"
#endif

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "buf.h"

#define CLI_OK 0
#define CLI_FAIL 1  /* the daemon answered with an error, or could not be reached */
#define CLI_USAGE 2 /* bad flags or arguments */

#define CLI_DEFAULT_URL "http://127.0.0.1:7070"

typedef struct cli_http cli_http; /* opaque: http.c */

/* An app as GET /api/v1/apps lists it (resolve.c). */
typedef struct cli_app {
    long long id, pid;
    char name[256];
    bool connected;
} cli_app;

/* The global options and the connection, shared by every verb. */
typedef struct cli_ctx {
    char *url;              /* base URL without a trailing slash or query ("http://127.0.0.1:7070") */
    const char *token_file; /* --token-file, or NULL: MEMSCOPE_TOKEN, else cli_default_token_file() */
    char *token;            /* loaded on first POST (or taken from the URL's ?token=) */
    bool json;              /* --json: print the daemon's documents, not tables */
    double timeout_s;       /* whole-request limit */
    cli_http *http;
    char subject[320]; /* "app 'docstore' (id 1, pid 42)" once resolved: prefixes daemon errors */
} cli_ctx;

/* A verb: argv[0] is the verb's name; options may appear anywhere among its arguments (GNU getopt order). */
typedef int (*cli_verb_fn)(cli_ctx *c, int argc, char **argv);

/* ---- main.c ---- */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "memscope: MSG (see memscope VERB --help)" and returns CLI_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Handles an option shared by every verb (--url, --token-file, --json, --timeout) just returned by getopt_long()
 * (it reads optarg, optind, optopt), and getopt's '?' and ':': 1 when it took the option, -1 after a usage error
 * was printed. cli_parse_opts() calls it for what the verb's own handler does not take. */
int cli_global_option(cli_ctx *c, const char *verb, int opt, char **argv);
/* The getopt_long entries of the shared options, terminated like every option table; verbs copy them in. */
#define CLI_GLOBAL_OPTIONS                                                                                           \
    {"url", required_argument, NULL, 0x1001}, {"token-file", required_argument, NULL, 0x1002},                   \
        {"json", no_argument, NULL, 0x1003}, {"timeout", required_argument, NULL, 0x1004}
/* How a verb reads its command line: argv[0] is its name; its options may come anywhere among its arguments. */
typedef struct cli_opts {
    void (*help)(FILE *);             /* prints the verb's usage (on stdout for --help) */
    const struct option *extra;       /* the verb's own options, up to 16, {0}-terminated; NULL for none */
    const char *shortopts;            /* should start with ":" (a missing value is reported, not guessed) */
    int (*on_opt)(cli_ctx *c, int opt, void *arg); /* 1 took the option, 0 not its own, -1 after a usage error */
    int (*check)(void *arg);          /* after the options (NULL: none): -1 to go on, else the exit code */
    void *arg;                        /* for on_opt and check */
    bool args;                        /* takes positional arguments (else any is a usage error) */
} cli_opts;
/* The option loop of a verb: --help, the global options, the verb's own, then its check. Returns -1 when the verb
 * should go on with argv[optind..] as its positional arguments, else the exit code (errors printed). */
int cli_parse_opts(cli_ctx *c, int argc, char **argv, const cli_opts *o);
/* cli_parse_opts for a verb of exactly one positional argument, APP, then resolved (cli_resolve) into *app.
 * Returns -1 when the verb should go on, else the exit code (errors printed). */
int cli_parse_app(cli_ctx *c, int argc, char **argv, const cli_opts *o, cli_app *app);
/* Parses a whole decimal number in [lo, hi] (the option's name is for the message); -1 after a usage error. */
int cli_parse_long(const char *verb, const char *what, const char *s, long lo, long hi, long *out);
/* Parses a whole decimal number of any size a long holds: for values whose range the daemon judges (it answers a
 * 400 naming the range), so that the client never disagrees with it. -1 after a usage error. */
int cli_parse_integer(const char *verb, const char *what, const char *s, long *out);
int cli_parse_seconds(const char *verb, const char *what, const char *s, double lo, double hi, double *out);

/* ---- http.c ---- */
typedef struct cli_reply {
    long status;  /* HTTP status */
    msc_buf body; /* the bytes as received */
    cJSON *json;  /* body parsed (NULL when it is not JSON) */
} cli_reply;

/* Performs METHOD URL+path, the path formatted from path_fmt (body may be NULL); POSTs carry the token. On a 2xx
 * JSON answer: with --json prints it (cli_print_json) and returns CLI_OK; else returns -1 and the verb goes on to
 * print *r itself (then frees it with cli_reply_free). Otherwise prints the one error line (unreachable daemon,
 * HTTP error with the daemon's message, not JSON) and returns CLI_FAIL with *r empty. */
int cli_fetch(cli_ctx *c, const char *method, const char *body, cli_reply *r, const char *path_fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* GET /api/v1/apps for resolving APP and for watch, never printed: 0 with *r filled, or CLI_FAIL as above. */
int cli_get_apps(cli_ctx *c, cli_reply *r);
void cli_reply_free(cli_reply *r);
/* A download (GET of a file the daemon serves as an attachment, e.g. a .heapsnapshot), streamed to disk: never
 * held in memory whole, and never left half-written (it goes to FILE.tmp, renamed when complete). */
typedef struct cli_download {
    const char *file;     /* -o: the file to write ("-": stdout); NULL: the name the daemon suggests */
    const char *fallback; /* the name when file is NULL and the daemon suggests none (or an unsafe one) */
    char saved[4096];     /* out: the file written ("-" for stdout) */
    unsigned long long bytes; /* out: bytes written */
} cli_download;
/* GETs URL+path (formatted from path_fmt) into d's file. The suggested name is taken from Content-Disposition's
 * filename, reduced to its last path component; a name starting with '.' or empty falls back. CLI_OK, or
 * CLI_FAIL with the one error line printed (unreachable daemon, the daemon's JSON error, a file that cannot be
 * written: then nothing is left behind). */
int cli_download_to(cli_ctx *c, cli_download *d, const char *path_fmt, ...) __attribute__((format(printf, 3, 4)));
/* The --json output: prints the reply's body on stdout (the daemon's document unchanged) and a newline, frees the
 * reply. Returns CLI_OK. */
int cli_print_json(cli_reply *r);
void cli_http_close(cli_ctx *c);
/* The token file used when none is given: beside $MEMSCOPE_SOCKET if set, else beside the daemon's default
 * socket ($XDG_RUNTIME_DIR/memscope/memscoped.token; /run/memscope/memscoped.token for root). NULL when
 * unknown or out of memory. Caller frees. */
char *cli_default_token_file(void);
/* Splits "?token=..." off c->url into c->token (the daemon prints its URL that way). 0, or -1 out of memory. */
int cli_take_url_token(cli_ctx *c);

/* ---- resolve.c ---- */
/* Resolves APP (id, pid or name) through GET /api/v1/apps; sets c->subject. CLI_FAIL with the error printed
 * (not found; ambiguous, with the candidates). */
int cli_resolve(cli_ctx *c, const char *spec, cli_app *out);
bool cli_is_number(const char *s); /* all decimal digits, at least one */

/* ---- json.c ---- */
const cJSON *jget(const cJSON *o, const char *key);
double jnum(const cJSON *o, const char *key, double def); /* def when absent or not a number */
const char *jstr(const cJSON *o, const char *key, const char *def);
bool jbool(const cJSON *o, const char *key, bool def);
/* The items of array arr (NULL: none), largest number `key` first (absent counts as 0), in a new array of *n
 * items (free it). NULL when out of memory. O(n log n). */
const cJSON **jsorted_desc(const cJSON *arr, const char *key, size_t *n);

/* ---- format.c ---- */
#define CLI_FMT_MAX 48
/* Each writes into buf (CLI_FMT_MAX bytes) and returns it. NaN prints as "-". */
char *fmt_size(char *buf, double bytes);     /* "512 B", "1.5 KiB", "23.4 MiB", "120 MiB" */
char *fmt_size_delta(char *buf, double bytes); /* "+1.5 KiB", "-512 B" */
char *fmt_duration(char *buf, double ns);    /* "850 ns", "12.3 us", "9.96 ms", "1.23 s" */
char *fmt_count(char *buf, double n);        /* "32838" (whole numbers) */
char *fmt_delta(char *buf, double n);        /* "+12", "-3", "0" */
char *fmt_rate(char *buf, double per_s);     /* "12.5/s", "1.2k/s" */
char *fmt_age(char *buf, double seconds);    /* "4s", "12m03s", "3h05m", "2d04h" */
char *fmt_clock(char *buf, double unix_s);   /* local "HH:MM:SS" */
char *fmt_datetime(char *buf, double unix_s); /* local "YYYY-MM-DD HH:MM:SS" */

/* Aligned columns. Errors are sticky and reported once, when the table ends; every function accepts the NULL that
 * table_new returns when out of memory, so a view fills a table without checking each step. */
typedef struct table table;
/* align: one char per column, 'l' or 'r'; then the column headers, ended by (char *)NULL. */
table *table_new(const char *align, ...) __attribute__((sentinel));
void table_row(table *t); /* starts a row */
void table_cell(table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the table with `indent` spaces before each line and frees it. CLI_OK, or CLI_FAIL (and an error line)
 * when a step ran out of memory; stdout's own errors are caught once, at exit (main.c). */
int table_end(table *t, FILE *out, int indent);
/* The same lines appended to *out instead (for views that post-process them), then frees the table. */
int table_end_buf(table *t, msc_buf *out, int indent);

/* ---- verbs ---- */
int cmd_ls(cli_ctx *c, int argc, char **argv);
int cmd_stats(cli_ctx *c, int argc, char **argv);
int cmd_growth(cli_ctx *c, int argc, char **argv);
int cmd_history(cli_ctx *c, int argc, char **argv);
int cmd_gc(cli_ctx *c, int argc, char **argv);
int cmd_trace(cli_ctx *c, int argc, char **argv);
int cmd_watch(cli_ctx *c, int argc, char **argv);
int cmd_version(cli_ctx *c, int argc, char **argv);
int cmd_why(cli_ctx *c, int argc, char **argv);
int cmd_heapsnapshot(cli_ctx *c, int argc, char **argv);
int cmd_pools(cli_ctx *c, int argc, char **argv);

#endif

/*
 * cli/watch.c — `memscope watch APP`: a live view of one app, redrawn in place like top(1). Entry: cmd_watch().
 *
 * Each frame is two GETs (the app list, for connected/gone, and the latest stats). Rates and deltas compare the
 * two latest *distinct* samples the app sent (by their daemon timestamp), so polling faster than the app's
 * interval shows the same numbers rather than zeros.
 *
 * Terminal: when stdout is a terminal the frame is redrawn from the top-left corner, each line cleared to its end
 * (no full clear, so no flicker); when stdin is a terminal too it is switched to non-canonical, no-echo input so
 * that a single 'q' quits, and restored on every way out. SIGINT/SIGTERM only set a flag: the wait (poll) is
 * interrupted and the loop ends through the same cleanup. Not a terminal (a pipe, the tests): frames are printed
 * one after the other; --json prints each stats document on its own line (NDJSON).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: memscope watch APP [--interval SECONDS] [--iterations N] [-n TYPES] [--json]\n"
                 "A live view of an app: heap, allocation rates, objects, GC, and the types using the most memory\n"
                 "with their change since the previous sample. Press q (or Ctrl-C) to quit.\n"
                 "\n"
                 "  -d, --interval SECONDS  time between refreshes (default 1)\n"
                 "  --iterations N          stop after N refreshes (default: until q or Ctrl-C)\n"
                 "  -n, --top N             rows of the types table (default: what fits the terminal, else 10)\n"
                 "  --json                  print each stats document on one line (NDJSON) instead\n");
}

typedef struct watch_opts {
    double interval;
    long iterations, top;
} watch_opts;

static int on_opt(cli_ctx *c, int o, void *arg)
{
    watch_opts *w = arg;
    switch (o) {
    case 'd': return cli_parse_seconds("watch", "--interval", optarg, 0.05, 3600, &w->interval) < 0 ? -1 : 1;
    case 'I': return cli_parse_long("watch", "--iterations", optarg, 0, 100000000, &w->iterations) < 0 ? -1 : 1;
    case 'n': return cli_parse_long("watch", "-n", optarg, 0, 100000, &w->top) < 0 ? -1 : 1;
    default: return 0;
    }
}

/* ---- The view ------------------------------------------------------------------------------------------------ */

typedef struct view {
    cJSON *cur, *base; /* latest sample, and the distinct one before it (may be NULL) */
    bool tty;
    int rows; /* terminal rows, 0 = unknown */
} view;

static double d_per_s(const view *v, const char *sect, const char *key)
{
    if (!v->base)
        return NAN;
    double dt = jnum(v->cur, "time", NAN) - jnum(v->base, "time", NAN);
    double d = jnum(jget(v->cur, sect), key, NAN) - jnum(jget(v->base, sect), key, NAN);
    return dt > 0 ? d / dt : NAN;
}

static const cJSON *find_type(const cJSON *doc, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, jget(doc, "types")) if (strcmp(jstr(e, "name", ""), name) == 0) return e;
    return NULL;
}

/* The lines of a frame go through here: on a terminal each is cleared to its end, as it overwrites the last. */
static void line(const view *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(const view *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputs(v->tty ? "\033[K\n" : "\n", stdout);
}

static int draw(const view *v, const cli_app *app, bool connected, double interval, long top)
{
    const cJSON *doc = v->cur, *heap = jget(doc, "heap"), *rc = jget(doc, "refcount"), *gc = jget(doc, "gc");
    char a[CLI_FMT_MAX], b[CLI_FMT_MAX], x[CLI_FMT_MAX], y[CLI_FMT_MAX], z[CLI_FMT_MAX];
    if (v->tty)
        fputs("\033[H", stdout);
    double now = (double)time(NULL);
    line(v, "memscope watch  %s (id %lld, pid %lld)  %s  %s  every %gs%s", app->name, app->id, app->pid,
         connected ? "connected" : "DISCONNECTED", fmt_clock(a, now), interval, v->tty ? "  (q quits)" : "");
    double pool = jnum(heap, "pool_bytes_in_use", NAN), sys = jnum(heap, "system_bytes_in_use", NAN);
    line(v, "heap     %s in use (pools %s, system %s), %s arenas mapped (%s)", fmt_size(a, pool + sys),
         fmt_size(b, pool), fmt_size(x, sys), fmt_count(y, jnum(heap, "arenas_mapped", NAN)),
         fmt_size(z, jnum(heap, "arena_bytes_mapped", NAN)));
    line(v, "calls    %s allocations, %s frees", fmt_rate(a, d_per_s(v, "heap", "allocs_total")),
         fmt_rate(b, d_per_s(v, "heap", "frees_total")));
    double alive = jnum(rc, "objects_alive", NAN);
    line(v, "objects  %s alive (%s), %s created, %s destroyed", fmt_count(a, alive),
         fmt_delta(b, v->base ? alive - jnum(jget(v->base, "refcount"), "objects_alive", NAN) : NAN),
         fmt_rate(x, d_per_s(v, "refcount", "objects_created")),
         fmt_rate(y, d_per_s(v, "refcount", "objects_destroyed")));
    char gens[3 * (CLI_FMT_MAX + 1)] = "";
    const cJSON *g;
    int i = 0;
    cJSON_ArrayForEach(g, jget(gc, "generations")) {
        if (i < 3) {
            strcat(gens, i ? "/" : "");
            strcat(gens, fmt_count(a, jnum(g, "collections", NAN)));
        }
        i++;
    }
    line(v, "gc       %s, collections %s, pauses %s total, %s max, garbage %s",
         jbool(gc, "enabled", false) ? "enabled" : "disabled", gens[0] ? gens : "-",
         fmt_duration(a, jnum(gc, "pause_total_ns", NAN)), fmt_duration(b, jnum(gc, "pause_max_ns", NAN)),
         fmt_count(x, jnum(gc, "garbage", NAN)));
    const cJSON *tr = jget(doc, "trace");
    if (jbool(tr, "tracing", false))
        line(v, "trace    on, %s traced (peak %s)", fmt_size(a, jnum(tr, "current", NAN)),
             fmt_size(b, jnum(tr, "peak", NAN)));
    else
        line(v, "trace    off");
    line(v, "%s", "");

    size_t n;
    const cJSON **sorted = jsorted_desc(jget(doc, "types"), "bytes", &n);
    if (!sorted) {
        cli_error("out of memory");
        return -1;
    }
    table *t = table_new("lrrrr", "TYPE", "ALIVE", "DELTA", "BYTES", "CREATED", (char *)NULL);
    /* Rows: -n, else what the terminal has left below the 7 header lines and the table's own header. */
    size_t rows = top > 0 ? (size_t)top : v->rows > 9 ? (size_t)(v->rows - 9) : 10;
    for (size_t k = 0; k < n && k < rows; k++) {
        const cJSON *old = v->base ? find_type(v->base, jstr(sorted[k], "name", "")) : NULL;
        double al = jnum(sorted[k], "alive", NAN);
        double dt = v->base ? jnum(doc, "time", NAN) - jnum(v->base, "time", NAN) : NAN;
        double created = jnum(sorted[k], "created", NAN) - jnum(old, "created", v->base ? 0 : NAN);
        table_row(t);
        table_cell(t, "%s", jstr(sorted[k], "name", "?"));
        table_cell(t, "%s", fmt_count(a, al));
        table_cell(t, "%s", fmt_delta(a, v->base ? al - jnum(old, "alive", 0) : NAN));
        table_cell(t, "%s", fmt_size(a, jnum(sorted[k], "bytes", NAN)));
        table_cell(t, "%s", fmt_rate(a, dt > 0 ? created / dt : NAN));
    }
    free(sorted);
    /* On a terminal each line must clear what the previous frame left: the table goes into memory first, then
     * out line by line through line(). */
    msc_buf mem = MSC_BUF_INIT;
    if (table_end_buf(t, &mem, 0) != CLI_OK) {
        msc_buf_free(&mem);
        return -1;
    }
    for (const char *s = msc_buf_bytes(&mem), *end = s + mem.len, *nl; s < end; s = nl + 1) {
        nl = memchr(s, '\n', (size_t)(end - s));
        line(v, "%.*s", (int)(nl - s), s);
    }
    msc_buf_free(&mem);
    if (v->tty)
        fputs("\033[J", stdout); /* whatever the previous, longer frame left below */
    else
        putchar('\n');
    fflush(stdout);
    return 0;
}

/* ---- The loop ------------------------------------------------------------------------------------------------ */

/* Connected state of app id from the app list: 1 connected, 0 gone but known, -1 unknown (error printed). */
static int app_state(cli_ctx *c, const cli_app *app)
{
    cli_reply r;
    if (cli_get_apps(c, &r) != CLI_OK)
        return -1;
    const cJSON *e;
    int st = -2;
    cJSON_ArrayForEach(e, jget(r.json, "apps")) if (jnum(e, "id", -1) == (double)app->id) st =
        jbool(e, "connected", false);
    cli_reply_free(&r);
    if (st == -2) {
        cli_error("%s is gone: memscoped no longer knows it", c->subject);
        return -1;
    }
    return st;
}

/* Waits up to ms; returns true when the user asked to quit (q, Ctrl-C, SIGTERM). */
static bool wait_or_quit(bool keys, int ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (stop_requested)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = ms - (long)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(keys ? &pfd : NULL, keys ? 1 : 0, (int)left);
        if (r < 0 && errno != EINTR)
            return false;
        if (r > 0) {
            char ch[16];
            ssize_t got = read(STDIN_FILENO, ch, sizeof(ch));
            if (got <= 0)
                keys = false; /* stdin closed: keep going on the timer alone */
            for (ssize_t i = 0; i < got; i++)
                if (ch[i] == 'q' || ch[i] == 'Q' || ch[i] == 3 /* ^C when ISIG is off elsewhere */)
                    return true;
        }
    }
}

int cmd_watch(cli_ctx *c, int argc, char **argv)
{
    static const struct option extra[] = {{"interval", required_argument, NULL, 'd'},
                                           {"iterations", required_argument, NULL, 'I'},
                                           {"top", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
    watch_opts w = {.interval = 1};
    cli_app app;
    int rc = cli_parse_app(
        c, argc, argv, &(cli_opts){.help = usage, .extra = extra, .shortopts = ":hd:n:", .on_opt = on_opt, .arg = &w},
        &app);
    if (rc >= 0)
        return rc;

    /* SA_RESTART so that a frame being written when Ctrl-C arrives is not cut short (stdio would keep the EINTR
     * as an error and the exit status would say the output failed); poll() is interrupted all the same, as
     * Linux never restarts it (signal(7)). */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    view v = {.tty = !c->json && isatty(STDOUT_FILENO)};
    bool keys = v.tty && isatty(STDIN_FILENO);
    struct termios saved;
    if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    } else {
        keys = false;
    }
    if (v.tty)
        fputs("\033[?25l\033[H\033[2J", stdout); /* hide the cursor, clear once */

    rc = CLI_OK;
    for (long i = 0; !stop_requested && (w.iterations == 0 || i < w.iterations); i++) {
        if (i > 0 && wait_or_quit(keys, (int)(w.interval * 1000)))
            break;
        int st = app_state(c, &app);
        cli_reply r;
        int got = st < 0 ? CLI_FAIL : cli_fetch(c, "GET", NULL, &r, "/api/v1/apps/%lld", app.id);
        if (got == CLI_FAIL) {
            rc = CLI_FAIL;
            break;
        }
        if (got == CLI_OK) { /* --json: printed, one document a line */
            fflush(stdout);
            continue;
        }
        /* Keep the reply's document; the new sample becomes cur when its timestamp moved on. */
        cJSON *doc = r.json;
        r.json = NULL;
        cli_reply_free(&r);
        if (!v.cur || jnum(doc, "time", 0) != jnum(v.cur, "time", 0)) {
            cJSON_Delete(v.base);
            v.base = v.cur;
            v.cur = doc;
        } else {
            cJSON_Delete(v.cur);
            v.cur = doc;
        }
        struct winsize ws;
        v.rows = v.tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_row : 0;
        if (draw(&v, &app, st == 1, w.interval, w.top) < 0) {
            rc = CLI_FAIL;
            break;
        }
    }
    cJSON_Delete(v.cur);
    cJSON_Delete(v.base);
    if (v.tty)
        fputs("\033[?25h", stdout);
    fflush(stdout);
    if (keys)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

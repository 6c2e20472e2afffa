/*
 * cli/format.c — human units and aligned tables. Sizes are binary (KiB, MiB: what allocators and `free -h`
 * use), durations pick ns/us/ms/s so that three significant digits show, and tables size each column to its
 * widest cell so that numbers line up on the right.
 *
 * The table keeps the first error (out of memory, too many cells) and reports it once, from table_end(): the
 * views then build a table without checking every cell, in the manner of stdio's ferror(). A table that could
 * not even be created is NULL, which every function accepts, so that error is reported in the same place.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define TABLE_MAX_COLS 16

/* A unit for values below `below`: the value divided by div, with prec decimals, or for prec < 0: PREC_SIG as
 * many as three significant digits need (none for whole numbers), PREC_TENTHS one decimal below 100. A scale ends
 * with below = INFINITY. */
#define PREC_SIG (-1)
#define PREC_TENTHS (-2)
typedef struct unit {
    double below, div;
    int prec;
    const char *suffix;
} unit;

static char *fmt_scaled(char *buf, double v, const unit *u)
{
    if (isnan(v)) {
        snprintf(buf, CLI_FMT_MAX, "-");
        return buf;
    }
    double a = fabs(v);
    while (a >= u->below)
        u++;
    double x = a / u->div;
    int prec = u->prec >= 0         ? u->prec
             : u->prec == PREC_TENTHS ? (x < 100 ? 1 : 0)
             : x == floor(x)          ? 0
             : x < 10                 ? 2
             : x < 100                ? 1
                                      : 0;
    snprintf(buf, CLI_FMT_MAX, "%.*f%s", prec, v / u->div, u->suffix);
    return buf;
}

/* fmt(v) with a '+' in front of positive values. */
static char *plus(char *buf, double v, char *(*fmt)(char *, double))
{
    if (isnan(v) || v <= 0)
        return fmt(buf, v);
    buf[0] = '+';
    fmt(buf + 1, v);
    return buf;
}

char *fmt_size(char *buf, double bytes)
{
    static const unit units[] = {{1024, 1, 0, " B"},
                                 {1024.0 * 1024, 1024, PREC_TENTHS, " KiB"},
                                 {1024.0 * 1024 * 1024, 1024.0 * 1024, PREC_TENTHS, " MiB"},
                                 {1024.0 * 1024 * 1024 * 1024, 1024.0 * 1024 * 1024, PREC_TENTHS, " GiB"},
                                 {INFINITY, 1024.0 * 1024 * 1024 * 1024, PREC_TENTHS, " TiB"}};
    return fmt_scaled(buf, bytes, units);
}

char *fmt_size_delta(char *buf, double bytes)
{
    return plus(buf, bytes, fmt_size);
}

char *fmt_duration(char *buf, double ns)
{
    static const unit units[] = {
        {1e3, 1, 0, " ns"}, {1e6, 1e3, 1, " us"}, {1e9, 1e6, 2, " ms"}, {INFINITY, 1e9, 2, " s"}};
    return fmt_scaled(buf, ns, units);
}

char *fmt_count(char *buf, double n)
{
    static const unit units[] = {{INFINITY, 1, 0, ""}};
    return fmt_scaled(buf, n, units);
}

char *fmt_delta(char *buf, double n)
{
    return plus(buf, n, fmt_count);
}

char *fmt_rate(char *buf, double per_s)
{
    static const unit units[] = {{1e3, 1, PREC_SIG, "/s"}, {1e6, 1e3, 1, "k/s"}, {INFINITY, 1e6, 1, "M/s"}};
    return fmt_scaled(buf, per_s, units);
}

char *fmt_age(char *buf, double s)
{
    if (isnan(s) || s < 0) {
        snprintf(buf, CLI_FMT_MAX, "-");
        return buf;
    }
    long long t = (long long)s;
    if (t < 60)
        snprintf(buf, CLI_FMT_MAX, "%llds", t);
    else if (t < 3600)
        snprintf(buf, CLI_FMT_MAX, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, CLI_FMT_MAX, "%lldh%02lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, CLI_FMT_MAX, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
    return buf;
}

/* unix_s in local time, "YYYY-MM-DD HH:MM:SS"; the time alone when clock_only. */
static char *fmt_local(char *buf, double unix_s, bool clock_only)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (isnan(unix_s) || !localtime_r(&t, &tm) || !strftime(buf, CLI_FMT_MAX, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, CLI_FMT_MAX, "-");
    else if (clock_only && strchr(buf, ' '))
        memmove(buf, strchr(buf, ' ') + 1, strlen(strchr(buf, ' ') + 1) + 1);
    return buf;
}

char *fmt_clock(char *buf, double unix_s) { return fmt_local(buf, unix_s, true); }
char *fmt_datetime(char *buf, double unix_s) { return fmt_local(buf, unix_s, false); }

/* ---- Tables ------------------------------------------------------------------------------------------------- */

struct table {
    size_t ncols;
    char align[TABLE_MAX_COLS + 1];
    char **cells; /* row-major, row 0 = headers; nrows * ncols, NULL = empty cell */
    size_t nrows, cap, cur;
    bool failed;
};

static int grow(table *t)
{
    if (t->nrows < t->cap)
        return 0;
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));
    if (!p)
        return -1;
    memset(p + t->cap * t->ncols, 0, (cap - t->cap) * t->ncols * sizeof(*p));
    t->cells = p;
    t->cap = cap;
    return 0;
}

static void table_free(table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

table *table_new(const char *align, ...)
{
    size_t n = strlen(align);
    if (n == 0 || n > TABLE_MAX_COLS)
        return NULL;
    table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = n;
    memcpy(t->align, align, n + 1);
    table_row(t);
    va_list ap;
    va_start(ap, align);
    for (const char *h; (h = va_arg(ap, const char *));)
        table_cell(t, "%s", h);
    va_end(ap);
    if (t->failed) {
        table_free(t);
        return NULL;
    }
    return t;
}

void table_row(table *t)
{
    if (!t || t->failed)
        return;
    if (grow(t) < 0) {
        t->failed = true;
        return;
    }
    t->nrows++;
    t->cur = 0;
}

void table_cell(table *t, const char *fmt, ...)
{
    if (!t || t->failed)
        return;
    if (t->cur >= t->ncols) {
        t->failed = true; /* a view's bug: more cells than columns */
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int rc = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        t->failed = true;
        return;
    }
    t->cells[(t->nrows - 1) * t->ncols + t->cur++] = s;
}

/* Display width of UTF-8 text: code points (continuation bytes do not count). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; s && *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* The lines of the table, appended to out. -1 when memory ran out (out may hold part of them). */
static int render(const table *t, msc_buf *out, int indent)
{
    size_t w[TABLE_MAX_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t x = width(t->cells[r * t->ncols + c]);
            if (x > w[c])
                w[c] = x;
        }
    /* Headers all empty: a plain list of aligned lines, without a header line. */
    bool headers = false;
    for (size_t c = 0; c < t->ncols; c++)
        headers |= t->cells[c] && t->cells[c][0];
    int rc = 0;
    for (size_t r = headers ? 0 : 1; r < t->nrows; r++) {
        rc |= msc_buf_printf(out, "%*s", indent, "");
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            int pad = (int)(w[c] - width(s));
            bool last = c + 1 == t->ncols;
            if (t->align[c] == 'r')
                rc |= msc_buf_printf(out, "%*s%s", pad, "", s ? s : "");
            else
                rc |= msc_buf_printf(out, "%s%*s", s ? s : "", last ? 0 : pad, "");
            if (!last)
                rc |= msc_buf_puts(out, "  ");
        }
        rc |= msc_buf_putc(out, '\n');
    }
    return rc ? -1 : 0;
}

int table_end_buf(table *t, msc_buf *out, int indent)
{
    int rc = t && !t->failed ? render(t, out, indent) : -1;
    table_free(t);
    if (rc < 0) {
        cli_error("out of memory formatting a table");
        return CLI_FAIL;
    }
    return CLI_OK;
}

int table_end(table *t, FILE *out, int indent)
{
    msc_buf b = MSC_BUF_INIT;
    int rc = table_end_buf(t, &b, indent);
    if (rc == CLI_OK && b.len)
        fwrite(msc_buf_bytes(&b), 1, b.len, out);
    msc_buf_free(&b);
    return rc;
}

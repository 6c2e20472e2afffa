/*
 * cli/format.c — human units and aligned tables. Sizes are binary (KiB, MiB: what allocators and `free -h`
 * use), durations pick ns/us/ms/s so that three significant digits show, and tables size each column to its
 * widest cell so that numbers line up on the right.
 *
 * The table keeps the first error (out of memory, too many cells) and reports it once, from table_print(): the
 * views then build a table without checking every cell, in the manner of stdio's ferror().
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define TABLE_MAX_COLS 16

char *fmt_size(char *buf, double bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double a = fabs(bytes);
    if (isnan(bytes)) {
        snprintf(buf, CLI_FMT_MAX, "-");
    } else if (a < 1024) {
        snprintf(buf, CLI_FMT_MAX, "%.0f B", bytes);
    } else {
        size_t u = 0;
        a /= 1024;
        while (a >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
            a /= 1024;
            u++;
        }
        snprintf(buf, CLI_FMT_MAX, "%s%.*f %s", bytes < 0 ? "-" : "", a < 100 ? 1 : 0, a, units[u]);
    }
    return buf;
}

char *fmt_size_delta(char *buf, double bytes)
{
    if (isnan(bytes) || bytes <= 0)
        return fmt_size(buf, bytes);
    buf[0] = '+';
    fmt_size(buf + 1, bytes);
    return buf;
}

char *fmt_duration(char *buf, double ns)
{
    if (isnan(ns))
        snprintf(buf, CLI_FMT_MAX, "-");
    else if (ns < 1e3)
        snprintf(buf, CLI_FMT_MAX, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, CLI_FMT_MAX, "%.1f us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, CLI_FMT_MAX, "%.2f ms", ns / 1e6);
    else
        snprintf(buf, CLI_FMT_MAX, "%.2f s", ns / 1e9);
    return buf;
}

char *fmt_count(char *buf, double n)
{
    if (isnan(n))
        snprintf(buf, CLI_FMT_MAX, "-");
    else
        snprintf(buf, CLI_FMT_MAX, "%.0f", n);
    return buf;
}

char *fmt_delta(char *buf, double n)
{
    if (isnan(n))
        snprintf(buf, CLI_FMT_MAX, "-");
    else
        snprintf(buf, CLI_FMT_MAX, n > 0 ? "+%.0f" : "%.0f", n);
    return buf;
}

char *fmt_rate(char *buf, double r)
{
    double a = fabs(r);
    if (isnan(r))
        snprintf(buf, CLI_FMT_MAX, "-");
    else if (a < 1e3)
        snprintf(buf, CLI_FMT_MAX, "%.*f/s", a < 10 && a != floor(a) ? 2 : a < 100 && a != floor(a) ? 1 : 0, r);
    else if (a < 1e6)
        snprintf(buf, CLI_FMT_MAX, "%.1fk/s", r / 1e3);
    else
        snprintf(buf, CLI_FMT_MAX, "%.1fM/s", r / 1e6);
    return buf;
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

char *fmt_clock(char *buf, double unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (isnan(unix_s) || !localtime_r(&t, &tm) || !strftime(buf, CLI_FMT_MAX, "%H:%M:%S", &tm))
        snprintf(buf, CLI_FMT_MAX, "-");
    return buf;
}

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
    if (t->failed)
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
    if (t->failed)
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

size_t table_rows(const table *t)
{
    return t->nrows ? t->nrows - 1 : 0;
}

/* Display width of UTF-8 text: code points (continuation bytes do not count). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; s && *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

int table_print(table *t, FILE *out, int indent)
{
    if (t->failed) {
        cli_error("out of memory formatting a table");
        return -1;
    }
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
    for (size_t r = headers ? 0 : 1; r < t->nrows; r++) {
        fprintf(out, "%*s", indent, "");
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t pad = w[c] - width(s);
            bool last = c + 1 == t->ncols;
            if (t->align[c] == 'r')
                fprintf(out, "%*s%s", (int)pad, "", s ? s : "");
            else
                fprintf(out, "%s%*s", s ? s : "", last ? 0 : (int)pad, "");
            if (!last)
                fputs("  ", out);
        }
        fputc('\n', out);
    }
    return 0;
}

void table_free(table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

/*
 * snapshot_stats.c — statistics of a snapshot, differences between two, and their printed form
 * (tracemalloc's Snapshot.statistics, Snapshot.compare_to, print(stat)).
 *
 * One mechanism serves all three: group() turns a snapshot into rows (key, size, count), one per distinct key,
 * sorted by key. Statistics re-sort the rows by size; compare_to merge-joins the sorted rows of both snapshots.
 * Keys compare by content (strcmp, then line, then frame by frame), never by pointer, so rows of two snapshots
 * with separate string tables join correctly. Cost: O(r log r) with r = traces (x frames when cumulative).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"

typedef struct row {
    const char *filename;
    int lineno;
    const ms_traceback *tb; /* MS_STAT_TRACEBACK only */
    uint64_t size, count;
} row;

static int cmp_str(const char *a, const char *b) { return a == b ? 0 : strcmp(a, b); }

/* Frames compare by (filename, lineno), as tracemalloc.Frame does; a shorter traceback first on a tie. */
static int cmp_tb(const ms_traceback *a, const ms_traceback *b)
{
    size_t n = a->nframes < b->nframes ? a->nframes : b->nframes;
    for (size_t i = 0; i < n; i++) {
        int c = cmp_str(a->frames[i].filename, b->frames[i].filename);
        if (c)
            return c;
        if (a->frames[i].lineno != b->frames[i].lineno)
            return a->frames[i].lineno < b->frames[i].lineno ? -1 : 1;
    }
    return (a->nframes > b->nframes) - (a->nframes < b->nframes);
}

static int cmp_key(const row *a, const row *b)
{
    if (a->tb && b->tb)
        return cmp_tb(a->tb, b->tb);
    int c = cmp_str(a->filename, b->filename);
    if (c)
        return c;
    return (a->lineno > b->lineno) - (a->lineno < b->lineno);
}

static int cmp_key_qsort(const void *a, const void *b) { return cmp_key(a, b); }

static row frame_row(const ms_frame *f, ms_stat_key key, const ms__snap_trace *t)
{
    return (row){.filename = f->filename, .lineno = key == MS_STAT_LINENO ? f->lineno : 0, .size = t->size,
                 .count = t->count};
}

/*
 * The rows of s grouped by key, sorted by key, in a malloc'd array stored in *out, their number in *nout
 * (0 with *out NULL for an empty snapshot). Returns 0, -EINVAL or -ENOMEM.
 */
static int group(const ms_snapshot *s, ms_stat_key key, bool cumulative, row **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!s || (key != MS_STAT_FILENAME && key != MS_STAT_LINENO && key != MS_STAT_TRACEBACK) ||
        (cumulative && key == MS_STAT_TRACEBACK))
        return -EINVAL;
    if (ms__snapshot_symbolize(s))
        return -ENOMEM;
    size_t cap = 0;
    for (size_t i = 0; i < s->ntraces; i++)
        cap += cumulative ? s->traces[i].tb->nframes : 1;
    if (!cap)
        return 0;
    row *rows = malloc(cap * sizeof *rows);
    if (!rows)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->ntraces; i++) {
        const ms__snap_trace *t = &s->traces[i];
        const ms_traceback *tb = t->tb;
        if (key == MS_STAT_TRACEBACK) {
            rows[n++] = (row){.filename = tb->frames[0].filename, .lineno = tb->frames[0].lineno, .tb = tb,
                              .size = t->size, .count = t->count};
        } else if (!cumulative) {
            rows[n++] = frame_row(&tb->frames[0], key, t);
        } else {
            /* Each distinct key of the traceback once: a recursive line is not counted twice. */
            size_t first = n;
            for (size_t j = 0; j < tb->nframes; j++) {
                row r = frame_row(&tb->frames[j], key, t);
                bool seen = false;
                for (size_t k = first; k < n && !seen; k++)
                    seen = cmp_key(&rows[k], &r) == 0;
                if (!seen)
                    rows[n++] = r;
            }
        }
    }
    qsort(rows, n, sizeof *rows, cmp_key_qsort);
    /* Merge runs of equal keys. Invariant: rows[0..m) are distinct, sorted, and sum every row before i. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && cmp_key(&rows[m - 1], &rows[i]) == 0) {
            rows[m - 1].size += rows[i].size;
            rows[m - 1].count += rows[i].count;
        } else {
            rows[m++] = rows[i];
        }
    }
    *out = rows;
    *nout = m;
    return 0;
}

/* ---- Statistics ------------------------------------------------------------------------------------------------ */

static int cmp_stat(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return cmp_key(a, b);
}

/* ms_snapshot_statistics() returning 0 or a negative errno-style code. */
static int statistics(const ms_snapshot *s, ms_stat_key key, bool cumulative, ms_stat **out, size_t *nout)
{
    row *rows;
    size_t n;
    *out = NULL;
    *nout = 0;
    int rc = group(s, key, cumulative, &rows, &n);
    if (rc || n == 0)
        return rc;
    qsort(rows, n, sizeof *rows, cmp_stat);
    ms_stat *stats = malloc(n * sizeof *stats);
    if (!stats) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        stats[i] = (ms_stat){.filename = rows[i].filename, .lineno = rows[i].lineno, .size = rows[i].size,
                             .count = rows[i].count, .traceback = rows[i].tb};
    free(rows);
    *out = stats;
    *nout = n;
    return 0;
}

size_t ms_snapshot_statistics(const ms_snapshot *s, ms_stat_key key, bool cumulative, ms_stat **out)
{
    size_t n;
    int rc = statistics(s, key, cumulative, out, &n);
    if (rc)
        errno = -rc;
    return n;
}

/* ---- Differences ----------------------------------------------------------------------------------------- */

static uint64_t abs64(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

static int cmp_diff(const void *pa, const void *pb)
{
    const ms_stat_diff *a = pa, *b = pb;
    uint64_t x = abs64(a->size_diff), y = abs64(b->size_diff);
    if (x != y)
        return x > y ? -1 : 1;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    x = abs64(a->count_diff);
    y = abs64(b->count_diff);
    if (x != y)
        return x > y ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    row ra = {.filename = a->filename, .lineno = a->lineno, .tb = a->traceback};
    row rb = {.filename = b->filename, .lineno = b->lineno, .tb = b->traceback};
    return cmp_key(&ra, &rb);
}

static ms_stat_diff diff_of(const row *now, const row *old)
{
    const row *r = now ? now : old;
    uint64_t size = now ? now->size : 0, count = now ? now->count : 0;
    uint64_t old_size = old ? old->size : 0, old_count = old ? old->count : 0;
    return (ms_stat_diff){.filename = r->filename, .lineno = r->lineno, .traceback = r->tb, .size = size,
                          .count = count, .size_diff = (int64_t)(size - old_size),
                          .count_diff = (int64_t)(count - old_count)};
}

/* ms_snapshot_compare_to() returning 0 or a negative errno-style code. */
static int compare(const ms_snapshot *now, const ms_snapshot *old, ms_stat_key key, bool cumulative,
                   ms_stat_diff **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    row *a, *b;
    size_t na, nb;
    int rc = group(now, key, cumulative, &a, &na);
    if (rc)
        return rc;
    rc = group(old, key, cumulative, &b, &nb);
    if (rc) {
        free(a);
        return rc;
    }
    ms_stat_diff *d = na + nb ? malloc((na + nb) * sizeof *d) : NULL;
    if (na + nb && !d) {
        free(a);
        free(b);
        return -ENOMEM;
    }
    /* Merge-join of two key-sorted lists. Invariant: a[0..i) and b[0..j) are in d[0..n). */
    size_t i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : cmp_key(&a[i], &b[j]);
        if (c < 0)
            d[n++] = diff_of(&a[i++], NULL);
        else if (c > 0)
            d[n++] = diff_of(NULL, &b[j++]);
        else
            d[n++] = diff_of(&a[i++], &b[j++]);
    }
    free(a);
    free(b);
    if (n)
        qsort(d, n, sizeof *d, cmp_diff);
    *out = d;
    *nout = n;
    return 0;
}

size_t ms_snapshot_compare_to(const ms_snapshot *now, const ms_snapshot *old, ms_stat_key key, bool cumulative,
                              ms_stat_diff **out)
{
    size_t n;
    int rc = compare(now, old, key, cumulative, out, &n);
    if (rc)
        errno = -rc;
    return n;
}

/* ---- Printing --------------------------------------------------------------------------------------------- */

char *ms_trace_format_size(double size, bool sign, char *buf, size_t n)
{
    /* tracemalloc._format_size: 3 significant digits "xx.x UNIT" below 100 units, else up to 5 digits. */
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    for (size_t u = 0; u < 5; u++) {
        double mag = size < 0 ? -size : size;
        if (mag < 100 && u != 0) {
            snprintf(buf, n, sign ? "%+.1f %s" : "%.1f %s", size, units[u]);
            return buf;
        }
        if (mag < 10 * 1024 || u == 4) {
            snprintf(buf, n, sign ? "%+.0f %s" : "%.0f %s", size, units[u]);
            return buf;
        }
        size /= 1024;
    }
    return buf; /* not reached: u == 4 always returns */
}

static void print_line(FILE *f, const char *filename, int lineno, uint64_t size, uint64_t count,
                       const int64_t *size_diff, const int64_t *count_diff)
{
    char sz[32], diff[32], avg[32];
    ms_trace_format_size((double)size, false, sz, sizeof sz);
    fprintf(f, "%s:%d: size=%s", filename, lineno, sz);
    if (size_diff)
        fprintf(f, " (%s)", ms_trace_format_size((double)*size_diff, true, diff, sizeof diff));
    fprintf(f, ", count=%" PRIu64, count);
    if (count_diff)
        fprintf(f, " (%+" PRId64 ")", *count_diff);
    if (count)
        fprintf(f, ", average=%s", ms_trace_format_size((double)size / (double)count, false, avg, sizeof avg));
    fputc('\n', f);
}

static void print_traceback(FILE *f, const ms_traceback *tb)
{
    for (size_t i = 0; tb && i < tb->nframes; i++) {
        const ms_frame *fr = &tb->frames[i];
        fprintf(f, "  File \"%s\", line %d, in %s\n", fr->filename, fr->lineno, fr->function ? fr->function : "??");
    }
}

int ms_trace_print_top(FILE *out, const ms_snapshot *s, ms_stat_key key, size_t limit)
{
    ms_stat *stats;
    size_t n;
    int rc = statistics(s, key, false, &stats, &n);
    if (rc)
        return rc;
    if (limit && n > limit)
        n = limit;
    for (size_t i = 0; i < n; i++) {
        print_line(out, stats[i].filename, stats[i].lineno, stats[i].size, stats[i].count, NULL, NULL);
        if (key == MS_STAT_TRACEBACK)
            print_traceback(out, stats[i].traceback);
    }
    free(stats);
    return (int)n;
}

int ms_trace_print_diff(FILE *out, const ms_snapshot *now, const ms_snapshot *old, ms_stat_key key, size_t limit)
{
    ms_stat_diff *d;
    size_t n;
    int rc = compare(now, old, key, false, &d, &n);
    if (rc)
        return rc;
    if (limit && n > limit)
        n = limit;
    for (size_t i = 0; i < n; i++) {
        print_line(out, d[i].filename, d[i].lineno, d[i].size, d[i].count, &d[i].size_diff, &d[i].count_diff);
        if (key == MS_STAT_TRACEBACK)
            print_traceback(out, d[i].traceback);
    }
    free(d);
    return (int)n;
}

/*
 * daemon/metrics.c — the exposition writer behind GET /metrics. Entry point: msd_metrics_render(); read the
 * family table first, it is the list of every series with its type, unit and help.
 *
 * Both text formats group a family's samples under one HELP/TYPE header, but the input comes app by app. So each
 * family collects its sample lines in its own growing buffer while the apps' models (stats.h) are walked once,
 * and the document is the concatenation of the non-empty families at the end. Nothing is parsed: every value
 * is a field of a model. Memory: about twice the document size at the peak.
 *
 * The two formats differ only in details, all handled in emit_header() and sample_name():
 *                       text 0.0.4                          OpenMetrics 1.0
 *   counter header      # TYPE foo_total counter            # TYPE foo counter  (the family has no _total)
 *   counter sample      foo_total 3                         foo_total 3
 *   unit                (none)                              # UNIT foo_seconds seconds
 *   info                # TYPE foo_info gauge               # TYPE foo info, sample foo_info
 *   HELP escapes        \\ and \n                           \\ \n and \"
 *   end                 (nothing)                           # EOF
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "jsonstr.h"
#include "metrics.h"

void msd_count_http(msd_counters *c, unsigned status)
{
    if (status >= 100 && status < MSD_HTTP_CODES)
        c->http_requests[status]++;
}

/* ---- The families -------------------------------------------------------------------------------------------- */

typedef enum ftype { GAUGE, COUNTER, INFO } ftype;

typedef struct family {
    const char *name; /* the family name: no _total for counters, no _info for infos */
    ftype type;
    const char *unit; /* OpenMetrics UNIT (a suffix of name), or NULL */
    const char *help;
} family;

/* X(id, name, type, unit, help) */
#define FAMILIES(X)                                                                                              \
    X(APP_CONNECTED, "memscope_app_connected", GAUGE, NULL, "1 while the app is connected to memscoped, 0 once it left (kept for --retain seconds).") \
    X(APP_LAST_UPDATE, "memscope_app_last_update_timestamp_seconds", GAUGE, "seconds", "When memscoped received the app's latest stats (Unix time).") \
    X(APP_STATS, "memscope_app_stats_received", COUNTER, NULL, "Stats messages memscoped received from the app.") \
    X(APP_DROPPED, "memscope_app_stats_dropped", COUNTER, NULL, "Stats messages the app's agent dropped because its outgoing buffer was full.") \
    X(HEAP_POOL_BYTES, "memscope_heap_pool_bytes", GAUGE, "bytes", "Bytes of pool blocks in use (requests below the small threshold).") \
    X(HEAP_SYSTEM_BYTES, "memscope_heap_system_bytes", GAUGE, "bytes", "Bytes of large requests served by the system allocator, in use.") \
    X(HEAP_BLOCKS, "memscope_heap_blocks", GAUGE, NULL, "Pool blocks in use.") \
    X(HEAP_SYSTEM_BLOCKS, "memscope_heap_system_blocks", GAUGE, NULL, "Large (system allocator) blocks in use.") \
    X(HEAP_ARENAS, "memscope_heap_arenas", GAUGE, NULL, "Arenas mapped now.") \
    X(HEAP_ARENAS_HIGHWATER, "memscope_heap_arenas_highwater", GAUGE, NULL, "Most arenas mapped at once.") \
    X(HEAP_ARENAS_ALLOCATED, "memscope_heap_arenas_allocated", COUNTER, NULL, "Arenas mapped since the app started.") \
    X(HEAP_ARENAS_RELEASED, "memscope_heap_arenas_released", COUNTER, NULL, "Arenas returned to the system since the app started.") \
    X(HEAP_ARENA_MAPPED_BYTES, "memscope_heap_arena_mapped_bytes", GAUGE, "bytes", "Bytes of address space mapped for arenas.") \
    X(HEAP_POOLS, "memscope_heap_pools", GAUGE, NULL, "Pools in use.") \
    X(HEAP_ALLOCATIONS, "memscope_heap_allocations", COUNTER, NULL, "Allocations since the app started.") \
    X(HEAP_FREES, "memscope_heap_frees", COUNTER, NULL, "Frees since the app started.") \
    X(HEAP_ARENA_SIZE, "memscope_heap_arena_size_bytes", GAUGE, "bytes", "Size of one arena.") \
    X(HEAP_POOL_SIZE, "memscope_heap_pool_size_bytes", GAUGE, "bytes", "Size of one pool.") \
    X(POOL_POOLS, "memscope_pool_pools", GAUGE, NULL, "Pools serving this size class.") \
    X(POOL_USED, "memscope_pool_used_blocks", GAUGE, NULL, "Blocks of this size class in use.") \
    X(POOL_FREE, "memscope_pool_free_blocks", GAUGE, NULL, "Free blocks in the pools of this size class.") \
    X(OBJECTS_ALIVE, "memscope_objects_alive", GAUGE, NULL, "Objects alive.") \
    X(OBJECTS_CREATED, "memscope_objects_created", COUNTER, NULL, "Objects created since the app started.") \
    X(OBJECTS_DESTROYED, "memscope_objects_destroyed", COUNTER, NULL, "Objects destroyed since the app started.") \
    X(TYPES, "memscope_types", GAUGE, NULL, "Object types the app reported; per-type series cover the largest --metrics-top-types of them.") \
    X(TYPE_ALIVE, "memscope_type_objects_alive", GAUGE, NULL, "Objects of this type alive.") \
    X(TYPE_BYTES, "memscope_type_alive_bytes", GAUGE, "bytes", "Bytes held by the alive objects of this type.") \
    X(TYPE_CREATED, "memscope_type_objects_created", COUNTER, NULL, "Objects of this type created since the app started.") \
    X(TYPE_DESTROYED, "memscope_type_objects_destroyed", COUNTER, NULL, "Objects of this type destroyed since the app started.") \
    X(GC_ENABLED, "memscope_gc_enabled", GAUGE, NULL, "1 when the automatic cycle collector is enabled.") \
    X(GC_COUNT, "memscope_gc_generation_level", GAUGE, NULL, "The generation's count as gc.get_count() shows it (net allocations for generation 0, collections of the younger generation for the others); it is collected when the level reaches memscope_gc_threshold.") \
    X(GC_THRESHOLD, "memscope_gc_threshold", GAUGE, NULL, "The count at which the generation is collected.") \
    X(GC_COLLECTIONS, "memscope_gc_collections", COUNTER, NULL, "Collections of the generation.") \
    X(GC_COLLECTED, "memscope_gc_collected_objects", COUNTER, NULL, "Objects freed by collections of the generation.") \
    X(GC_UNCOLLECTABLE, "memscope_gc_uncollectable_objects", COUNTER, NULL, "Unreachable objects collections of the generation could not free.") \
    X(GC_PAUSE, "memscope_gc_pause_seconds", COUNTER, "seconds", "Time spent in collections (the app is paused).") \
    X(GC_PAUSE_MAX, "memscope_gc_pause_max_seconds", GAUGE, "seconds", "Longest collection pause.") \
    X(GC_GARBAGE, "memscope_gc_garbage_objects", GAUGE, NULL, "Objects in the garbage list.") \
    X(GC_CYCLE_OBJECTS, "memscope_gc_cycle_objects", COUNTER, NULL, "Objects freed in garbage cycles made at this allocation site (or, untraced, of these types) since the app began counting cycle makers; its 10 largest.") \
    X(TRACE_ENABLED, "memscope_trace_enabled", GAUGE, NULL, "1 while allocation tracing is on.") \
    X(TRACE_FRAMES, "memscope_trace_frames", GAUGE, NULL, "Frames kept per traced allocation.") \
    X(TRACE_BYTES, "memscope_trace_traced_bytes", GAUGE, "bytes", "Bytes of traced allocations alive.") \
    X(TRACE_PEAK, "memscope_trace_peak_bytes", GAUGE, "bytes", "Peak of traced bytes since tracing started.") \
    X(D_APPS, "memscope_daemon_apps", GAUGE, NULL, "Apps memscoped knows: connected ones and those that left less than --retain seconds ago.") \
    X(D_CONNECTED, "memscope_daemon_connected_apps", GAUGE, NULL, "Apps connected now.") \
    X(D_CONNECTIONS, "memscope_daemon_connections", GAUGE, NULL, "Open app connections, with or without a hello.") \
    X(D_PENDING, "memscope_daemon_pending_requests", GAUGE, NULL, "API requests waiting for an app's reply.") \
    X(D_FRAMES, "memscope_daemon_frames_received", COUNTER, NULL, "Frames received from apps.") \
    X(D_MALFORMED, "memscope_daemon_frames_malformed", COUNTER, NULL, "Frames from apps with a bad length or a payload that failed validation (each closes its connection).") \
    X(D_HTTP, "memscope_daemon_http_requests", COUNTER, NULL, "HTTP requests answered, by status code.") \
    X(D_START, "memscope_daemon_start_time_seconds", GAUGE, "seconds", "When memscoped started (Unix time).") \
    X(D_CPU, "memscope_daemon_cpu_seconds", COUNTER, "seconds", "CPU time memscoped used (user and system).") \
    X(D_RSS, "memscope_daemon_resident_memory_bytes", GAUGE, "bytes", "memscoped's resident set size.") \
    X(D_BUILD, "memscope_daemon_build", INFO, NULL, "memscoped's version and protocol.")

#define AS_ENUM(id, name, type, unit, help) F_##id,
#define AS_DESC(id, name, type, unit, help) {name, type, unit, help},
enum { FAMILIES(AS_ENUM) NFAMILIES };
static const family families[NFAMILIES] = {FAMILIES(AS_DESC)};

/* ---- Buffers -------------------------------------------------------------------------------------------------- */

typedef msc_buf buf;

typedef struct writer {
    msd_metrics_format fmt;
    int top_types;
    buf out;                         /* the document, family after family */
    char sample_name[NFAMILIES][80]; /* each family's sample name: its name and the suffix its type takes */
    unsigned char sample_len[NFAMILIES];
    bool oom;            /* sticky: once set, every append is a no-op and render returns NULL */
} writer;

/* Makes room for n more bytes. False (and w->oom) when out of memory. */
static bool reserve(writer *w, buf *b, size_t n)
{
    if (w->oom)
        return false;
    if (msc_buf_reserve(b, n) < 0)
        w->oom = true;
    return !w->oom;
}

static void put(writer *w, buf *b, const char *s, size_t n)
{
    if (reserve(w, b, n))
        msc_buf_append(b, s, n); /* room reserved: cannot fail */
}

static void put_str(writer *w, buf *b, const char *s)
{
    put(w, b, s, strlen(s));
}

/* ---- Escaping -------------------------------------------------------------------------------------------------- */

/* Escapes s: backslash and newline always, double quotes when quotes is set. Invalid UTF-8 bytes become U+FFFD
 * (3 bytes for 1: the worst case of the output size). */
static size_t escape(char *out, const char *s, bool quotes)
{
    char *o = out;
    const unsigned char *p = (const unsigned char *)s, *e = p + strlen(s);
    while (*p) {
        if (*p == '\\') {
            *o++ = '\\';
            *o++ = '\\';
            p++;
        } else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
            p++;
        } else if (*p == '"' && quotes) {
            *o++ = '\\';
            *o++ = '"';
            p++;
        } else {
            size_t n = *p < 0x80 ? 1 : msc_utf8_len(p, e);
            if (n == 0) {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
                p++;
            } else {
                memcpy(o, p, n);
                o += n;
                p += n;
            }
        }
    }
    *o = '\0';
    return (size_t)(o - out);
}

size_t msd_metrics_escape_label(char *out, const char *s)
{
    return escape(out, s, true);
}

/* ---- Samples ---------------------------------------------------------------------------------------------------- */

/* Writes the decimal digits of v (|v| < 2^63); returns how many. Two digits per division, from a table: a scrape
 * of 1000 apps prints about two hundred thousand numbers. */
static int format_int(char *out, int64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    char tmp[24];
    char *t = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--t = pairs[d + 1];
        *--t = pairs[d];
    }
    if (u >= 10) {
        *--t = pairs[u * 2 + 1];
        *--t = pairs[u * 2];
    } else {
        *--t = (char)('0' + u);
    }
    int k = 0;
    if (v < 0)
        out[k++] = '-';
    size_t n = (size_t)(tmp + sizeof(tmp) - t);
    memcpy(out + k, t, n);
    return k + (int)n;
}

/* Prometheus and OpenMetrics both read Go's float syntax; integers (nearly every value here) print exactly, and
 * without printf: its float formatting was most of a scrape's cost. out holds 40 bytes. */
static int format_value(char *out, double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return format_int(out, (int64_t)v);
    if (isnan(v))
        return snprintf(out, 40, "NaN");
    if (isinf(v))
        return snprintf(out, 40, v > 0 ? "+Inf" : "-Inf");
    /* The shorter form when it reads back exactly (0.0015 rather than 0.0015000000000000001). */
    int k = snprintf(out, 40, "%.15g", v);
    if (strtod(out, NULL) == v)
        return k;
    return snprintf(out, 40, "%.17g", v);
}

/* The labels every series of an app carries, escaped once: app="x",pid="1". */
typedef struct labels {
    const char *s;
    size_t n;
} labels;

/* The label name="value" (value escaped) into out, which holds strlen(name) + 3 * strlen(value) + 4 bytes. */
static labels label(char *out, const char *name, const char *value)
{
    size_t n = strlen(name);
    memcpy(out, name, n);
    out[n++] = '=';
    out[n++] = '"';
    n += escape(out + n, value, true);
    out[n++] = '"';
    return (labels){out, n};
}

/* A label whose value is the integer v (no escaping to do). out holds strlen(name) + 28 bytes. */
static labels int_label(char *out, const char *name, int64_t v)
{
    size_t n = strlen(name);
    memcpy(out, name, n);
    out[n++] = '=';
    out[n++] = '"';
    n += (size_t)format_int(out + n, v);
    out[n++] = '"';
    return (labels){out, n};
}

/*
 * One sample of family f: name{base,extra} value. base (the app's labels) and extra (one more label, rendered:
 * see label()) may be NULL. The line is copied in one piece into room reserved for its longest form: about two
 * hundred thousand lines make a scrape of 1000 apps, so nothing per line is looked at twice.
 */
static void sample(writer *w, int f, const labels *base, const labels *extra, double v)
{
    buf *b = &w->out;
    if (!reserve(w, b, w->sample_len[f] + (base ? base->n : 0) + (extra ? extra->n : 0) + 48))
        return;
    char *start = msc_buf_tail(b), *o = start;
    memcpy(o, w->sample_name[f], w->sample_len[f]);
    o += w->sample_len[f];
    if (base || extra) {
        *o++ = '{';
        if (base) {
            memcpy(o, base->s, base->n);
            o += base->n;
        }
        if (extra) {
            if (base)
                *o++ = ',';
            memcpy(o, extra->s, extra->n);
            o += extra->n;
        }
        *o++ = '}';
    }
    *o++ = ' ';
    o += format_value(o, v);
    *o++ = '\n';
    msc_buf_commit(b, (size_t)(o - start));
}

/* The sample of a model's field, when the agent sent it (not NAN). */
static void sample_field(writer *w, int f, const labels *base, const labels *extra, double v, double divisor)
{
    if (!isnan(v)) /* divided, not multiplied by 1e-9: 7456959 ns gives 0.007456959 exactly as printed */
        sample(w, f, base, extra, v / divisor);
}

/* ---- Per app ---------------------------------------------------------------------------------------------------- */

static int by_name_then_bytes(const void *a, const void *b)
{
    const msd_type *x = *(const msd_type *const *)a, *y = *(const msd_type *const *)b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    double bx = msd_stat_or0(x->bytes), by = msd_stat_or0(y->bytes);
    return (bx < by) - (bx > by); /* larger first */
}

static int by_bytes_then_name(const void *a, const void *b)
{
    const msd_type *x = *(const msd_type *const *)a, *y = *(const msd_type *const *)b;
    double bx = msd_stat_or0(x->bytes), by = msd_stat_or0(y->bytes);
    if (bx != by)
        return (bx < by) - (bx > by);
    return strcmp(x->name, y->name);
}

/* What the pass over the families needs of one exported app, prepared once. */
typedef struct app_ctx {
    const msd_metrics_app *a;
    const msd_stats *s;   /* the model of a connected app, else NULL: no stats series */
    labels l;             /* app="<escaped name>",pid="<pid>" (malloc'ed) */
    const msd_type **top; /* the types with per-type series, largest first (malloc'ed) */
    labels *top_labels;   /* ... their type="<escaped name>", rendered once for the four type families */
    char *label_text;     /* where those labels' bytes are (malloc'ed) */
    size_t ntop, ntypes;  /* ... and how many distinct type names the app reported */
} app_ctx;

/* The labels, and the top K types by bytes. A type name listed twice (a confused agent) counts once, with its
 * larger entry, so no series is duplicated. Cost O(n log n) for n types. False when out of memory. */
static bool prepare(writer *w, const msd_metrics_app *a, app_ctx *c)
{
    *c = (app_ctx){.a = a, .s = a->connected ? a->stats : NULL};
    size_t n = strlen(a->name);
    char *base = malloc(3 * n + 64);
    if (!base)
        return false;
    memcpy(base, "app=\"", 5);
    size_t k = 5 + escape(base + 5, a->name, true);
    k += (size_t)snprintf(base + k, 3 * n + 64 - k, "\",pid=\"%lld\"", (long long)a->pid);
    c->l = (labels){base, k};
    const msd_stats *s = c->s;
    if (!s || !(s->sections & MSD_SEC_TYPES) || !s->ntypes)
        return true;
    const msd_type **rows = malloc(s->ntypes * sizeof(*rows));
    if (!rows)
        return false;
    size_t m = 0;
    for (size_t i = 0; i < s->ntypes; i++)
        if (s->types[i].name[0])
            rows[m++] = &s->types[i];
    if (m)
        qsort(rows, m, sizeof(*rows), by_name_then_bytes);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || strcmp(rows[u - 1]->name, rows[i]->name) != 0)
            rows[u++] = rows[i];
    if (u)
        qsort(rows, u, sizeof(*rows), by_bytes_then_name);
    c->top = rows;
    c->ntypes = u;
    c->ntop = u < (size_t)w->top_types ? u : (size_t)w->top_types;
    size_t room = 0;
    for (size_t i = 0; i < c->ntop; i++)
        room += 3 * strlen(rows[i]->name) + 8;
    c->top_labels = malloc(c->ntop * sizeof(*c->top_labels) + 1); /* + 1: never malloc(0), NULL for no type */
    c->label_text = malloc(room + 1);
    if (!c->top_labels || !c->label_text)
        return false;
    for (size_t i = 0, at = 0; i < c->ntop; i++) {
        c->top_labels[i] = label(c->label_text + at, "type", rows[i]->name);
        at += c->top_labels[i].n;
    }
    return true;
}

static void release(app_ctx *c)
{
    free((char *)c->l.s);
    free(c->top);
    free(c->top_labels);
    free(c->label_text);
}

/* The heap families, in the order of the family table, and the field each reads. */
static const size_t heap_field[] = {
    offsetof(msd_heap, pool_bytes_in_use),      offsetof(msd_heap, system_bytes_in_use),
    offsetof(msd_heap, blocks_in_use),          offsetof(msd_heap, system_blocks_in_use),
    offsetof(msd_heap, arenas_mapped),          offsetof(msd_heap, arenas_highwater),
    offsetof(msd_heap, arenas_allocated_total), offsetof(msd_heap, arenas_released_total),
    offsetof(msd_heap, arena_bytes_mapped),     offsetof(msd_heap, pools_in_use),
    offsetof(msd_heap, allocs_total),           offsetof(msd_heap, frees_total),
    offsetof(msd_heap, arena_size),             offsetof(msd_heap, pool_size),
};
_Static_assert(F_HEAP_POOL_SIZE - F_HEAP_POOL_BYTES + 1 == sizeof(heap_field) / sizeof(heap_field[0]),
               "one field per heap family");
/* The generation families, likewise. */
static const size_t gen_field[] = {offsetof(msd_gen, count), offsetof(msd_gen, threshold),
                                   offsetof(msd_gen, collections), offsetof(msd_gen, collected),
                                   offsetof(msd_gen, uncollectable)};
_Static_assert(F_GC_UNCOLLECTABLE - F_GC_COUNT + 1 == sizeof(gen_field) / sizeof(gen_field[0]),
               "one field per generation family");
static const size_t type_field[] = {offsetof(msd_type, alive), offsetof(msd_type, bytes),
                                    offsetof(msd_type, created), offsetof(msd_type, destroyed)};
_Static_assert(F_TYPE_DESTROYED - F_TYPE_ALIVE + 1 == sizeof(type_field) / sizeof(type_field[0]),
               "one field per type family");

static double at(const void *base, size_t off)
{
    return *(const double *)(const void *)((const char *)base + off);
}

/* The longest cycle-maker key exported (the agent's are below 128 bytes). */
#define CYCLE_KEY_MAX 255

/* The samples of family f for one app. */
static void emit_app(writer *w, int f, const app_ctx *c)
{
    const msd_metrics_app *a = c->a;
    const labels *l = &c->l;
    const msd_stats *s = c->s;
    if (f == F_APP_CONNECTED)
        sample(w, f, l, NULL, a->connected ? 1 : 0);
    else if (f == F_APP_LAST_UPDATE && a->last_update > 0)
        sample(w, f, l, NULL, round(a->last_update * 1000) / 1000);
    else if (f == F_APP_STATS)
        sample(w, f, l, NULL, (double)a->samples);
    if (!s || f <= F_APP_STATS)
        return;
    if (f == F_APP_DROPPED) {
        sample_field(w, f, l, NULL, s->dropped, 1);
    } else if (f >= F_HEAP_POOL_BYTES && f <= F_HEAP_POOL_SIZE) {
        if (s->sections & MSD_SEC_HEAP)
            sample_field(w, f, l, NULL, at(&s->heap, heap_field[f - F_HEAP_POOL_BYTES]), 1);
    } else if (f >= F_POOL_POOLS && f <= F_POOL_FREE) {
        /* Empty size classes are left out: an app uses a handful of its 16 or 32 classes. */
        for (size_t i = 0; i < s->npools; i++) {
            const msd_pool *p = &s->pools[i];
            if (!(p->block_size >= 0 && p->block_size < 1e15) ||
                (msd_stat_or0(p->pools) == 0 && msd_stat_or0(p->blocks_in_use) == 0 &&
                 msd_stat_or0(p->blocks_free) == 0))
                continue;
            char sc[48];
            labels extra = int_label(sc, "size_class", (int64_t)p->block_size);
            double v = f == F_POOL_POOLS ? p->pools : f == F_POOL_USED ? p->blocks_in_use : p->blocks_free;
            sample_field(w, f, l, &extra, v, 1);
        }
    } else if (f >= F_OBJECTS_ALIVE && f <= F_OBJECTS_DESTROYED) {
        if (s->sections & MSD_SEC_REFCOUNT)
            sample_field(w, f, l, NULL,
                         f == F_OBJECTS_ALIVE     ? s->refcount.objects_alive
                         : f == F_OBJECTS_CREATED ? s->refcount.objects_created
                                                  : s->refcount.objects_destroyed,
                         1);
    } else if (f == F_TYPES) {
        if (s->sections & MSD_SEC_TYPES)
            sample(w, f, l, NULL, (double)c->ntypes);
    } else if (f >= F_TYPE_ALIVE && f <= F_TYPE_DESTROYED) {
        for (size_t i = 0; i < c->ntop; i++)
            sample_field(w, f, l, &c->top_labels[i], at(c->top[i], type_field[f - F_TYPE_ALIVE]), 1);
    } else if (!(s->sections & MSD_SEC_GC) && f >= F_GC_ENABLED && f <= F_GC_GARBAGE) {
        return;
    } else if (f == F_GC_ENABLED) {
        sample_field(w, f, l, NULL, s->gc.enabled, 1);
    } else if (f >= F_GC_COUNT && f <= F_GC_UNCOLLECTABLE) {
        for (size_t g = 0; g < s->gc.ngens; g++) {
            char gs[48];
            labels extra = int_label(gs, "generation", (int64_t)g);
            sample_field(w, f, l, &extra, at(&s->gc.gens[g], gen_field[f - F_GC_COUNT]), 1);
        }
    } else if (f == F_GC_PAUSE) {
        sample_field(w, f, l, NULL, s->gc.pause_total_ns, 1e9);
    } else if (f == F_GC_PAUSE_MAX) {
        sample_field(w, f, l, NULL, s->gc.pause_max_ns, 1e9);
    } else if (f == F_GC_GARBAGE) {
        sample_field(w, f, l, NULL, s->gc.garbage, 1);
    } else if (f == F_GC_CYCLE_OBJECTS) {
        /* The agent sends its MSC_STATS_CYCLES_MAX largest keys: no more are read, whatever a peer sends, so the
         * series stay bounded; an empty, a repeated or an absurdly long key is left out. */
        for (size_t i = 0; (s->sections & MSD_SEC_CYCLES) && i < s->ncycles && i < MSC_STATS_CYCLES_MAX; i++) {
            const char *key = s->cycles[i].key;
            size_t n = strlen(key);
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(s->cycles[j].key, key) == 0;
            if (!n || n > CYCLE_KEY_MAX || dup)
                continue;
            char lb[3 * CYCLE_KEY_MAX + 16];
            labels extra = label(lb, "site", key);
            sample_field(w, f, l, &extra, s->cycles[i].objects, 1);
        }
    } else if (f >= F_TRACE_ENABLED && f <= F_TRACE_PEAK && (s->sections & MSD_SEC_TRACE)) {
        sample_field(w, f, l, NULL,
                     f == F_TRACE_ENABLED  ? s->trace.tracing
                     : f == F_TRACE_FRAMES ? s->trace.nframes
                     : f == F_TRACE_BYTES  ? s->trace.current
                                           : s->trace.peak,
                     1);
    }
}

/* The samples of the daemon's own family f. */
static void emit_self(writer *w, int f, const msd_metrics_self *s)
{
    switch (f) {
    case F_D_APPS: sample(w, f, NULL, NULL, (double)s->apps); break;
    case F_D_CONNECTED: sample(w, f, NULL, NULL, (double)s->apps_connected); break;
    case F_D_CONNECTIONS: sample(w, f, NULL, NULL, (double)s->connections); break;
    case F_D_PENDING: sample(w, f, NULL, NULL, (double)s->pending_requests); break;
    case F_D_FRAMES:
        if (s->counters)
            sample(w, f, NULL, NULL, (double)s->counters->frames_received);
        break;
    case F_D_MALFORMED:
        if (s->counters)
            sample(w, f, NULL, NULL, (double)s->counters->frames_malformed);
        break;
    case F_D_HTTP:
        for (unsigned c = 100; s->counters && c < MSD_HTTP_CODES; c++) {
            if (!s->counters->http_requests[c])
                continue;
            char code[48];
            labels extra = int_label(code, "code", c);
            sample(w, f, NULL, &extra, (double)s->counters->http_requests[c]);
        }
        break;
    case F_D_START:
        if (s->start_time > 0)
            sample(w, f, NULL, NULL, round(s->start_time * 1000) / 1000);
        break;
    case F_D_CPU:
        if (s->cpu_seconds >= 0)
            sample(w, f, NULL, NULL, s->cpu_seconds);
        break;
    case F_D_RSS:
        if (s->rss_bytes >= 0)
            sample(w, f, NULL, NULL, s->rss_bytes);
        break;
    case F_D_BUILD: {
        char build[64];
        int bn = snprintf(build, sizeof(build), "version=\"%s\",protocol=\"%d\"", MSD_VERSION, MSD_PROTOCOL_VERSION);
        sample(w, f, &(labels){build, (size_t)bn}, NULL, 1);
        break;
    }
    default: break;
    }
}

/* ---- The document ----------------------------------------------------------------------------------------------- */

static void emit_header(writer *w, buf *out, int f)
{
    const family *fm = &families[f];
    bool om = w->fmt == MSD_METRICS_OPENMETRICS;
    /* The name metadata lines carry: OpenMetrics names the family, 0.0.4 names the sample. */
    const char *suffix = om ? "" : fm->type == COUNTER ? "_total" : fm->type == INFO ? "_info" : "";
    const char *type = fm->type == GAUGE ? "gauge" : fm->type == COUNTER ? "counter" : om ? "info" : "gauge";
    put_str(w, out, "# HELP ");
    put_str(w, out, fm->name);
    put_str(w, out, suffix);
    put_str(w, out, " ");
    if (reserve(w, out, 3 * strlen(fm->help) + 1)) /* 0.0.4 HELP escapes only \\ and newline */
        msc_buf_commit(out, escape(msc_buf_tail(out), fm->help, om));
    put_str(w, out, "\n# TYPE ");
    put_str(w, out, fm->name);
    put_str(w, out, suffix);
    put_str(w, out, " ");
    put_str(w, out, type);
    put_str(w, out, "\n");
    if (om && fm->unit) {
        put_str(w, out, "# UNIT ");
        put_str(w, out, fm->name);
        put_str(w, out, " ");
        put_str(w, out, fm->unit);
        put_str(w, out, "\n");
    }
}

/* Orders apps by (pid, name), then connected last, then array order (the elements are pointers into one array):
 * the last of each run of equal (pid, name) is the one to export. */
static int by_identity(const void *x, const void *y)
{
    const msd_metrics_app *p = *(const msd_metrics_app *const *)x, *q = *(const msd_metrics_app *const *)y;
    if (p->pid != q->pid)
        return p->pid < q->pid ? -1 : 1;
    int c = strcmp(p->name, q->name);
    if (c)
        return c;
    if (p->connected != q->connected)
        return p->connected ? 1 : -1;
    return p < q ? -1 : p > q;
}

msd_blob *msd_metrics_render(const msd_metrics_app *apps, size_t napps, const msd_metrics_self *self,
                             msd_metrics_format fmt, int top_types)
{
    writer w = {.fmt = fmt, .top_types = top_types < 0 ? 0 : top_types};
    for (int f = 0; f < NFAMILIES; f++)
        w.sample_len[f] = (unsigned char)snprintf(w.sample_name[f], sizeof(w.sample_name[f]), "%s%s", families[f].name,
                                                  families[f].type == COUNTER ? "_total"
                                                  : families[f].type == INFO  ? "_info"
                                                                              : "");
    /* The apps to export: one per (pid, name), the connected entry then the later one (see by_identity). */
    const msd_metrics_app **refs = napps ? malloc(napps * sizeof(*refs)) : NULL;
    app_ctx *ctx = napps ? calloc(napps, sizeof(*ctx)) : NULL;
    size_t nctx = 0;
    if (napps && (!refs || !ctx)) {
        free(refs);
        free(ctx);
        return NULL;
    }
    for (size_t i = 0; i < napps; i++)
        refs[i] = &apps[i];
    if (napps) /* qsort's pointer must be valid even for 0 elements (glibc declares it nonnull) */
        qsort(refs, napps, sizeof(*refs), by_identity);
    for (size_t i = 0; i < napps && !w.oom; i++) {
        const msd_metrics_app *a = refs[i];
        if (i + 1 < napps && refs[i + 1]->pid == a->pid && strcmp(refs[i + 1]->name, a->name) == 0)
            continue; /* a later entry for the same (pid, name) wins */
        if (!prepare(&w, a, &ctx[nctx++]))
            w.oom = true;
    }
    free(refs);
    /* Family after family: its header, then its samples over every app; a family without samples leaves no
     * header. About 12 KB per app with the defaults, reserved at once so that the document is not copied as it
     * grows (pages of the reservation that are not written are never touched). */
    reserve(&w, &w.out, 4096 + napps * 12288);
    for (int f = 0; f < NFAMILIES && !w.oom; f++) {
        size_t mark = w.out.len;
        emit_header(&w, &w.out, f);
        size_t body = w.out.len;
        if (f < F_D_APPS)
            for (size_t i = 0; i < nctx; i++)
                emit_app(&w, f, &ctx[i]);
        else if (self)
            emit_self(&w, f, self);
        if (w.out.len == body)
            w.out.len = mark;
    }
    if (fmt == MSD_METRICS_OPENMETRICS)
        put_str(&w, &w.out, "# EOF\n");
    for (size_t i = 0; i < nctx; i++)
        release(&ctx[i]);
    free(ctx);
    /* The document becomes the blob: no copy of it (at 1000 apps, 12 MB). */
    if (w.oom || !msc_buf_cstr(&w.out)) {
        msc_buf_free(&w.out);
        return NULL;
    }
    return msd_blob_adopt(w.out.data, w.out.len, w.out.cap - 1);
}

/* ---- Content negotiation ---------------------------------------------------------------------------------------- */

/* The q-value of one media range's parameters ("; version=1.0.0; q=0.5"): 1 when absent. */
static double q_value(const char *params, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=' &&
            (i == 0 || params[i - 1] == ';' || params[i - 1] == ' ' || params[i - 1] == '\t')) {
            char tmp[16];
            size_t m = n - i - 2 < sizeof(tmp) - 1 ? n - i - 2 : sizeof(tmp) - 1;
            memcpy(tmp, params + i + 2, m);
            tmp[m] = '\0';
            return strtod(tmp, NULL);
        }
    }
    return 1;
}

msd_metrics_format msd_metrics_negotiate(const char *accept)
{
    if (!accept)
        return MSD_METRICS_PROMETHEUS;
    double q_om = -1, q_text = -1;
    const char *p = accept;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *range = p;
        while (n && (*range == ' ' || *range == '\t'))
            range++, n--;
        size_t tn = strcspn(range, ";,");
        if (tn > n)
            tn = n;
        while (tn && (range[tn - 1] == ' ' || range[tn - 1] == '\t'))
            tn--;
        double q = q_value(range + tn, n - tn);
        if (tn == 28 && strncasecmp(range, "application/openmetrics-text", 28) == 0) {
            if (q > q_om)
                q_om = q;
        } else if (tn == 10 && strncasecmp(range, "text/plain", 10) == 0) {
            if (q > q_text)
                q_text = q;
        }
        p = range + n;
        if (*p == ',')
            p++;
    }
    return q_om > 0 && q_om >= q_text ? MSD_METRICS_OPENMETRICS : MSD_METRICS_PROMETHEUS;
}

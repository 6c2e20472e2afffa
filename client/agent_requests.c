/*
 * agent_requests.c — the daemon's requests, executed at a safe point by the thread that owns the runtime
 * (docs/PROTOCOL.md section 5). Each method turns params into a call of the public API and its outcome into a
 * result object, or an error string a human can act on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/gc.h>
#include <memscope/mem.h>
#include <memscope/object.h>
#include <memscope/trace.h>

#include "agent_internal.h"
#include "heapgraph_internal.h"
#include "internal.h"
#include "protocol.h"

_Static_assert(MSC_TRACE_FRAMES_MAX == MS_TRACE_MAX_FRAMES, "the protocol's nframes limit is the library's");
_Static_assert(MSC_CYCLES_LIMIT_MAX == MS_GC_CYCLE_KEYS + 1, "gc.cycles can ask for every row of the table");

/* Whether v is a JSON number that is an integer in lo .. hi, stored in *out. The range is checked on the double
 * first: converting a double outside int's range to int is undefined behaviour (nframes 1e300 used to be). */
static bool int_value(const cJSON *v, int lo, int hi, int *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return false; /* NaN fails both comparisons */
    int i = (int)v->valuedouble;
    if ((double)i != v->valuedouble)
        return false;
    *out = i;
    return true;
}

static int int_param(const cJSON *params, const char *name, int dflt, int lo, int hi, int *out, char *err,
                     size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = dflt;
        return 0;
    }
    if (!int_value(v, lo, hi, out)) {
        snprintf(err, errlen, "'%s' must be an integer from %d to %d", name, lo, hi);
        return -EINVAL;
    }
    return 0;
}

/* A boolean parameter: absent or null is dflt. */
static int bool_param(const cJSON *params, const char *name, bool dflt, bool *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        snprintf(err, errlen, "'%s' must be true or false", name);
        return -EINVAL;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* ---- gc.* ---------------------------------------------------------------------------------------------------- */

/* Cycle-maker groups as docs/PROTOCOL.md's "groups": {"site": "file.c:97" | null, "key", "types": {name: count},
 * "cycles", "objects", "bytes"}, the other row with "other": true and site null. NULL when memory is short. */
static cJSON *cycle_groups_json(const ms_gc_cycle_group *g, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *e = cJSON_CreateObject(), *types = NULL;
        if (!e || !cJSON_AddItemToArray(arr, e) ||
            !(g[i].site[0] ? cJSON_AddStringToObject(e, "site", g[i].site) : cJSON_AddNullToObject(e, "site")) ||
            !cJSON_AddStringToObject(e, "key", g[i].key) || !(types = cJSON_AddObjectToObject(e, "types"))) {
            cJSON_Delete(arr);
            return NULL;
        }
        for (size_t t = 0; t < g[i].ntypes; t++)
            if (!cJSON_GetObjectItemCaseSensitive(types, g[i].types[t].name)) /* two types of one name: the first */
                cJSON_AddNumberToObject(types, g[i].types[t].name, (double)g[i].types[t].count);
        cJSON_AddNumberToObject(e, "cycles", (double)g[i].cycles);
        cJSON_AddNumberToObject(e, "objects", (double)g[i].objects);
        cJSON_AddNumberToObject(e, "bytes", (double)g[i].bytes);
        if (g[i].other)
            cJSON_AddBoolToObject(e, "other", true);
    }
    return arr;
}

/* The groups of a table (ms_gc_cycle_groups / _last), at most limit of them, into res as "groups". */
static bool add_cycle_groups(cJSON *res, bool recent, bool last_only, size_t limit, uint64_t *collections)
{
    size_t max = MS_GC_CYCLE_KEYS + 1;
    ms_gc_cycle_group *g = malloc(max * sizeof *g);
    if (!g)
        return false;
    size_t n = last_only ? ms_gc_cycle_groups_last(g, max) : ms_gc_cycle_groups(recent, g, max, collections);
    if (n > max)
        n = max;
    if (n > limit)
        n = limit;
    cJSON *arr = cycle_groups_json(g, n);
    free(g);
    return arr && cJSON_AddItemToObject(res, "groups", arr);
}

typedef struct type_count {
    const char *name;
    uint64_t destroyed;
} type_count;

/* qsort order: most objects destroyed first. */
static int by_count_desc(const void *a, const void *b)
{
    uint64_t x = ((const type_count *)a)->destroyed, y = ((const type_count *)b)->destroyed;
    return (x < y) - (x > y);
}

static void gc_collect(ms__request *r)
{
    int gen;
    if (int_param(r->params, "generation", 2, 0, 2, &gen, r->error, sizeof r->error) != 0)
        return;

    /* What the collection freed, by type: the per-type destroyed counters before and after. Types registered
     * during the collection (by finalizers) are new at the end of the list and start from zero. */
    size_t ntypes = ms_type_stats_count();
    type_count *before = calloc(ntypes ? ntypes : 1, sizeof *before);
    if (before == NULL) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return;
    }
    for (size_t i = 0; i < ntypes; i++) {
        ms_type_stats ts;
        if (ms_type_stats_get(i, &ts) == 0)
            before[i].destroyed = ts.destroyed_total;
    }
    ms_gc_stats st0[3], st1[3];
    ms_gc_get_stats(st0);
    /* The groups of this collection are part of its result: grouping is on for it, whatever it was before. */
    bool grouping = ms_gc_get_cycle_stats();
    ms_gc_set_cycle_stats(true);
    uint64_t t0 = ms__now_ns();
    ssize_t unreachable = ms_gc_collect(gen);
    uint64_t t1 = ms__now_ns();
    ms_gc_set_cycle_stats(grouping);
    ms_gc_get_stats(st1);

    size_t nafter = ms_type_stats_count();
    type_count *delta = calloc(nafter ? nafter : 1, sizeof *delta);
    if (delta == NULL) {
        free(before);
        snprintf(r->error, sizeof r->error, "out of memory");
        return;
    }
    size_t nd = 0;
    for (size_t i = 0; i < nafter; i++) {
        ms_type_stats ts;
        if (ms_type_stats_get(i, &ts) != 0)
            continue;
        uint64_t was = i < ntypes ? before[i].destroyed : 0;
        if (ts.destroyed_total > was)
            delta[nd++] = (type_count){ts.name ? ts.name : "?", ts.destroyed_total - was};
    }
    qsort(delta, nd, sizeof *delta, by_count_desc);

    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "generation", gen);
    cJSON_AddNumberToObject(res, "collected", (double)(st1[gen].collected - st0[gen].collected));
    cJSON_AddNumberToObject(res, "uncollectable", (double)(st1[gen].uncollectable - st0[gen].uncollectable));
    cJSON_AddNumberToObject(res, "unreachable", (double)(unreachable < 0 ? 0 : unreachable));
    cJSON_AddNumberToObject(res, "duration_ns", (double)(t1 - t0));
    cJSON *arr = cJSON_AddArrayToObject(res, "by_type");
    for (size_t i = 0; i < nd; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", delta[i].name);
        cJSON_AddNumberToObject(e, "collected", (double)delta[i].destroyed);
        cJSON_AddItemToArray(arr, e);
    }
    free(before);
    free(delta);
    if (!add_cycle_groups(res, false, true, MS_GC_CYCLE_KEYS + 1, NULL)) {
        cJSON_Delete(res);
        return; /* "out of memory" */
    }
    r->result = res;
}

/*
 * gc.cycles {"recent": false, "limit": 20, "enable": (absent)}: the cycle-maker table since start, or of the
 * last MS_GC_CYCLE_RECENT collections, largest first; "enable" turns the grouping on or off first (the daemon
 * sends it for a POST only: it costs the app a walk of every collection's garbage).
 */
static void gc_cycles(ms__request *r)
{
    bool recent, enable;
    int limit;
    if (bool_param(r->params, "recent", false, &recent, r->error, sizeof r->error) != 0 ||
        int_param(r->params, "limit", MSC_CYCLES_LIMIT_DEFAULT, 1, MSC_CYCLES_LIMIT_MAX, &limit, r->error,
                  sizeof r->error) != 0)
        return;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->params, "enable");
    if (e && !cJSON_IsNull(e)) {
        if (bool_param(r->params, "enable", false, &enable, r->error, sizeof r->error) != 0)
            return;
        ms_gc_set_cycle_stats(enable);
    }
    uint64_t collections = 0;
    cJSON *res = cJSON_CreateObject();
    if (!res || !cJSON_AddBoolToObject(res, "enabled", ms_gc_get_cycle_stats()) ||
        !cJSON_AddBoolToObject(res, "tracing", ms_trace_is_tracing()) ||
        !cJSON_AddBoolToObject(res, "recent", recent) ||
        !add_cycle_groups(res, recent, false, (size_t)limit, &collections) ||
        !cJSON_AddNumberToObject(res, "collections", (double)collections)) {
        cJSON_Delete(res);
        return;
    }
    r->result = res;
}

static void gc_switch(ms__request *r, bool enable)
{
    bool was = ms_gc_is_enabled();
    if (enable)
        ms_gc_enable();
    else
        ms_gc_disable();
    r->result = cJSON_CreateObject();
    cJSON_AddBoolToObject(r->result, "enabled", ms_gc_is_enabled());
    cJSON_AddBoolToObject(r->result, "was_enabled", was);
}

static void gc_set_threshold(ms__request *r)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(r->params, "thresholds");
    int t[3];
    ms_gc_get_threshold(t);
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n < 1 || n > 3) {
        snprintf(r->error, sizeof r->error, "'thresholds' must be an array of 1 to 3 integers >= 0");
        return;
    }
    for (int i = 0; i < n; i++) {
        if (!int_value(cJSON_GetArrayItem(arr, i), 0, 1000000000, &t[i])) {
            snprintf(r->error, sizeof r->error, "thresholds[%d] must be an integer from 0 to 1000000000", i);
            return;
        }
    }
    int rc = ms_gc_set_threshold(t[0], t[1], t[2]);
    if (rc != 0) {
        snprintf(r->error, sizeof r->error, "cannot set thresholds: %s", ms_strerror(rc));
        return;
    }
    ms_gc_get_threshold(t);
    r->result = cJSON_CreateObject();
    cJSON_AddItemToObject(r->result, "thresholds", cJSON_CreateIntArray(t, 3));
}

/* ---- trace.* ------------------------------------------------------------------------------------------------- */

static void trace_start(ms__request *r)
{
    int nframes;
    if (int_param(r->params, "nframes", 1, 1, MSC_TRACE_FRAMES_MAX, &nframes, r->error, sizeof r->error) != 0)
        return;
    int rc = ms_trace_start(nframes);
    if (rc != 0) {
        snprintf(r->error, sizeof r->error, "cannot start tracing: %s", ms_strerror(rc));
        return;
    }
    r->result = cJSON_CreateObject();
    cJSON_AddBoolToObject(r->result, "tracing", true);
    cJSON_AddNumberToObject(r->result, "nframes", ms_trace_get_traceback_limit());
}

static void trace_stop(ms__request *r)
{
    ms_trace_stop();
    r->result = cJSON_CreateObject();
    cJSON_AddBoolToObject(r->result, "tracing", false);
}

/*
 * A reply must fit in one frame (MSC_FRAME_MAX). Results that list statistics add entries while an upper bound of
 * their printed size stays within RESULT_BUDGET, the frame less room for the envelope and the result's other
 * members, and say "truncated": true when they stop early. The bound follows cJSON_PrintUnformatted exactly for
 * strings (json_str_len) and allows NUM_MAX bytes per number.
 */
#define RESULT_BUDGET ((size_t)MSC_FRAME_MAX - 1024)
#define NUM_MAX 26 /* "%1.17g" of any double, sign and exponent included */

/* The bytes cJSON prints for string s, quotes included. */
static size_t json_str_len(const char *s)
{
    size_t n = 2;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '\b' || *p == '\f' || *p == '\n' || *p == '\r' || *p == '\t')
            n += 2;
        else
            n += *p < 32 ? 6 : 1; /* \u00XX */
    }
    return n;
}

/* The frames of tb as a JSON array, and in *cost the bound of its printed size. */
static cJSON *frames_json(const ms_traceback *tb, size_t *cost)
{
    cJSON *arr = cJSON_CreateArray();
    *cost += 2;
    for (size_t i = 0; tb && i < tb->nframes; i++) {
        const ms_frame *fr = &tb->frames[i];
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "file", fr->filename);
        cJSON_AddNumberToObject(f, "lineno", fr->lineno);
        *cost += sizeof "{\"file\":,\"lineno\":}," + json_str_len(fr->filename) + NUM_MAX;
        if (fr->function) {
            cJSON_AddStringToObject(f, "function", fr->function);
            *cost += sizeof ",\"function\":" + json_str_len(fr->function);
        }
        cJSON_AddItemToArray(arr, f);
    }
    return arr;
}

/* One statistic: as trace.top lists it (file, lineno, size, count, and the traceback for that key), or as
 * trace.snapshot does (size, count, frames). *cost: the bound of its printed size. */
typedef enum { ENTRY_TOP, ENTRY_TOP_TRACEBACK, ENTRY_SNAPSHOT } entry_kind;

static cJSON *stat_json(const ms_stat *st, entry_kind kind, size_t *cost)
{
    cJSON *e = cJSON_CreateObject();
    *cost = sizeof "{\"size\":,\"count\":}," + 2 * NUM_MAX;
    if (kind != ENTRY_SNAPSHOT) {
        const char *file = st->filename ? st->filename : "<unknown>";
        cJSON_AddStringToObject(e, "file", file);
        cJSON_AddNumberToObject(e, "lineno", st->lineno);
        *cost += sizeof ",\"file\":,\"lineno\":" + json_str_len(file) + NUM_MAX;
    }
    cJSON_AddNumberToObject(e, "size", (double)st->size);
    cJSON_AddNumberToObject(e, "count", (double)st->count);
    if (kind == ENTRY_TOP_TRACEBACK) {
        *cost += sizeof ",\"traceback\":";
        cJSON_AddItemToObject(e, "traceback", frames_json(st->traceback, cost));
    } else if (kind == ENTRY_SNAPSHOT) {
        *cost += sizeof ",\"frames\":";
        cJSON_AddItemToObject(e, "frames", frames_json(st->traceback, cost));
    }
    return e;
}

/* Adds the array `name` of the first `limit` statistics (0: all) to res, stopping before the reply would outgrow
 * one frame, in which case res also gets "truncated": true. Largest first: stats are sorted so, and what a cut
 * leaves out matters least. */
static void add_stats(cJSON *res, const char *name, const ms_stat *stats, size_t n, size_t limit, entry_kind kind)
{
    cJSON *arr = cJSON_AddArrayToObject(res, name);
    size_t used = 0;
    bool truncated = false;
    for (size_t i = 0; i < n && (limit == 0 || i < limit); i++) {
        size_t cost;
        cJSON *e = stat_json(&stats[i], kind, &cost);
        if (used + cost > RESULT_BUDGET) {
            cJSON_Delete(e);
            truncated = true;
            break;
        }
        used += cost;
        cJSON_AddItemToArray(arr, e);
    }
    if (truncated)
        cJSON_AddBoolToObject(res, "truncated", true);
}

static ms_snapshot *snapshot_or_error(ms__request *r)
{
    if (!ms_trace_is_tracing()) {
        snprintf(r->error, sizeof r->error, "tracing is not started (start it first: trace.start)");
        return NULL;
    }
    ms_snapshot *s = ms_trace_take_snapshot();
    if (s == NULL)
        snprintf(r->error, sizeof r->error, "cannot take a snapshot: out of memory");
    return s;
}

/*
 * The result of trace.top (key_name set: statistics by key, as "stats") or of trace.snapshot (key_name NULL:
 * the traces by traceback, as "traces"), from a snapshot taken now; at most `limit` entries (0: all) and never
 * more than one frame holds.
 */
static void reply_statistics(ms__request *r, ms_stat_key key, const char *key_name, size_t limit)
{
    ms_snapshot *s = snapshot_or_error(r);
    if (s == NULL)
        return;
    ms_stat *stats = NULL;
    size_t n = ms_snapshot_statistics(s, key, false, &stats);
    ms_snapshot_info info;
    ms_snapshot_get_info(s, &info);
    cJSON *res = cJSON_CreateObject();
    if (key_name) {
        cJSON_AddStringToObject(res, "key", key_name);
        cJSON_AddNumberToObject(res, "total_size", (double)info.total_size);
        cJSON_AddNumberToObject(res, "total_count", (double)info.total_count);
        add_stats(res, "stats", stats, n, limit, key == MS_STAT_TRACEBACK ? ENTRY_TOP_TRACEBACK : ENTRY_TOP);
    } else {
        cJSON_AddNumberToObject(res, "traceback_limit", info.traceback_limit);
        cJSON_AddNumberToObject(res, "timestamp_ns", (double)info.timestamp_ns);
        add_stats(res, "traces", stats, n, limit, ENTRY_SNAPSHOT);
    }
    free(stats);
    ms_snapshot_free(s);
    r->result = res;
}

static void trace_top(ms__request *r)
{
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(r->params, "key");
    const char *k = cJSON_IsString(key) ? key->valuestring : "lineno";
    ms_stat_key sk;
    if (strcmp(k, "lineno") == 0)
        sk = MS_STAT_LINENO;
    else if (strcmp(k, "filename") == 0)
        sk = MS_STAT_FILENAME;
    else if (strcmp(k, "traceback") == 0)
        sk = MS_STAT_TRACEBACK;
    else {
        snprintf(r->error, sizeof r->error, "'key' must be \"lineno\", \"filename\" or \"traceback\"");
        return;
    }
    int limit; /* 0: every entry (common/protocol.h) */
    if (int_param(r->params, "limit", MSC_TOP_LIMIT_DEFAULT, 0, MSC_TOP_LIMIT_MAX, &limit, r->error,
                  sizeof r->error) != 0)
        return;
    reply_statistics(r, sk, k, (size_t)limit);
}

/* Largest traces first, so that a snapshot cut at the frame limit keeps what matters. */
static void trace_snapshot(ms__request *r) { reply_statistics(r, MS_STAT_TRACEBACK, NULL, 0); }

/* ---- heapsnapshot ---------------------------------------------------------------------------------------------- */

/* The walk is the app's whole pause (pause_ms): the agent thread finishes the graph afterwards (adding the
 * result's sizes, agent.c), sends it and frees it. */
static void heapsnapshot(ms__request *r)
{
    /* Binary frames carry the id as a u32 (PROTOCOL.md section 6): checked on the double before any conversion. */
    if (!(r->id >= 1 && r->id <= (double)UINT32_MAX) || r->id != (double)(uint32_t)r->id) {
        snprintf(r->error, sizeof r->error, "a heapsnapshot request's id must be an integer from 1 to %u",
                 UINT32_MAX);
        return;
    }
    ms__heapgraph *hg;
    uint64_t t0 = ms__now_ns();
    int rc = ms__heapgraph_build(r->reserve, &hg);
    uint64_t t1 = ms__now_ns();
    if (rc != 0) {
        snprintf(r->error, sizeof r->error, "cannot take a heap snapshot: %s%s", ms_strerror(rc),
                 rc == -EBUSY ? " (a collection is running: the safe point is inside it)" : "");
        return;
    }
    cJSON *res = cJSON_CreateObject();
    if (res == NULL || !cJSON_AddNumberToObject(res, "pause_ms", (double)(t1 - t0) / 1e6)) {
        cJSON_Delete(res);
        ms__heapgraph_free(hg);
        return; /* "out of memory" */
    }
    r->result = res;
    r->graph = hg;
}

/* ---- pools.* ------------------------------------------------------------------------------------------------- */

/* A number parameter in lo .. hi: absent or null is dflt. */
static int number_param(const cJSON *params, const char *name, double dflt, double lo, double hi, double *out,
                        char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        snprintf(err, errlen, "'%s' must be a number from %g to %g", name, lo, hi);
        return -EINVAL;
    }
    *out = v->valuedouble;
    return 0;
}

static bool add_pinning_rows(cJSON *res, const ms_pinning_report *rep, size_t limit)
{
    cJSON *sites = cJSON_AddArrayToObject(res, "sites"), *classes = cJSON_AddArrayToObject(res, "classes"),
          *types = cJSON_AddArrayToObject(res, "types");
    if (!sites || !classes || !types)
        return false;
    for (size_t i = 0; i < rep->nsites && i < limit; i++) {
        const ms_pinning_site *s = &rep->sites[i];
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(sites, e) || !cJSON_AddStringToObject(e, "site", s->site) ||
            !cJSON_AddNumberToObject(e, "pools", (double)s->pools) ||
            !cJSON_AddNumberToObject(e, "blocks", (double)s->blocks) ||
            !cJSON_AddNumberToObject(e, "wasted_bytes", (double)s->wasted_bytes) ||
            !cJSON_AddNumberToObject(e, "oldest_age_s", s->oldest_age_s))
            return false;
    }
    for (size_t i = 0; i < rep->nclasses; i++) {
        const ms_pinning_class *c = &rep->classes[i];
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(classes, e) || !cJSON_AddNumberToObject(e, "size", (double)c->block_size) ||
            !cJSON_AddNumberToObject(e, "pinned_pools", (double)c->pinned_pools) ||
            !cJSON_AddNumberToObject(e, "blocks", (double)c->blocks) ||
            !cJSON_AddNumberToObject(e, "wasted_bytes", (double)c->wasted_bytes))
            return false;
    }
    for (size_t i = 0; i < rep->ntypes && i < limit; i++) {
        const ms_pinning_type *t = &rep->types[i];
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(types, e) || !cJSON_AddStringToObject(e, "type", t->name) ||
            !cJSON_AddNumberToObject(e, "pools", (double)t->pools) ||
            !cJSON_AddNumberToObject(e, "blocks", (double)t->blocks) ||
            !cJSON_AddNumberToObject(e, "wasted_bytes", (double)t->wasted_bytes))
            return false;
    }
    return true;
}

/* pools.pinning {"max_utilization": 0.25, "limit": 20}: ms_pool_pinning's report, the walk's cost included. */
static void pools_pinning(ms__request *r)
{
    double maxu;
    int limit;
    if (number_param(r->params, "max_utilization", MSC_PINNING_UTILIZATION_DEFAULT, 0, 1, &maxu, r->error,
                     sizeof r->error) != 0 ||
        int_param(r->params, "limit", MSC_PINNING_LIMIT_DEFAULT, 1, MSC_PINNING_LIMIT_MAX, &limit, r->error,
                  sizeof r->error) != 0)
        return;
    ms_pinning_report *rep;
    if (ms_pool_pinning(maxu, &rep) != 0)
        return; /* "out of memory" */
    cJSON *res = cJSON_CreateObject();
    bool ok = res && cJSON_AddNumberToObject(res, "max_utilization", rep->max_utilization) &&
              cJSON_AddNumberToObject(res, "pinned_pools", (double)rep->pinned_pools) &&
              cJSON_AddNumberToObject(res, "pinned_arenas", (double)rep->pinned_arenas) &&
              cJSON_AddNumberToObject(res, "wasted_bytes", (double)rep->wasted_bytes) &&
              cJSON_AddNumberToObject(res, "pool_wasted_bytes", (double)rep->pool_wasted_bytes) &&
              cJSON_AddNumberToObject(res, "arena_wasted_bytes", (double)rep->arena_wasted_bytes) &&
              cJSON_AddNumberToObject(res, "pinned_blocks", (double)rep->pinned_blocks) &&
              cJSON_AddBoolToObject(res, "tracing", rep->tracing) &&
              cJSON_AddNumberToObject(res, "untraced_blocks", (double)rep->untraced_blocks) &&
              cJSON_AddNumberToObject(res, "untraced_wasted_bytes", (double)rep->untraced_wasted_bytes) &&
              cJSON_AddNumberToObject(res, "pools_walked", (double)rep->pools_walked) &&
              cJSON_AddNumberToObject(res, "objects_walked", (double)rep->objects_walked) &&
              cJSON_AddNumberToObject(res, "walk_ms", (double)rep->walk_ns / 1e6) &&
              add_pinning_rows(res, rep, (size_t)limit);
    ms_pinning_report_free(rep);
    if (!ok) {
        cJSON_Delete(res);
        return;
    }
    r->result = res;
}

/* ---- Dispatch ------------------------------------------------------------------------------------------------- */

void ms__agent_execute(ms__request *r)
{
    static const struct {
        const char *name;
        void (*run)(ms__request *);
    } methods[] = {
        {"gc.collect", gc_collect},     {"gc.set_threshold", gc_set_threshold}, {"trace.start", trace_start},
        {"gc.cycles", gc_cycles},
        {"trace.stop", trace_stop},     {"trace.top", trace_top},               {"trace.snapshot", trace_snapshot},
        {"heapsnapshot", heapsnapshot}, {"pools.pinning", pools_pinning},
    };
    if (r->params != NULL && !cJSON_IsObject(r->params)) {
        snprintf(r->error, sizeof r->error, "'params' must be an object");
        return;
    }
    if (strcmp(r->method, "gc.enable") == 0 || strcmp(r->method, "gc.disable") == 0) {
        gc_switch(r, strcmp(r->method, "gc.enable") == 0);
        return;
    }
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        if (strcmp(r->method, methods[i].name) == 0) {
            methods[i].run(r);
            if (r->result == NULL && r->error[0] == '\0')
                snprintf(r->error, sizeof r->error, "out of memory");
            return;
        }
    snprintf(r->error, sizeof r->error, "unknown method");
}

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
#include <memscope/object.h>
#include <memscope/trace.h>

#include "agent_internal.h"
#include "internal.h"

/* A snapshot result must fit one frame (1 MiB) with room for the envelope. */
#define SNAPSHOT_BUDGET (900u * 1024u)

static int int_param(const cJSON *params, const char *name, int dflt, int lo, int hi, int *out, char *err,
                     size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valueint < lo ||
        v->valueint > hi) {
        snprintf(err, errlen, "'%s' must be an integer from %d to %d", name, lo, hi);
        return -EINVAL;
    }
    *out = v->valueint;
    return 0;
}

/* ---- gc.* ---------------------------------------------------------------------------------------------------- */

typedef struct type_count {
    const char *name;
    uint64_t destroyed;
} type_count;

static int by_count_desc(const void *a, const void *b)
{
    const type_count *x = a, *y = b;
    return x->destroyed < y->destroyed ? 1 : x->destroyed > y->destroyed ? -1 : 0;
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
    uint64_t t0 = ms__now_ns();
    ssize_t unreachable = ms_gc_collect(gen);
    uint64_t t1 = ms__now_ns();
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
        const cJSON *v = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ||
            v->valuedouble != (double)(int)v->valuedouble) {
            snprintf(r->error, sizeof r->error, "thresholds[%d] must be an integer from 0 to 1000000000", i);
            return;
        }
        t[i] = v->valueint;
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
    if (int_param(r->params, "nframes", 1, 1, MS_TRACE_MAX_FRAMES, &nframes, r->error, sizeof r->error) != 0)
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

static cJSON *frames_json(const ms_traceback *tb)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; tb && i < tb->nframes; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "file", tb->frames[i].filename);
        cJSON_AddNumberToObject(f, "lineno", tb->frames[i].lineno);
        if (tb->frames[i].function)
            cJSON_AddStringToObject(f, "function", tb->frames[i].function);
        cJSON_AddItemToArray(arr, f);
    }
    return arr;
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
    int limit;
    if (int_param(r->params, "limit", 10, 1, 1000, &limit, r->error, sizeof r->error) != 0)
        return;
    ms_snapshot *s = snapshot_or_error(r);
    if (s == NULL)
        return;
    ms_stat *stats = NULL;
    size_t n = ms_snapshot_statistics(s, sk, false, &stats);
    ms_snapshot_info info;
    ms_snapshot_get_info(s, &info);

    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "key", k);
    cJSON_AddNumberToObject(res, "total_size", (double)info.total_size);
    cJSON_AddNumberToObject(res, "total_count", (double)info.total_count);
    cJSON *arr = cJSON_AddArrayToObject(res, "stats");
    for (size_t i = 0; i < n && i < (size_t)limit; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", stats[i].filename ? stats[i].filename : "<unknown>");
        cJSON_AddNumberToObject(e, "lineno", stats[i].lineno);
        cJSON_AddNumberToObject(e, "size", (double)stats[i].size);
        cJSON_AddNumberToObject(e, "count", (double)stats[i].count);
        if (sk == MS_STAT_TRACEBACK)
            cJSON_AddItemToObject(e, "traceback", frames_json(stats[i].traceback));
        cJSON_AddItemToArray(arr, e);
    }
    free(stats);
    ms_snapshot_free(s);
    r->result = res;
}

static void trace_snapshot(ms__request *r)
{
    ms_snapshot *s = snapshot_or_error(r);
    if (s == NULL)
        return;
    /* Largest traces first, so that a snapshot cut at the frame limit keeps what matters. */
    ms_stat *stats = NULL;
    size_t n = ms_snapshot_statistics(s, MS_STAT_TRACEBACK, false, &stats);
    ms_snapshot_info info;
    ms_snapshot_get_info(s, &info);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "traceback_limit", info.traceback_limit);
    cJSON_AddNumberToObject(res, "timestamp_ns", (double)info.timestamp_ns);
    cJSON *arr = cJSON_AddArrayToObject(res, "traces");
    size_t budget = 0;
    bool truncated = false;
    for (size_t i = 0; i < n; i++) {
        size_t cost = 48;
        for (size_t f = 0; stats[i].traceback && f < stats[i].traceback->nframes; f++)
            cost += 32 + strlen(stats[i].traceback->frames[f].filename) +
                    (stats[i].traceback->frames[f].function ? strlen(stats[i].traceback->frames[f].function) + 14
                                                            : 0);
        if (budget + cost > SNAPSHOT_BUDGET) {
            truncated = true;
            break;
        }
        budget += cost;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "size", (double)stats[i].size);
        cJSON_AddNumberToObject(e, "count", (double)stats[i].count);
        cJSON_AddItemToObject(e, "frames", frames_json(stats[i].traceback));
        cJSON_AddItemToArray(arr, e);
    }
    if (truncated)
        cJSON_AddBoolToObject(res, "truncated", true);
    free(stats);
    ms_snapshot_free(s);
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
        {"trace.stop", trace_stop},     {"trace.top", trace_top},               {"trace.snapshot", trace_snapshot},
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

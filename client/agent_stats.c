/*
 * agent_stats.c — the stats message (docs/PROTOCOL.md section 4), built on the agent thread from getters that any
 * thread may call: it reads counters and the pool headers' block counts, never the heap or the objects.
 *
 * Every section is written from its member list in common/stats_schema.h, the one the daemon's model is generated
 * from, so the two sides cannot drift apart: where the C struct has the same field names (heap, pools) the
 * members are read straight from it; elsewhere a section's values are gathered into a struct generated from the
 * list (one field per member, filled by name below: a renamed or removed member does not compile, and a
 * _Static_assert counts the members, so an added one does not either) and written from the list. The agent test
 * compares the JSON's member names with the lists.
 */
#include <stddef.h>

#include <memscope/agent.h>
#include <memscope/gc.h>
#include <memscope/mem.h>
#include <memscope/object.h>
#include <memscope/trace.h>

#include "agent_internal.h"
#include "gc_internal.h"
#include "internal.h"
#include "stats_schema.h"

/* A section's values: one double per numeric member, one bool per boolean member. */
#define NUM_FIELD(name) double name;
#define BOOL_FIELD(name) bool name;
#define COUNT(name) +1
/* Writes member `name` of o from v (or from a C struct with the schema's field names). */
#define ADD_NUM(name) cJSON_AddNumberToObject(o, #name, (double)v.name);
#define ADD_BOOL(name) cJSON_AddBoolToObject(o, #name, v.name);

static cJSON *heap_json(void)
{
    ms_heap_stats v;
    ms_heap_stats_get(&v);
    cJSON *o = cJSON_CreateObject();
    MSC_STATS_HEAP(ADD_NUM)
    return o;
}

static cJSON *pools_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    ms_pool_class_stats all[MS__NB_CLASSES];
    size_t n = ms_pool_class_stats_get_all(all, MS__NB_CLASSES);
    for (size_t i = 0; i < n && i < MS__NB_CLASSES; i++) {
        const ms_pool_class_stats v = all[i];
        cJSON *o = cJSON_CreateObject();
        MSC_STATS_POOL(ADD_NUM)
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *refcount_json(void)
{
    ms_object_stats os;
    ms_object_stats_get(&os);
    _Static_assert(0 MSC_STATS_REFCOUNT(COUNT) == 3, "MSC_STATS_REFCOUNT changed: fill its members here");
    struct { MSC_STATS_REFCOUNT(NUM_FIELD) } v = {
        .objects_alive = (double)os.alive,
        .objects_created = (double)os.created,
        .objects_destroyed = (double)os.destroyed,
    };
    cJSON *o = cJSON_CreateObject();
    MSC_STATS_REFCOUNT(ADD_NUM)
    return o;
}

static cJSON *types_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    size_t n = ms_type_stats_count();
    for (size_t i = 0; i < n; i++) {
        ms_type_stats ts;
        if (ms_type_stats_get(i, &ts) != 0)
            continue;
        _Static_assert(0 MSC_STATS_TYPE(COUNT) == 4, "MSC_STATS_TYPE changed: fill its members here");
        struct { MSC_STATS_TYPE(NUM_FIELD) } v = {
            .alive = (double)ts.live_count,
            .bytes = (double)ts.live_bytes,
            .created = (double)ts.created_total,
            .destroyed = (double)ts.destroyed_total,
        };
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", ts.name ? ts.name : "?");
        MSC_STATS_TYPE(ADD_NUM)
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *generation_json(int count, int threshold, const ms_gc_stats *st)
{
    _Static_assert(0 MSC_STATS_GEN(COUNT) == 7, "MSC_STATS_GEN changed: fill its members here");
    struct { MSC_STATS_GEN(NUM_FIELD) } v = {
        .count = count,
        .threshold = threshold,
        .collections = (double)st->collections,
        .collected = (double)st->collected,
        .uncollectable = (double)st->uncollectable,
        .pause_ns_total = (double)st->pause_ns_total,
        .pause_ns_max = (double)st->pause_ns_max,
    };
    cJSON *o = cJSON_CreateObject();
    MSC_STATS_GEN(ADD_NUM)
    return o;
}

static cJSON *gc_json(void)
{
    _Static_assert(MSC_STATS_GENERATIONS == MS_GC_GENERATIONS, "the schema's generations are the collector's");
    int count[MS_GC_GENERATIONS], threshold[MS_GC_GENERATIONS];
    ms_gc_stats st[MS_GC_GENERATIONS];
    ms_gc_get_count(count);
    ms_gc_get_threshold(threshold);
    ms_gc_get_stats(st);
    cJSON *o = cJSON_CreateObject();
    {
        _Static_assert(0 MSC_STATS_GC_BOOLS(COUNT) == 1, "MSC_STATS_GC_BOOLS changed: fill its members here");
        struct { MSC_STATS_GC_BOOLS(BOOL_FIELD) } v = {.enabled = ms_gc_is_enabled()};
        MSC_STATS_GC_BOOLS(ADD_BOOL)
    }
    cJSON *gens = cJSON_AddArrayToObject(o, "generations");
    uint64_t pause_total = 0, pause_max = 0;
    for (int g = 0; g < MS_GC_GENERATIONS; g++) {
        cJSON_AddItemToArray(gens, generation_json(count[g], threshold[g], &st[g]));
        pause_total += st[g].pause_ns_total;
        pause_max = st[g].pause_ns_max > pause_max ? st[g].pause_ns_max : pause_max;
    }
    _Static_assert(0 MSC_STATS_GC(COUNT) == 3, "MSC_STATS_GC changed: fill its members here");
    struct { MSC_STATS_GC(NUM_FIELD) } v = {
        .pause_total_ns = (double)pause_total,
        .pause_max_ns = (double)pause_max,
        .garbage = (double)ms_gc_garbage_count(),
    };
    MSC_STATS_GC(ADD_NUM)
    return o;
}

static cJSON *trace_json(void)
{
    size_t current = 0, peak = 0;
    ms_trace_get_traced_memory(&current, &peak);
    cJSON *o = cJSON_CreateObject();
    {
        _Static_assert(0 MSC_STATS_TRACE_BOOLS(COUNT) == 1, "MSC_STATS_TRACE_BOOLS changed: fill its members here");
        struct { MSC_STATS_TRACE_BOOLS(BOOL_FIELD) } v = {.tracing = ms_trace_is_tracing()};
        MSC_STATS_TRACE_BOOLS(ADD_BOOL)
    }
    _Static_assert(0 MSC_STATS_TRACE(COUNT) == 4, "MSC_STATS_TRACE changed: fill its members here");
    struct { MSC_STATS_TRACE(NUM_FIELD) } v = {
        .nframes = ms_trace_get_traceback_limit(),
        .current = (double)current,
        .peak = (double)peak,
        .memory = (double)ms_trace_get_memory(),
    };
    MSC_STATS_TRACE(ADD_NUM)
    return o;
}

/* The cycle makers' largest rows since counting began (gc_cycles.c publishes them for this thread). */
static cJSON *cycles_json(void)
{
    _Static_assert(MS__CYCLES_PUBLISHED == MSC_STATS_CYCLES_MAX, "the library keeps what the message reports");
    ms__cycle_row rows[MSC_STATS_CYCLES_MAX];
    size_t n = ms__cycles_published(rows, MSC_STATS_CYCLES_MAX);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o) || !cJSON_AddStringToObject(o, "key", rows[i].key))
            break;
        _Static_assert(0 MSC_STATS_CYCLE(COUNT) == 3, "MSC_STATS_CYCLE changed: fill its members here");
        struct { MSC_STATS_CYCLE(NUM_FIELD) } v = {
            .cycles = (double)rows[i].cycles,
            .objects = (double)rows[i].objects,
            .bytes = (double)rows[i].bytes,
        };
        MSC_STATS_CYCLE(ADD_NUM)
    }
    return arr;
}

cJSON *ms__agent_stats_json(uint64_t seq_number, uint64_t dropped_count)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "type", "stats");
    _Static_assert(0 MSC_STATS_TOP(COUNT) == 2, "MSC_STATS_TOP changed: fill its members here");
    struct { MSC_STATS_TOP(NUM_FIELD) } v = {.seq = (double)seq_number, .dropped = (double)dropped_count};
    MSC_STATS_TOP(ADD_NUM)
    cJSON_AddItemToObject(o, "heap", heap_json());
    cJSON_AddItemToObject(o, "pools", pools_json());
    cJSON_AddItemToObject(o, "refcount", refcount_json());
    cJSON_AddItemToObject(o, "types", types_json());
    cJSON_AddItemToObject(o, "gc", gc_json());
    cJSON_AddItemToObject(o, "trace", trace_json());
    cJSON_AddItemToObject(o, "cycles", cycles_json());
    /* cJSON reports no allocation failure from the Add* calls; a message missing a section is still valid, but
     * one missing the heap means memory ran out: do not send half of it. */
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "heap"))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

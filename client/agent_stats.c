/*
 * agent_stats.c — the stats message (docs/PROTOCOL.md section 4), built on the agent thread from getters that any
 * thread may call: it reads counters and the pool headers' block counts, never the heap or the objects.
 *
 * The heap section is generated from one field list, so the C struct (mem.h), the JSON names and the daemon's
 * reader (which serves sections as sent) cannot drift apart silently: a field missing here fails the
 * agent test that compares the JSON to ms_heap_stats_get().
 */
#include <stddef.h>

#include <memscope/agent.h>
#include <memscope/gc.h>
#include <memscope/mem.h>
#include <memscope/object.h>
#include <memscope/trace.h>

#include "agent_internal.h"
#include "internal.h"

#define HEAP_FIELDS(X)                                                                                         \
    X(pool_bytes_in_use) X(system_bytes_in_use) X(blocks_in_use) X(system_blocks_in_use) X(arenas_mapped)      \
    X(arenas_allocated_total) X(arenas_released_total) X(arenas_highwater) X(arena_bytes_mapped)              \
    X(pools_in_use) X(allocs_total) X(frees_total) X(arena_size) X(pool_size) X(arenas_cached)

static cJSON *heap_json(void)
{
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    cJSON *o = cJSON_CreateObject();
#define ADD(f) cJSON_AddNumberToObject(o, #f, (double)hs.f);
    HEAP_FIELDS(ADD)
#undef ADD
    return o;
}

static cJSON *pools_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    ms_pool_class_stats all[MS__NB_CLASSES];
    size_t n = ms_pool_class_stats_get_all(all, MS__NB_CLASSES);
    for (size_t i = 0; i < n && i < MS__NB_CLASSES; i++) {
        const ms_pool_class_stats cs = all[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "block_size", (double)cs.block_size);
        cJSON_AddNumberToObject(o, "pools", (double)cs.pools);
        cJSON_AddNumberToObject(o, "blocks_in_use", (double)cs.blocks_in_use);
        cJSON_AddNumberToObject(o, "blocks_free", (double)cs.blocks_free);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *refcount_json(void)
{
    ms_object_stats os;
    ms_object_stats_get(&os);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "objects_alive", (double)os.alive);
    cJSON_AddNumberToObject(o, "objects_created", (double)os.created);
    cJSON_AddNumberToObject(o, "objects_destroyed", (double)os.destroyed);
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
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", ts.name ? ts.name : "?");
        cJSON_AddNumberToObject(o, "alive", (double)ts.live_count);
        cJSON_AddNumberToObject(o, "bytes", (double)ts.live_bytes);
        cJSON_AddNumberToObject(o, "created", (double)ts.created_total);
        cJSON_AddNumberToObject(o, "destroyed", (double)ts.destroyed_total);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *gc_json(void)
{
    int count[3], threshold[3];
    ms_gc_stats st[3];
    ms_gc_get_count(count);
    ms_gc_get_threshold(threshold);
    ms_gc_get_stats(st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "enabled", ms_gc_is_enabled());
    cJSON *gens = cJSON_AddArrayToObject(o, "generations");
    uint64_t pause_total = 0, pause_max = 0;
    for (int g = 0; g < 3; g++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "count", count[g]);
        cJSON_AddNumberToObject(e, "threshold", threshold[g]);
        cJSON_AddNumberToObject(e, "collections", (double)st[g].collections);
        cJSON_AddNumberToObject(e, "collected", (double)st[g].collected);
        cJSON_AddNumberToObject(e, "uncollectable", (double)st[g].uncollectable);
        cJSON_AddNumberToObject(e, "pause_ns_total", (double)st[g].pause_ns_total);
        cJSON_AddNumberToObject(e, "pause_ns_max", (double)st[g].pause_ns_max);
        cJSON_AddItemToArray(gens, e);
        pause_total += st[g].pause_ns_total;
        pause_max = st[g].pause_ns_max > pause_max ? st[g].pause_ns_max : pause_max;
    }
    cJSON_AddNumberToObject(o, "pause_total_ns", (double)pause_total);
    cJSON_AddNumberToObject(o, "pause_max_ns", (double)pause_max);
    cJSON_AddNumberToObject(o, "garbage", (double)ms_gc_garbage_count());
    return o;
}

static cJSON *trace_json(void)
{
    size_t current = 0, peak = 0;
    ms_trace_get_traced_memory(&current, &peak);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "tracing", ms_trace_is_tracing());
    cJSON_AddNumberToObject(o, "nframes", ms_trace_get_traceback_limit());
    cJSON_AddNumberToObject(o, "current", (double)current);
    cJSON_AddNumberToObject(o, "peak", (double)peak);
    cJSON_AddNumberToObject(o, "memory", (double)ms_trace_get_memory());
    return o;
}

cJSON *ms__agent_stats_json(uint64_t seq, uint64_t dropped)
{
    cJSON *msg = cJSON_CreateObject();
    if (msg == NULL)
        return NULL;
    cJSON_AddStringToObject(msg, "type", "stats");
    cJSON_AddNumberToObject(msg, "seq", (double)seq);
    cJSON_AddNumberToObject(msg, "dropped", (double)dropped);
    cJSON_AddItemToObject(msg, "heap", heap_json());
    cJSON_AddItemToObject(msg, "pools", pools_json());
    cJSON_AddItemToObject(msg, "refcount", refcount_json());
    cJSON_AddItemToObject(msg, "types", types_json());
    cJSON_AddItemToObject(msg, "gc", gc_json());
    cJSON_AddItemToObject(msg, "trace", trace_json());
    /* cJSON reports no allocation failure from the Add* calls; a message missing a section is still valid, but
     * one missing the heap means memory ran out: do not send half of it. */
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "heap"))) {
        cJSON_Delete(msg);
        return NULL;
    }
    return msg;
}

/*
 * common/stats_schema.h — the members of a stats message (docs/PROTOCOL.md section 4), listed once.
 *
 * The agent's writer (client/agent_stats.c) emits exactly these members and the daemon's model
 * (daemon/stats.h) is generated from them: a struct field per member, the parser's name table, and the
 * Prometheus families that read them. Adding a member here adds it on both sides; a test compares the agent's
 * JSON with these lists, so the two cannot drift apart silently.
 *
 * Each list is an X-macro: X(name), name being the JSON member and the daemon's field. Numbers are JSON numbers;
 * the members of the *_BOOLS lists are JSON booleans.
 *
 *   {"type": "stats", "seq", "dropped",                                    MSC_STATS_TOP
 *    "heap": {...},                                                        MSC_STATS_HEAP
 *    "pools": [{...}, ...],                                                MSC_STATS_POOL
 *    "refcount": {...},                                                    MSC_STATS_REFCOUNT
 *    "types": [{"name": string, ...}, ...],                                MSC_STATS_TYPE
 *    "gc": {"enabled": bool, ..., "generations": [{...}, {...}, {...}]},   MSC_STATS_GC(_BOOLS), MSC_STATS_GEN
 *    "trace": {"tracing": bool, ...},                                      MSC_STATS_TRACE(_BOOLS)
 *    "cycles": [{"key": string, ...}, ...]}                                MSC_STATS_CYCLE
 */
#ifndef MEMSCOPE_COMMON_STATS_SCHEMA_H
#define MEMSCOPE_COMMON_STATS_SCHEMA_H

#define MSC_STATS_TOP(X) X(seq) X(dropped)

/* The fields of ms_heap_stats (include/memscope/mem.h), same names. */
#define MSC_STATS_HEAP(X)                                                                                      \
    X(pool_bytes_in_use) X(system_bytes_in_use) X(blocks_in_use) X(system_blocks_in_use) X(arenas_mapped)      \
    X(arenas_allocated_total) X(arenas_released_total) X(arenas_highwater) X(arena_bytes_mapped)              \
    X(pools_in_use) X(allocs_total) X(frees_total) X(arena_size) X(pool_size) X(arenas_cached)

/* One entry per size class, ascending block_size. */
#define MSC_STATS_POOL(X) X(block_size) X(pools) X(blocks_in_use) X(blocks_free)

#define MSC_STATS_REFCOUNT(X) X(objects_alive) X(objects_created) X(objects_destroyed)

/* Per object type, besides its "name" (a string). */
#define MSC_STATS_TYPE(X) X(alive) X(bytes) X(created) X(destroyed)

/* "gc": its numbers and booleans; "generations" holds 3 objects, youngest first. */
#define MSC_STATS_GC(X) X(pause_total_ns) X(pause_max_ns) X(garbage)
#define MSC_STATS_GC_BOOLS(X) X(enabled)
#define MSC_STATS_GEN(X)                                                                                       \
    X(count) X(threshold) X(collections) X(collected) X(uncollectable) X(pause_ns_total) X(pause_ns_max)
#define MSC_STATS_GENERATIONS 3

#define MSC_STATS_TRACE(X) X(nframes) X(current) X(peak) X(memory)
#define MSC_STATS_TRACE_BOOLS(X) X(tracing)

/* The cycle makers (memscope/gc.h): the app's MSC_STATS_CYCLES_MAX largest keys since counting began, each besides
 * its "key" (a string: an allocation site "file.c:97", or the cycles' types "Folder×2+Document"); largest
 * `objects` first; empty while nothing was counted. */
#define MSC_STATS_CYCLE(X) X(cycles) X(objects) X(bytes)
#define MSC_STATS_CYCLES_MAX 10

#endif /* MEMSCOPE_COMMON_STATS_SCHEMA_H */

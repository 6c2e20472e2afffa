/*
 * bench/daemon/stats_message.h — the stats message of the daemon benchmarks: the shape of bench/load/loadgen.py's
 * (3.9 KB: 30 types, 16 pools, three generations), compact JSON as libmemscope's agent sends it. Three counters
 * are W digits wide (BENCH_BASE + v, never a leading zero), so loadgen.c rewrites them in place and every message
 * differs while its length stays put.
 */
#ifndef MEMSCOPE_BENCH_STATS_MESSAGE_H
#define MEMSCOPE_BENCH_STATS_MESSAGE_H

#include <stdio.h>
#include <string.h>

#define BENCH_W 12                      /* digits of a rewritten counter */
#define BENCH_BASE 100000000000ul       /* counters are BENCH_BASE + v: always BENCH_W digits */

/* Where the rewritable counters are in a message. */
typedef struct bench_counters {
    size_t seq_at, pool_at, alive_at;
} bench_counters;

/* Writes the message of app i at p (8 KiB of room) and returns its length; *at (may be NULL) where the counters
 * are. */
static inline size_t bench_stats_message(char *p, int i, bench_counters *at)
{
    bench_counters c;
    char *w = p;
    w += sprintf(w, "{\"type\":\"stats\",\"seq\":");
    c.seq_at = (size_t)(w - p);
    w += sprintf(w, "%lu,\"dropped\":0,\"heap\":{\"pool_bytes_in_use\":", BENCH_BASE);
    c.pool_at = (size_t)(w - p);
    w += sprintf(w, "%lu,\"system_bytes_in_use\":2000000,\"arenas\":4},\"pools\":[", BENCH_BASE);
    for (int k = 0; k < 16; k++)
        w += sprintf(w, "%s{\"block_size\":%d,\"pools\":3,\"blocks_in_use\":%d,\"blocks_free\":50}", k ? "," : "",
                     16 * (k + 1), 100 + k);
    w += sprintf(w, "],\"refcount\":{\"objects_alive\":");
    c.alive_at = (size_t)(w - p);
    w += sprintf(w, "%lu,\"objects_created\":40000,\"objects_destroyed\":10000},\"types\":[", BENCH_BASE);
    for (int k = 0; k < 30; k++)
        w += sprintf(w, "%s{\"name\":\"Type%d\",\"alive\":%d,\"bytes\":%d,\"created\":5000,\"destroyed\":4000}",
                     k ? "," : "", k, 1000 + k, 64000 + k);
    w += sprintf(w, "],\"gc\":{\"enabled\":true,\"generations\":[");
    for (int g = 0; g < 3; g++)
        w += sprintf(w, "%s{\"count\":1,\"threshold\":700,\"collections\":%d,\"collected\":%d,\"uncollectable\":0}",
                     g ? "," : "", 10 + g + i % 7, 20 + g);
    w += sprintf(w, "],\"garbage\":0,\"pause_total_ns\":1000,\"pause_max_ns\":900},"
                    "\"trace\":{\"tracing\":false,\"current\":0,\"peak\":0}}");
    if (at)
        *at = c;
    return (size_t)(w - p);
}

/* Rewrites the counter at `at` as BENCH_BASE + v (exactly BENCH_W digits). */
static inline void bench_put_counter(char *at, unsigned long v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%lu", BENCH_BASE + v % (9 * BENCH_BASE));
    memcpy(at, tmp, BENCH_W);
}

#endif

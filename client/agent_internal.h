/*
 * client/agent_internal.h — what the agent's files share: the request queue between the agent thread and the app's
 * safe points, and the two JSON builders.
 *
 * Request life cycle (docs/PROTOCOL.md section 5):
 *
 *   agent thread                     queue (mutex)                     app thread (safe point)
 *   frame "request" --parse--> [pending] --ms__agent_run_pending()--> execute --> [done] --> reply frame
 *                                  |                                                 ^
 *                                  +-- deadline passed (agent thread) --> timeout ---+
 *
 * A heapsnapshot's reply waits for its graph: the agent thread sends the graph's wire image in binary frames as
 * the outgoing buffer drains, then the reply (agent.c, the transfer). The deadline only covers the wait for a safe
 * point; a transfer has its own limit, MSC_HEAPSNAPSHOT_STALL_MS without progress.
 *
 * The mutex is held only to move list nodes, never while executing or doing I/O, so neither side can stall the
 * other. `ms__agent_pending` mirrors "pending is non-empty" for the safe points' one-load check.
 */
#ifndef MEMSCOPE_CLIENT_AGENT_INTERNAL_H
#define MEMSCOPE_CLIENT_AGENT_INTERNAL_H

#ifndef MS_BUILDING_LIBRARY
#  error "client/agent_internal.h is private to libmemscope"
#endif

#include <stdatomic.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#pragma GCC visibility push(hidden)

typedef struct ms__request ms__request;
struct ms__heapgraph;
struct ms__heapgraph_reserve;
struct ms__request {
    ms__request *next;
    double id;             /* the daemon's id, echoed back */
    uint64_t generation;   /* the connection it came on: a reply for an older connection is dropped */
    char method[32];
    cJSON *params;         /* owned; may be NULL */
    uint64_t deadline_ns;  /* CLOCK_MONOTONIC */
    cJSON *result;         /* set by the executor on success (owned) */
    char error[200];       /* set by the executor on failure */
    /* heapsnapshot: the graph the executor built (owned), which the agent thread sends in binary frames before
     * the reply (docs/PROTOCOL.md section 6), then frees. */
    struct ms__heapgraph *graph;
    /* heapsnapshot: the graph's memory, made ready by the agent thread when the request came (NULL: none); after
     * the build it holds the walk's work arrays, freed with the request on the agent thread. */
    struct ms__heapgraph_reserve *reserve;
};

/* Non-zero while requests wait for a safe point. */
extern atomic_int ms__agent_pending;

/* Runs every pending request on the calling thread, which owns the runtime. */
void ms__agent_run_pending(void);

/* Executes one request: fills r->result, or r->error on failure. Needs the runtime. */
void ms__agent_execute(ms__request *r);

/* The stats message of docs/PROTOCOL.md section 4, built from statistics that any thread may read. NULL when
 * memory is short. */
cJSON *ms__agent_stats_json(uint64_t seq, uint64_t dropped);

/* True once a thread other than the agent's has taken the runtime lock: the program follows the lock protocol,
 * so the agent thread may run requests under ms_trylock(). */
extern atomic_bool ms__lock_adopted;

/* A safe point for code paths that own the runtime (ms_poll, GC-object allocation). */
static inline void ms__agent_safepoint(void)
{
    if (__builtin_expect(atomic_load_explicit(&ms__agent_pending, memory_order_relaxed) != 0, 0))
        ms__agent_run_pending();
}

#pragma GCC visibility pop

#endif /* MEMSCOPE_CLIENT_AGENT_INTERNAL_H */

/*
 * memscope/agent.h — the agent: exports this process's heap, refcount, pool, GC and tracing statistics to the
 * memscoped daemon and runs the daemon's requests (collect, tracing, thresholds).
 *
 * Contract
 *   - Zero code needed: when the program starts (before main(), or when the shared library is loaded), a
 *     constructor of libmemscope calls ms_init() if the environment names a daemon (MEMSCOPE_SOCKET), and the
 *     agent connects whatever the program then does: small or large allocations, only collections, nothing at
 *     all. Nothing else starts it (the allocator, the objects and the collector never do). A program that sets
 *     the variables itself, after it started, calls ms_init() or ms_agent_start(). Without a daemon configured
 *     the agent costs nothing: no thread, no socket, no check on any hot path.
 *   - Environment: MEMSCOPE_SOCKET (the daemon's Unix socket), MEMSCOPE_APP_NAME (default: the program name),
 *     MEMSCOPE_INTERVAL_MS (default 1000, 10 .. 3600000), MEMSCOPE_DISABLE=1 (never start).
 *   - The agent runs in its own thread and never touches the heap or the objects: it reads statistics, which are
 *     safe to read from any thread. The app never blocks on it: the socket is non-blocking, the outgoing buffer is
 *     bounded (stale statistics are dropped and counted rather than queued), the daemon may be absent, slow or
 *     gone (the agent reconnects with backoff), and no SIGPIPE reaches the app.
 *   - Requests from the daemon (collect, start/stop tracing, snapshots, thresholds) change the heap, so they run on
 *     the app's side, at a *safe point*: ms_poll(), or the allocation of a GC-tracked object (where an automatic
 *     collection could run anyway). A program that uses the runtime lock (ms_lock) also has them run by the agent
 *     thread whenever the lock is free. A request that finds no safe point within its deadline is answered with a
 *     timeout error.
 *   - Wire protocol: docs/PROTOCOL.md.
 */
#ifndef MEMSCOPE_AGENT_H
#define MEMSCOPE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <memscope/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ms_agent_config {
    const char *socket_path; /* the daemon's socket; required */
    const char *app_name;    /* NULL: the program name */
    unsigned interval_ms;    /* 0: 1000 */
    unsigned request_timeout_ms; /* how long a request may wait for a safe point; 0: 4000 */
    size_t max_buffered;     /* bound of the outgoing buffer in bytes; 0: 4 MiB. Stats beyond it are dropped. */
} ms_agent_config;

/*
 * Initializes the runtime: starts the agent from the environment when MEMSCOPE_SOCKET is set and MEMSCOPE_DISABLE
 * is not 1. Idempotent and thread-safe: only the first call reads the environment, later ones return its result.
 * libmemscope's constructor makes that first call at program start when MEMSCOPE_SOCKET is set; otherwise the
 * first explicit call does. Returns 0, or the negative error of ms_agent_start, also printed on stderr (the
 * runtime works either way).
 */
MS_API int ms_init(void);

/*
 * Starts the agent thread with cfg (NULL: from the environment, as ms_init does). Returns 0, -EALREADY when it
 * runs already, -EINVAL for a missing or too long socket path, -ENOMEM, or another negative errno when the thread
 * cannot be created. The daemon need not be up: the agent connects when it appears.
 */
MS_API int ms_agent_start(const ms_agent_config *cfg);

/* Stops the agent thread, says goodbye to the daemon, and answers queued requests with an error. Idempotent. */
MS_API void ms_agent_stop(void);

/* A safe point: runs the daemon's queued requests on the calling thread (which must own the runtime), and unmaps
 * empty arenas whose decay time has passed (memscope/mem.h). Cheap when nothing is queued or cached: two loads
 * (in a library built with -Ddebug_level=3 it also checks the whole heap, ms_mem_validate: O(heap)). */
MS_API void ms_poll(void);

/* What the agent has done so far; any thread, any time. */
typedef struct ms_agent_status {
    bool running;             /* the agent thread exists */
    bool connected;           /* the daemon welcomed us and the connection is up */
    uint64_t app_id;          /* the daemon's id for this process while connected */
    uint64_t connects;        /* successful handshakes */
    uint64_t stats_sent;      /* stats messages fully queued to the socket */
    uint64_t stats_dropped;   /* stats messages dropped because the outgoing buffer was full */
    uint64_t requests_done;   /* requests answered (ok or error) */
    uint64_t requests_timed_out;
    uint64_t protocol_errors; /* frames from the daemon that were malformed */
} ms_agent_status;
MS_API void ms_agent_status_get(ms_agent_status *out);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCOPE_AGENT_H */

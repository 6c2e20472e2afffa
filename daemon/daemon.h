/*
 * daemon/daemon.h — what the files of memscoped share: the configuration, the daemon context, and the small
 * helpers every module needs (reference-counted byte blobs, clocks, logging).
 *
 * Threads: memscoped has one loop thread. libuv drives everything — the Unix socket of the apps (ipc.c), the
 * HTTP server (http.c runs libmicrohttpd in external-epoll mode from a uv_poll on MHD's epoll fd), timers and
 * signals — so the registry, the pending requests and every cached document are touched from the loop thread
 * only and need no lock. Slow work (the snapshot stores' disk I/O and the heap analysis: snapstore.c, heapstore.c)
 * runs on one worker thread (worker.c) on data it owns, and hands its result back to the loop; the worker leaves
 * when idle, so that an idle daemon is one
 * thread (a process with threads pays on every socket call). No callback on the loop blocks: no fsync, no directory
 * walk, no large read. One exception, by design: --web-dir (for whoever edits the dashboard) reads the
 * requested file on the loop, a few KiB from the page cache; the embedded dashboard is served from memory.
 *
 * Layers (each includes only the ones below it; daemon/README.md draws the graph):
 *   main.c                           wiring and configuration
 *   ipc.c request.c | http.c          the apps' socket | the HTTP driver, dispatching through route.h's table
 *   api.c sse.c web.c metrics_view.c  the views (routes.c lists their URLs), appdoc.c (documents), snapstore.c
 *                                    and heapstore.c (trace and heap snapshots), worker.c (their thread)
 *   registry.c                       apps, their typed models and history, listeners
 *   core (msd_core, pure)            blob log json frame message stats history snapshot metrics host token
 *                                    heapanalysis
 *
 * Read main.c first (startup and shutdown order), then ipc.c (apps), then routes.c (what users see).
 */
#ifndef MEMSCOPE_DAEMON_H
#define MEMSCOPE_DAEMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#ifndef MSD_VERSION
#  error "MSD_VERSION comes from meson (daemon/meson.build): the project's version"
#endif
#define MSD_PROTOCOL_VERSION MSC_PROTOCOL_VERSION

/* Everything main.c parses from the command line. Strings are owned by the config (msd_config_free). */
typedef struct msd_config {
    char *socket_path;     /* Unix socket apps connect to */
    char *http_host;       /* numeric address to bind the HTTP server to ("127.0.0.1") */
    int http_port;         /* 0: let the kernel choose (printed on stdout) */
    char *token_file;      /* read the token from here instead of generating one (NULL: generate) */
    char *data_dir;        /* where trace and heap snapshots are stored */
    char *web_dir;         /* --web-dir resolved (realpath), or NULL: the embedded dashboard */
    double retain_s;       /* keep disconnected apps this long */
    double history_s;      /* length of the per-app history window */
    int request_timeout_ms;/* how long an API request waits for the app's reply */
    double gc_rate;        /* remote collections per second per app (token bucket of the same depth); 0: no limit */
    int max_apps;          /* connections accepted at once */
    int http_connections;  /* HTTP connections accepted at once */
    int metrics_top_types; /* per-type /metrics series for this many types per app */
    uint64_t heapsnapshot_max; /* largest heap graph (wire image bytes) accepted from an app */
    bool verbose;
} msd_config;

void msd_config_free(msd_config *cfg);

/* ---- Reference-counted immutable byte blobs --------------------------------------------------------------
 * A document is serialized once into a blob; every response that serves it takes a reference, so a new one
 * can replace the cached one while older responses are still being sent. */
typedef struct msd_blob {
    unsigned refs;
    size_t len;
    size_t cap;            /* bytes of data (len <= cap): the sole owner (refs == 1) may rewrite it in place */
    char *data;            /* the bytes, followed by a NUL: inline (below) or adopted (msd_blob_adopt) */
    char inline_data[];
} msd_blob;

/* A new blob holding a copy of data[0..len) plus a NUL (not counted in len); data NULL leaves the bytes for the
 * caller to fill (who may then lower len). NULL when out of memory. */
msd_blob *msd_blob_new(const void *data, size_t len);
/* A blob of the bytes a malloc'ed buffer holds, without copying them: takes p (p[len] must be a NUL; cap >= len is
 * the size of the allocation but its NUL). NULL when out of memory, and then p is freed. */
msd_blob *msd_blob_adopt(char *p, size_t len, size_t cap);
/* Takes ownership of a malloc'ed NUL-terminated string (cJSON_Print output); frees it. NULL when out of memory
 * (the string is freed anyway) or when s is NULL. */
msd_blob *msd_blob_from_string(char *s);
msd_blob *msd_blob_ref(msd_blob *b);
void msd_blob_unref(msd_blob *b); /* NULL is fine */

/* ---- Clocks and logs --------------------------------------------------------------------------------------- */
double msd_now_wall(void); /* Unix time in seconds (for humans and the API) */
double msd_now_mono(void); /* monotonic seconds (for timeouts, rate limits and windows) */

void msd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A log line only with --verbose. */
#define msd_debug(d, ...)                                                                                      \
    do {                                                                                                       \
        if ((d)->cfg.verbose)                                                                                  \
            msd_log(__VA_ARGS__);                                                                              \
    } while (0)

/* ---- The daemon context ------------------------------------------------------------------------------------ */

/* The daemon's own counters (GET /metrics). Plain integers: only the loop thread touches them. */
#define MSD_HTTP_CODES 600
typedef struct msd_counters {
    uint64_t frames_received;  /* whole frames decoded from apps (ipc.c) */
    uint64_t frames_malformed; /* frames with a bad length, or payloads that failed parsing or validation */
    uint64_t http_requests[MSD_HTTP_CODES]; /* requests answered, by status code 100..599 (http.c) */
    uint64_t streams_dropped;  /* event streams dropped for falling behind (sse.c) */
} msd_counters;

struct msd_registry;
struct msd_ipc;
struct msd_http;
struct msd_sse;
struct msd_snapstore;
struct msd_heapstore;
struct msd_worker;
struct msd_route;
struct uv_loop_s;

/* One per process, owned by main.c and passed to every module: the only state that is not some module's own
 * object. */
typedef struct msd_daemon {
    struct uv_loop_s *loop;
    msd_config cfg;
    char token[65];        /* hex, NUL-terminated */
    double started;        /* wall time the daemon started */
    msd_counters counters;
    struct msd_registry *reg;
    struct msd_ipc *ipc;
    struct msd_http *http;
    struct msd_sse *sse;
    struct msd_snapstore *snaps;
    struct msd_heapstore *heaps;
    struct msd_worker *worker;     /* the disk and analysis thread the stores share (worker.h) */
    const struct msd_route *routes; /* the URL table (routes.c), handed to the HTTP driver */
    size_t nroutes;
    bool stopping;
} msd_daemon;

#endif /* MEMSCOPE_DAEMON_H */

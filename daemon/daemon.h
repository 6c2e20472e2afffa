/*
 * daemon/daemon.h — what the files of memscoped share: the configuration, the daemon object, and the small
 * helpers every module needs (reference-counted byte blobs, clocks, logging).
 *
 * Threads: memscoped has exactly one thread. libuv drives everything — the Unix socket of the apps (ipc.c), the
 * HTTP server (http.c runs libmicrohttpd in external-epoll mode from a uv_poll on MHD's epoll fd), timers and
 * signals. So the registry, the pending requests and every cached document are touched from the loop thread only
 * and need no lock. Keep it that way: a callback that wants to do slow work must not block the loop.
 *
 * Read main.c first (startup and shutdown order), then ipc.c (apps), then api.c (what users see).
 */
#ifndef MEMSCOPE_DAEMON_H
#define MEMSCOPE_DAEMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSD_VERSION "0.1.0"
#define MSD_PROTOCOL_VERSION 1

/* Everything main.c parses from the command line. Strings are owned by the config (msd_config_free). */
typedef struct msd_config {
    char *socket_path;     /* Unix socket apps connect to */
    char *http_host;       /* numeric address to bind the HTTP server to ("127.0.0.1") */
    int http_port;         /* 0: let the kernel choose (printed on stdout) */
    char *token_file;      /* read the token from here instead of generating one (NULL: generate) */
    char *data_dir;        /* where trace snapshots are stored */
    double retain_s;       /* keep disconnected apps this long */
    double history_s;      /* length of the per-app history window */
    int request_timeout_ms;/* how long an API request waits for the app's reply */
    double gc_rate;        /* remote collections per second per app (token bucket of the same depth); 0: no limit */
    int max_apps;          /* connections accepted at once */
    int http_connections;  /* HTTP connections accepted at once */
    bool verbose;
} msd_config;

void msd_config_free(msd_config *cfg);

/* ---- Reference-counted immutable byte blobs --------------------------------------------------------------
 * A sample's JSON is serialized once into a blob; every GET that serves it takes a reference, so a new sample
 * can replace the cached one while older responses are still being sent. */
typedef struct msd_blob {
    unsigned refs;
    size_t len;
    size_t cap;            /* bytes of data (len <= cap): the sole owner (refs == 1) may rewrite it in place */
    char data[];
} msd_blob;

/* A new blob holding a copy of data[0..len) plus a NUL (not counted in len); data NULL leaves the bytes for the
 * caller to fill (who may then lower len). NULL when out of memory. */
msd_blob *msd_blob_new(const void *data, size_t len);
/* Takes ownership of a malloc'ed NUL-terminated string (cJSON_Print output); frees it. NULL when out of memory
 * (the string is freed anyway) or when s is NULL. */
msd_blob *msd_blob_from_string(char *s);
msd_blob *msd_blob_ref(msd_blob *b);
void msd_blob_unref(msd_blob *b); /* NULL is fine */

/* ---- Clocks and logs --------------------------------------------------------------------------------------- */
double msd_now_wall(void); /* Unix time in seconds (for humans and the API) */
double msd_now_mono(void); /* monotonic seconds (for timeouts, rate limits and windows) */

void msd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msd_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool msd_verbose;

/* The daemon: one per process, owned by main.c, passed to every module. */
struct msd_registry;
struct msd_ipc;
struct msd_http;
struct uv_loop_s;

typedef struct msd_daemon {
    struct uv_loop_s *loop;
    msd_config cfg;
    char token[65];        /* hex, NUL-terminated */
    struct msd_registry *reg;
    struct msd_ipc *ipc;
    struct msd_http *http;
    bool stopping;
} msd_daemon;

#endif /* MEMSCOPE_DAEMON_H */

/*
 * tests/integration/harness.h — helpers for tests that run a real memscoped and real test agents (fake_app):
 * starting and stopping processes, an HTTP client (libcurl) and polling with a deadline.
 *
 * The binaries come from the environment (meson sets MEMSCOPED and FAKE_APP). Every daemon gets a fresh private
 * directory under $TMPDIR and an HTTP port chosen by the kernel (--http 127.0.0.1:0; the port is read from the
 * URL line the daemon prints). Children die with the test process (PR_SET_PDEATHSIG).
 */
#ifndef MEMSCOPE_TESTS_HARNESS_H
#define MEMSCOPE_TESTS_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "../test_then.h"

typedef struct daemon_proc {
    pid_t pid;
    int out_fd;          /* read end of the daemon's stdout */
    int port;
    char token[80];
    char dir[256];       /* private temporary directory (removed by daemon_stop) */
    char socket[320];
    char base[64];       /* "http://127.0.0.1:PORT" */
} daemon_proc;

/* Starts memscoped with --socket DIR/run/memscoped.sock --http 127.0.0.1:0 --data-dir DIR/data plus the extra
 * NULL-terminated arguments (may be NULL), and waits (at most 5 s) for it to print its URL.
 * Returns 0, or -1 when it exited or did not get ready (then *d holds nothing to stop). */
int daemon_start(daemon_proc *d, const char *const *extra);

/* Starts memscoped with exactly these arguments (argv[0] added) and returns its exit status, waiting at most
 * timeout_ms (-1 when it had to be killed). Its stdout+stderr go to *output (malloc'ed) when output != NULL. */
int daemon_run_expect_exit(const char *const *args, int timeout_ms, char **output);

/* SIGTERM, wait up to 5 s (then SIGKILL); returns the exit status (or -1 when killed or already gone) and removes
 * the directory. */
int daemon_stop(daemon_proc *d);

/* Starts fake_app --socket d->socket plus args (NULL-terminated, may be NULL). Returns its pid. */
pid_t app_start(const daemon_proc *d, const char *const *args);
/* The same as another user (needs root): the child drops to uid/gid before exec. */
pid_t app_start_as(const daemon_proc *d, uid_t uid, gid_t gid, const char *const *args);

/* Waits at most timeout_ms for pid to exit; returns its exit code, 128+signal, or -1 on timeout. */
int proc_wait(pid_t pid, int timeout_ms);
void proc_kill(pid_t pid); /* SIGKILL and reap */

/* One HTTP request. method "GET"/"POST"/...; path like "/api/v1/apps"; body may be NULL; token NULL sends no
 * Authorization header; host NULL keeps curl's Host header. Returns the status code (0 on transport failure) and
 * the body in *out (malloc'ed, may be NULL when out is NULL). */
long http_req(const daemon_proc *d, const char *method, const char *path, const char *body, const char *token,
              const char *host, char **out);
/* A GET of a file: its body (malloc'ed, NUL-terminated past len; free it) and two of its headers. */
typedef struct http_file {
    char *body;
    size_t len;
    char disposition[512], type[128]; /* Content-Disposition, Content-Type ("" when absent) */
} http_file;
long http_get_file(const daemon_proc *d, const char *path, http_file *f);
/* The same, parsing the body as JSON into *json (NULL when not JSON). */
long http_json(const daemon_proc *d, const char *method, const char *path, const char *body, const char *token,
               cJSON **json);

/* Polls cond(arg) every 20 ms until it is true or timeout_ms passed. Returns its last value. */
bool wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* The app entry with this name in GET /api/v1/apps (a copy to free), or NULL. */
cJSON *find_app(const daemon_proc *d, const char *name);



/* Waits (at most timeout_ms) until GET /api/v1/apps lists an app called name whose "connected" is `connected`
 * and that has sent at least min_samples stats. Returns its id, or -1 on timeout. */
long wait_app(const daemon_proc *d, const char *name, bool connected, int min_samples, int timeout_ms);

/* Number of the app's stats samples right now (-1 when unknown). */
long app_samples(const daemon_proc *d, const char *name);

#endif /* MEMSCOPE_TESTS_HARNESS_H */

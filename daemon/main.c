/*
 * daemon/main.c — memscoped: flags, startup, signals and shutdown. Read this file first.
 *
 * Startup order (each step undone in reverse on failure, through the fail_* labels):
 *   1. parse flags                     -> exit 2 with a message on a bad flag
 *   2. claim the app socket            -> exit 1 if a live daemon holds it (stale ones are removed)
 *   3. token (generated or --token-file), written 0600 beside the socket
 *   4. registry, app server (ipc.c), HTTP server (http.c)  -> exit 1 on a busy port
 *   5. print the dashboard URL with the token on stdout, then run the loop
 * Shutdown (SIGINT/SIGTERM): stop accepting, close the apps (their pending API requests are answered), stop HTTP,
 * let the loop close every handle, remove the socket and the token file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "daemon.h"
#include "heapstore.h"
#include "http.h"
#include "ipc.h"
#include "metrics.h"
#include "registry.h"
#include "route.h"
#include "snapstore.h"
#include "sockpath.h"
#include "sse.h"
#include "token.h"
#include "web.h"
#include "worker.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: memscoped [OPTION]...\n"
            "Collects live memory statistics from apps linked with libmemscope and serves them as a JSON API.\n"
            "\n"
            "  --socket PATH           Unix socket for apps (default $XDG_RUNTIME_DIR/memscope/memscoped.sock,\n"
            "                          /run/memscope/memscoped.sock for root); apps find it via MEMSCOPE_SOCKET\n"
            "  --http ADDR:PORT        HTTP address (default 127.0.0.1:7070; port 0 picks a free port;\n"
            "                          IPv6 as [::1]:7070)\n"
            "  --token-file FILE       read the API token from FILE instead of generating one\n"
            "  --data-dir DIR          where trace and heap snapshots are stored (default $XDG_STATE_HOME/memscope,\n"
            "                          ~/.local/state/memscope, /var/lib/memscope for root)\n"
            "  --retain SECONDS        keep disconnected apps this long (default 600)\n"
            "  --history SECONDS       per-app history window (default 900)\n"
            "  --request-timeout MS    how long an API request waits for the app (default 5000); a heap snapshot\n"
            "                          waits this long after each of its frames\n"
            "  --heapsnapshot-max BYTES  largest heap graph accepted from an app (default 2147483648: 2 GiB;\n"
            "                          suffixes K, M, G); a larger one fails with HTTP 507\n"
            "  --gc-rate N             remote collections allowed per second per app, 0 = unlimited (default 2)\n"
            "  --max-apps N            app connections accepted at once (default 10000)\n"
            "  --max-http N            HTTP connections accepted at once (default 256)\n"
            "  --metrics-top-types K   GET /metrics has per-type series for the K largest types of each app by bytes\n"
            "                          (default 20; 0: none), so that the number of series stays bounded\n"
            "  --web-dir DIR           serve the dashboard from DIR (e.g. web/) instead of the embedded copy\n"
            "  -v, --verbose           log more\n"
            "  -h, --help              show this help and exit\n"
            "      --version           print the version and exit\n"
            "\n"
            "The token is written to the file beside the socket (memscoped.token) and printed in the URL.\n"
            "Every POST needs the header 'Authorization: Bearer TOKEN'. Protocol: docs/PROTOCOL.md.\n");
}

void msd_config_free(msd_config *cfg)
{
    free(cfg->socket_path);
    free(cfg->http_host);
    free(cfg->token_file);
    free(cfg->data_dir);
    free(cfg->web_dir);
    memset(cfg, 0, sizeof(*cfg));
}

static int parse_double(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "memscoped: %s: \"%s\" is not a number from %g to %g\n", flag, v, lo, hi);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

/* "ADDR:PORT", "[V6]:PORT" or ":PORT". */
static int parse_http(const char *v, msd_config *cfg)
{
    const char *colon = strrchr(v, ':');
    if (!colon) {
        fprintf(stderr, "memscoped: --http: expected ADDR:PORT, got \"%s\"\n", v);
        return -EINVAL;
    }
    double port;
    if (parse_double("--http port", colon + 1, 0, 65535, &port) < 0 || port != (int)port)
        return -EINVAL;
    size_t n = (size_t)(colon - v);
    char *host;
    if (n == 0)
        host = strdup("127.0.0.1");
    else if (v[0] == '[' && n >= 2 && v[n - 1] == ']')
        host = strndup(v + 1, n - 2);
    else
        host = strndup(v, n);
    if (!host)
        return -ENOMEM;
    unsigned char addr[sizeof(struct in6_addr)];
    if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1) {
        fprintf(stderr, "memscoped: --http: \"%s\" is not a numeric IPv4/IPv6 address or localhost\n", host);
        free(host);
        return -EINVAL;
    }
    free(cfg->http_host);
    cfg->http_host = host;
    cfg->http_port = (int)port;
    return 0;
}

static char *default_data_dir(void)
{
    char *out = NULL;
    const char *s = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int rc;
    if (geteuid() == 0)
        rc = asprintf(&out, "/var/lib/memscope");
    else if (s && s[0] == '/')
        rc = asprintf(&out, "%s/memscope", s);
    else if (home && home[0] == '/')
        rc = asprintf(&out, "%s/.local/state/memscope", home);
    else
        rc = asprintf(&out, "/tmp/memscope-%u", (unsigned)geteuid());
    return rc < 0 ? NULL : out;
}

enum { O_SOCKET = 256, O_HTTP, O_TOKEN, O_DATA, O_RETAIN, O_HISTORY, O_TIMEOUT, O_GCRATE, O_MAXAPPS, O_MAXHTTP,
       O_VERSION, O_WEBDIR, O_TOPTYPES, O_HEAPMAX };

#define HEAPSNAPSHOT_MAX_DEFAULT (2ull << 30)
#define HEAPSNAPSHOT_MAX_LIMIT (1ull << 40) /* far above any graph of MSC_HG_NODES_MAX nodes */

/* --heapsnapshot-max: bytes, with an optional K, M or G (powers of 1024). 0, or -EINVAL after saying why. */
static int parse_bytes(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    unsigned shift = 0;
    if (end != v && (*end == 'K' || *end == 'k')) shift = 10, end++;
    else if (end != v && (*end == 'M' || *end == 'm')) shift = 20, end++;
    else if (end != v && (*end == 'G' || *end == 'g')) shift = 30, end++;
    if (errno || end == v || *end || v[0] == '-' || x == 0 || x > (HEAPSNAPSHOT_MAX_LIMIT >> shift)) {
        fprintf(stderr, "memscoped: --heapsnapshot-max: \"%s\" is not a size from 1 byte to 1024G\n", v);
        return -EINVAL;
    }
    *out = (uint64_t)x << shift;
    return 0;
}

/* The numeric options: their range, whether they are whole numbers, and the field of the config they set. */
static const struct {
    int id;
    const char *flag;
    double lo, hi;
    bool whole;
    size_t off; /* of a double, or of an int when whole */
} numeric[] = {
    {O_RETAIN, "--retain", 0, 365 * 86400.0, false, offsetof(msd_config, retain_s)},
    {O_HISTORY, "--history", 1, 7 * 86400.0, false, offsetof(msd_config, history_s)},
    {O_TIMEOUT, "--request-timeout", 1, 600000, true, offsetof(msd_config, request_timeout_ms)},
    {O_GCRATE, "--gc-rate", 0, 1e6, false, offsetof(msd_config, gc_rate)},
    {O_MAXAPPS, "--max-apps", 1, 1000000, true, offsetof(msd_config, max_apps)},
    {O_MAXHTTP, "--max-http", 1, 100000, true, offsetof(msd_config, http_connections)},
    {O_TOPTYPES, "--metrics-top-types", 0, MSD_METRICS_TOP_TYPES_MAX, true, offsetof(msd_config, metrics_top_types)},
};

/* Option id's value v into the config: 0, or -EINVAL after saying why. */
static int parse_number(int id, const char *v, msd_config *cfg)
{
    for (size_t i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++) {
        if (numeric[i].id != id)
            continue;
        double x;
        if (parse_double(numeric[i].flag, v, numeric[i].lo, numeric[i].hi, &x) < 0)
            return -EINVAL;
        if (numeric[i].whole && x != floor(x)) {
            fprintf(stderr, "memscoped: %s: \"%s\" is not a whole number\n", numeric[i].flag, v);
            return -EINVAL;
        }
        if (numeric[i].whole)
            *(int *)(void *)((char *)cfg + numeric[i].off) = (int)x;
        else
            *(double *)(void *)((char *)cfg + numeric[i].off) = x;
        return 0;
    }
    return -EINVAL;
}

/* Returns 0 to run, 1 to exit 0 (help, version), or -EINVAL/-ENOMEM to exit with an error. */
static int parse_flags(int argc, char **argv, msd_config *cfg)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, O_SOCKET}, {"http", required_argument, NULL, O_HTTP},
        {"token-file", required_argument, NULL, O_TOKEN}, {"data-dir", required_argument, NULL, O_DATA},
        {"retain", required_argument, NULL, O_RETAIN}, {"history", required_argument, NULL, O_HISTORY},
        {"request-timeout", required_argument, NULL, O_TIMEOUT}, {"gc-rate", required_argument, NULL, O_GCRATE},
        {"max-apps", required_argument, NULL, O_MAXAPPS}, {"max-http", required_argument, NULL, O_MAXHTTP},
        {"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION}, {"web-dir", required_argument, NULL, O_WEBDIR},
        {"metrics-top-types", required_argument, NULL, O_TOPTYPES},
        {"heapsnapshot-max", required_argument, NULL, O_HEAPMAX},
        {NULL, 0, NULL, 0},
    };
    *cfg = (msd_config){.retain_s = 600, .history_s = 900, .request_timeout_ms = 5000, .gc_rate = 2,
                        .max_apps = 10000, .http_connections = 256, .http_port = 7070,
                        .metrics_top_types = MSD_METRICS_TOP_TYPES_DEFAULT,
                        .heapsnapshot_max = HEAPSNAPSHOT_MAX_DEFAULT};
    int c, li = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":vh", opts, &li)) != -1) {
        char **dst = NULL;
        switch (c) {
        case O_SOCKET: dst = &cfg->socket_path; break;
        case O_TOKEN: dst = &cfg->token_file; break;
        case O_DATA: dst = &cfg->data_dir; break;
        case O_HTTP:
            if (parse_http(optarg, cfg) < 0)
                return -EINVAL;
            break;
        case O_WEBDIR:
            if (msd_web_resolve_dir(optarg, &cfg->web_dir) < 0)
                return -EINVAL;
            break;
        case O_RETAIN: case O_HISTORY: case O_TIMEOUT: case O_GCRATE: case O_MAXAPPS: case O_MAXHTTP: case O_TOPTYPES:
            if (parse_number(c, optarg, cfg) < 0)
                return -EINVAL;
            break;
        case O_HEAPMAX:
            if (parse_bytes(optarg, &cfg->heapsnapshot_max) < 0)
                return -EINVAL;
            break;
        case 'v': cfg->verbose = true; break;
        case 'h': usage(stdout); return 1;
        case O_VERSION: printf("memscoped %s (protocol %d)\n", MSD_VERSION, MSD_PROTOCOL_VERSION); return 1;
        case ':':
            fprintf(stderr, "memscoped: %s needs a value\n", argv[optind - 1]);
            return -EINVAL;
        default:
            fprintf(stderr, "memscoped: unknown option %s (see --help)\n", argv[optind - 1]);
            return -EINVAL;
        }
        if (dst) {
            /* The option's own name (li): --x "" and --x= are one argument or two, so argv cannot tell. */
            if (!optarg[0]) {
                fprintf(stderr, "memscoped: --%s needs a non-empty value\n", opts[li].name);
                return -EINVAL;
            }
            char *copy = strdup(optarg);
            if (!copy)
                return -ENOMEM;
            free(*dst); /* a repeated option: the last one counts */
            *dst = copy;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "memscoped: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return -EINVAL;
    }
    if (!cfg->http_host && !(cfg->http_host = strdup("127.0.0.1")))
        return -ENOMEM;
    if (!cfg->socket_path && !(cfg->socket_path = msd_socket_default_path())) {
        fprintf(stderr, "memscoped: XDG_RUNTIME_DIR is not set; choose a socket with --socket PATH\n");
        return -EINVAL;
    }
    if (!cfg->data_dir && !(cfg->data_dir = default_data_dir()))
        return -ENOMEM;
    return 0;
}

/* Each app is a connection: lift the soft fd limit to the hard one so --max-apps is what limits us. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* main()'s own handles, beside the daemon context they act on. */
typedef struct process {
    msd_daemon d;
    uv_signal_t sig_int, sig_term;
    uv_timer_t housekeeping;
} process;

static void on_housekeeping(uv_timer_t *t)
{
    process *p = t->data;
    msd_registry_sweep(p->d.reg, msd_now_mono());
}

/* Shutdown: every module that answers HTTP requests late (ipc: the apps' replies; the snapshot stores: their jobs;
 * the event streams) answers or ends them before the HTTP driver stops. The worker finishes the item it is
 * running (its result dropped), and the loop ends once it has handed it back. */
static void on_signal(uv_signal_t *s, int signum)
{
    process *p = s->data;
    msd_daemon *d = &p->d;
    if (d->stopping)
        return;
    d->stopping = true;
    msd_log("%s: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    msd_ipc_stop(d);
    msd_snapstore_stop(d);
    msd_heapstore_stop(d);
    msd_worker_stop(d);
    msd_sse_stop(d);
    msd_http_stop(d);
    uv_close((uv_handle_t *)&p->sig_int, NULL);
    uv_close((uv_handle_t *)&p->sig_term, NULL);
    uv_timer_stop(&p->housekeeping);
    uv_close((uv_handle_t *)&p->housekeeping, NULL);
}

int main(int argc, char **argv)
{
    process proc = {0};
    msd_daemon *d = &proc.d;
    int rc = parse_flags(argc, argv, &d->cfg);
    if (rc != 0) {
        msd_config_free(&d->cfg);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a peer that goes away is an error return, not a death */
    raise_fd_limit();
    int status = 1;
    int listen_fd, lock_fd, port = 0;
    d->started = msd_now_wall();
    d->routes = msd_routes;
    d->nroutes = msd_routes_count;
    char *token_path = msd_socket_sibling(d->cfg.socket_path, ".token");
    if (!token_path)
        goto fail_config;
    if (msd_socket_listen(d->cfg.socket_path, &listen_fd, &lock_fd) < 0)
        goto fail_config;
    if (msd_token_init(d->cfg.token_file, token_path, d->token) < 0)
        goto fail_socket;
    d->loop = uv_default_loop();
    if (!(d->reg = msd_registry_new(&d->cfg)))
        goto fail_token;
    if (msd_ipc_start(d, listen_fd) < 0)
        goto fail_registry;
    if (msd_worker_start(d) < 0 || msd_snapstore_start(d) < 0 || msd_heapstore_start(d) < 0 || msd_sse_start(d) < 0) {
        msd_log("out of memory");
        goto fail_ipc;
    }
    if (msd_http_start(d, &port) < 0)
        goto fail_ipc;
    uv_signal_init(d->loop, &proc.sig_int);
    uv_signal_init(d->loop, &proc.sig_term);
    proc.sig_int.data = proc.sig_term.data = proc.housekeeping.data = &proc;
    uv_signal_start(&proc.sig_int, on_signal, SIGINT);
    uv_signal_start(&proc.sig_term, on_signal, SIGTERM);
    uv_timer_init(d->loop, &proc.housekeeping);
    uv_timer_start(&proc.housekeeping, on_housekeeping, 1000, 1000);

    const char *h = d->cfg.http_host;
    bool v6 = strchr(h, ':') != NULL;
    const char *shown = strcmp(h, "0.0.0.0") == 0 || strcmp(h, "localhost") == 0 ? "127.0.0.1"
                      : strcmp(h, "::") == 0 ? "::1" : h;
    printf("memscoped %s: apps connect to %s\n", MSD_VERSION, d->cfg.socket_path);
    printf("memscoped: dashboard and API at http://%s%s%s:%d/?token=%s\n", v6 ? "[" : "", shown, v6 ? "]" : "", port,
           d->token);
    fflush(stdout);

    uv_run(d->loop, UV_RUN_DEFAULT);
    status = 0;
    msd_http_free(d);
    msd_sse_free(d);
    msd_snapstore_free(d);
    msd_heapstore_free(d);
    msd_worker_free(d);
    msd_ipc_free(d);
    msd_registry_free(d->reg);
    d->reg = NULL;
    unlink(token_path);
    msd_socket_close(d->cfg.socket_path, lock_fd);
    if (uv_loop_close(d->loop) != 0)
        msd_log("warning: handles left open at exit");
    free(token_path);
    msd_config_free(&d->cfg);
    return status;

fail_ipc:
    msd_sse_stop(d);
    msd_snapstore_stop(d);
    msd_heapstore_stop(d);
    msd_worker_stop(d);
    msd_ipc_stop(d);
    uv_run(d->loop, UV_RUN_DEFAULT);
    msd_sse_free(d);
    msd_snapstore_free(d);
    msd_heapstore_free(d);
    msd_worker_free(d);
    msd_ipc_free(d);
    listen_fd = -1; /* closed with the ipc handle */
fail_registry:
    msd_registry_free(d->reg);
fail_token:
    unlink(token_path);
fail_socket:
    if (listen_fd >= 0)
        close(listen_fd);
    msd_socket_close(d->cfg.socket_path, lock_fd);
fail_config:
    free(token_path);
    msd_config_free(&d->cfg);
    return status;
}

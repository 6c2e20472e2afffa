/*
 * bench/daemon/loadgen.c — N simulated apps speaking docs/PROTOCOL.md to memscoped, for the scale benchmark
 * (bench/daemon/run.sh). What bench/load/loadgen.py does, in C: the Python generator tops out near 5,000
 * messages a second on this machine (building and framing a 4 KB message in Python costs more than the daemon
 * reading it), so at 10,000 apps it measured its own limit rather than the daemon's.
 *
 * Each app is one connection: hello, then the stats message of stats_message.h (3.9 KB, the shape loadgen.py
 * sends) every interval, at a random phase so the daemon sees a steady stream. The messages are rendered once per
 * app; before each send three fixed-width counters are rewritten in place (seq, the heap and object counts), so
 * every message differs and the daemon cannot tell. What the daemon sends is read and dropped (requests are not
 * answered: the benchmark sends none).
 *
 *   loadgen --socket PATH --apps N --seconds S [--interval-ms MS]
 * Prints {"apps", "connected", "sent", "send_errors", "seconds", "rate_per_s"} on stdout at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "stats_message.h"

typedef struct app {
    int fd;
    double next;   /* monotonic seconds of the next send */
    char *msg;     /* frame: 4-byte length + payload */
    size_t len;
    size_t seq_at, pool_at, alive_at; /* offsets of the fixed-width counters in msg */
    unsigned long seq;
} app;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The stats message of app i, framed, with its counters at known offsets. */
static void render(app *a, int i)
{
    char *p = malloc(8192);
    if (!p) {
        perror("loadgen");
        exit(1);
    }
    bench_counters at;
    size_t n = bench_stats_message(p + 4, i, &at);
    p[0] = (char)(n >> 24);
    p[1] = (char)(n >> 16);
    p[2] = (char)(n >> 8);
    p[3] = (char)n;
    a->seq_at = at.seq_at + 4;
    a->pool_at = at.pool_at + 4;
    a->alive_at = at.alive_at + 4;
    a->msg = p;
    a->len = n + 4;
}

static int connect_app(const char *path, int i)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char hello[256];
    int n = snprintf(hello + 4, sizeof(hello) - 4,
                     "{\"type\":\"hello\",\"protocol\":1,\"pid\":%d,\"app\":\"sim%d\",\"library\":\"loadgen.c\","
                     "\"interval_ms\":1000}", 3000000 + i, i);
    hello[0] = hello[1] = 0;
    hello[2] = (char)(n >> 8);
    hello[3] = (char)n;
    if (write(fd, hello, (size_t)n + 4) != n + 4) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Sends all of a frame or fails: a full socket buffer means the daemon is behind, which the benchmark counts. */
static int send_frame(app *a)
{
    size_t off = 0;
    while (off < a->len) {
        ssize_t w = send(a->fd, a->msg + off, a->len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN && off > 0) { /* half a frame is out: finish it */
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    long napps = 100;
    double seconds = 10, interval = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--socket"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "--apps"))
            napps = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--interval-ms"))
            interval = atof(argv[i + 1]) / 1000.0;
    }
    if (!path || napps <= 0 || seconds <= 0 || interval <= 0) {
        fprintf(stderr, "usage: loadgen --socket PATH --apps N --seconds S [--interval-ms MS]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    app *apps = calloc((size_t)napps, sizeof(*apps));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!apps || ep < 0) {
        perror("loadgen");
        return 1;
    }
    srand(42);
    double t0 = now(), end = t0 + seconds;
    long connected = 0;
    for (long i = 0; i < napps; i++) {
        apps[i].fd = connect_app(path, (int)i);
        render(&apps[i], (int)i);
        apps[i].next = t0 + interval * (double)rand() / RAND_MAX;
        if (apps[i].fd < 0)
            continue;
        connected++;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, apps[i].fd, &ev);
    }
    unsigned long sent = 0, errors = 0;
    char sink[65536];
    double start = now();
    while (now() < end) {
        double t = now(), soonest = end;
        for (long i = 0; i < napps; i++) {
            app *a = &apps[i];
            if (a->fd < 0)
                continue;
            if (a->next <= t) {
                a->seq++;
                bench_put_counter(a->msg + a->seq_at, a->seq);
                bench_put_counter(a->msg + a->pool_at, 1000000 + a->seq);
                bench_put_counter(a->msg + a->alive_at, 30000 + (unsigned long)i + a->seq % 7);
                if (send_frame(a) == 0)
                    sent++;
                else
                    errors++;
                a->next += interval;
            }
            if (a->next < soonest)
                soonest = a->next;
        }
        int wait_ms = (int)((soonest - now()) * 1000);
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, wait_ms > 0 ? wait_ms : 0);
        for (int k = 0; k < n; k++) { /* welcome and anything else the daemon says: read and dropped */
            app *a = &apps[evs[k].data.u64];
            ssize_t r = read(a->fd, sink, sizeof(sink));
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, a->fd, NULL);
                close(a->fd);
                a->fd = -1;
                errors++;
            }
        }
    }
    double took = now() - start;
    printf("{\"apps\": %ld, \"connected\": %ld, \"sent\": %lu, \"send_errors\": %lu, \"seconds\": %.2f, "
           "\"rate_per_s\": %.0f, \"message_bytes\": %zu}\n",
           napps, connected, sent, errors, took, (double)sent / took, apps[0].len - 4);
    for (long i = 0; i < napps; i++) {
        if (apps[i].fd >= 0)
            close(apps[i].fd);
        free(apps[i].msg);
    }
    free(apps);
    return 0;
}

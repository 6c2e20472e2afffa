/*
 * threads.c — the statistics and the agent under concurrency, as a plain program (no Criterion): Criterion's
 * workers cannot start under ThreadSanitizer, and this is the test to run under it
 * (meson setup build-tsan -Db_sanitize=thread -Db_lundef=false; meson test -C build-tsan threads).
 *
 * One thread owns the runtime and churns objects, blocks, collections and tracing; another reads every
 * statistic that memscope/runtime.h says any thread may read, and checks that no figure is impossible (a live
 * count above what was ever created, wrapped below 0, or traced memory above its peak); and the agent thread sends stats to a listener of this process (which welcomes it and then
 * only drains the socket) and runs a collection request at ms_poll(). Exit status 0, or 1 with a message.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <memscope/memscope.h>

#define LIVE 500

typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *next;
} node;
static const size_t node_refs[] = {offsetof(node, next), 0};
static const ms_type node_type = {.name = "ThreadNode", .size = sizeof(node), .flags = MS_TYPE_GC,
                                  .ref_offsets = node_refs};

static atomic_bool stop;
static atomic_long reads, violations;

static void violation(const char *what)
{
    if (atomic_fetch_add(&violations, 1) == 0)
        fprintf(stderr, "threads: %s\n", what);
}

static void *reader_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        ms_type_stats ts;
        if (ms_type_stats_find(&node_type, &ts) == 0 &&
            (ts.live_count > ts.created_total || ts.live_count > UINT64_C(1) << 31)) {
            char what[160];
            snprintf(what, sizeof what, "node type: live %llu, created %llu, destroyed %llu: a count no moment had",
                     (unsigned long long)ts.live_count, (unsigned long long)ts.created_total,
                     (unsigned long long)ts.destroyed_total);
            violation(what);
        }
        ms_object_stats os;
        ms_object_stats_get(&os);
        if (os.alive > os.created)
            violation("objects alive above objects created");
        ms_heap_stats hs;
        ms_heap_stats_get(&hs);
        ms_pool_class_stats cls[64];
        (void)ms_pool_class_stats_get_all(cls, 64);
        ms_gc_stats gs[3];
        ms_gc_get_stats(gs);
        int count[3];
        ms_gc_get_count(count);
        size_t cur, peak;
        ms_trace_get_traced_memory(&cur, &peak);
        if (cur > peak)
            violation("traced memory above its peak");
        (void)ms_trace_is_tracing();
        (void)ms_trace_get_memory();
        ms_agent_status st;
        ms_agent_status_get(&st);
        atomic_fetch_add(&reads, 1);
    }
    return NULL;
}

/* A listener that welcomes the agent and drains whatever it sends until the agent hangs up. */
typedef struct daemon {
    int listener;
    char path[108];
} daemon_t;

static void *daemon_main(void *arg)
{
    daemon_t *d = arg;
    int fd = accept(d->listener, NULL, NULL);
    if (fd < 0)
        return NULL;
    static const char welcome[] = "{\"type\":\"welcome\",\"protocol\":1,\"app_id\":1}";
    static const char collect[] = "{\"type\":\"request\",\"id\":1,\"method\":\"gc.collect\",\"params\":{}}";
    const char *frames[] = {welcome, collect};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(frames[i]);
        unsigned char h[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                              (unsigned char)n};
        if (write(fd, h, 4) != 4 || write(fd, frames[i], n) != (ssize_t)n)
            break;
    }
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
    return NULL;
}

int main(void)
{
    daemon_t d = {.listener = socket(AF_UNIX, SOCK_STREAM, 0)};
    snprintf(d.path, sizeof d.path, "/tmp/ms-threads-%d.sock", (int)getpid());
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, d.path, strlen(d.path) + 1);
    unlink(d.path);
    if (d.listener < 0 || bind(d.listener, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(d.listener, 1) != 0) {
        perror("threads: listen");
        return 1;
    }
    pthread_t reader, daemon;
    if (pthread_create(&reader, NULL, reader_main, NULL) != 0 || pthread_create(&daemon, NULL, daemon_main, &d) != 0)
        return 1;
    ms_agent_config cfg = {.socket_path = d.path, .interval_ms = 10};
    if (ms_agent_start(&cfg) != 0) {
        fprintf(stderr, "threads: ms_agent_start failed\n");
        return 1;
    }

    static ms_object *live[LIVE];
    static void *blocks[LIVE];
    ms_agent_status st;
    long start = atomic_load(&reads);
    for (int round = 0; round < 200 || atomic_load(&reads) - start < 200; round++) {
        if (round % 50 == 0)
            ms_trace_start(1 + round % 3);
        for (size_t i = 0; i < LIVE; i++) {
            node *n = (node *)ms_new(&node_type);
            blocks[i] = ms_malloc(16 + i % 300);
            if (!n || !blocks[i])
                return 1;
            n->next = (ms_object *)n; /* a cycle of one: only the collector frees it */
            ms_incref((ms_object *)n);
            live[i] = (ms_object *)n;
        }
        for (size_t i = 0; i < LIVE; i++) {
            ms_decref(live[i]);
            ms_free(blocks[i]);
        }
        if (round % 50 == 49)
            ms_trace_stop();
        ms_poll(); /* the daemon's collection request runs here */
        if (round % 20 == 0)
            (void)ms_gc_collect(round % 3);
    }
    ms_trace_stop();
    (void)ms_gc_collect(2);
    ms_agent_status_get(&st);
    ms_agent_stop();
    atomic_store(&stop, true);
    pthread_join(reader, NULL);
    pthread_join(daemon, NULL);
    close(d.listener);
    unlink(d.path);
    if (atomic_load(&violations)) {
        fprintf(stderr, "threads: %ld impossible figures in %ld reads\n", atomic_load(&violations),
                atomic_load(&reads));
        return 1;
    }
    printf("threads: %ld reads, %llu stats sent, %llu requests answered: ok\n", atomic_load(&reads),
           (unsigned long long)st.stats_sent, (unsigned long long)st.requests_done);
    return 0;
}

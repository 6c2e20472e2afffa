/*
 * test_agent.c — the agent against a fake daemon played by the test itself (a Unix listener in a temporary
 * directory): handshake, stats content, requests at safe points, timeouts, a daemon that never reads, reconnects,
 * malformed frames, the start from the environment (ms_init(), and with no code at all: agent_app.c), and the
 * heap graph in binary frames (heapsnapshot).
 *
 * Every wait is a poll() with a deadline on a socket or a status counter; none is a sleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include <memscope/memscope.h>

#include "buf.h"
#include "heapgraph.h"
#include "protocol.h"
#include "stats_schema.h"
#include "testnode.h"

static char dir[64], path[96];
static int listener = -1;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void listen_here(void)
{
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(listener, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    cr_assert_eq(bind(listener, (struct sockaddr *)&sa, sizeof sa), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(listener, 8), 0);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ms-agent-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/d.sock", dir);
}

static void teardown(void)
{
    ms_agent_stop();
    if (listener >= 0)
        close(listener);
    listener = -1;
    unlink(path);
    rmdir(dir);
}

static int accept_within(int ms)
{
    struct pollfd p = {.fd = listener, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    return accept4(listener, NULL, NULL, SOCK_CLOEXEC);
}

static int read_full(int fd, void *buf, size_t n, uint64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        int left = (int)(deadline > now_ms() ? deadline - now_ms() : 0);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) != 1)
            return -ETIMEDOUT;
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            return -EPIPE;
        got += (size_t)r;
    }
    return 0;
}

/* The next frame within ms milliseconds, parsed; NULL on timeout or EOF. */
static cJSON *read_frame(int fd, int ms)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;
    unsigned char h[4];
    if (read_full(fd, h, 4, deadline) != 0)
        return NULL;
    uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    cr_assert(len > 0 && len <= (1u << 20), "frame length %u out of range", len);
    char *buf = malloc(len);
    cr_assert_not_null(buf);
    /* Once a frame has begun, its payload gets its own 5 s, however short the wait for its start was. */
    cr_assert_eq(read_full(fd, buf, len, now_ms() + 5000), 0, "truncated frame");
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    cr_assert(cJSON_IsObject(j), "a frame is one JSON object");
    return j;
}

static const char *type_of(const cJSON *j)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    return cJSON_IsString(t) ? t->valuestring : "";
}

/* The next frame of the given type, skipping others (stats keep coming while we wait for a reply). */
static cJSON *read_frame_of(int fd, const char *type, int ms)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;
    while (now_ms() < deadline) {
        cJSON *j = read_frame(fd, (int)(deadline - now_ms()));
        if (j == NULL)
            return NULL;
        if (strcmp(type_of(j), type) == 0)
            return j;
        cJSON_Delete(j);
    }
    return NULL;
}

static void write_raw(int fd, const void *p, size_t n)
{
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

static void write_json(int fd, const char *text)
{
    size_t len = strlen(text);
    unsigned char h[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                          (unsigned char)len};
    write_raw(fd, h, 4);
    write_raw(fd, text, len);
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    cr_assert(cJSON_IsNumber(v), "member %s is a number", name);
    return v->valuedouble;
}

/* Starts the agent, accepts it, checks the hello and welcomes it with app_id 7. Returns the connection. */
static int connect_agent(const ms_agent_config *cfg)
{
    cr_assert_eq(ms_agent_start(cfg), 0);
    int fd = accept_within(5000);
    cr_assert_geq(fd, 0, "the agent connects");
    cJSON *hello = read_frame(fd, 5000);
    cr_assert_not_null(hello);
    cr_assert_str_eq(type_of(hello), "hello");
    cr_expect_eq(num(hello, "protocol"), 1);
    cr_expect_eq(num(hello, "pid"), getpid());
    cr_expect_eq(num(hello, "small_threshold"), ms_mem_small_threshold());
    cJSON_Delete(hello);
    write_json(fd, "{\"type\":\"welcome\",\"protocol\":1,\"daemon\":\"test\",\"app_id\":7}");
    return fd;
}

static bool wait_status(bool (*cond)(const ms_agent_status *), int ms)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;
    for (;;) {
        ms_agent_status st;
        ms_agent_status_get(&st);
        if (cond(&st))
            return true;
        if (now_ms() >= deadline)
            return false;
        struct pollfd none;
        poll(&none, 0, 2); /* a bounded re-check interval, not a synchronization sleep */
    }
}

TestSuite(agent, .init = setup, .fini = teardown, .timeout = 30);

Test(agent, hello_then_stats_that_match_the_getters)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .app_name = "agent-test", .interval_ms = 20};
    void *blocks[100];
    for (int i = 0; i < 100; i++)
        blocks[i] = ms_malloc(40);
    int fd = connect_agent(&cfg);

    cJSON *stats = read_frame_of(fd, "stats", 5000);
    cr_assert_not_null(stats, "stats arrive after the welcome");
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    const cJSON *heap = cJSON_GetObjectItemCaseSensitive(stats, "heap");
    cr_assert(cJSON_IsObject(heap));
    cr_expect_eq(num(heap, "blocks_in_use"), (double)hs.blocks_in_use, "nothing allocated since: exact");
    cr_expect_eq(num(heap, "arenas_mapped"), (double)hs.arenas_mapped);
    cr_expect_eq(num(heap, "pool_size"), (double)hs.pool_size);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(stats, "pools")), (int)ms_pool_class_count());
    const cJSON *gc = cJSON_GetObjectItemCaseSensitive(stats, "gc");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(gc, "enabled")));
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(gc, "generations")), 3);
    cr_expect(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(stats, "refcount")));
    cr_expect(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(stats, "types")));
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(stats, "trace"),
                                                             "tracing")));
    double seq1 = num(stats, "seq");
    cJSON_Delete(stats);
    stats = read_frame_of(fd, "stats", 5000);
    cr_assert_not_null(stats, "stats keep coming every interval");
    cr_expect_eq(num(stats, "seq"), seq1 + 1);
    cJSON_Delete(stats);

    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect(st.running && st.connected);
    cr_expect_eq(st.app_id, 7);
    for (int i = 0; i < 100; i++)
        ms_free(blocks[i]);
    close(fd);
}

static const ms_type node_type = {
    .name = "AgentNode", .size = sizeof(node), .flags = MS_TYPE_GC, .traverse = node_traverse, .clear = node_clear};

Test(agent, remote_collect_runs_at_ms_poll_and_reports_by_type)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    int fd = connect_agent(&cfg);

    ms_gc_disable(); /* only the remote collection may find the cycle */
    node *a = (node *)ms_new(&node_type), *b = (node *)ms_new(&node_type);
    a->next = (ms_object *)b;
    b->next = (ms_object *)a;
    ms_incref((ms_object *)a);
    ms_incref((ms_object *)b);
    ms_decref((ms_object *)a);
    ms_decref((ms_object *)b);

    write_json(fd, "{\"type\":\"request\",\"id\":5,\"method\":\"gc.collect\",\"params\":{\"generation\":2}}");
    cJSON *reply = NULL;
    uint64_t deadline = now_ms() + 5000;
    while (reply == NULL && now_ms() < deadline) {
        ms_poll(); /* the safe point */
        reply = read_frame_of(fd, "reply", 10);
    }
    cr_assert_not_null(reply, "the request is answered once the app polls");
    cr_expect_eq(num(reply, "id"), 5);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(reply, "result");
    cr_expect_eq(num(res, "generation"), 2);
    cr_expect_eq(num(res, "collected"), 2, "the two-node cycle");
    cr_expect_geq(num(res, "duration_ns"), 0);
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(res, "by_type");
    cr_assert_eq(cJSON_GetArraySize(by), 1);
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(by, 0), "type")->valuestring, "AgentNode");
    cr_expect_eq(num(cJSON_GetArrayItem(by, 0), "collected"), 2);
    /* The cycle makers of this collection, though counting was off: a remote collection always groups. */
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(res, "groups");
    cr_assert_eq(cJSON_GetArraySize(groups), 1);
    const cJSON *g = cJSON_GetArrayItem(groups, 0);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "site")), "not traced: no site");
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(g, "key")->valuestring, "AgentNode\u00d72");
    cr_expect_eq(num(g, "cycles"), 1);
    cr_expect_eq(num(g, "objects"), 2);
    cr_expect_eq(num(cJSON_GetObjectItemCaseSensitive(g, "types"), "AgentNode"), 2);
    cr_expect(!ms_gc_get_cycle_stats(), "and counting is as it was");
    cJSON_Delete(reply);
    close(fd);
}

Test(agent, requests_without_a_safe_point_time_out)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000, .request_timeout_ms = 100};
    int fd = connect_agent(&cfg);
    write_json(fd, "{\"type\":\"request\",\"id\":9,\"method\":\"gc.collect\",\"params\":{}}");
    cJSON *reply = read_frame_of(fd, "reply", 5000); /* this thread never polls */
    cr_assert_not_null(reply);
    cr_expect_eq(num(reply, "id"), 9);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
    cr_assert(cJSON_IsString(err));
    cr_expect(strstr(err->valuestring, "timeout") != NULL, "error says why: %s", err->valuestring);
    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect_eq(st.requests_timed_out, 1);
    cJSON_Delete(reply);
    close(fd);
}

Test(agent, bad_requests_get_clear_errors)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    int fd = connect_agent(&cfg);
    write_json(fd, "{\"type\":\"request\",\"id\":1,\"method\":\"gc.explode\"}");
    write_json(fd, "{\"type\":\"request\",\"id\":2,\"method\":\"gc.collect\",\"params\":{\"generation\":7}}");
    write_json(fd, "{\"type\":\"request\",\"id\":3,\"method\":\"trace.top\",\"params\":{}}");
    write_json(fd, "{\"type\":\"request\",\"id\":4,\"method\":\"gc.set_threshold\",\"params\":{\"thresholds\":[]}}");
    const char *expect[] = {"unknown method", "generation", "tracing is not started", "thresholds"};
    int seen = 0;
    uint64_t deadline = now_ms() + 5000;
    while (seen < 4 && now_ms() < deadline) {
        ms_poll();
        cJSON *reply = read_frame_of(fd, "reply", 10);
        if (reply == NULL)
            continue;
        int id = (int)num(reply, "id");
        cr_assert(id >= 1 && id <= 4);
        cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
        const char *msg = cJSON_GetObjectItemCaseSensitive(reply, "error")->valuestring;
        cr_expect(strstr(msg, expect[id - 1]) != NULL, "request %d: '%s' should mention '%s'", id, msg,
                  expect[id - 1]);
        seen++;
        cJSON_Delete(reply);
    }
    cr_expect_eq(seen, 4);
    close(fd);
}

static bool dropped_some(const ms_agent_status *st) { return st->stats_dropped > 0; }

/* A daemon that accepts and never reads: the socket buffer fills, then the agent's bounded buffer; stats are
 * dropped and counted, and the app keeps allocating undisturbed. */
Test(agent, a_daemon_that_never_reads_costs_dropped_stats_not_blocking)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 10, .max_buffered = 16384};
    int fd = connect_agent(&cfg);
    cr_assert(wait_status(dropped_some, 20000), "stats are dropped once the buffers are full");
    for (int i = 0; i < 100000; i++)
        ms_free(ms_malloc(64)); /* the app thread is not blocked */
    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect(st.connected, "the connection stays up; only stale stats are lost");
    close(fd);
}

static bool two_connects(const ms_agent_status *st) { return st->connects >= 2; }
static bool disconnected(const ms_agent_status *st) { return !st->connected; }

Test(agent, reconnects_when_the_daemon_appears_and_after_it_goes)
{
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 50};
    cr_assert_eq(ms_agent_start(&cfg), 0, "starting without a daemon is fine");
    cr_expect_eq(ms_agent_start(&cfg), -EALREADY);
    listen_here(); /* the daemon appears */
    int fd = accept_within(5000);
    cr_assert_geq(fd, 0, "the agent finds the daemon within its backoff");
    cJSON *hello = read_frame(fd, 5000);
    cr_assert_str_eq(type_of(hello), "hello");
    cJSON_Delete(hello);
    write_json(fd, "{\"type\":\"welcome\",\"protocol\":1,\"app_id\":1}");
    cJSON *stats = read_frame_of(fd, "stats", 5000);
    cr_assert_not_null(stats);
    cJSON_Delete(stats);
    close(fd); /* the daemon goes away */
    cr_assert(wait_status(disconnected, 5000));

    uint64_t t0 = now_ms();
    fd = accept_within(5000);
    cr_assert_geq(fd, 0, "the agent comes back");
    cr_expect_leq(now_ms() - t0, 2000, "within 2 s");
    hello = read_frame(fd, 5000);
    cr_assert_str_eq(type_of(hello), "hello");
    cJSON_Delete(hello);
    write_json(fd, "{\"type\":\"welcome\",\"protocol\":1,\"app_id\":2}");
    cr_assert(wait_status(two_connects, 5000));
    close(fd);
}

static bool protocol_error(const ms_agent_status *st) { return st->protocol_errors > 0; }

Test(agent, malformed_frames_from_the_daemon_drop_the_connection_only)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 50};
    int fd = connect_agent(&cfg);
    write_json(fd, "this is not json");
    cr_assert(wait_status(protocol_error, 5000));
    close(fd);
    fd = accept_within(5000);
    cr_assert_geq(fd, 0, "the agent reconnects after a bad frame");
    cJSON *hello = read_frame(fd, 5000);
    cr_expect_str_eq(type_of(hello), "hello");
    cJSON_Delete(hello);
    /* An oversized length prefix is refused without reading 4 GiB. */
    write_json(fd, "{\"type\":\"welcome\",\"protocol\":1,\"app_id\":3}");
    unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
    write_raw(fd, huge, 4);
    cJSON *j;
    while ((j = read_frame(fd, 5000)) != NULL) /* drain stats until the agent hangs up */
        cJSON_Delete(j);
    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect_geq(st.protocol_errors, 2);
    close(fd);
}

Test(agent, refused_by_the_daemon)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 50};
    cr_assert_eq(ms_agent_start(&cfg), 0);
    int fd = accept_within(5000);
    cJSON_Delete(read_frame(fd, 5000));
    write_json(fd, "{\"type\":\"refused\",\"protocol\":1,\"reason\":\"unsupported protocol version 1\"}");
    cr_expect_null(read_frame(fd, 5000), "the agent hangs up");
    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect_not(st.connected);
    cr_expect_eq(st.connects, 0);
    close(fd);
}

Test(agent, bad_configuration_is_rejected)
{
    char longpath[300];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    ms_agent_config bad = {.socket_path = longpath};
    cr_expect_eq(ms_agent_start(&bad), -EINVAL);
    ms_agent_config none = {0};
    cr_expect_eq(ms_agent_start(&none), -EINVAL);
    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect_not(st.running);
    ms_agent_stop(); /* stopping an agent that never ran is fine */
}

/* A program that sets the variables itself starts the agent with ms_init(). The allocator never starts it
 * (issue 14: ms_init()'s only caller used to be the allocator's first arena). */
Test(agent, starts_from_the_environment_at_ms_init)
{
    listen_here();
    setenv("MEMSCOPE_SOCKET", path, 1);
    setenv("MEMSCOPE_APP_NAME", "from-env", 1);
    setenv("MEMSCOPE_INTERVAL_MS", "25", 1);
    void *p = ms_malloc(10); /* maps the first arena: no reason to start anything */
    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect_not(st.running, "the allocator does not start the agent");
    cr_assert_eq(ms_init(), 0);
    int fd = accept_within(5000);
    cr_assert_geq(fd, 0);
    cJSON *hello = read_frame(fd, 5000);
    cr_assert_not_null(hello);
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(hello, "app")->valuestring, "from-env");
    cr_expect_eq(num(hello, "interval_ms"), 25);
    cr_expect(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(hello, "argv")) >= 1);
    cJSON_Delete(hello);
    cr_expect_eq(ms_init(), 0, "idempotent");
    ms_free(p);
    close(fd);
}

/* Runs AGENT_APP (agent_app.c) in `mode` with the environment of this process; *in_fd is its stdin, which ends it
 * when closed. */
static pid_t spawn_agent_app(const char *mode, int *in_fd)
{
    int pipefd[2];
    cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
    char *argv[] = {(char *)AGENT_APP, (char *)mode, NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, AGENT_APP, &fa, NULL, argv, environ), 0, "spawn %s", AGENT_APP);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[0]);
    *in_fd = pipefd[1];
    return pid;
}

/* No code at all: with MEMSCOPE_SOCKET set, a program that does only `mode` (agent_app.c) connects and sends
 * stats. Before issue 14 only the first arena started the agent, so neither of these programs ever connected. */
static void expect_zero_code_connect(const char *mode)
{
    listen_here();
    setenv("MEMSCOPE_SOCKET", path, 1);
    setenv("MEMSCOPE_APP_NAME", mode, 1);
    setenv("MEMSCOPE_INTERVAL_MS", "20", 1);
    int in;
    pid_t pid = spawn_agent_app(mode, &in);
    int fd = accept_within(5000);
    cr_assert_geq(fd, 0, "a program that does only '%s' connects", mode);
    cJSON *hello = read_frame(fd, 5000);
    cr_assert_not_null(hello);
    cr_expect_str_eq(type_of(hello), "hello");
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(hello, "app")->valuestring, mode);
    cr_expect_eq(num(hello, "pid"), pid);
    cJSON_Delete(hello);
    write_json(fd, "{\"type\":\"welcome\",\"protocol\":1,\"app_id\":8}");
    cJSON *stats = read_frame_of(fd, "stats", 5000);
    cr_expect_not_null(stats, "and sends stats");
    cJSON_Delete(stats);
    close(in);
    int status = -1;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent_app %s: status %d (3: it mapped an arena)", mode,
              status);
    close(fd);
}

Test(agent, a_program_with_only_large_blocks_connects) { expect_zero_code_connect("large"); }

Test(agent, a_program_that_only_collects_connects) { expect_zero_code_connect("gc"); }

Test(agent, disabled_by_the_environment)
{
    setenv("MEMSCOPE_SOCKET", "/nonexistent/socket", 1);
    setenv("MEMSCOPE_DISABLE", "1", 1);
    cr_expect_eq(ms_init(), 0);
    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect_not(st.running);
}

/* Allocating a GC-tracked object is a safe point too: an app that never calls ms_poll still answers. */
Test(agent, gc_object_allocation_is_a_safe_point)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    int fd = connect_agent(&cfg);
    write_json(fd, "{\"type\":\"request\",\"id\":11,\"method\":\"gc.disable\"}");
    cJSON *reply = NULL;
    uint64_t deadline = now_ms() + 5000;
    while (reply == NULL && now_ms() < deadline) {
        ms_decref(ms_new(&node_type)); /* no ms_poll() anywhere */
        reply = read_frame_of(fd, "reply", 10);
    }
    cr_assert_not_null(reply);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
    cr_expect_not(ms_gc_is_enabled(), "the request ran");
    cJSON_Delete(reply);
    close(fd);
}

/* Sends a request and returns its reply, running the safe point (ms_poll) while it waits. */
static cJSON *ask(int fd, const char *request)
{
    write_json(fd, request);
    cJSON *reply = NULL;
    uint64_t deadline = now_ms() + 10000;
    while (reply == NULL && now_ms() < deadline) {
        ms_poll();
        reply = read_frame_of(fd, "reply", 10);
    }
    cr_assert_not_null(reply, "a reply to %s", request);
    return reply;
}

/* The reply's error, or NULL when it succeeded. */
static const char *error_of(const cJSON *reply)
{
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")))
        return NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
    cr_assert(cJSON_IsString(e), "a failed reply says why");
    return e->valuestring;
}

static void expect_error(int fd, const char *request, const char *mention)
{
    cJSON *reply = ask(fd, request);
    const char *err = error_of(reply);
    cr_expect(err && strstr(err, mention), "%s: error '%s' should mention '%s'", request, err ? err : "(ok)",
              mention);
    cJSON_Delete(reply);
}

/* issue 14: numbers far outside int's range are rejected with an error, before any conversion to int (which
 * was undefined behaviour: UBSan, which CI runs with halt_on_error, stopped the app). */
Test(agent, out_of_range_numbers_get_clean_errors)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    int fd = connect_agent(&cfg);
    expect_error(fd, "{\"type\":\"request\",\"id\":1,\"method\":\"trace.start\",\"params\":{\"nframes\":1e300}}",
                 "'nframes' must be an integer from 1 to 256");
    expect_error(fd, "{\"type\":\"request\",\"id\":2,\"method\":\"trace.start\",\"params\":{\"nframes\":-1e300}}",
                 "nframes");
    expect_error(fd, "{\"type\":\"request\",\"id\":3,\"method\":\"trace.start\",\"params\":{\"nframes\":1.5}}",
                 "nframes");
    expect_error(fd, "{\"type\":\"request\",\"id\":4,\"method\":\"gc.collect\",\"params\":{\"generation\":1e300}}",
                 "generation");
    expect_error(fd, "{\"type\":\"request\",\"id\":5,\"method\":\"gc.set_threshold\",\"params\":"
                     "{\"thresholds\":[1e300]}}", "thresholds[0]");
    cJSON *reply = ask(fd, "{\"type\":\"request\",\"id\":6,\"method\":\"trace.start\",\"params\":{\"nframes\":1}}");
    cr_assert_null(error_of(reply));
    cJSON_Delete(reply);
    expect_error(fd, "{\"type\":\"request\",\"id\":7,\"method\":\"trace.top\",\"params\":{\"limit\":-1e300}}",
                 "'limit' must be an integer from 0 to 10000");
    expect_error(fd, "{\"type\":\"request\",\"id\":8,\"method\":\"trace.top\",\"params\":{\"limit\":10001}}",
                 "limit");
    ms_trace_stop();
    close(fd);
}

static bool welcomed(const ms_agent_status *st) { return st->connected; }

/* An app_id no uint64_t holds reads as 0 (its conversion was undefined behaviour too). */
Test(agent, an_absurd_app_id_reads_as_zero)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    cr_assert_eq(ms_agent_start(&cfg), 0);
    int fd = accept_within(5000);
    cr_assert_geq(fd, 0);
    cJSON_Delete(read_frame(fd, 5000));
    write_json(fd, "{\"type\":\"welcome\",\"protocol\":1,\"app_id\":-1e300}");
    cr_assert(wait_status(welcomed, 5000));
    ms_agent_status st;
    ms_agent_status_get(&st);
    cr_expect_eq(st.app_id, 0);
    close(fd);
}

/* Allocates one block at every level of a recursion `depth` deep: depth tracebacks of different lengths. */
static __attribute__((noinline)) void nest(int depth, void **out)
{
    if (depth == 0)
        return;
    out[depth - 1] = ms_malloc(24);
    nest(depth - 1, out);
    __asm__ volatile("" ::: "memory"); /* not a tail call: every level keeps its frame */
}

static int stats_len(const cJSON *reply, const char *name)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(reply, "result"),
                                                               name));
}

static bool truncated(const cJSON *reply)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(reply, "result"),
                                                         "truncated"));
}

/* issue 14: trace.top's limit is the protocol's (common/protocol.h): 0 .. MSC_TOP_LIMIT_MAX, 0 meaning every
 * entry (it was 1 .. 1000 here, 0 .. 10000 in the daemon and the CLI); nframes goes up to MSC_TRACE_FRAMES_MAX. A
 * result that would not fit one frame stops before and says "truncated". */
Test(agent, trace_top_limits_come_from_the_protocol)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    int fd = connect_agent(&cfg);
    cJSON *reply = ask(fd, "{\"type\":\"request\",\"id\":1,\"method\":\"trace.start\",\"params\":{\"nframes\":256}}");
    cr_assert_null(error_of(reply), "nframes 256 is the protocol's maximum");
    cJSON_Delete(reply);
    expect_error(fd, "{\"type\":\"request\",\"id\":2,\"method\":\"trace.start\",\"params\":{\"nframes\":257}}",
                 "nframes");

    static void *blocks[200];
    nest(15, blocks);
    reply = ask(fd, "{\"type\":\"request\",\"id\":3,\"method\":\"trace.top\",\"params\":{\"key\":\"traceback\"}}");
    cr_assert_null(error_of(reply));
    cr_expect_eq(stats_len(reply, "stats"), 10, "the default limit");
    cJSON_Delete(reply);
    reply = ask(fd, "{\"type\":\"request\",\"id\":4,\"method\":\"trace.top\","
                    "\"params\":{\"key\":\"traceback\",\"limit\":0}}");
    cr_assert_null(error_of(reply), "limit 0 is valid");
    cr_expect_geq(stats_len(reply, "stats"), 15, "limit 0: every entry");
    cr_expect_not(truncated(reply));
    cJSON_Delete(reply);
    for (int i = 0; i < 15; i++)
        ms_free(blocks[i]);

    /* 200 tracebacks of 1 .. 200+ frames: about 2 MiB of JSON, twice the frame. */
    nest(200, blocks);
    reply = ask(fd, "{\"type\":\"request\",\"id\":5,\"method\":\"trace.top\","
                    "\"params\":{\"key\":\"traceback\",\"limit\":0}}"); /* read_frame checks the frame's length */
    cr_assert_null(error_of(reply), "a large result is cut, not refused: %s", error_of(reply));
    cr_expect(truncated(reply));
    cr_expect(stats_len(reply, "stats") > 0 && stats_len(reply, "stats") < 200);
    cJSON_Delete(reply);
    reply = ask(fd, "{\"type\":\"request\",\"id\":6,\"method\":\"trace.snapshot\"}");
    cr_assert_null(error_of(reply));
    cr_expect(truncated(reply));
    cr_expect_gt(stats_len(reply, "traces"), 0);
    cJSON_Delete(reply);
    for (int i = 0; i < 200; i++)
        ms_free(blocks[i]);
    ms_trace_stop();
    close(fd);
}

/* ---- The stats message against common/stats_schema.h (issue 14: the members cannot drift) ---------------- */

#define SCHEMA_NAME(n) #n,

/* o has exactly the members names[0 .. n) plus extra[0 .. nextra), no more, and each named one of the right kind
 * (numbers, unless listed in bools). */
static void expect_members(const cJSON *o, const char *section, const char *const *names, size_t n,
                           const char *const *bools, size_t nbools, const char *const *extra, size_t nextra)
{
    cr_assert(cJSON_IsObject(o), "%s is an object", section);
    int members = 0;
    for (const cJSON *m = o->child; m; m = m->next) {
        members++;
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known |= strcmp(m->string, names[i]) == 0 && cJSON_IsNumber(m);
        for (size_t i = 0; i < nbools; i++)
            known |= strcmp(m->string, bools[i]) == 0 && cJSON_IsBool(m);
        for (size_t i = 0; i < nextra; i++)
            known |= strcmp(m->string, extra[i]) == 0;
        cr_expect(known, "%s.%s is not in common/stats_schema.h (or has the wrong kind)", section, m->string);
    }
    for (size_t i = 0; i < n; i++)
        cr_expect(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, names[i])), "%s.%s missing", section,
                  names[i]);
    for (size_t i = 0; i < nbools; i++)
        cr_expect(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, bools[i])), "%s.%s missing", section, bools[i]);
    cr_expect_eq(members, (int)(n + nbools + nextra), "%s has %d members", section, members);
}

#define N(a) (sizeof(a) / sizeof *(a))

Test(agent, stats_members_are_the_schemas)
{
    static const char *const top[] = {MSC_STATS_TOP(SCHEMA_NAME)}, *const heap[] = {MSC_STATS_HEAP(SCHEMA_NAME)},
                             *const pool[] = {MSC_STATS_POOL(SCHEMA_NAME)},
                             *const refcount[] = {MSC_STATS_REFCOUNT(SCHEMA_NAME)},
                             *const type[] = {MSC_STATS_TYPE(SCHEMA_NAME)}, *const gc[] = {MSC_STATS_GC(SCHEMA_NAME)},
                             *const gc_bools[] = {MSC_STATS_GC_BOOLS(SCHEMA_NAME)},
                             *const gen[] = {MSC_STATS_GEN(SCHEMA_NAME)},
                             *const trace[] = {MSC_STATS_TRACE(SCHEMA_NAME)},
                             *const trace_bools[] = {MSC_STATS_TRACE_BOOLS(SCHEMA_NAME)},
                             *const cycle[] = {MSC_STATS_CYCLE(SCHEMA_NAME)};
    static const char *const sections[] = {"type", "heap", "pools", "refcount", "types", "gc", "trace", "cycles"};
    static const char *const type_extra[] = {"name"}, *const gc_extra[] = {"generations"},
                             *const cycle_extra[] = {"key"};

    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 20};
    ms_object *o = ms_new(&node_type); /* a type to list */
    int fd = connect_agent(&cfg);
    cJSON *stats = read_frame_of(fd, "stats", 5000);
    cr_assert_not_null(stats);
    expect_members(stats, "stats", top, N(top), NULL, 0, sections, N(sections));
    expect_members(cJSON_GetObjectItemCaseSensitive(stats, "heap"), "heap", heap, N(heap), NULL, 0, NULL, 0);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(stats, "pools"))
        expect_members(e, "pools[]", pool, N(pool), NULL, 0, NULL, 0);
    expect_members(cJSON_GetObjectItemCaseSensitive(stats, "refcount"), "refcount", refcount, N(refcount), NULL, 0,
                   NULL, 0);
    cr_expect_gt(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(stats, "types")), 0);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(stats, "types"))
        expect_members(e, "types[]", type, N(type), NULL, 0, type_extra, N(type_extra));
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(stats, "gc");
    expect_members(g, "gc", gc, N(gc), gc_bools, N(gc_bools), gc_extra, N(gc_extra));
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "generations")), MSC_STATS_GENERATIONS);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(g, "generations"))
        expect_members(e, "gc.generations[]", gen, N(gen), NULL, 0, NULL, 0);
    expect_members(cJSON_GetObjectItemCaseSensitive(stats, "trace"), "trace", trace, N(trace), trace_bools,
                   N(trace_bools), NULL, 0);
    cJSON_Delete(stats);
    /* The cycle makers, once a collection counted some: the largest first, their members the schema's. */
    ms_gc_set_cycle_stats(true);
    node *a = (node *)ms_new(&node_type), *b = (node *)ms_new(&node_type);
    a->next = (ms_object *)b;
    ms_incref((ms_object *)a);
    b->next = (ms_object *)a;
    ms_decref((ms_object *)a);
    cr_assert_eq(ms_gc_collect(2), 2);
    uint64_t deadline = now_ms() + 5000;
    const cJSON *cycles = NULL;
    while (now_ms() < deadline) {
        stats = read_frame_of(fd, "stats", 5000);
        cr_assert_not_null(stats);
        cycles = cJSON_GetObjectItemCaseSensitive(stats, "cycles");
        if (cJSON_GetArraySize(cycles) > 0)
            break;
        cJSON_Delete(stats);
        stats = NULL;
    }
    cr_assert_not_null(stats, "a stats message with the cycle makers");
    cJSON_ArrayForEach(e, cycles) expect_members(e, "cycles[]", cycle, N(cycle), NULL, 0, cycle_extra, N(cycle_extra));
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cycles, 0), "key")->valuestring,
                     "AgentNode\u00d72");
    cJSON_Delete(stats);
    ms_gc_set_cycle_stats(false);
    ms_gc_cycle_stats_reset();
    ms_decref(o);
    close(fd);
}

/* ---- heapsnapshot: the graph in binary frames (docs/PROTOCOL.md section 6) -------------------------------- */

/* One frame of either kind: JSON (json set) or binary (bin, len bytes after the request id `id`). */
typedef struct frame {
    cJSON *json;
    unsigned char *bin;
    size_t len;
    uint32_t id;
} frame;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The next frame within ms milliseconds; false on timeout or EOF. */
static bool read_any_frame(int fd, int ms, frame *f)
{
    memset(f, 0, sizeof *f);
    unsigned char h[4];
    if (read_full(fd, h, 4, now_ms() + (uint64_t)ms) != 0)
        return false;
    uint32_t word = be32(h), len = word & ~MSC_FRAME_BINARY;
    bool binary = (word & MSC_FRAME_BINARY) != 0;
    cr_assert(len >= (binary ? 5u : 1u) && len <= MSC_FRAME_MAX, "frame length %u out of range", len);
    unsigned char *buf = malloc(len);
    cr_assert_not_null(buf);
    cr_assert_eq(read_full(fd, buf, len, now_ms() + 5000), 0, "truncated frame");
    if (binary) {
        f->id = be32(buf);
        f->len = len - MSC_BINARY_ID_BYTES;
        f->bin = malloc(f->len);
        cr_assert_not_null(f->bin);
        memcpy(f->bin, buf + MSC_BINARY_ID_BYTES, f->len);
    } else {
        f->json = cJSON_ParseWithLength((const char *)buf, len);
        cr_assert(cJSON_IsObject(f->json), "a JSON frame is one object");
    }
    free(buf);
    return true;
}

/* What came for one heapsnapshot request: its binary bytes in order, the stats seen meanwhile, its reply. */
typedef struct transfer {
    unsigned char *bytes;
    size_t len, cap;
    int frames, stats_between; /* binary frames; stats frames after the first binary one, before the reply */
    cJSON *reply;
} transfer;

/* Reads frames (running the app's safe point) until the reply to `id`, collecting its binary frames. Frames for
 * other ids would be a bug here: nothing else is in flight. */
static void collect(int fd, uint32_t id, transfer *t)
{
    uint64_t deadline = now_ms() + 20000;
    while (!t->reply && now_ms() < deadline) {
        ms_poll();
        frame f;
        if (!read_any_frame(fd, 10, &f))
            continue;
        if (f.bin) {
            cr_assert_eq(f.id, id, "binary frames carry the request's id");
            if (t->len + f.len > t->cap) {
                t->cap = (t->len + f.len) * 2;
                t->bytes = realloc(t->bytes, t->cap);
                cr_assert_not_null(t->bytes);
            }
            memcpy(t->bytes + t->len, f.bin, f.len);
            t->len += f.len;
            t->frames++;
            free(f.bin);
        } else if (strcmp(type_of(f.json), "reply") == 0) {
            cr_assert_eq(num(f.json, "id"), id);
            t->reply = f.json;
        } else {
            if (strcmp(type_of(f.json), "stats") == 0 && t->frames > 0)
                t->stats_between++;
            cJSON_Delete(f.json);
        }
    }
    cr_assert_not_null(t->reply, "the heapsnapshot is answered");
}

static const char *const agent_node_names[] = {"next", "other"};
static const ms_type chain_type = {.name = "ChainNode", .size = sizeof(node), .flags = MS_TYPE_GC,
                                   .ref_offsets = node_refs, .ref_names = agent_node_names};

/* A chain of n nodes, labelled "chain": the caller holds the head. */
static node *make_chain(int n)
{
    node *head = (node *)ms_new(&chain_type), *p = head;
    cr_assert_not_null(head);
    for (int i = 1; i < n; i++) {
        node *x = (node *)ms_new(&chain_type);
        cr_assert_not_null(x);
        p->next = (ms_object *)x;
        p = x;
    }
    cr_assert_eq(ms_root_name((ms_object *)head, "chain"), 0);
    return head;
}

static int to_buf(void *ctx, const void *bytes, size_t n)
{
    msc_buf *b = ctx;
    return msc_buf_append(b, bytes, n);
}

/* The graph that crossed the socket is the heap's: its .heapsnapshot is byte for byte what ms_heapsnapshot_write
 * writes of the same, unchanged heap (same ids, same order), and it parses. */
Test(agent, heapsnapshot_sends_the_graph_in_binary_frames_then_the_reply)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    node *head = make_chain(60000); /* about 2 MB of wire image: three frames */
    int fd = connect_agent(&cfg);
    write_json(fd, "{\"type\":\"request\",\"id\":21,\"method\":\"heapsnapshot\",\"params\":{}}");
    transfer t = {0};
    collect(fd, 21, &t);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t.reply, "ok")), "ok: %s",
              cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t.reply, "error"))
                  ? cJSON_GetObjectItemCaseSensitive(t.reply, "error")->valuestring
                  : "");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(t.reply, "result");
    cr_expect_gt(t.frames, 1, "a graph larger than a frame comes in several");
    cr_expect_eq(num(res, "graph_bytes"), (double)t.len, "graph_bytes is what was sent");
    cr_expect_geq(num(res, "pause_ms"), 0);

    void *img = malloc(t.len); /* 4-byte aligned for msc_hg_parse */
    cr_assert_not_null(img);
    memcpy(img, t.bytes, t.len);
    msc_hg g;
    char err[200] = "";
    cr_assert_eq(msc_hg_parse(img, t.len, &g, err, sizeof err), 0, "the image parses: %s", err);
    cr_expect_eq(num(res, "objects"), (double)(g.node_count - 2));
    cr_expect_eq(num(res, "edges"), (double)g.edge_count);
    cr_expect_geq(g.node_count - 2, 60000);

    msc_buf sent = MSC_BUF_INIT;
    cr_assert_eq(msc_hg_write_v8(&g, to_buf, &sent), 0);
    char file[128];
    snprintf(file, sizeof file, "%s/local.heapsnapshot", dir);
    cr_assert_eq(ms_heapsnapshot_write(file), 0);
    FILE *fp = fopen(file, "rb");
    cr_assert_not_null(fp);
    char *local = malloc(sent.len + 1);
    size_t got = fread(local, 1, sent.len + 1, fp);
    fclose(fp);
    unlink(file);
    cr_expect_eq(got, sent.len, "same size as the local snapshot");
    cr_expect(got == sent.len && memcmp(local, msc_buf_bytes(&sent), got) == 0, "same bytes as the local snapshot");
    free(local);
    msc_buf_free(&sent);
    free(img);
    free(t.bytes);
    cJSON_Delete(t.reply);
    ms_decref((ms_object *)head);
    close(fd);
}

/* One transfer at a time: a second request while the first waits for its safe point is refused at once. */
Test(agent, a_second_heapsnapshot_in_flight_is_busy)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    node *head = make_chain(10);
    int fd = connect_agent(&cfg);
    write_json(fd, "{\"type\":\"request\",\"id\":31,\"method\":\"heapsnapshot\",\"params\":{}}");
    write_json(fd, "{\"type\":\"request\",\"id\":32,\"method\":\"heapsnapshot\"}");
    /* No safe point yet: 31 is pending, so 32 meets a snapshot in flight whatever the timing. */
    cJSON *busy = read_frame_of(fd, "reply", 5000);
    cr_assert_not_null(busy);
    cr_expect_eq(num(busy, "id"), 32);
    const char *e = error_of(busy);
    cr_expect(e && strncmp(e, "busy: ", 6) == 0, "error '%s' starts with 'busy: '", e ? e : "(ok)");
    cJSON_Delete(busy);
    transfer t = {0};
    collect(fd, 31, &t);
    cr_expect_null(error_of(t.reply), "the first one completes");
    cr_expect_gt(t.len, 0);
    free(t.bytes);
    cJSON_Delete(t.reply);
    /* Done: the next one is accepted. */
    write_json(fd, "{\"type\":\"request\",\"id\":33,\"method\":\"heapsnapshot\"}");
    transfer t2 = {0};
    collect(fd, 33, &t2);
    cr_expect_null(error_of(t2.reply));
    cr_expect_eq(t2.len, t.len, "the same heap, the same size");
    free(t2.bytes);
    cJSON_Delete(t2.reply);
    ms_decref((ms_object *)head);
    close(fd);
}

Test(agent, heapsnapshot_refuses_bad_requests)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    int fd = connect_agent(&cfg);
    expect_error(fd, "{\"type\":\"request\",\"id\":1,\"method\":\"heapsnapshot\",\"params\":[1]}",
                 "'params' must be an object");
    expect_error(fd, "{\"type\":\"request\",\"id\":2.5,\"method\":\"heapsnapshot\"}", "id must be an integer");
    expect_error(fd, "{\"type\":\"request\",\"id\":5e9,\"method\":\"heapsnapshot\"}", "id must be an integer");
    close(fd);
}

static uint64_t stats_mark;
static bool three_more_stats(const ms_agent_status *st) { return st->stats_sent >= stats_mark + 3; }

/* A daemon that stops reading in the middle of a transfer: the graph waits, stats still find room in the outgoing
 * buffer (they are queued, not dropped), and they arrive between the binary frames once it reads again. Then a
 * disconnect in the middle of a second transfer abandons it (the graph freed: ASan's leak check sees it). */
Test(agent, stats_keep_flowing_during_a_transfer)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 10, .max_buffered = 256 << 10};
    node *head = make_chain(200000); /* about 7 MB: far more than the buffers hold */
    int fd = connect_agent(&cfg);
    write_json(fd, "{\"type\":\"request\",\"id\":41,\"method\":\"heapsnapshot\"}");
    transfer t = {0};
    /* Until the first binary frame: the snapshot was taken and its transfer began. */
    uint64_t deadline = now_ms() + 10000;
    while (t.frames == 0 && now_ms() < deadline) {
        ms_poll();
        frame f;
        if (!read_any_frame(fd, 10, &f))
            continue;
        if (f.bin) {
            t.bytes = f.bin;
            t.len = t.cap = f.len;
            t.frames = 1;
        } else {
            cJSON_Delete(f.json);
        }
    }
    cr_assert_eq(t.frames, 1);
    ms_agent_status st;
    ms_agent_status_get(&st);
    stats_mark = st.stats_sent;
    uint64_t dropped0 = st.stats_dropped;
    cr_assert(wait_status(three_more_stats, 10000), "stats are queued while the transfer waits for the daemon");
    ms_agent_status_get(&st);
    cr_expect_eq(st.stats_dropped, dropped0, "and not dropped: the transfer leaves them room");
    collect(fd, 41, &t);
    cr_expect_null(error_of(t.reply));
    cr_expect_geq(t.stats_between, 3, "the stats came between the binary frames");
    msc_hg g;
    char err[200] = "";
    void *img = malloc(t.len);
    memcpy(img, t.bytes, t.len);
    cr_expect_eq(msc_hg_parse(img, t.len, &g, err, sizeof err), 0, "%s", err);
    cr_expect_eq(num(cJSON_GetObjectItemCaseSensitive(t.reply, "result"), "graph_bytes"), (double)t.len);
    free(img);
    free(t.bytes);
    cJSON_Delete(t.reply);

    write_json(fd, "{\"type\":\"request\",\"id\":42,\"method\":\"heapsnapshot\"}");
    frame f = {0};
    deadline = now_ms() + 10000;
    while (!f.bin && now_ms() < deadline) {
        ms_poll();
        if (read_any_frame(fd, 10, &f) && f.json) {
            cJSON_Delete(f.json);
            f.json = NULL;
        }
    }
    cr_assert_not_null(f.bin, "the second transfer began");
    free(f.bin);
    close(fd); /* mid-transfer */
    cr_assert(wait_status(disconnected, 5000));
    ms_decref((ms_object *)head);
}

/* A daemon that stops reading in the middle of a transfer loses it after MSC_HEAPSNAPSHOT_STALL_MS: the agent
 * frees the graph and, once the daemon reads again, says "dropped" after the frames it had queued; meanwhile the
 * app runs on (its safe points keep returning), and afterwards the connection serves the next snapshot whole. */
static uint64_t done_mark;
static bool one_more_done(const ms_agent_status *st) { return st->requests_done > done_mark; }

Test(agent, a_transfer_the_daemon_stops_reading_is_dropped_after_the_stall, .timeout = 60)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000, .max_buffered = 256 << 10};
    node *head = make_chain(200000); /* about 7 MB: far more than the buffers and the socket hold */
    int fd = connect_agent(&cfg);
    ms_agent_status st;
    ms_agent_status_get(&st);
    done_mark = st.requests_done;
    write_json(fd, "{\"type\":\"request\",\"id\":51,\"method\":\"heapsnapshot\"}");
    frame f = {0};
    uint64_t deadline = now_ms() + 10000;
    while (!f.bin && now_ms() < deadline) {
        ms_poll();
        if (read_any_frame(fd, 10, &f) && f.json) {
            cJSON_Delete(f.json);
            f.json = NULL;
        }
    }
    cr_assert_not_null(f.bin, "the transfer began");
    free(f.bin);
    /* Now the daemon reads nothing: the app's safe points go on returning while the agent waits out the stall.
     * The app polls every 2 ms, not in a spin: the 10 s of waiting must not take a core from the tests that run
     * beside this one (agent_faults measures work rates). */
    uint64_t polls = 0, t0 = now_ms();
    while (!one_more_done(&st) && now_ms() < t0 + 2 * MSC_HEAPSNAPSHOT_STALL_MS) {
        ms_poll();
        polls++;
        ms_agent_status_get(&st);
        struct pollfd none;
        poll(&none, 0, 2); /* a bounded re-check interval, not a synchronization sleep */
    }
    cr_assert(one_more_done(&st), "the agent gave the transfer up");
    cr_expect_geq(now_ms() - t0, MSC_HEAPSNAPSHOT_STALL_MS - 1000, "not before the stall (%llu ms)",
                  (unsigned long long)(now_ms() - t0));
    cr_expect_gt(polls, 500, "the app ran meanwhile (one safe point every 2 ms)");
    cr_expect(st.connected, "a stalled transfer costs the transfer, not the connection");
    /* Reading again: what was queued, then the reply that says it was dropped. */
    transfer t = {0};
    collect(fd, 51, &t);
    const char *e = error_of(t.reply);
    cr_expect(e && strncmp(e, "dropped: ", 9) == 0, "error '%s' starts with 'dropped: '", e ? e : "(ok)");
    free(t.bytes);
    cJSON_Delete(t.reply);
    /* The next snapshot is accepted and arrives whole. */
    write_json(fd, "{\"type\":\"request\",\"id\":52,\"method\":\"heapsnapshot\"}");
    transfer t2 = {0};
    collect(fd, 52, &t2);
    cr_expect_null(error_of(t2.reply));
    msc_hg g;
    char err[200] = "";
    cr_expect_eq(msc_hg_parse(t2.bytes, t2.len, &g, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g.node_count, 2 + 200000);
    free(t2.bytes);
    cJSON_Delete(t2.reply);
    close(fd);
    ms_decref((ms_object *)head);
}

Test(agent, gc_cycles_reads_and_switches_the_counting)
{
    listen_here();
    ms_agent_config cfg = {.socket_path = path, .interval_ms = 1000};
    int fd = connect_agent(&cfg);
    ms_gc_disable();
    cJSON *reply = ask(fd, "{\"type\":\"request\",\"id\":1,\"method\":\"gc.cycles\",\"params\":{}}");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(reply, "result");
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(res, "enabled")), "off at start");
    cr_expect_eq(num(res, "collections"), 0);
    cJSON_Delete(reply);
    reply = ask(fd, "{\"type\":\"request\",\"id\":2,\"method\":\"gc.cycles\",\"params\":{\"enable\":true}}");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(reply, "result"),
                                                             "enabled")));
    cJSON_Delete(reply);
    cr_expect(ms_gc_get_cycle_stats());
    for (int i = 0; i < 3; i++) { /* three self-cycles, collected by the app's own collection */
        node *n = (node *)ms_new(&node_type);
        n->next = (ms_object *)n;
    }
    cr_assert_eq(ms_gc_collect(2), 3);
    reply = ask(fd, "{\"type\":\"request\",\"id\":3,\"method\":\"gc.cycles\",\"params\":{\"recent\":true,\"limit\":1}}");
    res = cJSON_GetObjectItemCaseSensitive(reply, "result");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "recent")));
    cr_expect_eq(num(res, "collections"), 1);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(res, "groups");
    cr_assert_eq(cJSON_GetArraySize(groups), 1);
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(groups, 0), "key")->valuestring,
                     "AgentNode");
    cr_expect_eq(num(cJSON_GetArrayItem(groups, 0), "cycles"), 3);
    cJSON_Delete(reply);
    const char *bad[] = {"{\"type\":\"request\",\"id\":4,\"method\":\"gc.cycles\",\"params\":{\"limit\":0}}",
                         "{\"type\":\"request\",\"id\":4,\"method\":\"gc.cycles\",\"params\":{\"recent\":1}}",
                         "{\"type\":\"request\",\"id\":4,\"method\":\"gc.cycles\",\"params\":{\"enable\":\"yes\"}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        reply = ask(fd, bad[i]);
        cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reply, "ok")), "refused: %s", bad[i]);
        cJSON_Delete(reply);
    }
    cr_expect(ms_gc_get_cycle_stats(), "a refused request switches nothing");
    ms_gc_set_cycle_stats(false);
    ms_gc_cycle_stats_reset();
    close(fd);
}

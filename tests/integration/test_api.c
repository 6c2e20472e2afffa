/*
 * tests/integration/test_api.c — the JSON API against a real memscoped and real test agents: listing apps,
 * stats as the app sent them, remote collections (token, 404, 409, 429, 504), Host checks, history, growth and
 * tracing. Suite "integration".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "daemon_fixture.h"

static void start_default(void) { daemon_fixture_start(NULL); }

TestSuite(api, .init = start_default, .fini = daemon_fixture_stop);

/* "/api/v1/apps/ID" followed by printf(rest, ...), in one of four buffers that take turns (each valid for three
 * more calls). */
__attribute__((format(printf, 2, 3))) static const char *app_path(long id, const char *rest, ...)
{
    static char bufs[4][256];
    static unsigned turn;
    char *b = bufs[turn++ % 4];
    int n = snprintf(b, sizeof(bufs[0]), "/api/v1/apps/%ld", id);
    va_list ap;
    va_start(ap, rest);
    vsnprintf(b + n, sizeof(bufs[0]) - (size_t)n, rest, ap);
    va_end(ap);
    return b;
}

/* Starts fake_app with args (the first two are "--name", NAME) and waits until it has sent `samples` stats: its
 * app id (the test fails when it does not appear within 5 s); *pid is its process. */
static long app_up(pid_t *pid, int samples, const char *const *args)
{
    *pid = app_start(&D, args);
    long id = wait_app(&D, args[1], true, samples, 5000);
    cr_assert_gt(id, 0, "%s appears in /api/v1/apps within 5 s", args[1]);
    return id;
}

static const cJSON *type_entry(const cJSON *stats, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(stats, "types")) {
        const cJSON *n = cJSON_GetObjectItem(t, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return t;
    }
    return NULL;
}

DAEMON_TEST(api, app_appears_with_its_identity)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "alpha", "--interval-ms", "100", NULL});
    cJSON *a = find_app(&D, "alpha");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(a, "id")), id);
    cr_expect_eq((pid_t)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "pid")), app);
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(a, "connected_at")));
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(a, "last_update")));
    cJSON_Delete(a);
    cJSON *h = NULL;
    cr_expect_eq(http_json(&D, "GET", "/healthz", NULL, NULL, &h), 200);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(h, "connected")), 1);
    /* the app's hello and at least the stats message that set last_update */
    cr_expect_geq(cJSON_GetNumberValue(cJSON_GetObjectItem(h, "frames_received")), 2);
    cJSON_Delete(h);
    proc_kill(app);
}

DAEMON_TEST(api, stats_are_what_the_app_sent)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "beta", "--objects", "1234", NULL});
    const char *path = app_path(id, "%s", "");
    cJSON *s = NULL;
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &s), 200);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "id")), id);
    cr_expect_eq((pid_t)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "pid")), app);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(s, "name")), "beta");
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(s, "time")));
    const cJSON *node = type_entry(s, "Node");
    cr_assert(node, "the Node type is listed");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(node, "alive")), 1234);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(node, "bytes")), 1234 * 64);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "refcount"), "objects_alive")),
                 1241);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s, "pools")), 16);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "gc"), "generations")), 3);
    cr_expect(cJSON_IsObject(cJSON_GetObjectItem(s, "trace")));
    cr_expect_null(cJSON_GetObjectItem(s, "type"), "the message type is not part of the document");
    cJSON_Delete(s);
    /* The pid works in place of the id. */
    path = app_path((long)app, "%s", "");
    cr_expect_eq(http_json(&D, "GET", path, NULL, NULL, &s), 200);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "id")), id);
    cJSON_Delete(s);
    proc_kill(app);
}

static double stats_time(const char *path)
{
    cJSON *s = NULL;
    double t = -1;
    if (http_json(&D, "GET", path, NULL, NULL, &s) == 200)
        t = cJSON_GetNumberValue(cJSON_GetObjectItem(s, "time"));
    cJSON_Delete(s);
    return t;
}

/* The latest document is served from a response built once per document (daemon/http.c, cached_response): every
 * GET must still see the newest sample, never one that the app has since replaced. */
DAEMON_TEST(api, latest_stats_follow_the_app)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "fresh", "--interval-ms", "20", NULL});
    const char *path = app_path(id, "%s", "");
    double first = stats_time(path);
    cr_assert_gt(first, 0);
    /* Wait for the condition itself: samples arrive every 20 ms, so a newer one shows up within a few hundred GETs. */
    double t = first, prev = first;
    int changes = 0;
    for (int i = 0; i < 100000 && changes < 30; i++) {
        t = stats_time(path);
        cr_assert_geq(t, prev, "a GET went back in time (%.3f after %.3f)", t, prev);
        changes += t > prev;
        prev = t;
    }
    cr_expect_geq(changes, 30, "the document served changed %d times", changes);
    proc_kill(app);
}

DAEMON_TEST(api, gc_needs_the_token_and_returns_the_apps_reply)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "gamma", "--cycles", "37", NULL});
    const char *path = app_path(id, "/gc");
    cJSON *r = NULL;
    cr_expect_eq(http_json(&D, "POST", path, "{\"generation\": 2}", NULL, &r), 401, "no token: 401");
    cr_expect(cJSON_IsString(cJSON_GetObjectItem(r, "error")));
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "POST", path, "{\"generation\": 2}", "wrong-token-0123456789", &r), 401);
    cJSON_Delete(r);
    cr_assert_eq(http_json(&D, "POST", path, "{\"generation\": 2}", D.token, &r), 200);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r, "collected")), 37, "the app's own count");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r, "generation")), 2);
    const cJSON *bt = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "by_type"), 0);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(bt, "type")), "Node");
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "POST", path, "{\"generation\": 7}", D.token, &r), 400);
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "POST", path, "not json", D.token, &r), 400);
    cJSON_Delete(r);
    /* The other actions are forwarded too. */
    path = app_path(id, "/gc/disable");
    cr_expect_eq(http_json(&D, "POST", path, NULL, D.token, &r), 200);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(r, "enabled")));
    cJSON_Delete(r);
    path = app_path(id, "/gc/enable");
    cr_expect_eq(http_json(&D, "POST", path, NULL, D.token, &r), 200);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r, "enabled")));
    cJSON_Delete(r);
    path = app_path(id, "/gc/threshold");
    cr_expect_eq(http_json(&D, "POST", path, "{\"thresholds\": [500, 5, 5]}", D.token, &r), 200);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "thresholds"), 0)), 500);
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "POST", path, "{\"thresholds\": [-1]}", D.token, &r), 400);
    cJSON_Delete(r);
    proc_kill(app);
}

/* The cycle makers: GET reads them (no token, and it asks the app to change nothing), POST switches their
 * counting (token); both forward gc.cycles with what the query or the body said. */
DAEMON_TEST(api, gc_cycles_forwards_reads_and_switches)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "cyc", NULL});
    cJSON *r = NULL;
    cr_assert_eq(http_json(&D, "GET", app_path(id, "/gc/cycles"), NULL, NULL, &r), 200);
    const cJSON *asked = cJSON_GetObjectItem(r, "asked");
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(asked, "recent")));
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(asked, "limit")), 20, "the default limit");
    cr_expect_null(cJSON_GetObjectItem(asked, "enable"), "a read switches nothing");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "groups"), 0),
                                                              "site")),
                     "fake_app.c:97", "the app's groups, unchanged");
    cJSON_Delete(r);
    cr_assert_eq(http_json(&D, "GET", app_path(id, "/gc/cycles?recent=1&limit=65"), NULL, NULL, &r), 200);
    asked = cJSON_GetObjectItem(r, "asked");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(asked, "recent")));
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(asked, "limit")), 65);
    cJSON_Delete(r);
    const char *bad[] = {"/gc/cycles?recent=maybe", "/gc/cycles?limit=0", "/gc/cycles?limit=66", "/gc/cycles?limit=x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(http_json(&D, "GET", app_path(id, "%s", bad[i]), NULL, NULL, &r), 400, "%s", bad[i]);
        cr_expect(cJSON_IsString(cJSON_GetObjectItem(r, "error")), "%s: a JSON error", bad[i]);
        cJSON_Delete(r);
    }
    const char *path = app_path(id, "/gc/cycles");
    cr_expect_eq(http_json(&D, "POST", path, "{\"enabled\": true}", NULL, &r), 401, "switching needs the token");
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "POST", path, "{\"enabled\": 1}", D.token, &r), 400);
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "POST", path, "{}", D.token, &r), 400);
    cJSON_Delete(r);
    cr_assert_eq(http_json(&D, "POST", path, "{\"enabled\": true}", D.token, &r), 200);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r, "enabled")));
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "asked"), "enable")));
    cJSON_Delete(r);
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &r), 200);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r, "enabled")), "it stays on");
    cJSON_Delete(r);
    cr_assert_eq(http_json(&D, "POST", path, "{\"enabled\": false}", D.token, &r), 200);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(r, "enabled")));
    cJSON_Delete(r);
    proc_kill(app);
}

DAEMON_TEST(api, unknown_app_is_404)
{
    cJSON *r = NULL;
    cr_expect_eq(http_json(&D, "GET", "/api/v1/apps/999999", NULL, NULL, &r), 404);
    cr_expect(cJSON_IsString(cJSON_GetObjectItem(r, "error")));
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "POST", "/api/v1/apps/999999/gc", "{}", D.token, &r), 404);
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "GET", "/api/v1/apps/abc", NULL, NULL, &r), 404);
    cJSON_Delete(r);
    cr_expect_eq(http_json(&D, "GET", "/api/v1/nothing", NULL, NULL, &r), 404);
    cJSON_Delete(r);
    cr_expect_eq(http_req(&D, "DELETE", "/api/v1/apps", NULL, D.token, NULL, NULL), 405);
}

DAEMON_TEST(api, disconnect_is_noticed_and_gc_is_409)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "delta", "--count", "3", NULL});
    cr_expect_eq(proc_wait(app, 5000), 0);
    cr_assert_eq(wait_app(&D, "delta", false, 3, 5000), id, "delta is marked disconnected, with its stats");
    cJSON *a = find_app(&D, "delta");
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(a, "disconnected_at")));
    cJSON_Delete(a);
    const char *path = app_path(id, "%s", "");
    cr_expect_eq(http_req(&D, "GET", path, NULL, NULL, NULL, NULL), 200, "last stats are kept");
    path = app_path(id, "/gc");
    cr_expect_eq(http_req(&D, "POST", path, "{}", D.token, NULL, NULL), 409);
}

DAEMON_TEST(api, killed_app_is_noticed)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "epsilon", NULL});
    proc_kill(app);
    cr_expect_eq(wait_app(&D, "epsilon", false, 1, 2000), id, "SIGKILLed app marked disconnected");
}

DAEMON_TEST(api, foreign_host_is_refused)
{
    char *body = NULL;
    cr_expect_eq(http_req(&D, "GET", "/api/v1/apps", NULL, NULL, "evil.example", &body), 403);
    cr_expect(body && strstr(body, "\"error\""), "%s", body ? body : "");
    free(body);
    char host[64];
    snprintf(host, sizeof(host), "evil.example:%d", D.port);
    cr_expect_eq(http_req(&D, "GET", "/api/v1/apps", NULL, NULL, host, NULL), 403);
    snprintf(host, sizeof(host), "localhost:%d", D.port + 1);
    cr_expect_eq(http_req(&D, "GET", "/api/v1/apps", NULL, NULL, host, NULL), 403, "wrong port");
    snprintf(host, sizeof(host), "localhost:%d", D.port);
    cr_expect_eq(http_req(&D, "GET", "/api/v1/apps", NULL, NULL, host, NULL), 200);
    cr_expect_eq(http_req(&D, "GET", "/api/v1/apps", NULL, NULL, "127.0.0.1", NULL), 200);
    /* No CORS: the API never invites other origins. */
}

DAEMON_TEST(api, version_endpoint)
{
    cJSON *v = NULL;
    cr_assert_eq(http_json(&D, "GET", "/api/v1/version", NULL, NULL, &v), 200);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "protocol")), 1);
    cr_expect(cJSON_IsString(cJSON_GetObjectItem(v, "daemon")));
    cJSON_Delete(v);
}

static void short_history_daemon(void)
{
    /* The ring keeps one point per history/1024 s at most: a short window keeps every 50 ms sample. */
    daemon_fixture_start((const char *const[]){"--history", "10", NULL});
}

DAEMON_TEST_WITH(api, history_has_columns, .init = short_history_daemon, .fini = daemon_fixture_stop)
{
    pid_t app;
    long id = app_up(&app, 4, (const char *const[]){"--name", "zeta", "--interval-ms", "50", "--grow", "5", NULL});
    const char *path = app_path(id, "/history?seconds=60");
    cJSON *h = NULL;
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &h), 200);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(h, "time"));
    cr_expect_geq(n, 4);
    static const char *cols[] = {"heap_bytes", "pool_bytes", "system_bytes", "objects_alive", "gc_pause_total_ns",
                                 "garbage"};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(h, cols[i])), n, "column %s", cols[i]);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(h, "gc_collections")), 3);
    const cJSON *alive = cJSON_GetObjectItem(h, "objects_alive");
    cr_expect_gt(cJSON_GetNumberValue(cJSON_GetArrayItem(alive, n - 1)),
                 cJSON_GetNumberValue(cJSON_GetArrayItem(alive, 0)), "the series follows the app");
    cJSON_Delete(h);
    path = app_path(id, "/history?seconds=abc");
    cr_expect_eq(http_req(&D, "GET", path, NULL, NULL, NULL, NULL), 400);
    proc_kill(app);
}

static void no_reply_daemon(void)
{
    daemon_fixture_start((const char *const[]){"--request-timeout", "300", "--gc-rate", "1", NULL});
}

DAEMON_TEST_WITH(api, app_that_does_not_answer_is_504, .init = no_reply_daemon, .fini = daemon_fixture_stop)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "mute", "--mode", "no-reply", NULL});
    const char *path = app_path(id, "/gc");
    cJSON *r = NULL;
    cr_expect_eq(http_json(&D, "POST", path, "{\"generation\": 0}", D.token, &r), 504);
    cr_expect(cJSON_IsString(cJSON_GetObjectItem(r, "error")));
    cJSON_Delete(r);
    /* --gc-rate 1: the next collection right away is refused. */
    cr_expect_eq(http_req(&D, "POST", path, "{}", D.token, NULL, NULL), 429);
    cr_expect_eq(http_req(&D, "GET", "/healthz", NULL, NULL, NULL, NULL), 200, "the daemon is still serving");
    proc_kill(app);
}

DAEMON_TEST(api, app_error_is_502)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "tracer-off", NULL});
    const char *path = app_path(id, "/trace/top");
    cJSON *r = NULL;
    cr_expect_eq(http_json(&D, "GET", path, NULL, NULL, &r), 502, "tracing not started: the app's error");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "error")), "tracing is not started");
    cJSON_Delete(r);
    proc_kill(app);
}

static void growth_daemon(void)
{
    daemon_fixture_start((const char *const[]){"--history", "4", NULL});
}

typedef struct growth_cond {
    long id;
    double rate;
} growth_cond;

static bool node_grows(void *arg)
{
    growth_cond *g = arg;
    char path[100];
    snprintf(path, sizeof(path), "/api/v1/apps/%ld/growth", g->id);
    cJSON *r = NULL;
    bool ok = false;
    if (http_json(&D, "GET", path, NULL, NULL, &r) == 200) {
        const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "types"), 0);
        ok = t && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "type")), "Node") == 0;
        if (ok)
            g->rate = cJSON_GetNumberValue(cJSON_GetObjectItem(t, "rate_per_s"));
        ok = ok && cJSON_GetArraySize(cJSON_GetObjectItem(r, "types")) == 1; /* Config is flat */
    }
    cJSON_Delete(r);
    return ok;
}

DAEMON_TEST_WITH(api, growth_names_the_leaking_type, .init = growth_daemon, .fini = daemon_fixture_stop)
{
    /* 10 Nodes every 50 ms: 200 per second. */
    pid_t app = app_start(&D, (const char *const[]){"--name", "leaky", "--interval-ms", "50", "--grow", "10", NULL});
    growth_cond g = {.id = wait_app(&D, "leaky", true, 1, 5000)};
    cr_assert_gt(g.id, 0);
    cr_assert(wait_until(node_grows, &g, 5000), "Node is reported as growing");
    cr_expect(g.rate > 100 && g.rate < 400, "rate %.1f/s is about 200/s", g.rate);
    proc_kill(app);
}

DAEMON_TEST(api, tracing_top_snapshots_and_diff)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "traced", "--interval-ms", "50", "--grow", "10", NULL});
    cJSON *r = NULL;
    const char *path = app_path(id, "/trace");
    cr_expect_eq(http_json(&D, "POST", path, "{\"action\": \"start\", \"nframes\": 1}", NULL, &r), 401);
    cJSON_Delete(r);
    cr_assert_eq(http_json(&D, "POST", path, "{\"action\": \"start\", \"nframes\": 1}", D.token, &r), 200);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r, "tracing")));
    cJSON_Delete(r);
    cr_expect_eq(http_req(&D, "POST", path, "{\"action\": \"jump\"}", D.token, NULL, NULL), 400);

    path = app_path(id, "/trace/top?key=lineno&limit=10");
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &r), 200);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "stats"), 0);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "lineno")), 4242, "top-1 names the app's line");
    cJSON_Delete(r);

    path = app_path(id, "/trace/snapshots");
    cr_assert_eq(http_json(&D, "POST", path, NULL, D.token, &r), 201);
    long a = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(r, "id"));
    cJSON_Delete(r);
    long before = app_samples(&D, "traced");
    /* Let the app grow a few intervals (poll for it rather than sleep). */
    while (app_samples(&D, "traced") < before + 3)
        usleep(20000);
    cr_assert_eq(http_json(&D, "POST", path, NULL, D.token, &r), 201);
    long b = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(r, "id"));
    cJSON_Delete(r);
    cr_expect_gt(b, a);
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &r), 200);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "snapshots")), 2);
    cJSON_Delete(r);

    path = app_path(id, "/trace/diff?from=%ld&to=%ld&key=lineno", a, b);
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &r), 200);
    first = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "stats"), 0);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "lineno")), 4242, "the growing line comes first");
    cr_expect_gt(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "size_diff")), 0);
    cJSON_Delete(r);
    path = app_path(id, "/trace/diff?from=%ld&to=99999", a);
    cr_expect_eq(http_req(&D, "GET", path, NULL, NULL, NULL, NULL), 404);

    path = app_path(id, "/trace");
    cr_expect_eq(http_json(&D, "POST", path, "{\"action\": \"stop\"}", D.token, &r), 200);
    cJSON_Delete(r);
    proc_kill(app);
}

/* Starts tracing in app id and takes a snapshot: its id. */
static long take_snapshot(long id)
{
    const char *path = app_path(id, "/trace");
    cr_assert_eq(http_req(&D, "POST", path, "{\"action\": \"start\"}", D.token, NULL, NULL), 200);
    path = app_path(id, "/trace/snapshots");
    cJSON *r = NULL;
    cr_assert_eq(http_json(&D, "POST", path, NULL, D.token, &r), 201);
    long s = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(r, "id"));
    cJSON_Delete(r);
    return s;
}

DAEMON_TEST(api, snapshots_survive_a_daemon_restart)
{
    char data[] = "/tmp/msd-data-XXXXXX";
    cr_assert(mkdtemp(data));
    const char *const extra[] = {"--data-dir", data, NULL};
    daemon_fixture_start(extra);
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "keeper", NULL});
    long a = take_snapshot(id);
    proc_kill(app);
    daemon_fixture_start(extra); /* a new daemon on the same --data-dir */
    id = app_up(&app, 1, (const char *const[]){"--name", "keeper", NULL});
    long b = take_snapshot(id);
    cr_expect_gt(b, a, "ids keep increasing across restarts");
    cJSON *r = NULL;
    const char *path = app_path(id, "/trace/snapshots");
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &r), 200);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "snapshots")), 2, "the old snapshot is still listed");
    cJSON_Delete(r);
    path = app_path(id, "/trace/diff?from=%ld&to=%ld", a, b);
    cr_expect_eq(http_req(&D, "GET", path, NULL, NULL, NULL, NULL), 200);
    proc_kill(app);
    cr_expect_eq(daemon_stop(&D), 0);
    char cmd[100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
    cr_expect_eq(system(cmd), 0);
}

static bool one_thread(void *arg)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)*(const pid_t *)arg);
    FILE *f = fopen(path, "r");
    int threads = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Threads: %d", &threads) == 1)
            break;
    if (f)
        fclose(f);
    return threads == 1;
}

/* Disk work runs on a thread that leaves when there is none: an idle daemon is single-threaded, so the kernel
 * takes its fast path on every socket call (snapstore.c). */
DAEMON_TEST(api, the_disk_worker_leaves_when_the_store_is_idle)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "disk", NULL});
    take_snapshot(id);
    cr_expect(wait_until(one_thread, &D.pid, 10000), "memscoped is single-threaded again after a snapshot");
    long b = take_snapshot(id); /* and the next job starts a worker again */
    cJSON *r = NULL;
    cr_expect_eq(http_json(&D, "GET", app_path(id, "/trace/snapshots"), NULL, NULL, &r), 200);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "snapshots")), 2);
    cJSON_Delete(r);
    cr_expect_gt(b, 0);
    cr_expect(wait_until(one_thread, &D.pid, 10000));
    proc_kill(app);
}

DAEMON_TEST(api, oversized_bodies_are_refused)
{
    size_t n = 100000;
    char *big = malloc(n + 1);
    cr_assert(big);
    memset(big, 'a', n);
    big[n] = '\0';
    cJSON *r = NULL;
    cr_expect_eq(http_json(&D, "POST", "/api/v1/apps/1/gc", big, D.token, &r), 413, "body over 64 KiB");
    cr_expect(cJSON_IsString(cJSON_GetObjectItem(r, "error")));
    cJSON_Delete(r);
    cr_expect_eq(http_req(&D, "POST", "/api/v1/apps/1/gc", big, NULL, NULL, NULL), 401, "no token: refused first");
    free(big);
    cr_expect_eq(http_req(&D, "GET", "/healthz", NULL, NULL, NULL, NULL), 200);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* One connection serves the API, the dashboard's files and /metrics one request after the other: a browser, a
 * Prometheus scraper or a script pays one TCP connect, not one per request. (libmicrohttpd closes the connection
 * after a response queued before the request was complete; the dashboard and /metrics used to be answered so.) */
DAEMON_TEST(api, one_connection_serves_every_kind_of_request)
{
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    const char *paths[] = {"/api/v1/version", "/metrics", "/", "/api/v1/apps", "/metrics", "/", "/api/v1/version"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char url[512];
        snprintf(url, sizeof url, "%s%s", D.base, paths[i]);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
        cr_assert_eq(curl_easy_perform(c), CURLE_OK, "GET %s", paths[i]);
        long code = 0, connects = -1;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        cr_expect_eq(code, 200, "GET %s", paths[i]);
        cr_expect_eq(connects, i == 0 ? 1 : 0, "GET %s (request %zu) opened %ld new connection(s)", paths[i], i,
                     connects);
    }
    curl_easy_cleanup(c);
}

/* ---- Issue 14: the defects of the review, each pinned --------------------------------------------------------- */

/* A raw HTTP connection to the event stream; returns the fd, the response headers read. */
static int sse_open(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)D.port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    static const char req[] = "GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n";
    cr_assert_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    return fd;
}

/* Reads the stream (at most timeout_ms) until a `data:` line follows `event: NAME`; returns that line (malloc'ed,
 * without "data: ") or NULL. The chunked framing of the stream is skipped: chunk sizes are lines of their own. */
static char *sse_next(int fd, const char *name, int timeout_ms)
{
    static char buf[1 << 21];
    static size_t len;
    char want[64];
    snprintf(want, sizeof(want), "event: %s\n", name);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        buf[len] = '\0';
        char *ev = strstr(buf, want);
        char *data = ev ? strstr(ev, "\ndata: ") : NULL;
        char *end = data ? strchr(data + 7, '\n') : NULL;
        if (end) {
            char *line = strndup(data + 7, (size_t)(end - data - 7));
            size_t used = (size_t)(end + 1 - buf);
            memmove(buf, buf + used, len - used);
            len -= used;
            return line;
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int left = timeout_ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0 || len + 1 >= sizeof(buf))
            return NULL;
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            return NULL;
        len += (size_t)r;
    }
}

/* Defect 2: an agent that sends indented JSON (json.dumps(indent=2) in Python) had its newlines copied into the
 * stream's `data:` lines, and the dashboard's JSON.parse threw. */
DAEMON_TEST(api, indented_stats_reach_the_event_stream_as_one_line)
{
    int fd = sse_open();
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "pretty", "--mode", "indented", NULL});
    char *line = NULL;
    for (int i = 0; i < 20 && !line; i++) { /* the stats of the app we started (others may come first) */
        char *l = sse_next(fd, "stats", 5000);
        cr_assert_not_null(l, "a stats event arrives");
        cJSON *j = cJSON_Parse(l);
        cr_assert_not_null(j, "the data line is whole JSON: %.200s", l);
        if (cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id")) == id)
            line = l;
        else
            free(l);
        cJSON_Delete(j);
    }
    cr_assert_not_null(line);
    cJSON *j = cJSON_Parse(line);
    cr_expect_gt(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "heap"), "pool_bytes_in_use")), 0);
    cJSON_Delete(j);
    free(line);
    char *body = NULL;
    const char *path = app_path(id, "%s", "");
    cr_assert_eq(http_req(&D, "GET", path, NULL, NULL, NULL, &body), 200);
    cr_expect_null(strchr(body, '\n'), "the document is compact");
    cr_expect_null(strchr(body, '\t'));
    free(body);
    close(fd);
    proc_kill(app);
}

/* Stats messages are strict RFC 8259: what only cJSON's leniency read (a leading zero) closes the connection. */
DAEMON_TEST(api, lenient_json_is_a_protocol_error)
{
    pid_t app = app_start(&D, (const char *const[]){"--name", "sloppy", "--mode", "lenient", NULL});
    cr_expect_eq(proc_wait(app, 5000), 4, "the daemon closed the connection");
    char *m = NULL;
    cr_assert_eq(http_req(&D, "GET", "/metrics", NULL, NULL, NULL, &m), 200);
    cr_expect_not_null(strstr(m, "memscope_daemon_frames_malformed_total 1\n"), "%s", m);
    free(m);
    cJSON *a = find_app(&D, "sloppy");
    cr_assert_not_null(a);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(a, "connected")));
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(a, "samples")), 1, "the strict first stats counted");
    cJSON_Delete(a);
}

/* The error message of a request, or "" (a copy in buf). */
static long error_of(const char *method, const char *path, const char *body, char *buf, size_t cap)
{
    cJSON *r = NULL;
    long st = http_json(&D, method, path, body, D.token, &r);
    snprintf(buf, cap, "%s", cJSON_IsString(cJSON_GetObjectItem(r, "error")) ? cJSON_GetObjectItem(r, "error")->valuestring : "");
    cJSON_Delete(r);
    return st;
}

/* Defect 3: the limits disagreed across layers (top 0..10000 in the daemon, 1..1000 in the agent: `top -n 0` was a
 * 502; nframes 128 here, 256 in the library). One set, common/protocol.h, checked once here with a 400. */
DAEMON_TEST(api, request_limits_are_the_protocols)
{
    pid_t app;
    long id = app_up(&app, 1, (const char *const[]){"--name", "limits", NULL});
    char err[256];
    const char *path = app_path(id, "/trace");
    cr_expect_eq(error_of("POST", path, "{\"action\":\"start\",\"nframes\":257}", err, sizeof(err)), 400);
    cr_expect(strstr(err, "from 1 to 256"), "%s", err);
    cr_expect_eq(error_of("POST", path, "{\"action\":\"start\",\"nframes\":0}", err, sizeof(err)), 400);
    cr_expect_eq(http_req(&D, "POST", path, "{\"action\":\"start\",\"nframes\":256}", D.token, NULL, NULL), 200,
                 "the library's maximum");
    path = app_path(id, "/trace/top?limit=0");
    cr_expect_eq(http_req(&D, "GET", path, NULL, NULL, NULL, NULL), 200, "0 means every entry");
    path = app_path(id, "/trace/top?limit=10001");
    cr_expect_eq(error_of("GET", path, NULL, err, sizeof(err)), 400);
    cr_expect(strstr(err, "from 0 to 10000"), "%s", err);
    path = app_path(id, "/trace/top?limit=-1");
    cr_expect_eq(http_req(&D, "GET", path, NULL, NULL, NULL, NULL), 400);
    path = app_path(id, "/trace/diff?from=1&to=2&limit=10001");
    cr_expect_eq(error_of("GET", path, NULL, err, sizeof(err)), 400);
    cr_expect(strstr(err, "from 0 to 10000"), "%s", err);
    proc_kill(app);
}


/* Defect 4: snapshot ids are global and the diff endpoint ignored the app in its path, so
 * GET /api/v1/apps/999999/trace/diff?from=1&to=2 was a 200 and one program's diff could show another's lines. */
DAEMON_TEST(api, snapshots_belong_to_their_app)
{
    pid_t a = app_start(&D, (const char *const[]){"--name", "alpha", NULL});
    pid_t b = app_start(&D, (const char *const[]){"--name", "beta", NULL});
    long ia = wait_app(&D, "alpha", true, 1, 5000), ib = wait_app(&D, "beta", true, 1, 5000);
    cr_assert(ia > 0 && ib > 0);
    long a1 = take_snapshot(ia), b1 = take_snapshot(ib), a2 = take_snapshot(ia);
    char err[256];
    const char *path = app_path(ia, "/trace/diff?from=%ld&to=%ld", a1, a2);
    cr_expect_eq(http_req(&D, "GET", path, NULL, NULL, NULL, NULL), 200, "two snapshots of the app");
    path = app_path(ia, "/trace/diff?from=%ld&to=%ld", a1, b1);
    cr_expect_eq(error_of("GET", path, NULL, err, sizeof(err)), 404, "across apps");
    cr_expect(strstr(err, "belongs to another app"), "%s", err);
    path = app_path(ib, "/trace/diff?from=%ld&to=%ld", a1, a2);
    cr_expect_eq(error_of("GET", path, NULL, err, sizeof(err)), 404, "through the wrong app");
    path = app_path(999999, "/trace/diff?from=%ld&to=%ld", a1, a2);
    cr_expect_eq(error_of("GET", path, NULL, err, sizeof(err)), 404, "through no app");
    cr_expect_str_eq(err, "no such app");
    cJSON *r = NULL;
    path = app_path(ib, "/trace/snapshots");
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &r), 200);
    const cJSON *list = cJSON_GetObjectItem(r, "snapshots");
    cr_expect_eq(cJSON_GetArraySize(list), 1, "beta lists its own snapshot only");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "id")), b1);
    cJSON_Delete(r);
    proc_kill(a);
    proc_kill(b);
}

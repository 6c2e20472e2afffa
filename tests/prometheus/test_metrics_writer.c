/*
 * The /metrics exposition writer (daemon/metrics.c) on its own: no loop, no HTTP, typed models in, text out.
 * Escaping (label values, invalid UTF-8), the top-K cut of per-type series, de-duplication of apps sharing a
 * (name, pid), the OpenMetrics variant (family names, UNIT, info, # EOF) and content negotiation.
 */
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "message.h"
#include "metrics.h"

/* A stats message with these types (and the members of a served document besides, which the model ignores). */
static const char *DOC =
    "{\"id\":1,\"pid\":42,\"name\":\"x\",\"time\":1.5,\"type\":\"stats\",\"dropped\":3,"
    "\"heap\":{\"pool_bytes_in_use\":81920,\"arena_size\":262144},"
    "\"pools\":[{\"block_size\":16,\"pools\":1,\"blocks_in_use\":200,\"blocks_free\":55},"
    "{\"block_size\":32,\"pools\":0,\"blocks_in_use\":0,\"blocks_free\":0}],"
    "\"refcount\":{\"objects_alive\":1200,\"objects_created\":9000,\"objects_destroyed\":7800},"
    "\"types\":[{\"name\":\"small\",\"alive\":1,\"bytes\":10,\"created\":1,\"destroyed\":0},"
    "{\"name\":\"big\",\"alive\":100,\"bytes\":6400,\"created\":500,\"destroyed\":400},"
    "{\"name\":\"mid\",\"alive\":10,\"bytes\":640,\"created\":50,\"destroyed\":40},"
    "{\"name\":\"tie_b\",\"alive\":5,\"bytes\":320,\"created\":5,\"destroyed\":0},"
    "{\"name\":\"tie_a\",\"alive\":5,\"bytes\":320,\"created\":5,\"destroyed\":0},"
    "{\"name\":\"big\",\"alive\":1,\"bytes\":1,\"created\":1,\"destroyed\":0}],"
    "\"gc\":{\"enabled\":true,\"generations\":[{\"count\":12,\"threshold\":700,\"collections\":40,\"collected\":300,"
    "\"uncollectable\":0},{\"count\":3,\"threshold\":10,\"collections\":4,\"collected\":20,\"uncollectable\":1}],"
    "\"pause_total_ns\":1500000,\"pause_max_ns\":90000,\"garbage\":0},"
    "\"trace\":{\"tracing\":false,\"nframes\":1,\"current\":0,\"peak\":0}}";

static char *render(const msd_metrics_app *apps, size_t n, msd_metrics_format fmt, int k)
{
    msd_counters c = {.frames_received = 7, .frames_malformed = 1};
    c.http_requests[200] = 5;
    c.http_requests[404] = 2;
    msd_metrics_self self = {.apps = n, .apps_connected = 1, .connections = 1, .start_time = 1700000000.25,
                             .cpu_seconds = -1, .rss_bytes = 4096, .counters = &c};
    msd_blob *b = msd_metrics_render(apps, n, &self, fmt, k);
    cr_assert_not_null(b);
    cr_assert_eq(strlen(b->data), b->len, "no NUL inside the document");
    char *s = strdup(b->data);
    msd_blob_unref(b);
    cr_assert_not_null(s);
    return s;
}

/* The model of stats message text (the writer reads models, not text), or NULL for no stats. Each call's model
 * lives until the test's process ends (Criterion runs every test in a process of its own). */
static const msd_stats *model(const char *text)
{
    static msd_stats models[32];
    static size_t used;
    if (!text)
        return NULL;
    cr_assert_lt(used, sizeof(models) / sizeof(models[0]));
    msd_stats *m = &models[used++];
    msd_stats_init(m);
    msd_msg msg;
    char err[200];
    cr_assert_eq(msd_msg_parse((const uint8_t *)text, strlen(text), m, &msg, err, sizeof(err)), 0, "%s", err);
    msd_msg_free(&msg);
    return m;
}

static msd_metrics_app app(const char *name, int64_t pid, bool connected, const char *doc)
{
    return (msd_metrics_app){.name = name, .pid = pid, .connected = connected, .last_update = 1700000001.5,
                             .samples = 9, .stats = model(doc)};
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

Test(metrics_writer, escapes_label_values)
{
    char out[64];
    msd_metrics_escape_label(out, "a\"b\\c\nd");
    cr_assert_str_eq(out, "a\\\"b\\\\c\\nd");
    msd_metrics_escape_label(out, "caf\xc3\xa9 \xe2\x82\xac"); /* valid UTF-8 passes through */
    cr_assert_str_eq(out, "caf\xc3\xa9 \xe2\x82\xac");
    size_t n = msd_metrics_escape_label(out, "x\xffy");        /* an invalid byte becomes U+FFFD */
    cr_assert_str_eq(out, "x\xef\xbf\xbdy");
    cr_assert_eq(n, 5);
    msd_metrics_escape_label(out, "\xc0\xaf");                 /* overlong '/': two invalid bytes */
    cr_assert_str_eq(out, "\xef\xbf\xbd\xef\xbf\xbd");
    msd_metrics_escape_label(out, "\xed\xa0\x80");             /* a UTF-16 surrogate is not UTF-8 */
    cr_assert_str_eq(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    msd_metrics_escape_label(out, "end\xe2\x82");              /* a sequence cut by the end of the string */
    cr_assert_str_eq(out, "end\xef\xbf\xbd\xef\xbf\xbd");
    msd_metrics_escape_label(out, "");
    cr_assert_str_eq(out, "");
}

Test(metrics_writer, app_labels_are_escaped)
{
    msd_metrics_app a = app("we\"ird\\\nname", 42, true, DOC);
    char *s = render(&a, 1, MSD_METRICS_PROMETHEUS, 20);
    cr_assert(strstr(s, "memscope_app_connected{app=\"we\\\"ird\\\\\\nname\",pid=\"42\"} 1\n"), "%s", s);
    /* No raw newline inside a sample: every line starts with '#' or a metric name. */
    for (const char *line = s; *line; line = strchr(line, '\n') + 1)
        cr_assert(line[0] == '#' || strncmp(line, "memscope_", 9) == 0, "bad line start: %.40s", line);
    free(s);
}

Test(metrics_writer, top_k_types_by_bytes)
{
    msd_metrics_app a = app("x", 42, true, DOC);
    char *s = render(&a, 1, MSD_METRICS_PROMETHEUS, 3);
    /* 5 distinct types ("big" is listed twice: once, with its larger entry). */
    cr_assert(strstr(s, "memscope_types{app=\"x\",pid=\"42\"} 5\n"), "%s", s);
    cr_assert(strstr(s, "memscope_type_alive_bytes{app=\"x\",pid=\"42\",type=\"big\"} 6400\n"), "%s", s);
    cr_assert(strstr(s, "memscope_type_alive_bytes{app=\"x\",pid=\"42\",type=\"mid\"} 640\n"));
    /* The tie at 320 bytes is broken by name: tie_a is kept, tie_b is cut; small is cut. */
    cr_assert(strstr(s, "type=\"tie_a\"} 320\n"));
    cr_assert_null(strstr(s, "tie_b"));
    cr_assert_null(strstr(s, "type=\"small\""));
    cr_assert_eq(count(s, "memscope_type_alive_bytes{"), 3);
    cr_assert_eq(count(s, "memscope_type_objects_created_total{"), 3);
    cr_assert_eq(count(s, "type=\"big\""), 4, "one sample per per-type family, the duplicate entry dropped");
    cr_assert(strstr(s, "memscope_type_objects_alive{app=\"x\",pid=\"42\",type=\"big\"} 100\n"));
    free(s);

    s = render(&a, 1, MSD_METRICS_PROMETHEUS, 0);
    cr_assert_null(strstr(s, "memscope_type_"), "K = 0: no per-type series");
    cr_assert(strstr(s, "memscope_types{app=\"x\",pid=\"42\"} 5\n"));
    free(s);
}

Test(metrics_writer, prometheus_text_0_0_4)
{
    msd_metrics_app a = app("x", 42, true, DOC);
    char *s = render(&a, 1, MSD_METRICS_PROMETHEUS, 20);
    static const char *const want[] = {
        "# HELP memscope_objects_created_total ",
        "# TYPE memscope_objects_created_total counter\n",
        "memscope_objects_created_total{app=\"x\",pid=\"42\"} 9000\n",
        "# TYPE memscope_heap_pool_bytes gauge\nmemscope_heap_pool_bytes{app=\"x\",pid=\"42\"} 81920\n",
        "memscope_gc_pause_seconds_total{app=\"x\",pid=\"42\"} 0.0015\n",        /* ns to seconds, exactly */
        "memscope_gc_pause_max_seconds{app=\"x\",pid=\"42\"} 9e-05\n",
        "memscope_gc_enabled{app=\"x\",pid=\"42\"} 1\n",                         /* a bool is 1/0 */
        "memscope_gc_uncollectable_objects_total{app=\"x\",pid=\"42\",generation=\"1\"} 1\n",
        "memscope_pool_used_blocks{app=\"x\",pid=\"42\",size_class=\"16\"} 200\n",
        "memscope_app_stats_dropped_total{app=\"x\",pid=\"42\"} 3\n",
        "memscope_app_last_update_timestamp_seconds{app=\"x\",pid=\"42\"} 1700000001.5\n",
        "memscope_daemon_http_requests_total{code=\"404\"} 2\n",
        "memscope_daemon_frames_malformed_total 1\n",
        "memscope_daemon_start_time_seconds 1700000000.25\n",
        "# TYPE memscope_daemon_build_info gauge\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert(strstr(s, want[i]), "%s is in:\n%s", want[i], s);
    cr_assert_null(strstr(s, "size_class=\"32\""), "an empty size class is left out");
    cr_assert_null(strstr(s, "memscope_daemon_cpu_seconds"), "an unknown value is left out");
    cr_assert_null(strstr(s, "# UNIT"), "no UNIT lines in 0.0.4");
    cr_assert_null(strstr(s, "# EOF"));
    /* Each family's header exactly once, right before its samples. */
    cr_assert_eq(count(s, "# TYPE memscope_gc_threshold gauge\n"), 1);
    cr_assert_eq(count(s, "# HELP memscope_gc_threshold "), 1);
    free(s);
}

Test(metrics_writer, openmetrics_1_0)
{
    msd_metrics_app a = app("x", 42, true, DOC);
    char *s = render(&a, 1, MSD_METRICS_OPENMETRICS, 20);
    size_t n = strlen(s);
    cr_assert(n > 6 && strcmp(s + n - 6, "# EOF\n") == 0, "ends with # EOF");
    cr_assert_eq(count(s, "# EOF"), 1);
    static const char *const want[] = {
        "# TYPE memscope_objects_created counter\n",                                /* the family has no _total */
        "memscope_objects_created_total{app=\"x\",pid=\"42\"} 9000\n",          /* its sample has */
        "# UNIT memscope_heap_pool_bytes bytes\n",
        "# TYPE memscope_gc_pause_seconds counter\n",
        "# UNIT memscope_gc_pause_seconds seconds\n",
        "# TYPE memscope_daemon_build info\n",
        "memscope_daemon_build_info{version=\"" MSD_VERSION "\",protocol=\"1\"} 1\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert(strstr(s, want[i]), "%s is in:\n%s", want[i], s);
    cr_assert_null(strstr(s, "# TYPE memscope_objects_created_total"));
    free(s);
}

Test(metrics_writer, one_entry_per_name_and_pid)
{
    /* The same process twice (it reconnected): the connected entry wins. A disconnected app exports no stats. */
    msd_metrics_app apps[] = {
        app("x", 42, true, DOC),
        app("x", 42, false, DOC),
        app("gone", 7, false, DOC),
        app("nostats", 8, true, NULL),
    };
    char *s = render(apps, 4, MSD_METRICS_PROMETHEUS, 20);
    cr_assert_eq(count(s, "memscope_app_connected{app=\"x\",pid=\"42\"}"), 1);
    cr_assert(strstr(s, "memscope_app_connected{app=\"x\",pid=\"42\"} 1\n"));
    cr_assert_eq(count(s, "memscope_heap_pool_bytes{app=\"x\",pid=\"42\"}"), 1);
    cr_assert(strstr(s, "memscope_app_connected{app=\"gone\",pid=\"7\"} 0\n"));
    cr_assert_null(strstr(s, "memscope_heap_pool_bytes{app=\"gone\""), "no frozen stats for a gone app");
    cr_assert(strstr(s, "memscope_app_connected{app=\"nostats\",pid=\"8\"} 1\n"), "no stats yet: app series only");
    cr_assert_null(strstr(s, "memscope_heap_pool_bytes{app=\"nostats\""));
    free(s);
}

Test(metrics_writer, empty_registry)
{
    char *s = render(NULL, 0, MSD_METRICS_OPENMETRICS, 20);
    cr_assert(strstr(s, "memscope_daemon_apps 0\n"));
    cr_assert_null(strstr(s, "memscope_app_"), "no app, no per-app family (not even its header)");
    free(s);
}

Test(metrics_writer, negotiation)
{
    cr_assert_eq(msd_metrics_negotiate(NULL), MSD_METRICS_PROMETHEUS);
    cr_assert_eq(msd_metrics_negotiate("*/*"), MSD_METRICS_PROMETHEUS);
    cr_assert_eq(msd_metrics_negotiate("text/plain;version=0.0.4"), MSD_METRICS_PROMETHEUS);
    cr_assert_eq(msd_metrics_negotiate("application/openmetrics-text"), MSD_METRICS_OPENMETRICS);
    /* What Prometheus 2.x sends. */
    cr_assert_eq(msd_metrics_negotiate("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                                       "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                 MSD_METRICS_OPENMETRICS);
    cr_assert_eq(msd_metrics_negotiate("application/openmetrics-text; q=0, text/plain"), MSD_METRICS_PROMETHEUS);
    cr_assert_eq(msd_metrics_negotiate("text/plain;q=1, Application/OpenMetrics-Text;q=0.5"), MSD_METRICS_PROMETHEUS);
    cr_assert_eq(msd_metrics_negotiate("text/plain;q=0.2, application/openmetrics-text;q=0.5"),
                 MSD_METRICS_OPENMETRICS);
}

Test(metrics_writer, http_counter_bounds)
{
    msd_counters c = {0};
    msd_count_http(&c, 200);
    msd_count_http(&c, 0);   /* ignored */
    msd_count_http(&c, 600); /* ignored */
    msd_count_http(&c, 99);  /* ignored */
    cr_assert_eq(c.http_requests[200], 1);
}

/* The series come from the model only: a member that is not a number (a string, a bool where a number belongs)
 * or not finite is left out rather than exported as 0 or 1, and booleans are 1/0. */
Test(metrics_writer, fields_the_agent_did_not_send_are_left_out)
{
    msd_metrics_app a = app("x", 42, true,
                            "{\"type\":\"stats\",\"heap\":{\"pool_bytes_in_use\":\"5\",\"arena_size\":true,"
                            "\"blocks_in_use\":1e999,\"pools_in_use\":7},\"trace\":{\"tracing\":true}}");
    char *s = render(&a, 1, MSD_METRICS_PROMETHEUS, 20);
    cr_assert(strstr(s, "memscope_heap_pools{app=\"x\",pid=\"42\"} 7\n"), "%s", s);
    cr_assert_null(strstr(s, "memscope_heap_pool_bytes{"), "a string");
    cr_assert_null(strstr(s, "memscope_heap_arena_size_bytes{"), "a bool for a number");
    cr_assert_null(strstr(s, "memscope_heap_blocks{"), "not finite");
    cr_assert(strstr(s, "memscope_trace_enabled{app=\"x\",pid=\"42\"} 1\n"));
    cr_assert_null(strstr(s, "memscope_gc_"), "no gc section, no gc series");
    free(s);
}

/* The OpenMetrics document's structure, line by line: each family declared once (TYPE, then its samples), each
 * sample named as its family's type requires, each UNIT a suffix of its family's name, nothing after # EOF. */
Test(metrics_writer, openmetrics_structure)
{
    msd_metrics_app apps[] = {app("x", 42, true, DOC), app("y", 43, true, DOC)};
    char *s = render(apps, 2, MSD_METRICS_OPENMETRICS, 20);
    char family[128] = "", type[16] = "", seen[8192] = " ";
    bool eof = false;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        cr_assert_not(eof, "nothing after # EOF: %s", line);
        char name[128], word[64];
        if (strcmp(line, "# EOF") == 0) {
            eof = true;
        } else if (sscanf(line, "# TYPE %127s %15s", name, type) == 2) {
            strcpy(family, name);
            char key[132];
            snprintf(key, sizeof(key), " %s ", name);
            cr_assert_null(strstr(seen, key), "family %s declared twice", name);
            cr_assert(strlen(seen) + strlen(key) < sizeof(seen));
            strcat(seen, key + 1);
        } else if (sscanf(line, "# UNIT %127s %63s", name, word) == 2) {
            cr_assert_str_eq(name, family, "UNIT after its family's TYPE");
            size_t n = strlen(name), u = strlen(word);
            cr_assert(n > u + 1 && name[n - u - 1] == '_' && strcmp(name + n - u, word) == 0,
                      "the unit %s is a suffix of %s", word, name);
        } else if (strncmp(line, "# HELP ", 7) == 0) {
            cr_assert(sscanf(line, "# HELP %127s", name) == 1);
        } else {
            size_t n = strcspn(line, "{ ");
            char want[160];
            snprintf(want, sizeof(want), "%s%s", family,
                     strcmp(type, "counter") == 0 ? "_total" : strcmp(type, "info") == 0 ? "_info" : "");
            cr_assert(strlen(want) == n && strncmp(line, want, n) == 0, "sample %.60s under family %s (%s)", line,
                      family, type);
        }
    }
    cr_assert(eof);
    free(s);
}

/* Numbers print as the shortest text that reads back to the model's value: integers digit for digit at every
 * magnitude (the writer formats them itself, two digits at a time), the others as %.15g or %.17g would. */
Test(metrics_writer, numbers_print_exactly_at_every_magnitude)
{
    static const char *values[] = {"0", "7", "10", "99", "100", "101", "999", "1000", "65536", "1234567",
                                   "100000000000", "9007199254740991", "-1", "-42", "-1000", "0.5", "0.0015",
                                   "123456.789", "1e300", "-2.5e-7", "9007199254740993"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char doc[200];
        snprintf(doc, sizeof(doc), "{\"type\":\"stats\",\"heap\":{\"pools_in_use\":%s}}", values[i]);
        msd_metrics_app a = app("x", 42, true, doc);
        char *s = render(&a, 1, MSD_METRICS_PROMETHEUS, 20);
        const char *key = "memscope_heap_pools{app=\"x\",pid=\"42\"} ";
        const char *at = strstr(s, key);
        cr_assert(at, "%s: %s", values[i], s);
        at += strlen(key);
        char printed[64];
        size_t n = strcspn(at, "\n");
        cr_assert_lt(n, sizeof(printed));
        memcpy(printed, at, n);
        printed[n] = '\0';
        double want = strtod(values[i], NULL);
        cr_expect_eq(strtod(printed, NULL), want, "%s printed as %s", values[i], printed);
        if (strchr(values[i], '.') == NULL && strchr(values[i], 'e') == NULL && fabs(want) < 9007199254740992.0)
            cr_expect_str_eq(printed, values[i], "an integer prints as its digits");
        free(s);
    }
}

/* The cycle makers (issue 16): one counter per key the agent sent, its first MSC_STATS_CYCLES_MAX only, the key
 * escaped as a label; empty, repeated and absurdly long keys left out, so a peer cannot multiply the series. */
Test(metrics_writer, cycle_makers_are_bounded_and_escaped)
{
    char doc[8192], *p = doc;
    p += sprintf(p, "{\"type\":\"stats\",\"gc\":{\"enabled\":true,\"generations\":[]},\"cycles\":["
                    "{\"key\":\"docstore.c:91\",\"cycles\":16,\"objects\":2232,\"bytes\":151552},"
                    "{\"key\":\"Folder\\u00d751+li\\\"st\",\"cycles\":8,\"objects\":1616,\"bytes\":109568},"
                    "{\"key\":\"docstore.c:91\",\"cycles\":1,\"objects\":5,\"bytes\":1},"
                    "{\"key\":\"\",\"cycles\":1,\"objects\":4,\"bytes\":1},");
    char longkey[400];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    p += sprintf(p, "{\"key\":\"%s\",\"cycles\":1,\"objects\":3,\"bytes\":1}", longkey);
    for (int i = 0; i < 20; i++)
        p += sprintf(p, ",{\"key\":\"site%d.c:1\",\"cycles\":1,\"objects\":2,\"bytes\":1}", i);
    sprintf(p, "]}");
    msd_metrics_app a = app("x", 42, true, doc);
    char *s = render(&a, 1, MSD_METRICS_PROMETHEUS, 20);
    cr_expect(strstr(s, "# TYPE memscope_gc_cycle_objects_total counter\n"), "%s", s);
    cr_expect(strstr(s, "memscope_gc_cycle_objects_total{app=\"x\",pid=\"42\",site=\"docstore.c:91\"} 2232\n"), "%s", s);
    cr_expect(strstr(s, "memscope_gc_cycle_objects_total{app=\"x\",pid=\"42\",site=\"Folder\xc3\x97" "51+li\\\"st\"} 1616\n"),
              "%s", s);
    cr_expect_eq(count(s, "memscope_gc_cycle_objects_total{"), 2 + (MSC_STATS_CYCLES_MAX - 5),
                 "the first 10 entries, but the repeated, empty and long keys");
    cr_expect_eq(count(s, "site=\"site"), MSC_STATS_CYCLES_MAX - 5);
    free(s);

    /* A key without a string is a protocol error, as a type without a name is. */
    msd_stats m;
    msd_stats_init(&m);
    msd_msg msg;
    char err[200] = "";
    const char *bad = "{\"type\":\"stats\",\"cycles\":[{\"key\":7,\"objects\":1}]}";
    cr_expect_eq(msd_msg_parse((const uint8_t *)bad, strlen(bad), &m, &msg, err, sizeof(err)), -EPROTO);
    cr_expect(strstr(err, "\"cycles\" needs a string \"key\""), "%s", err);
    msd_stats_free(&m);
}

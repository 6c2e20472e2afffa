/*
 * tests/integration/test_protocol.c — misbehaving agents: each bad connection is closed alone while a
 * well-behaved app keeps being served. Suite "integration".
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "daemon_fixture.h"

static void start(void) { daemon_fixture_start(NULL); }

TestSuite(protocol, .init = start, .fini = daemon_fixture_stop);

/* A good app runs beside the bad one; after the bad one is dealt with, the good one still gets through. */
static void check_bad_app_alone(const char *mode, int expected_exit)
{
    pid_t good = app_start(&D, (const char *const[]){"--name", "good", "--interval-ms", "50", NULL});
    cr_assert_gt(wait_app(&D, "good", true, 1, 5000), 0);
    pid_t bad = app_start(&D, (const char *const[]){"--name", "bad", "--interval-ms", "50", "--mode", mode, NULL});
    if (expected_exit == 4) /* it gets in first, then breaks the protocol */
        cr_expect_gt(wait_app(&D, "bad", false, 1, 5000), 0, "%s: the bad app is marked disconnected", mode);
    cr_expect_eq(proc_wait(bad, 5000), expected_exit, "%s: the bad app's exit", mode);
    long before = app_samples(&D, "good");
    cr_expect(wait_app(&D, "good", true, (int)before + 2, 5000) > 0, "%s: the good app is still served", mode);
    cr_expect_eq(http_req(&D, "GET", "/healthz", NULL, NULL, NULL, NULL), 200);
    proc_kill(good);
}

DAEMON_TEST(protocol, malformed_frame_closes_only_that_connection)
{
    check_bad_app_alone("malformed", 4);
}

DAEMON_TEST(protocol, oversized_frame_closes_only_that_connection)
{
    check_bad_app_alone("oversized", 4);
}

DAEMON_TEST(protocol, wrong_version_is_refused)
{
    pid_t good = app_start(&D, (const char *const[]){"--name", "good", "--interval-ms", "50", NULL});
    cr_assert_gt(wait_app(&D, "good", true, 1, 5000), 0);
    pid_t bad = app_start(&D, (const char *const[]){"--name", "future", "--mode", "wrong-version", NULL});
    cr_expect_eq(proc_wait(bad, 5000), 3, "the agent is told it is refused");
    cJSON *a = find_app(&D, "future");
    cr_expect_null(a, "a refused agent is not registered");
    cJSON_Delete(a);
    long before = app_samples(&D, "good");
    cr_expect(wait_app(&D, "good", true, (int)before + 2, 5000) > 0);
    proc_kill(good);
}

DAEMON_TEST(protocol, death_mid_frame_is_a_disconnect)
{
    pid_t good = app_start(&D, (const char *const[]){"--name", "good", "--interval-ms", "50", NULL});
    cr_assert_gt(wait_app(&D, "good", true, 1, 5000), 0);
    pid_t bad = app_start(&D, (const char *const[]){"--name", "halfway", "--interval-ms", "50", "--mode",
                                                    "die-mid-frame", NULL});
    cr_expect_eq(proc_wait(bad, 5000), 5);
    cr_expect_gt(wait_app(&D, "halfway", false, 1, 2000), 0, "marked disconnected within 2 s");
    long before = app_samples(&D, "good");
    cr_expect(wait_app(&D, "good", true, (int)before + 2, 5000) > 0);
    proc_kill(good);
}

DAEMON_TEST_WITH(protocol, silent_connection_is_dropped_after_hello_timeout, .timeout = 30)
{
    pid_t mute = app_start(&D, (const char *const[]){"--mode", "no-hello", NULL});
    cr_expect_eq(proc_wait(mute, 10000), 4, "the daemon closes a connection that never says hello");
}

DAEMON_TEST(protocol, app_that_never_reads_does_not_block_the_daemon)
{
    pid_t deaf = app_start(&D, (const char *const[]){"--name", "deaf", "--interval-ms", "50", "--mode", "never-read",
                                                     NULL});
    long id = wait_app(&D, "deaf", true, 1, 5000);
    cr_assert_gt(id, 0);
    char path[100];
    snprintf(path, sizeof(path), "/api/v1/apps/%ld/gc/enable", id);
    /* The request is sent but never read nor answered: 504 after the default 5 s. */
    cr_expect_eq(http_req(&D, "POST", path, NULL, D.token, NULL, NULL), 504);
    long before = app_samples(&D, "deaf");
    cr_expect(wait_app(&D, "deaf", true, (int)before + 2, 5000) > 0, "its stats still arrive");
    proc_kill(deaf);
}

DAEMON_TEST(protocol, big_frames_arrive_whole)
{
    /* ~500 KB per stats message: many reads per frame, through the connection's own buffer. */
    pid_t big = app_start(&D, (const char *const[]){"--name", "big", "--interval-ms", "100", "--types", "5000", NULL});
    long id = wait_app(&D, "big", true, 2, 10000);
    cr_assert_gt(id, 0);
    char path[100];
    snprintf(path, sizeof(path), "/api/v1/apps/%ld", id);
    cJSON *s = NULL;
    cr_assert_eq(http_json(&D, "GET", path, NULL, NULL, &s), 200);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s, "types")), 5002, "every type is served");
    cJSON_Delete(s);
    proc_kill(big);
}

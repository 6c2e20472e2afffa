/*
 * tests/integration/daemon_fixture.h — the memscoped of a test file (Criterion suites): one daemon_proc D, started
 * by the suite's .init (daemon_fixture_start with the file's flags) and stopped by its .fini (daemon_fixture_stop).
 * A test that wants other flags calls daemon_fixture_start itself: Criterion runs the suite's .init, then the
 * test's, so the suite's daemon is stopped first (it would otherwise outlive the test with its directory).
 * Header-only (static): each test file has its own D.
 */
#ifndef MEMSCOPE_TESTS_DAEMON_FIXTURE_H
#define MEMSCOPE_TESTS_DAEMON_FIXTURE_H

#include <criterion/criterion.h>

#include "harness.h"

static daemon_proc D;

static inline void daemon_fixture_start(const char *const *extra)
{
    if (D.pid > 0)
        cr_expect_eq(daemon_stop(&D), 0);
    cr_assert_eq(daemon_start(&D, extra), 0, "memscoped starts");
}

static inline void daemon_fixture_stop(void)
{
    if (D.pid > 0)
        cr_assert_eq(daemon_stop(&D), 0, "memscoped exits cleanly");
}

/* A test that ends by stopping D, which asserts the clean exit (tests/test_then.h); the suite's .fini then finds
 * nothing left to do. */
#define DAEMON_TEST(suite, name) TEST_THEN(suite, name, daemon_fixture_stop, .disabled = false)
#define DAEMON_TEST_WITH(suite, name, ...) TEST_THEN(suite, name, daemon_fixture_stop, __VA_ARGS__)

#endif /* MEMSCOPE_TESTS_DAEMON_FIXTURE_H */

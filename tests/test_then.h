/*
 * tests/test_then.h — a Criterion test whose body is followed by a check of the file's (the daemon exits cleanly,
 * nothing leaked). Criterion reports, but never fails on, an assertion made in a .fini, so a check that must be
 * able to fail the test runs at the end of the test's own body instead.
 *
 *   TEST_THEN(suite, name, after, options...)    options are Criterion's (.init = ..., .timeout = ...), at least
 *                                                one (.disabled = false when there is nothing to say)
 */
#ifndef MEMSCOPE_TESTS_TEST_THEN_H
#define MEMSCOPE_TESTS_TEST_THEN_H

#include <criterion/criterion.h>

#define TEST_THEN(suite, name, after, ...)                                                                     \
    static void name##_body(void);                                                                             \
    Test(suite, name, __VA_ARGS__)                                                                             \
    {                                                                                                          \
        name##_body();                                                                                         \
        after();                                                                                               \
    }                                                                                                          \
    static void name##_body(void)

#endif /* MEMSCOPE_TESTS_TEST_THEN_H */

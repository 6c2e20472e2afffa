/*
 * tests/xorshift.h — the tests' pseudo-random numbers: Marsaglia's xorshift64 (13, 7, 17). Every test seeds
 * its own state with a fixed value, so a failure replays exactly. Header-only: unit, integration and fault tests
 * include it by relative path.
 */
#ifndef MEMSCOPE_TESTS_XORSHIFT_H
#define MEMSCOPE_TESTS_XORSHIFT_H

#include <stdint.h>

/* Advances *state (never 0) and returns the new value. */
static inline uint64_t test_xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif /* MEMSCOPE_TESTS_XORSHIFT_H */

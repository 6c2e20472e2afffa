/*
 * helpers.h — small helpers the unit tests share (leakcheck.h has the end-of-test leak check).
 */
#ifndef MEMSCOPE_TESTS_HELPERS_H
#define MEMSCOPE_TESTS_HELPERS_H

#include <stddef.h>

/*
 * p (or n) unchanged, but the compiler can no longer tell where it came from. For tests that, on purpose, free
 * pointers GCC can see are foreign, interior or freed already, or ask for absurd sizes: with the allocator's
 * attributes (memscope/mem.h) it rightly warns about those (-Wfree-nonheap-object, -Wuse-after-free,
 * -Walloc-size-larger-than, -Warray-bounds). Hide a pointer before it is freed, not after.
 */
static inline void *test_hide(void *p)
{
    __asm__("" : "+r"(p));
    return p;
}

static inline size_t test_hide_size(size_t n)
{
    __asm__("" : "+r"(n));
    return n;
}

#endif /* MEMSCOPE_TESTS_HELPERS_H */

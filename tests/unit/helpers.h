/*
 * helpers.h — small helpers the unit tests share (leakcheck.h has the end-of-test leak check).
 */
#ifndef MEMSCOPE_TESTS_HELPERS_H
#define MEMSCOPE_TESTS_HELPERS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include <memscope/memscope.h>

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

/* ms_free() on each block of the list, which ends with NULL. */
__attribute__((sentinel)) static inline void free_each(void *first, ...)
{
    va_list ap;
    va_start(ap, first);
    for (void *p = first; p; p = va_arg(ap, void *))
        ms_free(p);
    va_end(ap);
}

/* Objects alive in the process (ms_object_stats_get). */
static inline uint64_t objects_alive(void)
{
    ms_object_stats os;
    ms_object_stats_get(&os);
    return os.alive;
}

/* How a test sees an object die without touching freed memory: a weak reference to it, whose referent is NULL
 * exactly once the object is dead. */
static inline ms_weakref *watch(ms_object *o)
{
    ms_weakref *w = ms_weakref_new(o, NULL, NULL);
    cr_assert_not_null(w);
    return w;
}

static inline bool dead(ms_weakref *w) { return ms_weakref_peek(w) == NULL; }

#endif /* MEMSCOPE_TESTS_HELPERS_H */

/*
 * int.c — the int type and its small-int cache (CPython's Objects/longobject.c, minus bignums).
 *
 * Entry point: ms_int_new_at().
 *
 * An int is a 24-byte object {header, long}: a 32-byte pooled block. Values from MS_SMALL_INT_MIN to
 * MS_SMALL_INT_MAX come from a static array, like CPython's _PyRuntime small ints, so the seed's
 *     a = 10; b = 10      -> id(a) == id(b)
 *     c = 1000; d = 1000  -> id(c) != id(d)
 * holds here too (ms_int_new(10) == ms_int_new(10); ms_int_new(1000) != ms_int_new(1000)).
 *
 * Invariants of the cache
 *   - small_ints[v - MS_SMALL_INT_MIN] has value v, type int_type and a count >= 1: the cache's own
 *     reference is never dropped, so a correct program never brings a cached int to 0. A cached int is not a
 *     heap block: if a buggy program over-decrefs one, ms_free() reports the static pointer through the fault
 *     handler instead of corrupting the heap.
 *   - The array is filled on first use (the type pointer in ms_object.type_bits is an integer, which a static
 *     initializer cannot portably compute from an address).
 */
#include <errno.h>

#include <memscope/builtins.h>
#include <memscope/object.h>

#include "internal.h"

typedef struct int_object {
    MS_OBJECT_HEAD;
    long value;
} int_object;

/* Holds no references: no traverse, no clear, nothing to dealloc. */
MS__BUILTIN_TYPE(int_type, ms_int_type, is_int, .name = "int", .size = sizeof(int_object));

#define SMALL_INT_COUNT (MS_SMALL_INT_MAX - MS_SMALL_INT_MIN + 1)

static int_object small_ints[SMALL_INT_COUNT];
static bool small_ints_ready;

static void small_ints_init(void)
{
    for (int i = 0; i < SMALL_INT_COUNT; i++) {
        small_ints[i].ob_base.refcnt = 1;
        small_ints[i].ob_base.type_bits = (uintptr_t)&int_type;
        small_ints[i].value = (long)i + MS_SMALL_INT_MIN;
    }
    small_ints_ready = true;
}

ms_object *ms_int_new_at(long v, const char *file, int line)
{
    if (v >= MS_SMALL_INT_MIN && v <= MS_SMALL_INT_MAX) {
        if (MS_UNLIKELY(!small_ints_ready))
            small_ints_init();
        ms_object *o = &small_ints[v - MS_SMALL_INT_MIN].ob_base;
        ms_incref(o);
        return o;
    }
    int_object *o = (int_object *)ms_new_at(&int_type, file, line);
    if (!o)
        return NULL; /* errno set by ms_new_at */
    o->value = v;
    return &o->ob_base;
}

ms_object *(ms_int_new)(long v) { return ms_int_new_at(v, NULL, 0); }

long ms_int_value(const ms_object *o)
{
    if (MS_UNLIKELY(!is_int(o))) {
        errno = EINVAL;
        return 0;
    }
    return ((const int_object *)o)->value;
}

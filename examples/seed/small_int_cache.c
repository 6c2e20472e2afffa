/*
 * small_int_cache.c — the seed's section 3(2), 整数对象的缓存 (the small-int cache), in C.
 *
 * Output (the same as the Python program's, addresses aside):
 *     id(a), id(b): 0x... 0x...      (the same address twice)
 *     a is b: True
 *     id(c), id(d): 0x... 0x...      (two addresses)
 *     c is d: False
 *     cached range: -5 .. 256
 *
 * The seed says larger ints "may" be different objects: in Python, `c = 1000; d = 1000` in one code object
 * share one constant, so the Python counterpart makes its ints at run time (int('1000')), as C always does.
 * Exits with status 1 if memscope behaved differently.
 */
#include <stdio.h>

#include <memscope/memscope.h>

int main(void)
{
    ms_object *a = ms_int_new(10);                         /* a = int('10')                  */
    ms_object *b = ms_int_new(10);                         /* b = int('10')                  */
    printf("id(a), id(b): %p %p\n", (void *)a, (void *)b); /* print('id(a), id(b):', hex(id(a)), hex(id(b))) */
    printf("a is b: %s\n", a == b ? "True" : "False");     /* print('a is b:', a is b)  # True */

    ms_object *c = ms_int_new(1000);                       /* c = int('1000')                */
    ms_object *d = ms_int_new(1000);                       /* d = int('1000')                */
    if (!c || !d)
        return 1;
    printf("id(c), id(d): %p %p\n", (void *)c, (void *)d); /* print('id(c), id(d):', hex(id(c)), hex(id(d))) */
    printf("c is d: %s\n", c == d ? "True" : "False");     /* print('c is d:', c is d)  # False */

    /* lo = min(v for v in range(-100, 1000) if int(str(v)) is int(str(v)))  and hi likewise with max */
    long lo = 0, hi = 0;
    for (long v = -100; v < 1000; v++) {
        ms_object *x = ms_int_new(v), *y = ms_int_new(v);
        if (!x || !y)
            return 1;
        if (x == y) {
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        ms_decref(x);
        ms_decref(y);
    }
    printf("cached range: %ld .. %ld\n", lo, hi);          /* print(f'cached range: {lo} .. {hi}')  # -5 .. 256 */

    bool ok = a == b && c != d && lo == -5 && hi == 256;
    ms_decref(a);
    ms_decref(b);
    ms_decref(c);
    ms_decref(d);
    return ok ? 0 : 1;
}

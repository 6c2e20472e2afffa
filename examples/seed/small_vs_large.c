/*
 * small_vs_large.c — the seed's section 3(1), 小对象 vs 大对象 (small objects vs large objects), in C.
 *
 * Output (the same as the Python program's with the seed's 256-byte threshold, memscope's default):
 *     sys.getsizeof(s) = 255: pool
 *     sys.getsizeof(t) = 256: system
 *     freed small block reused: True
 *
 * Objects under the threshold are carved from pools of fixed-size blocks and a freed block goes back to its
 * pool for the next object of that size; larger objects come straight from the system allocator. A str is one
 * block of ms_sizeof() bytes (33 + length here, 49 + length for a CPython ASCII str), so the C program sizes
 * its strs to land on either side of the threshold and asks the allocator where each one lives
 * (ms_mem_is_pooled). Python cannot ask that; its counterpart applies the seed's rule to sys.getsizeof().
 * With -Dsmall_threshold=512 the sizes printed become 511 and 512.
 * Exits with status 1 if memscope behaved differently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/memscope.h>

static const char *where(const ms_object *o) { return ms_mem_is_pooled(o) ? "pool" : "system"; }

int main(void)
{
    size_t small = ms_mem_small_threshold();            /* SMALL = 256  # the seed's threshold */
    ms_object *empty = ms_str_new("");
    if (!empty)
        return 1;
    size_t overhead = ms_sizeof(empty);                 /* overhead = sys.getsizeof('')  # 49 in CPython, 33 here */
    ms_decref(empty);
    char *x = malloc(small);
    if (!x)
        return 1;
    memset(x, 'x', small);

    ms_object *s = ms_str_new_len(x, small - 1 - overhead); /* s = 'x' * (SMALL - 1 - overhead) */
    ms_object *t = ms_str_new_len(x, small - overhead);     /* t = 'x' * (SMALL - overhead)     */
    if (!s || !t)
        return 1;
    printf("sys.getsizeof(s) = %zu: %s\n", ms_sizeof(s), where(s)); /* print(f'sys.getsizeof(s) = {sys.getsizeof(s)}: {where(s)}') */
    printf("sys.getsizeof(t) = %zu: %s\n", ms_sizeof(t), where(t)); /* print(f'sys.getsizeof(t) = {sys.getsizeof(t)}: {where(t)}') */
    bool ok = ms_mem_is_pooled(s) && !ms_mem_is_pooled(t);

    void *address = s;                                      /* address = id(s)                  */
    ms_decref(s);                                           /* del s                            */
    ms_object *u = ms_str_new_len(x, small - 1 - overhead); /* u = 'y' * (SMALL - 1 - overhead) */
    if (!u)
        return 1;
    printf("freed small block reused: %s\n",               /* print('freed small block reused:', id(u) == address) */
           (void *)u == address ? "True" : "False");
    ok &= (void *)u == address;

    ms_decref(u);
    ms_decref(t);
    free(x);
    return ok ? 0 : 1;
}

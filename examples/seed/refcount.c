/*
 * refcount.c — the seed's section 1(2), 引用计数机制 (reference counting), in C.
 *
 * Output (the same as the Python program's):
 *     2
 *     3
 *     2
 *     freed: True
 *
 * ms_refcount() counts the references that exist; sys.getrefcount() also counts the temporary reference held by
 * its own argument, so the C program prints ms_refcount() + 1 to print the same numbers.
 * The program checks what it prints and exits with status 1 if memscope ever behaved differently.
 */
#include <stdio.h>

#include <memscope/memscope.h>

int main(void)
{
    ms_object *a = ms_list_new();                               /* a = [1, 2, 3]               */
    for (long i = 1; i <= 3; i++)                               /*                             */
        if (ms_list_append_take(a, ms_int_new(i)) < 0)          /*                             */
            return 1;                                           /*                             */
    ms_weakref *alive = ms_weakref_new(a, NULL, NULL);          /* alive = weakref.ref(a)      */
    if (!alive)
        return 1;
    printf("%ld\n", (long)ms_refcount(a) + 1);                  /* print(sys.getrefcount(a))   # 2 */
    intptr_t r1 = ms_refcount(a);

    ms_object *b = a;                                           /* b = a                       */
    ms_incref(b);                                               /*                             */
    printf("%ld\n", (long)ms_refcount(a) + 1);                  /* print(sys.getrefcount(a))   # 3 */
    intptr_t r2 = ms_refcount(a);

    ms_decref(a);                                               /* del a                       */
    printf("%ld\n", (long)ms_refcount(b) + 1);                  /* print(sys.getrefcount(b))   # 2 */
    intptr_t r3 = ms_refcount(b);

    ms_decref(b);                                               /* del b  # count 0: freed now */
    bool freed = ms_weakref_peek(alive) == NULL;
    printf("freed: %s\n", freed ? "True" : "False");            /* print('freed:', alive() is None) */
    ms_decref((ms_object *)alive);

    return r1 == 1 && r2 == 2 && r3 == 1 && freed ? 0 : 1;
}

/*
 * gc_garbage.c — the seed's section 5(1), `print(gc.garbage)`, with gc.DEBUG_SAVEALL, in C.
 *
 * Output (the same as the Python program's):
 *     gc.collect() -> 2
 *     gc.garbage: ['Node(1)', 'Node(2)']
 *     gc.garbage after clear: 0
 *     gc.collect() -> 2
 *
 * gc.garbage holds what the collector found unreachable but did not free: with MS_GC_DEBUG_SAVEALL, everything
 * it finds (a debugging aid to look at leaked cycles); without it, only cycles it cannot free (objects of a
 * MS_TYPE_LEGACY_FINALIZER type). Clearing the list drops its references, and the next collection frees them.
 * Exits with status 1 if memscope behaved differently.
 */
#include <stddef.h>
#include <stdio.h>

#include <memscope/memscope.h>

typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *value;
    ms_object *next;
} node;
static const size_t node_refs[] = {offsetof(node, value), offsetof(node, next), 0};
static const ms_type node_type = {.name = "Node", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs};

static ms_object *node_new(long value)
{
    node *n = (node *)ms_new(&node_type);
    if (n)
        n->value = ms_int_new(value);
    return (ms_object *)n;
}

int main(void)
{
    ms_gc_set_debug(MS_GC_DEBUG_SAVEALL);                  /* gc.set_debug(gc.DEBUG_SAVEALL) */
    ms_object *n1 = node_new(1);                           /* n1 = Node(1)                   */
    ms_object *n2 = node_new(2);                           /* n2 = Node(2)                   */
    if (!n1 || !n2)
        return 1;
    ((node *)n1)->next = n2;                               /* n1.next = n2                   */
    ms_incref(n2);
    ((node *)n2)->next = n1;                               /* n2.next = n1                   */
    ms_incref(n1);
    ms_decref(n1);                                         /* del n1                         */
    ms_decref(n2);                                         /* del n2                         */

    ssize_t first = ms_gc_collect(2);
    printf("gc.collect() -> %zd\n", first);                /* print('gc.collect() ->', gc.collect())  # 2 */
    /* print('gc.garbage:', sorted(f'{type(o).__name__}({o.value})' for o in gc.garbage)) */
    size_t n = ms_gc_garbage_count();
    long v0 = n > 0 ? ms_int_value(((node *)ms_gc_garbage_get(0))->value) : 0;
    long v1 = n > 1 ? ms_int_value(((node *)ms_gc_garbage_get(1))->value) : 0;
    if (v0 > v1) {
        long tmp = v0;
        v0 = v1;
        v1 = tmp;
    }
    printf("gc.garbage: [");
    for (size_t i = 0; i < n && i < 2; i++)
        printf("%s'%s(%ld)'", i ? ", " : "", ms_type_name(ms_gc_garbage_get(i)), i ? v1 : v0);
    printf("]\n");
    bool saved = n == 2 && v0 == 1 && v1 == 2;

    ms_gc_set_debug(0);                                    /* gc.set_debug(0)                */
    ms_gc_garbage_clear();                                 /* gc.garbage.clear()             */
    printf("gc.garbage after clear: %zu\n", ms_gc_garbage_count()); /* print('gc.garbage after clear:', len(gc.garbage)) */
    ssize_t second = ms_gc_collect(2);
    printf("gc.collect() -> %zd\n", second);               /* print('gc.collect() ->', gc.collect())  # 2 */

    return first == 2 && saved && ms_gc_garbage_count() == 0 && second == 2 ? 0 : 1;
}

/*
 * weakref_cycle.c — the seed's section 4(1), 使用弱引用 (breaking a cycle with weak references), in C.
 *
 * Output (the same as the Python program's):
 *     n1.next() is n2: True
 *     refcount of n1: 1
 *     after del n1: n2.next() is None: True
 *     after del n2: n2 alive: False
 *     gc.collect() -> 0
 *
 * With weak references for `next`, the two nodes own no reference to each other: each dies by reference
 * counting alone, the collector stays disabled and finds nothing afterwards. A Node's `next` holds a weak
 * reference object (itself an ms_object that the node owns), exactly as n1.next holds a weakref.ref.
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

static const char *py_bool(bool b) { return b ? "True" : "False"; }

int main(void)
{
    ms_gc_disable();                                                     /* gc.disable()               */
    ms_object *n1 = node_new(1);                                         /* n1 = Node(1)               */
    ms_object *n2 = node_new(2);                                         /* n2 = Node(2)               */
    if (!n1 || !n2)
        return 1;
    node *p1 = (node *)n1, *p2 = (node *)n2;
    p1->next = (ms_object *)ms_weakref_new(n2, NULL, NULL);              /* n1.next = weakref.ref(n2)  */
    p2->next = (ms_object *)ms_weakref_new(n1, NULL, NULL);              /* n2.next = weakref.ref(n1)  */
    if (!p1->next || !p2->next)
        return 1;

    bool is_n2 = ms_weakref_peek((ms_weakref *)p1->next) == n2;
    printf("n1.next() is n2: %s\n", py_bool(is_n2));                     /* print('n1.next() is n2:', n1.next() is n2) */
    printf("refcount of n1: %ld\n", (long)ms_refcount(n1));             /* print('refcount of n1:', sys.getrefcount(n1) - 1) */
    bool one = ms_refcount(n1) == 1;

    ms_weakref *watch = ms_weakref_new(n2, NULL, NULL);                  /* watch = weakref.ref(n2)    */
    if (!watch)
        return 1;
    ms_decref(n1);                                                       /* del n1                     */
    bool cleared = ms_weakref_peek((ms_weakref *)p2->next) == NULL;
    printf("after del n1: n2.next() is None: %s\n", py_bool(cleared));   /* print('after del n1: n2.next() is None:', n2.next() is None) */
    ms_decref(n2);                                                       /* del n2                     */
    bool n2_alive = ms_weakref_peek(watch) != NULL;
    printf("after del n2: n2 alive: %s\n", py_bool(n2_alive));           /* print('after del n2: n2 alive:', watch() is not None) */
    ssize_t found = ms_gc_collect(2);
    printf("gc.collect() -> %zd\n", found);                              /* print('gc.collect() ->', gc.collect())  # 0 */

    ms_decref((ms_object *)watch);
    ms_gc_enable();
    return is_n2 && one && cleared && !n2_alive && found == 0 ? 0 : 1;
}

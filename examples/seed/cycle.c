/*
 * cycle.c — the seed's section 2(1), 循环引用问题 (the reference cycle problem), in C.
 *
 * Output (the same as the Python program's):
 *     after del: n1 alive True, n2 alive True
 *     gc.collect() -> 2
 *     after collect: n1 alive False, n2 alive False
 *
 * The Python program observes the nodes through weak references, as this one does: after `del n1, n2` the two
 * nodes keep each other's count at 1, so reference counting never frees them; the cycle collector does.
 * Exits with status 1 if memscope behaved differently.
 */
#include <stddef.h>
#include <stdio.h>

#include <memscope/memscope.h>

/* class Node:
 *     def __init__(self, value):
 *         self.value = value
 *         self.next = None */
typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *value;
    ms_object *next;
} node;

/* The references a Node owns, for the collector (a fixed-layout type needs no traverse function). */
static const size_t node_refs[] = {offsetof(node, value), offsetof(node, next), 0};
static const ms_type node_type = {.name = "Node", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs};

static ms_object *node_new(long value)
{
    node *n = (node *)ms_new(&node_type);
    if (n)
        n->value = ms_int_new(value);
    return (ms_object *)n;
}

static const char *alive(ms_weakref *w) { return ms_weakref_peek(w) ? "True" : "False"; }

int main(void)
{
    ms_object *n1 = node_new(1);                        /* n1 = Node(1)               */
    ms_object *n2 = node_new(2);                        /* n2 = Node(2)               */
    if (!n1 || !n2)
        return 1;
    ((node *)n1)->next = n2;                            /* n1.next = n2               */
    ms_incref(n2);
    ((node *)n2)->next = n1;                            /* n2.next = n1  # a cycle    */
    ms_incref(n1);
    ms_weakref *w1 = ms_weakref_new(n1, NULL, NULL);    /* w1 = weakref.ref(n1)       */
    ms_weakref *w2 = ms_weakref_new(n2, NULL, NULL);    /* w2 = weakref.ref(n2)       */
    if (!w1 || !w2)
        return 1;

    ms_decref(n1);                                      /* del n1                     */
    ms_decref(n2);                                      /* del n2                     */
    printf("after del: n1 alive %s, n2 alive %s\n",     /* print(f'after del: n1 alive {w1() is not None}, '  */
           alive(w1), alive(w2));                       /*       f'n2 alive {w2() is not None}')               */
    bool leaked = ms_weakref_peek(w1) && ms_weakref_peek(w2);

    ssize_t found = ms_gc_collect(2);                   /* found = gc.collect()       */
    printf("gc.collect() -> %zd\n", found);             /* print('gc.collect() ->', found)  # 2 */
    printf("after collect: n1 alive %s, n2 alive %s\n", /* print(f'after collect: n1 alive {w1() is not None}, ' */
           alive(w1), alive(w2));                       /*       f'n2 alive {w2() is not None}')               */
    bool collected = !ms_weakref_peek(w1) && !ms_weakref_peek(w2);

    ms_decref((ms_object *)w1);
    ms_decref((ms_object *)w2);
    return leaked && found == 2 && collected ? 0 : 1;
}

/*
 * gc_module.c — the seed's section 2(2), 垃圾回收器的作用 (what the collector does): gc.isenabled(),
 * gc.disable(), gc.collect(), and the automatic trigger the seed mentions (collection when allocations reach a
 * threshold), in C.
 *
 * Output (the same as the Python program's, whose gc counts are CPython's and ours alike):
 *     True
 *     threshold: (700, 10, 10)
 *     automatic collections while enabled: yes
 *     False
 *     automatic collections while disabled: no
 *     gc.collect() -> 2
 *
 * Exits with status 1 if memscope behaved differently.
 */
#include <stddef.h>
#include <stdio.h>

#include <memscope/memscope.h>

typedef struct node {
    MS_OBJECT_HEAD;
    ms_object *next;
} node;
static const size_t node_refs[] = {offsetof(node, next), 0};
static const ms_type node_type = {.name = "Node", .size = sizeof(node), .flags = MS_TYPE_GC, .ref_offsets = node_refs};

static uint64_t collections(void)
{
    ms_gc_stats st[MS_GC_GENERATIONS];
    ms_gc_get_stats(st);
    return st[0].collections + st[1].collections + st[2].collections;
}

/* Keeps 2000 new lists alive in one list, then frees them all: 2000 tracked allocations. */
static int allocate_many(void)
{
    ms_object *keep = ms_list_new();                    /* keep = [[] for _ in range(2000)] */
    if (!keep)
        return -1;
    for (int i = 0; i < 2000; i++)
        if (ms_list_append_take(keep, ms_list_new()) < 0)
            return -1;
    ms_decref(keep);                                    /* del keep */
    return 0;
}

int main(void)
{
    bool ok = true;
    printf("%s\n", ms_gc_is_enabled() ? "True" : "False"); /* print(gc.isenabled())  # True */
    ok &= ms_gc_is_enabled();

    int t[3];
    ms_gc_get_threshold(t);
    printf("threshold: (%d, %d, %d)\n", t[0], t[1], t[2]); /* print('threshold:', gc.get_threshold()) */

    uint64_t before = collections();                       /* before = sum(s['collections'] for s in gc.get_stats()) */
    if (allocate_many() < 0)
        return 1;
    bool automatic = collections() > before;
    printf("automatic collections while enabled: %s\n", automatic ? "yes" : "no");
    ok &= automatic;

    ms_gc_disable();                                       /* gc.disable() */
    printf("%s\n", ms_gc_is_enabled() ? "True" : "False"); /* print(gc.isenabled())  # False */
    ok &= !ms_gc_is_enabled();

    ms_object *a = ms_new(&node_type), *b = ms_new(&node_type); /* a = Node(); b = Node() */
    if (!a || !b)
        return 1;
    ((node *)a)->next = b;                                 /* a.next = b */
    ms_incref(b);
    ((node *)b)->next = a;                                 /* b.next = a */
    ms_incref(a);
    ms_decref(a);                                          /* del a, b  # a garbage cycle */
    ms_decref(b);

    before = collections();
    if (allocate_many() < 0)
        return 1;
    automatic = collections() > before;
    printf("automatic collections while disabled: %s\n", automatic ? "yes" : "no");
    ok &= !automatic;

    ssize_t found = ms_gc_collect(2);                      /* print('gc.collect() ->', gc.collect())  # 2 */
    printf("gc.collect() -> %zd\n", found);
    ok &= found == 2;
    ms_gc_enable();                                        /* gc.enable() */
    return ok ? 0 : 1;
}

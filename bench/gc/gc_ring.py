#!/usr/bin/python3
"""bench/gc/gc_ring.py — CPython's side of the GC benchmark (see bench/README.md, section "gc").

Builds the same graph as bench/gc/gc_ring.c: N container objects in a doubly linked ring, then times one full
collection (gc.collect()) with the ring reachable from a local variable, and one with the ring garbage (its last
outside reference dropped first, so the collection finds, finalizes nothing, clears and frees all N objects).

Three node kinds; the C side builds its counterpart of each:
  slots  a class with __slots__ = ('prev', 'next'): one GC object per node holding two references. The closest
         match of the C side's node (a two-slot ms_type with MS_TYPE_GC), and CPython's fastest case.
  class  a plain class whose __init__ sets self.prev and self.next, as the seed's Node class does: what a Python
         program usually looks like (attribute values live in the instance's managed dict storage). Compared with
         the same C node type: a C program would declare exactly that struct.
  list   a two-element list [prev, next] (the C side uses ms_list).

Output: one line per (kind, N), whitespace separated, for bench/gc/run.sh to join with the C numbers:
  py <kind> <N> <reachable ns/object> <unreachable ns/object>
Each number is the best of `reps` runs (more for rings under 1M objects: reps_for), in CPU time of the thread (time.thread_time_ns(), as gc_ring.c uses
CLOCK_THREAD_CPUTIME_ID): time spent waiting for a core on a shared machine is not counted.
The automatic collector is disabled while the graph is built, exactly as the C side does, so that only the
timed gc.collect() calls do any collecting.
"""
import gc
import sys
import time


class SlotsNode:
    __slots__ = ('prev', 'next')


class ClassNode:
    def __init__(self):
        self.prev = None
        self.next = None


def build_nodes(n, cls):
    head = cls()
    head.prev = head.next = head
    tail = head
    for _ in range(n - 1):
        node = cls()
        node.prev = tail
        node.next = head
        tail.next = node
        head.prev = node
        tail = node
    return head


def build_lists(n):
    head = [None, None]
    head[0] = head[1] = head
    tail = head
    for _ in range(n - 1):
        node = [tail, head]
        tail[1] = node
        head[0] = node
        tail = node
    return head


BUILDERS = {
    'slots': lambda n: build_nodes(n, SlotsNode),
    'class': lambda n: build_nodes(n, ClassNode),
    'list': build_lists,
}


def reps_for(n, reps):
    """At least reps, and as many as keep the work at reps x 1M objects (gc_ring.c's reps_for)."""
    return max(reps, min(1000, reps * 1_000_000 // max(n, 1)))


def measure(kind, n, reps):
    build = BUILDERS[kind]
    best_reach = best_unreach = float('inf')
    for _ in range(reps_for(n, reps)):
        gc.collect()
        ring = build(n)
        # Reachable: every node survives; the collection's work is update_refs + subtract_refs + move_unreachable.
        t0 = time.thread_time_ns()
        found = gc.collect()
        t1 = time.thread_time_ns()
        if found != 0:
            sys.exit(f'gc_ring.py: reachable ring: gc.collect() found {found} unreachable, expected 0')
        best_reach = min(best_reach, (t1 - t0) / n)
        # Unreachable: drop the only outside reference; refcounting alone cannot free a ring.
        del ring
        t0 = time.thread_time_ns()
        found = gc.collect()
        t1 = time.thread_time_ns()
        if found != n:
            sys.exit(f'gc_ring.py: garbage ring: gc.collect() found {found}, expected {n}')
        best_unreach = min(best_unreach, (t1 - t0) / n)
    return best_reach, best_unreach


def main(argv):
    sizes = [100_000, 1_000_000, 3_000_000]
    kinds = ['slots', 'class', 'list']
    reps = 3
    args = list(argv[1:])
    while args:
        a = args.pop(0)
        if a == '--sizes':
            sizes = [int(x) for x in args.pop(0).split(',')]
        elif a == '--kinds':
            kinds = args.pop(0).split(',')
        elif a == '--reps':
            reps = int(args.pop(0))
        else:
            sys.exit(f'usage: {argv[0]} [--sizes N,N,...] [--kinds slots,class,list] [--reps R]')
    gc.disable()
    for kind in kinds:
        for n in sizes:
            reach, unreach = measure(kind, n, reps)
            print(f'py {kind} {n} {reach:.2f} {unreach:.2f}', flush=True)


if __name__ == '__main__':
    main(sys.argv)

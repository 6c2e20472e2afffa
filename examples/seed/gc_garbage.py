# The Python side of gc_garbage.c (seed section 5(1), gc.garbage); run with python3, compare with the C program.
import gc


class Node:
    def __init__(self, value):
        self.value = value
        self.next = None


gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collector finds, in gc.garbage, instead of freeing it
n1 = Node(1)
n2 = Node(2)
n1.next = n2
n2.next = n1
del n1
del n2
print('gc.collect() ->', gc.collect())
print('gc.garbage:', sorted(f'{type(o).__name__}({o.value})' for o in gc.garbage))
gc.set_debug(0)
gc.garbage.clear()  # the cycle is garbage again
print('gc.garbage after clear:', len(gc.garbage))
print('gc.collect() ->', gc.collect())

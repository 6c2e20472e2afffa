# The Python side of gc_module.c (seed section 2(2)); run with python3, compare with the C program.
import gc


class Node:
    def __init__(self):
        self.next = None


def collections():
    return sum(s['collections'] for s in gc.get_stats())


def allocate_many():
    keep = [[] for _ in range(2000)]
    del keep


print(gc.isenabled())  # True
print('threshold:', gc.get_threshold())
before = collections()
allocate_many()
print('automatic collections while enabled:', 'yes' if collections() > before else 'no')

gc.disable()
print(gc.isenabled())  # False
a = Node()
b = Node()
a.next = b
b.next = a
del a, b  # a garbage cycle
before = collections()
allocate_many()
print('automatic collections while disabled:', 'yes' if collections() > before else 'no')
print('gc.collect() ->', gc.collect())  # 2

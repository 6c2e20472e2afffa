# The Python side of weakref_cycle.c (seed section 4(1)); run with python3, compare with the C program.
import gc
import sys
import weakref


class Node:
    def __init__(self, value):
        self.value = value
        self.next = None


gc.disable()  # prove that reference counting alone frees the nodes
n1 = Node(1)
n2 = Node(2)
n1.next = weakref.ref(n2)  # 使用弱引用打破循环
n2.next = weakref.ref(n1)
print('n1.next() is n2:', n1.next() is n2)
print('refcount of n1:', sys.getrefcount(n1) - 1)  # the weak reference does not count
watch = weakref.ref(n2)
del n1
print('after del n1: n2.next() is None:', n2.next() is None)
del n2
print('after del n2: n2 alive:', watch() is not None)
print('gc.collect() ->', gc.collect())

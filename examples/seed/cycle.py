# The Python side of cycle.c (seed section 2(1)); run with python3, compare with the C program.
import gc
import weakref


class Node:
    def __init__(self, value):
        self.value = value
        self.next = None


n1 = Node(1)
n2 = Node(2)
n1.next = n2
n2.next = n1  # 循环引用
w1 = weakref.ref(n1)
w2 = weakref.ref(n2)
del n1
del n2
print(f'after del: n1 alive {w1() is not None}, n2 alive {w2() is not None}')
found = gc.collect()
print('gc.collect() ->', found)
print(f'after collect: n1 alive {w1() is not None}, n2 alive {w2() is not None}')

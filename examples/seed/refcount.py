# The Python side of refcount.c (seed section 1(2)); run with python3, compare with the C program.
import sys
import weakref


class List(list):  # a plain list cannot be weakly referenced in CPython; a subclass can, and counts the same
    pass


a = List([1, 2, 3])
alive = weakref.ref(a)
print(sys.getrefcount(a))  # 2
b = a
print(sys.getrefcount(a))  # 3
del a
print(sys.getrefcount(b))  # 2
del b
print('freed:', alive() is None)

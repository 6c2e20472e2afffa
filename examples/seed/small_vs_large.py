# The Python side of small_vs_large.c (seed section 3(1)); run with python3, compare with the C program.
# Python cannot ask its allocator where an object lives, so where() applies the seed's rule: objects under
# 256 bytes come from pymalloc's pools (CPython 3.8+ moved the threshold to 512; memscope lets you choose).
import sys

SMALL = int(sys.argv[1]) if len(sys.argv) > 1 else 256  # memscope's -Dsmall_threshold, passed by meson


def where(o):
    return 'pool' if sys.getsizeof(o) < SMALL else 'system'


overhead = sys.getsizeof('')
s = 'x' * (SMALL - 1 - overhead)
t = 'x' * (SMALL - overhead)
print(f'sys.getsizeof(s) = {sys.getsizeof(s)}: {where(s)}')
print(f'sys.getsizeof(t) = {sys.getsizeof(t)}: {where(t)}')
address = id(s)
del s
u = 'y' * (SMALL - 1 - overhead)
print('freed small block reused:', id(u) == address)

# The Python side of small_int_cache.c (seed section 3(2)); run with python3, compare with the C program.
a = int('10')
b = int('10')
print('id(a), id(b):', hex(id(a)), hex(id(b)))
print('a is b:', a is b)
c = int('1000')
d = int('1000')
print('id(c), id(d):', hex(id(c)), hex(id(d)))
print('c is d:', c is d)
cached = [v for v in range(-100, 1000) if int(str(v)) is int(str(v))]
print(f'cached range: {min(cached)} .. {max(cached)}')

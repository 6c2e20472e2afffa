# The Python side of tracemalloc_top.c (seed section 5(3)); run with python3, compare with the C program.
import tracemalloc

tracemalloc.start()
# 执行一些代码
a = [i for i in range(100000)]
snapshot = tracemalloc.take_snapshot()
top_stats = snapshot.statistics('lineno')
for stat in top_stats[:10]:
    print(stat)

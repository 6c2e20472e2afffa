/*
 * tracemalloc_top.c — the seed's section 5(3), the tracemalloc module, in C.
 *
 * Output, like the Python program's (file, sizes and so the ordering of small entries differ; CPython's int
 * takes 28 bytes, memscope's 24):
 *     ../examples/seed/tracemalloc.c:33: size=3116 KiB, count=99745, average=32 B
 *     (Python 3.11: tracemalloc.py:6: size=3900 KiB, count=99745, average=40 B)
 *
 * The count is the same because the same objects exist: the list, its item array and the 99,743 ints outside
 * the small-int cache (0..256 are cached and allocate nothing), all charged to the line that builds the list.
 * Exits with status 1 if the top statistic is not that line with that count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscope/memscope.h>

int main(void)
{
    if (ms_trace_start(1) < 0)                                  /* tracemalloc.start()            */
        return 1;

    /* Execute some code: a = [i for i in range(100000)] — on one line, as in Python. */
    ms_object *a = ms_list_new(); for (long i = 0; i < 100000; i++) if (ms_list_append_take(a, ms_int_new(i)) < 0) return 1;
    int line = __LINE__ - 1;

    ms_snapshot *snapshot = ms_trace_take_snapshot();           /* snapshot = tracemalloc.take_snapshot() */
    if (!snapshot)
        return 1;
    ms_trace_print_top(stdout, snapshot, MS_STAT_LINENO, 10);   /* top_stats = snapshot.statistics('lineno') */
                                                                /* for stat in top_stats[:10]: print(stat)  */
    ms_stat *top = NULL;
    size_t n = ms_snapshot_statistics(snapshot, MS_STAT_LINENO, false, &top);
    bool ok = n > 0 && top[0].lineno == line && strcmp(top[0].filename, __FILE__) == 0 && top[0].count == 99745;
    free(top);
    ms_snapshot_free(snapshot);
    ms_trace_stop();
    ms_decref(a);
    return ok ? 0 : 1;
}

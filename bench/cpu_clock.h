/*
 * bench/cpu_clock.h — the clock of the benchmarks: the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), in
 * nanoseconds. On a shared machine, time spent waiting for a core while another process runs is not the
 * measured code's; CPython's side uses time.thread_time_ns() likewise. Header-only; included by relative path.
 */
#ifndef MEMSCOPE_BENCH_CPU_CLOCK_H
#define MEMSCOPE_BENCH_CPU_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* MEMSCOPE_BENCH_CPU_CLOCK_H */

/*
 * daemon/log.c — the daemon's two clocks and its log lines on stderr.
 *
 * Wall time is for people and the API ("time" members); monotonic time is for everything that measures an
 * interval (timeouts, rate limits, history windows), so that a clock step never expires or keeps an app wrongly.
 */
#include <stdio.h>
#include <time.h>

#include "daemon.h"

double msd_now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double msd_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 1, 0))) static void vlog(const char *fmt, va_list ap)
{
    /* One fprintf per line keeps lines whole when stderr is shared with test harnesses. */
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "memscoped: %s\n", line);
}

void msd_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

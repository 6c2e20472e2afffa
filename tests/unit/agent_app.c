/*
 * agent_app.c — the program of test_agent.c's zero-code tests: it does one kind of work that maps no arena, then
 * waits until its stdin closes. Run with MEMSCOPE_SOCKET set it must connect all the same: the agent starts with
 * the program (the library's constructor), not with the allocator's first arena.
 *
 * usage: agent_app large|gc     large: only system-path blocks (>= MS_SMALL_THRESHOLD bytes); gc: only
 *                               ms_gc_collect(). Exit status 0, or 3 when an arena was mapped after all (the test's
 *                               premise is broken).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <memscope/memscope.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    if (strcmp(argv[1], "large") == 0) {
        for (size_t i = 0; i < 100; i++) {
            unsigned char *p = ms_malloc(MS_SMALL_THRESHOLD + i);
            if (p == NULL)
                return 1;
            p[0] = 1;
            ms_free(p);
        }
    } else if (strcmp(argv[1], "gc") == 0) {
        if (ms_gc_collect(2) < 0)
            return 1;
    } else {
        return 2;
    }
    ms_heap_stats hs;
    ms_heap_stats_get(&hs);
    if (hs.arenas_allocated_total != 0) {
        fprintf(stderr, "agent_app %s: an arena was mapped\n", argv[1]);
        return 3;
    }
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}

/*
 * attribution_app.c — the program of issue 16's checks with known answers, watched through the daemon.
 *
 * Line A makes garbage cycles (pairs of 128-byte objects referencing each other), collected by a full
 * collection; line B allocates 100,000 blocks of 64 bytes and keeps every 200th, so that every pool of that class
 * holds one or two live blocks. Tracing runs from the start (one frame), so both lines are the sites. Prints
 * "line_a=N line_b=N kept=N" once the heap is in that state, then serves the daemon's requests at safe points
 * until stdin closes (the test's end) or --duration seconds pass.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/memscope.h>

typedef struct pair {
    MS_OBJECT_HEAD;
    ms_object *other;
    char pad[128 - 16 - sizeof(ms_object) - sizeof(ms_object *)]; /* with the GC header: the 128-byte class */
} pair;
static const size_t pair_refs[] = {offsetof(pair, other), 0};
static const ms_type pair_type = {.name = "Pair", .size = sizeof(pair), .flags = MS_TYPE_GC, .ref_offsets = pair_refs};

#define NBLOCKS 100000
#define KEEP_EVERY 200

static int line_a, line_b;

static void make_cycles(int n)
{
    for (int i = 0; i < n; i++) {
        line_a = __LINE__ + 1;
        pair *a = (pair *)ms_new(&pair_type), *b = (pair *)ms_new(&pair_type);
        if (!a || !b)
            abort();
        a->other = (ms_object *)b;
        ms_incref((ms_object *)a);
        b->other = (ms_object *)a;
        ms_decref((ms_object *)a);
    }
}

static void **pin_pools(size_t *nkept)
{
    void **all = malloc(NBLOCKS * sizeof *all), **kept = malloc((NBLOCKS / KEEP_EVERY + 1) * sizeof *kept);
    if (!all || !kept)
        abort();
    for (size_t i = 0; i < NBLOCKS; i++) {
        line_b = __LINE__ + 1;
        if (!(all[i] = ms_malloc(64)))
            abort();
    }
    *nkept = 0;
    for (size_t i = 0; i < NBLOCKS; i++) {
        if (i % KEEP_EVERY == 0)
            kept[(*nkept)++] = all[i];
        else
            ms_free(all[i]);
    }
    free(all);
    return kept;
}

int main(int argc, char **argv)
{
    int duration = argc > 2 && strcmp(argv[1], "--duration") == 0 ? atoi(argv[2]) : 120;
    ms_gc_disable(); /* only the test's collection runs, so that every cycle is counted by it */
    if (ms_init() != 0 || ms_trace_start(1) != 0)
        return 1;
    ms_gc_set_cycle_stats(true);
    make_cycles(1000);
    ms_gc_collect(2);
    size_t nkept;
    void **kept = pin_pools(&nkept);
    printf("line_a=%d line_b=%d kept=%zu\n", line_a, line_b, nkept);
    fflush(stdout);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd in = {.fd = 0, .events = POLLIN};
        if (poll(&in, 1, 10) > 0) /* stdin readable: EOF, the test is done */
            break;
        ms_poll();
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > duration)
            break;
    }
    for (size_t i = 0; i < nkept; i++)
        ms_free(kept[i]);
    free(kept);
    return 0;
}

/*
 * agent_overhead — how much the agent costs the app: the same object-heavy workload, timed in one process, with
 * whatever agent configuration the environment sets up (bench/agent/run.sh runs it four ways: no agent, agent
 * without a daemon, agent at 1000 ms and at 100 ms against a real memscoped).
 *
 * The workload is docstore's inner loop without the sleeps: create documents (GC objects holding strings and a
 * list), put them in a dict, evict old ones, create garbage cycles, and poll the safe point, so every hot path
 * the agent could disturb (allocation, GC-object creation, ms_poll) is on it.
 *
 * Rounds are timed in the app thread's own CPU time (CLOCK_THREAD_CPUTIME_ID): on a shared machine, wall time
 * mostly measures the neighbours. What the agent costs the app thread (the safe-point checks, cache lines the
 * agent thread reads) shows up there; the agent thread's own CPU runs beside it, on another core.
 *
 * Prints one line: "<label> median_ns=... mean_ns=... rounds=...".
 *
 * Paired mode, `agent_overhead ab SOCKET INTERVAL_MS PAIRS ROUNDS`: one process alternates blocks of ROUNDS
 * rounds with the agent stopped and running (ms_agent_stop / ms_agent_start), in ABBA order, so that the drift of
 * a shared machine (load, frequency, the heap's own aging) hits both sides of each pair alike; the agent's
 * connect and hello are inside the "on" blocks. Prints each pair's on/off ratio of median round times, and their
 * median: "ab interval_ms=... pairs=... median_ratio=... ratios=...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscope/memscope.h>

#include "../cpu_clock.h"
typedef struct pair {
    MS_OBJECT_HEAD;
    ms_object *a, *b;
} pair;
static const size_t pair_refs[] = {offsetof(pair, a), offsetof(pair, b), 0};
static const ms_type pair_type = {.name = "Pair", .size = sizeof(pair), .flags = MS_TYPE_GC, .ref_offsets = pair_refs};

static double now_ns(void) { return (double)bench_cpu_ns(); }

static void round_of_work(ms_object *cache, long base)
{
    for (long i = 0; i < 1000; i++) {
        pair *p = (pair *)ms_new(&pair_type);
        p->a = ms_str_new("a document title of some length");
        p->b = ms_list_new();
        ms_list_append_take(p->b, ms_int_new(base + i));
        ms_object *key = ms_int_new(base + i);
        ms_dict_set(cache, key, (ms_object *)p);
        ms_decref(key);
        if (i % 10 == 0) { /* a garbage cycle */
            ms_list_append(p->b, (ms_object *)p);
        }
        ms_decref((ms_object *)p);
        ms_object *old = ms_int_new(base + i - 5000);
        ms_dict_del(cache, old);
        ms_decref(old);
    }
    ms_poll();
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median CPU ns of one round over `rounds` rounds starting at *base. */
static double block_median(ms_object *cache, long *base, int rounds, double *t)
{
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        round_of_work(cache, (*base)++ * 1000);
        t[r] = now_ns() - t0;
    }
    qsort(t, (size_t)rounds, sizeof *t, cmp);
    return t[rounds / 2];
}

static int paired(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s ab SOCKET INTERVAL_MS PAIRS ROUNDS\n", argv[0]);
        return 2;
    }
    ms_agent_config cfg = {.socket_path = argv[2], .interval_ms = (unsigned)atoi(argv[3])};
    int pairs = atoi(argv[4]), rounds = atoi(argv[5]);
    if (pairs < 1 || rounds < 10)
        return 2;
    ms_init();
    ms_agent_stop();
    ms_object *cache = ms_dict_new();
    double *t = malloc(sizeof(double) * (size_t)rounds), *ratio = malloc(sizeof(double) * (size_t)pairs);
    long base = 0;
    block_median(cache, &base, 50, t); /* warm-up */
    unsigned long long sent = 0;
    for (int p = 0; p < pairs; p++) {
        double m[2] = {0, 0}; /* [0] agent off, [1] on */
        for (int k = 0; k < 2; k++) {
            int on = (p % 2 == 0) ? k : 1 - k; /* ABBA */
            if (on && ms_agent_start(&cfg) != 0) {
                fprintf(stderr, "agent_overhead: ms_agent_start failed\n");
                return 1;
            }
            m[on] = block_median(cache, &base, rounds, t);
            if (on) {
                ms_agent_status st;
                ms_agent_status_get(&st);
                sent = st.stats_sent; /* cumulative over the process */
                ms_agent_stop();
            }
        }
        ratio[p] = m[1] / m[0];
    }
    printf("ab interval_ms=%u pairs=%d rounds=%d stats_sent=%llu ratios=", cfg.interval_ms, pairs, rounds, sent);
    for (int p = 0; p < pairs; p++)
        printf("%s%.4f", p ? "," : "", ratio[p]);
    qsort(ratio, (size_t)pairs, sizeof *ratio, cmp);
    printf(" median_ratio=%.4f\n", ratio[pairs / 2]);
    free(t);
    free(ratio);
    ms_decref(cache);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ab") == 0)
        return paired(argc, argv);
    const char *label = argc > 1 ? argv[1] : "run";
    int rounds = argc > 2 ? atoi(argv[2]) : 2000;
    if (rounds < 10)
        rounds = 10;
    ms_init();
    ms_object *cache = ms_dict_new();
    double *t = malloc(sizeof(double) * (size_t)rounds);
    for (int r = 0; r < 50; r++) /* warm-up: arenas, dict size, the first collections */
        round_of_work(cache, (long)r * 1000);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        round_of_work(cache, (long)(r + 50) * 1000);
        t[r] = now_ns() - t0;
    }
    qsort(t, (size_t)rounds, sizeof *t, cmp);
    double total = 0;
    for (int r = 0; r < rounds; r++)
        total += t[r];
    ms_agent_status st;
    ms_agent_status_get(&st);
    printf("%s median_ns=%.0f mean_ns=%.0f rounds=%d agent=%s connected=%s stats_sent=%llu\n", label,
           t[rounds / 2], total / rounds, rounds, st.running ? "on" : "off", st.connected ? "yes" : "no",
           (unsigned long long)st.stats_sent);
    free(t);
    ms_decref(cache);
    ms_agent_stop();
    return 0;
}

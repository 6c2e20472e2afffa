/*
 * bench/daemon/parse_bench.c — what one stats message costs the daemon to read, against cJSON in the same run.
 *
 * The message is the one bench/daemon/loadgen.c sends (stats_message.h: 3.9 KB, 30 types, 16 pools). Timed, best of 5 rounds of
 * 20,000 messages each:
 *   memscoped   msd_msg_parse() into the typed model and msd_registry_stats() (history, growth point, the
 *               model swap): everything ipc.c does per stats message but the read(2); once for one app (its
 *               state stays in the cache) and once with each message for the next of 10,000 apps (as memscoped
 *               at 10,000 apps: an app's state has left the cache when its next message comes)
 *   cJSON       cJSON_ParseWithLength() and cJSON_Delete(): a tree, before anything reads it
 * Prints ns per message, ns per byte and the ratio (of the one-app figure: cJSON's tree is the same either way). Then the GET /metrics document of 1000 such apps is rendered
 * (msd_metrics_render, what a scrape costs the loop besides sending it): ms per scrape, best of the rounds.
 *   parse_bench [ROUNDS [--ours-only]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "message.h"
#include "metrics.h"
#include "registry.h"
#include "stats_message.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n messages, each into the next of apps[0..napps) (round robin from *next): what ipc.c does per stats message. */
static int feed(msd_registry *reg, msd_app **apps, size_t napps, size_t *next, msd_stats **scratch, const char *text,
                size_t len, double *t, int n)
{
    msd_msg m;
    char err[200];
    for (int i = 0; i < n; i++) {
        if (msd_msg_parse((const uint8_t *)text, len, *scratch, &m, err, sizeof(err)) < 0) {
            fprintf(stderr, "parse_bench: %s\n", err);
            return -1;
        }
        *t += 1;
        msd_registry_stats(reg, apps[*next % napps], scratch, *t, 1.7e9 + *t);
        *next += 1;
        msd_msg_free(&m);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    bool profile = argc > 2 && strcmp(argv[2], "--ours-only") == 0; /* for perf record: no cJSON in the profile */
    enum { N = 20000 };
    static char text[8192];
    size_t len = bench_stats_message(text, 0, NULL);
    msd_config cfg = {.retain_s = 600, .history_s = 900};
    msd_registry *reg = msd_registry_new(&cfg);
    msd_stats *scratch = msd_stats_new();
    if (!scratch)
        return 1;
    msd_msg m;
    char err[200];
    const char *hello = "{\"type\":\"hello\",\"protocol\":1,\"pid\":7,\"app\":\"bench\"}";
    if (msd_msg_parse((const uint8_t *)hello, strlen(hello), scratch, &m, err, sizeof(err)) < 0)
        return 1;
    enum { MANY = 10000 };
    static msd_app *app[MANY];
    for (int i = 0; i < MANY; i++)
        if (!(app[i] = msd_registry_add(reg, &m)))
            return 1;
    msd_msg_free(&m);
    double best_ms = 1e9, best_many = 1e9, best_cj = 1e9, best_check = 1e9, t = 1000;
    size_t next = 0; /* round robin over the apps */
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        if (feed(reg, app, 1, &next, &scratch, text, len, &t, N) < 0)
            return 1;
        double t1 = now();
        if (feed(reg, app, MANY, &next, &scratch, text, len, &t, N) < 0)
            return 1;
        double t2 = now();
        for (int i = 0; i < N && !profile; i++)
            cJSON_Delete(cJSON_ParseWithLength(text, len));
        double t3 = now();
        for (int i = 0; i < N && !profile; i++)
            msd_json_check(text, len, NULL, NULL, NULL);
        double t4 = now();
        best_ms = t1 - t0 < best_ms ? t1 - t0 : best_ms;
        best_many = t2 - t1 < best_many ? t2 - t1 : best_many;
        best_cj = t3 - t2 < best_cj ? t3 - t2 : best_cj;
        best_check = t4 - t3 < best_check ? t4 - t3 : best_check;
    }
    double ms = best_ms / N * 1e9, cj = best_cj / N * 1e9;
    printf("stats message of %zu bytes, best of %d rounds of %d:\n", len, rounds, N);
    printf("  memscoped  %8.0f ns/message  %5.2f ns/byte   (parse into the model + registry: history, swap)\n", ms,
           ms / (double)len);
    printf("  memscoped  %8.0f ns/message  %5.2f ns/byte   (the same, each message to the next of %d apps)\n",
           best_many / N * 1e9, best_many / N * 1e9 / (double)len, MANY);
    printf("  cJSON      %8.0f ns/message  %5.2f ns/byte   (parse into a tree + delete)\n", cj, cj / (double)len);
    printf("  ratio      %8.2fx\n", cj / ms);
    printf("  (validating the text alone, msd_json_check: %.0f ns/message, %.2f ns/byte)\n", best_check / N * 1e9,
           best_check / N * 1e9 / (double)len);
    /* A scrape of 1000 apps. */
    enum { APPS = 1000 };
    msd_metrics_app *apps = calloc(APPS, sizeof(*apps));
    msd_stats *models = calloc(APPS, sizeof(*models));
    char names[APPS][16];
    for (int i = 0; i < APPS; i++) {
        msd_stats_init(&models[i]);
        if (msd_msg_parse((const uint8_t *)text, len, &models[i], &m, err, sizeof(err)) < 0)
            return 1;
        msd_msg_free(&m);
        snprintf(names[i], sizeof(names[i]), "sim%d", i);
        apps[i] = (msd_metrics_app){.name = names[i], .pid = 3000000 + i, .connected = true, .last_update = 1.7e9,
                                    .samples = 10, .stats = &models[i]};
    }
    msd_counters c = {.frames_received = 1};
    msd_metrics_self self = {.apps = APPS, .apps_connected = APPS, .connections = APPS, .start_time = 1.7e9,
                             .cpu_seconds = 1, .rss_bytes = 1e8, .counters = &c};
    double best_scrape = 1e9;
    size_t doc_len = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        msd_blob *b = msd_metrics_render(apps, APPS, &self, MSD_METRICS_PROMETHEUS, MSD_METRICS_TOP_TYPES_DEFAULT);
        double t1 = now();
        doc_len = b ? b->len : 0;
        msd_blob_unref(b);
        if (t1 - t0 < best_scrape)
            best_scrape = t1 - t0;
    }
    printf("GET /metrics of %d such apps: %.1f ms to render %zu bytes (best of %d)\n", APPS, best_scrape * 1e3, doc_len,
           rounds);
    for (int i = 0; i < APPS; i++)
        msd_stats_free(&models[i]);
    free(models);
    free(apps);
    msd_stats_delete(scratch);
    msd_registry_free(reg);
    return 0;
}

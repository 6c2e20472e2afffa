/*
 * tests/integration/scratch_model.h — the model that the daemon-code tests parse stats messages into, as ipc.c
 * parses into its scratch model. One per test process (Criterion runs each test in a process of its own).
 */
#ifndef MEMSCOPE_TESTS_SCRATCH_MODEL_H
#define MEMSCOPE_TESTS_SCRATCH_MODEL_H

#include <stdbool.h>

#include "stats.h"

static inline msd_stats *scratch(void)
{
    static msd_stats m;
    static bool ready;
    if (!ready) {
        msd_stats_init(&m);
        ready = true;
    }
    return &m;
}

#endif

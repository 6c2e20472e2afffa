/*
 * tests/integration/scratch_model.h — the model that the daemon-code tests parse stats messages into, as ipc.c
 * parses into its scratch model, and the slot it lives in (msd_registry_stats() exchanges it for the app's
 * previous model). One per test process (Criterion runs each test in a process of its own).
 */
#ifndef MEMSCOPE_TESTS_SCRATCH_MODEL_H
#define MEMSCOPE_TESTS_SCRATCH_MODEL_H

#include <stdlib.h>

#include "stats.h"

static inline msd_stats **scratch_slot(void)
{
    static msd_stats *m;
    if (!m && !(m = msd_stats_new()))
        abort();
    return &m;
}

static inline msd_stats *scratch(void)
{
    return *scratch_slot();
}

#endif

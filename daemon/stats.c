/*
 * daemon/stats.c — the model's lifecycle (see stats.h). Filling it is message.c's job.
 */
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "stats.h"

/* Every field of these sections is a double (stats.h generates them so): they are filled as arrays. */
#define COUNT(name) +1
_Static_assert(sizeof(msd_heap) == (0 MSC_STATS_HEAP(COUNT)) * sizeof(double), "msd_heap holds doubles only");
_Static_assert(sizeof(msd_refcount) == (0 MSC_STATS_REFCOUNT(COUNT)) * sizeof(double), "doubles only");
_Static_assert(sizeof(msd_gen) == (0 MSC_STATS_GEN(COUNT)) * sizeof(double), "doubles only");
_Static_assert(sizeof(msd_trace) == (0 MSC_STATS_TRACE(COUNT) MSC_STATS_TRACE_BOOLS(COUNT)) * sizeof(double),
               "doubles only");
#undef COUNT

static void all_nan(void *p, size_t bytes)
{
    double *v = p;
    for (size_t i = 0; i < bytes / sizeof(double); i++)
        v[i] = NAN;
}

void msd_stats_init(msd_stats *s)
{
    memset(s, 0, sizeof(*s));
    msd_stats_reset(s);
}

void msd_stats_reset(msd_stats *s)
{
    s->sections = 0;
    s->seq = s->dropped = NAN;
    all_nan(&s->heap, sizeof(s->heap));
    all_nan(&s->refcount, sizeof(s->refcount));
    all_nan(&s->trace, sizeof(s->trace));
#define SET_NAN(name) s->gc.name = NAN;
    MSC_STATS_GC(SET_NAN)
    MSC_STATS_GC_BOOLS(SET_NAN)
#undef SET_NAN
    s->gc.ngens = 0;
    all_nan(s->gc.gens, sizeof(s->gc.gens));
    s->npools = s->ntypes = s->ncycles = 0;
    msc_buf_clear(&s->names);
    msc_buf_clear(&s->body);
}

void msd_stats_free(msd_stats *s)
{
    free(s->pools);
    free(s->types);
    free(s->cycles);
    msc_buf_free(&s->names);
    msc_buf_free(&s->body);
    msd_stats_init(s);
}

msd_pool *msd_stats_add_pool(msd_stats *s)
{
    msd_pool *p = msc_array_push(&s->pools, &s->npools, &s->pools_cap, sizeof(*p));
    if (p)
        all_nan(p, sizeof(*p));
    return p;
}

msd_type *msd_stats_add_type(msd_stats *s)
{
    msd_type *t = msc_array_push(&s->types, &s->ntypes, &s->types_cap, sizeof(*t));
    if (t) {
        t->name = "";
#define SET_NAN(name) t->name = NAN;
        MSC_STATS_TYPE(SET_NAN)
#undef SET_NAN
    }
    return t;
}

msd_cycle *msd_stats_add_cycle(msd_stats *s)
{
    msd_cycle *c = msc_array_push(&s->cycles, &s->ncycles, &s->cycles_cap, sizeof(*c));
    if (c) {
        c->key = "";
#define SET_NAN(name) c->name = NAN;
        MSC_STATS_CYCLE(SET_NAN)
#undef SET_NAN
    }
    return c;
}

msd_stats *msd_stats_new(void)
{
    msd_stats *s = malloc(sizeof(*s));
    if (s)
        msd_stats_init(s);
    return s;
}

void msd_stats_delete(msd_stats *s)
{
    if (s) {
        msd_stats_free(s);
        free(s);
    }
}

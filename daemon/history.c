/*
 * daemon/history.c — the per-app history ring and the growth (leak suspect) analysis. See history.h for the
 * bounds. Entry points: msd_history_add(), msd_history_growth().
 *
 * Samples arrive at the agent's interval. The ring keeps one sample per `window / MSD_HISTORY_MAX` seconds at
 * most; a sample that comes sooner than that after the last kept one is skipped for the ring (it still becomes
 * the "now" point of the growth analysis). Type counts are kept much sparser, as MSD_CHECKPOINTS checkpoints
 * spread over the window, because the question they answer ("has this type grown steadily?") needs the shape of
 * the curve, not every point, and an app can have hundreds of types.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "history.h"

void msd_history_init(msd_history *h, double window)
{
    memset(h, 0, sizeof(*h));
    h->window = window > 0 ? window : 1;
}

void msd_history_free(msd_history *h)
{
    free(h->ring);
    msc_buf_free(&h->names);
    free(h->type_names);
    for (size_t i = 0; i < MSD_CHECKPOINTS; i++)
        free(h->cps[i].alive);
    free(h->now.alive);
    memset(h, 0, sizeof(*h));
}

static const msd_sample *ring_at(const msd_history *h, size_t i)
{
    return &h->ring[(h->head + i) % h->cap];
}

/* Appends to the ring, growing it (by doubling, up to MSD_HISTORY_MAX) or overwriting the oldest. */
static int ring_push(msd_history *h, const msd_sample *s)
{
    if (h->len == h->cap && h->cap < MSD_HISTORY_MAX) {
        size_t ncap = h->cap ? h->cap * 2 : 16;
        if (ncap > MSD_HISTORY_MAX)
            ncap = MSD_HISTORY_MAX;
        msd_sample *n = malloc(ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        for (size_t i = 0; i < h->len; i++)
            n[i] = *ring_at(h, i);
        free(h->ring);
        h->ring = n;
        h->cap = ncap;
        h->head = 0;
    }
    if (h->len < h->cap) {
        h->ring[(h->head + h->len) % h->cap] = *s;
        h->len++;
    } else { /* full at the maximum: overwrite the oldest */
        h->ring[h->head] = *s;
        h->head = (h->head + 1) % h->cap;
    }
    return 0;
}

/* Index of the type called name, interning it if new; -1 when the table is full or out of memory.
 * Agents send their types in the same order every time, so the entry at `hint` (the type's position in the
 * message) is tried first: O(1) in the usual case, O(types) otherwise. */
static bool is_type(const msd_history *h, size_t i, const char *name, size_t nlen)
{
    return h->type_names[i].len == nlen && memcmp(msc_buf_bytes(&h->names) + h->type_names[i].at, name, nlen) == 0;
}

static long type_index(msd_history *h, const char *name, size_t hint)
{
    size_t nlen = strnlen(name, MSD_TYPE_NAME_MAX);
    if (hint < h->ntypes && is_type(h, hint, name, nlen))
        return (long)hint;
    for (size_t i = 0; i < h->ntypes; i++)
        if (is_type(h, i, name, nlen))
            return (long)i;
    if (h->ntypes == MSD_TYPES_MAX)
        return -1;
    size_t at = h->names.len, n = h->ntypes;
    if (msc_buf_reserve(&h->names, nlen + 1) < 0 ||
        !msc_array_push(&h->type_names, &n, &h->types_cap, sizeof(*h->type_names)))
        return -1;
    msc_buf_append(&h->names, name, nlen); /* room reserved: cannot fail */
    msc_buf_putc(&h->names, '\0');
    h->type_names[h->ntypes].at = (uint32_t)at;
    h->type_names[h->ntypes].len = (uint32_t)nlen;
    return (long)h->ntypes++;
}

const char *msd_history_type_name(const msd_history *h, size_t i)
{
    return msc_buf_bytes(&h->names) + h->type_names[i].at;
}

/* Fills the "now" point with this message's counts (types absent from the message count 0), in one walk over
 * the model's types: names are interned as they come and now.alive grows with them. On ENOMEM the point may
 * hold part of the message's counts. */
static int update_now(msd_history *h, double t, const msd_stats *s)
{
    for (size_t i = 0; i < h->now.n; i++)
        h->now.alive[i] = 0;
    h->now.t = t;
    for (size_t pos = 0; s && pos < s->ntypes; pos++) {
        const msd_type *ty = &s->types[pos];
        long i = type_index(h, ty->name, pos);
        if (i < 0)
            continue;
        if ((size_t)i >= h->now.n) { /* a new type: every interned type gets a slot, 0 until counted */
            double *n = realloc(h->now.alive, h->ntypes * sizeof(double));
            if (!n)
                return -ENOMEM;
            for (size_t j = h->now.n; j < h->ntypes; j++)
                n[j] = 0;
            h->now.alive = n;
            h->now.n = h->ntypes;
        }
        h->now.alive[i] = msd_stat_or0(ty->alive);
    }
    if (!h->now.alive) { /* push_checkpoint copies from it even with no types */
        if (!(h->now.alive = malloc(sizeof(double))))
            return -ENOMEM;
    }
    return 0;
}

/* Turns a copy of the "now" point into a checkpoint, overwriting the oldest when the ring is full. */
static int push_checkpoint(msd_history *h)
{
    size_t slot = h->cp_len < MSD_CHECKPOINTS ? (h->cp_head + h->cp_len) % MSD_CHECKPOINTS : h->cp_head;
    msd_checkpoint *cp = &h->cps[slot];
    double *a = realloc(cp->alive, (h->now.n ? h->now.n : 1) * sizeof(double));
    if (!a)
        return -ENOMEM;
    cp->alive = a;
    cp->n = h->now.n;
    cp->t = h->now.t;
    if (h->now.n)
        memcpy(cp->alive, h->now.alive, h->now.n * sizeof(double));
    if (h->cp_len < MSD_CHECKPOINTS)
        h->cp_len++;
    else
        h->cp_head = (h->cp_head + 1) % MSD_CHECKPOINTS;
    return 0;
}

void msd_sample_of(const msd_stats *s, double t, msd_sample *out)
{
    *out = (msd_sample){
        .t = t,
        .pool_bytes = msd_stat_or0(s->heap.pool_bytes_in_use),
        .system_bytes = msd_stat_or0(s->heap.system_bytes_in_use),
        .objects_alive = msd_stat_or0(s->refcount.objects_alive),
        .pause_total_ns = msd_stat_or0(s->gc.pause_total_ns),
        .pause_max_ns = msd_stat_or0(s->gc.pause_max_ns),
        .garbage = msd_stat_or0(s->gc.garbage),
    };
    for (size_t g = 0; g < MSC_STATS_GENERATIONS; g++)
        out->collections[g] = g < s->gc.ngens ? msd_stat_or0(s->gc.gens[g].collections) : 0;
}

int msd_history_add(msd_history *h, double t, const msd_stats *stats)
{
    int rc = 0;
    msd_sample s = {.t = t};
    if (stats)
        msd_sample_of(stats, t, &s);
    double ring_gap = h->window / MSD_HISTORY_MAX;
    if (h->len == 0 || t - ring_at(h, h->len - 1)->t >= ring_gap)
        rc = ring_push(h, &s);
    if (update_now(h, t, stats) < 0)
        return -ENOMEM;
    double cp_gap = h->window / MSD_CHECKPOINTS;
    const msd_checkpoint *last = h->cp_len ? &h->cps[(h->cp_head + h->cp_len - 1) % MSD_CHECKPOINTS] : NULL;
    if (!last || t - last->t >= cp_gap)
        if (push_checkpoint(h) < 0)
            rc = -ENOMEM;
    return rc;
}

size_t msd_history_since(const msd_history *h, double t0)
{
    size_t first = 0;
    while (first < h->len && ring_at(h, first)->t < t0)
        first++;
    return first;
}

const msd_sample *msd_history_at(const msd_history *h, size_t i)
{
    return ring_at(h, i);
}

typedef struct suspect {
    size_t type;
    double first, last, rate;
    size_t up;
} suspect;

/* Fastest growth first; ties by type index, so the order is stable. */
static int by_rate(const void *a, const void *b)
{
    const suspect *x = a, *y = b;
    if (x->rate != y->rate)
        return x->rate < y->rate ? 1 : -1;
    return (x->type > y->type) - (x->type < y->type);
}

static double count_at(const msd_checkpoint *cp, size_t type)
{
    return type < cp->n ? cp->alive[type] : 0;
}

int msd_history_growth(const msd_history *h, double mono_now, msd_growth *out)
{
    /* The points: checkpoints inside the window, oldest first, then "now" if it is newer than the last one. */
    const msd_checkpoint *pts[MSD_CHECKPOINTS + 1];
    size_t np = 0;
    for (size_t i = 0; i < h->cp_len; i++) {
        const msd_checkpoint *cp = &h->cps[(h->cp_head + i) % MSD_CHECKPOINTS];
        if (cp->t >= mono_now - h->window)
            pts[np++] = cp;
    }
    if (h->now.alive && (np == 0 || h->now.t > pts[np - 1]->t))
        pts[np++] = &h->now;
    double span = np >= 2 ? pts[np - 1]->t - pts[0]->t : 0;
    *out = (msd_growth){.window_s = h->window, .span_s = span, .points = np};
    if (np < 3 || span <= 0)
        return 0; /* too little history to call anything steady */
    suspect *sus = malloc((h->ntypes ? h->ntypes : 1) * sizeof(*sus));
    if (!sus)
        return -ENOMEM;
    size_t ns = 0;
    for (size_t ty = 0; ty < h->ntypes; ty++) {
        size_t up = 0;
        int fell = 0;
        for (size_t k = 1; k < np && !fell; k++) {
            double a = count_at(pts[k - 1], ty), b = count_at(pts[k], ty);
            if (b < a)
                fell = 1;
            else if (b > a)
                up++;
        }
        double first = count_at(pts[0], ty), last = count_at(pts[np - 1], ty);
        if (fell || last <= first || up * 2 < np - 1)
            continue;
        sus[ns++] = (suspect){.type = ty, .first = first, .last = last, .rate = (last - first) / span, .up = up};
    }
    qsort(sus, ns, sizeof(*sus), by_rate);
    msd_suspect *res = ns ? malloc(ns * sizeof(*res)) : NULL;
    if (ns && !res) {
        free(sus);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ns; i++)
        res[i] = (msd_suspect){.type = msd_history_type_name(h, sus[i].type), .alive = sus[i].last, .first = sus[i].first,
                               .rate_per_s = sus[i].rate, .steps_up = sus[i].up};
    free(sus);
    out->n = ns;
    out->types = res;
    return 0;
}

void msd_growth_free(msd_growth *g)
{
    free(g->types);
    g->types = NULL;
    g->n = 0;
}

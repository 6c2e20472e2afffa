/*
 * daemon/history.c — the per-app history ring and the growth (leak suspect) analysis. See history.h for the
 * bounds. Entry points: msd_history_add(), msd_history_json(), msd_history_growth().
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

#include "history.h"

void msd_history_init(msd_history *h, double window)
{
    memset(h, 0, sizeof(*h));
    h->window = window > 0 ? window : 1;
}

void msd_history_free(msd_history *h)
{
    free(h->ring);
    for (size_t i = 0; i < h->ntypes; i++)
        free(h->type_names[i]);
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
static long type_index(msd_history *h, const char *name, size_t hint)
{
    size_t nlen = strnlen(name, MSD_TYPE_NAME_MAX);
    if (hint < h->ntypes && strncmp(h->type_names[hint], name, nlen) == 0 && h->type_names[hint][nlen] == '\0')
        return (long)hint;
    for (size_t i = 0; i < h->ntypes; i++)
        if (strncmp(h->type_names[i], name, nlen) == 0 && h->type_names[i][nlen] == '\0')
            return (long)i;
    if (h->ntypes == MSD_TYPES_MAX)
        return -1;
    if (h->ntypes % 16 == 0) {
        char **n = realloc(h->type_names, (h->ntypes + 16) * sizeof(*n));
        if (!n)
            return -1;
        h->type_names = n;
    }
    char *copy = strndup(name, nlen);
    if (!copy)
        return -1;
    h->type_names[h->ntypes] = copy;
    return (long)h->ntypes++;
}

/* Fills the "now" point with this message's counts (types absent from the message count 0), in one walk over
 * the message's types (noted by msd_msg_parse, read in place): names are interned as they come and now.alive
 * grows with them. Names are decoded into a stack buffer cut at MSD_TYPE_NAME_MAX, the length type_index keeps.
 * On ENOMEM the point may hold part of the message's counts. */
static int update_now(msd_history *h, double t, const msd_msg *stats)
{
    char name[MSD_TYPE_NAME_MAX + 1];
    msd_types_iter ti;
    msd_type_ref ty;
    size_t pos = 0;
    for (size_t i = 0; i < h->now.n; i++)
        h->now.alive[i] = 0;
    h->now.t = t;
    msd_types_begin(stats, &ti);
    while (msd_types_next(&ti, &ty)) {
        size_t hint = pos++;
        if (!msd_json_string(ty.name, name, sizeof(name)))
            continue;
        long i = type_index(h, name, hint);
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
        double alive;
        if (msd_json_number(ty.alive, &alive) && isfinite(alive))
            h->now.alive[i] = alive;
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

int msd_history_add(msd_history *h, const msd_sample *s, const msd_msg *stats)
{
    int rc = 0;
    double ring_gap = h->window / MSD_HISTORY_MAX;
    if (h->len == 0 || s->t - ring_at(h, h->len - 1)->t >= ring_gap)
        rc = ring_push(h, s);
    if (update_now(h, s->t, stats) < 0)
        return -ENOMEM;
    double cp_gap = h->window / MSD_CHECKPOINTS;
    const msd_checkpoint *last = h->cp_len ? &h->cps[(h->cp_head + h->cp_len - 1) % MSD_CHECKPOINTS] : NULL;
    if (!last || s->t - last->t >= cp_gap)
        if (push_checkpoint(h) < 0)
            rc = -ENOMEM;
    return rc;
}

/* Adds an array named `name` of the samples' field at byte offset `off` (gen >= 0: collections[gen]). */
static int add_column(cJSON *obj, const char *name, const msd_history *h, size_t first, size_t off, int gen,
                      cJSON *into_array)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return -ENOMEM;
    for (size_t i = first; i < h->len; i++) {
        const msd_sample *s = ring_at(h, i);
        double v = gen >= 0 ? s->collections[gen] : *(const double *)((const char *)s + off);
        cJSON *n = cJSON_CreateNumber(v);
        if (!n) {
            cJSON_Delete(arr);
            return -ENOMEM;
        }
        cJSON_AddItemToArray(arr, n);
    }
    if (into_array)
        cJSON_AddItemToArray(into_array, arr);
    else
        cJSON_AddItemToObject(obj, name, arr);
    return 0;
}

cJSON *msd_history_json(const msd_history *h, double seconds, double mono_now, double wall_now)
{
    if (!(seconds > 0) || seconds > h->window)
        seconds = h->window;
    size_t first = 0;
    while (first < h->len && ring_at(h, first)->t < mono_now - seconds)
        first++;
    cJSON *o = cJSON_CreateObject();
    cJSON *gens = cJSON_CreateArray();
    cJSON *heap = cJSON_CreateArray();
    cJSON *time = cJSON_CreateArray();
    if (!o || !gens || !heap || !time)
        goto fail;
    cJSON_AddNumberToObject(o, "seconds", seconds);
    cJSON_AddNumberToObject(o, "points", (double)(h->len - first));
    cJSON_AddItemToObject(o, "time", time);
    cJSON_AddItemToObject(o, "heap_bytes", heap);
    /* Times are the wall clock of each sample: its receive time as seen by the monotonic clock, moved to now. */
    for (size_t i = first; i < h->len; i++) {
        const msd_sample *s = ring_at(h, i);
        cJSON *t = cJSON_CreateNumber(round((wall_now - (mono_now - s->t)) * 1000) / 1000);
        cJSON *b = cJSON_CreateNumber(s->pool_bytes + s->system_bytes);
        if (!t || !b) {
            cJSON_Delete(t);
            cJSON_Delete(b);
            cJSON_Delete(o);
            cJSON_Delete(gens);
            return NULL;
        }
        cJSON_AddItemToArray(time, t);
        cJSON_AddItemToArray(heap, b);
    }
    if (add_column(o, "pool_bytes", h, first, offsetof(msd_sample, pool_bytes), -1, NULL) < 0 ||
        add_column(o, "system_bytes", h, first, offsetof(msd_sample, system_bytes), -1, NULL) < 0 ||
        add_column(o, "objects_alive", h, first, offsetof(msd_sample, objects_alive), -1, NULL) < 0 ||
        add_column(o, NULL, h, first, 0, 0, gens) < 0 || add_column(o, NULL, h, first, 0, 1, gens) < 0 ||
        add_column(o, NULL, h, first, 0, 2, gens) < 0)
        goto fail_all;
    cJSON_AddItemToObject(o, "gc_collections", gens);
    gens = NULL;
    if (add_column(o, "gc_pause_total_ns", h, first, offsetof(msd_sample, pause_total_ns), -1, NULL) < 0 ||
        add_column(o, "gc_pause_max_ns", h, first, offsetof(msd_sample, pause_max_ns), -1, NULL) < 0 ||
        add_column(o, "garbage", h, first, offsetof(msd_sample, garbage), -1, NULL) < 0)
        goto fail_all;
    return o;
fail:
    cJSON_Delete(heap);
    cJSON_Delete(time);
fail_all:
    cJSON_Delete(gens);
    cJSON_Delete(o);
    return NULL;
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

cJSON *msd_history_growth(const msd_history *h, double mono_now)
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
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    if (!o || !arr) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        return NULL;
    }
    double span = np >= 2 ? pts[np - 1]->t - pts[0]->t : 0;
    cJSON_AddNumberToObject(o, "window_s", h->window);
    cJSON_AddNumberToObject(o, "span_s", span);
    cJSON_AddNumberToObject(o, "points", (double)np);
    cJSON_AddItemToObject(o, "types", arr);
    if (np < 3 || span <= 0)
        return o; /* too little history to call anything steady */
    suspect *sus = malloc((h->ntypes ? h->ntypes : 1) * sizeof(*sus));
    if (!sus) {
        cJSON_Delete(o);
        return NULL;
    }
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
    for (size_t i = 0; i < ns; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            free(sus);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddStringToObject(e, "type", h->type_names[sus[i].type]);
        cJSON_AddNumberToObject(e, "alive", sus[i].last);
        cJSON_AddNumberToObject(e, "first", sus[i].first);
        cJSON_AddNumberToObject(e, "delta", sus[i].last - sus[i].first);
        cJSON_AddNumberToObject(e, "rate_per_s", sus[i].rate);
        cJSON_AddNumberToObject(e, "steps_up", (double)sus[i].up);
        cJSON_AddNumberToObject(e, "steps", (double)(np - 1));
    }
    free(sus);
    return o;
}

/*
 * daemon/snapindex.c — a snapshot store's index (see snapindex.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "snapindex.h"

void msd_snapindex_init(msd_snapindex *ix, size_t elem)
{
    *ix = (msd_snapindex){.elem = elem, .next_id = 1};
}

const msd_snapinfo *msd_snapindex_at(const msd_snapindex *ix, size_t i)
{
    return (const msd_snapinfo *)(const void *)((const char *)ix->entries + i * ix->elem);
}

void msd_snapindex_free(msd_snapindex *ix)
{
    for (size_t i = 0; i < ix->n; i++)
        free(((msd_snapinfo *)(void *)((char *)ix->entries + i * ix->elem))->app);
    free(ix->entries);
    ix->entries = NULL;
    ix->n = ix->cap = 0;
}

const msd_snapinfo *msd_snapindex_find(const msd_snapindex *ix, int64_t id)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (msd_snapindex_at(ix, mid)->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->n && msd_snapindex_at(ix, lo)->id == id ? msd_snapindex_at(ix, lo) : NULL;
}

int msd_snapindex_add(msd_snapindex *ix, void *entry)
{
    void *slot = msc_array_push(&ix->entries, &ix->n, &ix->cap, ix->elem);
    if (!slot)
        return -ENOMEM;
    memcpy(slot, entry, ix->elem);
    msd_snapinfo *info = entry;
    info->app = NULL;
    if (info->id >= ix->next_id)
        ix->next_id = info->id + 1;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    const msd_snapinfo *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

void msd_snapindex_sort(void *entries, size_t n, size_t elem)
{
    if (n)
        qsort(entries, n, elem, by_id);
}

const msd_snapinfo *msd_snapindex_owned(const msd_snapindex *ix, int64_t id, const char *app, const char *what,
                                        int *status, char *why, size_t whylen)
{
    const msd_snapinfo *s = msd_snapindex_find(ix, id);
    if (!s) {
        *status = -ENOENT;
        snprintf(why, whylen, "no such %s %lld", what, (long long)id);
    } else if (strcmp(s->app, app) != 0) {
        *status = -EPERM;
        snprintf(why, whylen, "%s %lld belongs to another app (%.64s, pid %lld), not to %.64s", what, (long long)id,
                 s->app, (long long)s->pid, app);
        s = NULL;
    }
    return s;
}

const char *msd_snapindex_app_of(const msd_snapindex *ix, uint64_t key)
{
    for (size_t i = ix->n; i-- > 0;)
        if (msd_snapindex_at(ix, i)->app_id == key)
            return msd_snapindex_at(ix, i)->app;
    for (size_t i = ix->n; i-- > 0;)
        if ((uint64_t)msd_snapindex_at(ix, i)->pid == key)
            return msd_snapindex_at(ix, i)->app;
    return NULL;
}

void msd_snapindex_scan(const char *dir, size_t elem, msd_snapindex_load_fn load, void (*drop)(void *entry),
                        void *ctx, void **found, size_t *n)
{
    *found = NULL;
    *n = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return; /* no snapshots yet */
    size_t cap = 0;
    char *entry = malloc(elem);
    struct dirent *e;
    while (entry && (e = readdir(dp))) {
        char *end;
        long long v = strtoll(e->d_name, &end, 10);
        if (v <= 0 || strcmp(end, ".json") != 0)
            continue;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
            break;
        int rc = load(ctx, path, v, entry);
        free(path);
        if (rc < 0)
            continue;
        if (((msd_snapinfo *)(void *)entry)->id != v) { /* not a snapshot of ours: left alone, not listed */
            drop(entry);
            continue;
        }
        void *slot = msc_array_push(found, n, &cap, elem);
        if (!slot) {
            drop(entry);
            break;
        }
        memcpy(slot, entry, elem);
    }
    free(entry);
    closedir(dp);
    msd_snapindex_sort(*found, *n, elem);
}

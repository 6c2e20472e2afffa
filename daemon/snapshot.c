/*
 * daemon/snapshot.c — trace snapshot documents: building, checking and diffing them. See snapshot.h for the
 * format. Entry points: msd_snapshot_document(), msd_snapshot_diff().
 *
 * A diff groups each snapshot's traces by the key (file:line of the innermost frame, file, or the whole
 * traceback), sums size and count per group, and pairs the groups of the two snapshots by sorting all groups'
 * keys together and walking them once — no hash table, O(n log n), and the result does not depend on the order
 * the agent sent its traces in.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

cJSON *msd_snapshot_document(cJSON *result, const msd_snapinfo *info, int *err)
{
    cJSON *traces = cJSON_DetachItemFromObjectCaseSensitive(result, "traces");
    if (!cJSON_IsArray(traces)) {
        cJSON_Delete(traces);
        cJSON_Delete(result);
        *err = -EPROTO;
        return NULL;
    }
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(result, "traceback_limit");
    cJSON *doc = cJSON_CreateObject();
    bool ok = doc && cJSON_AddNumberToObject(doc, "id", (double)info->id) &&
              cJSON_AddStringToObject(doc, "app", info->app) && cJSON_AddNumberToObject(doc, "pid", (double)info->pid) &&
              cJSON_AddNumberToObject(doc, "app_id", (double)info->app_id) &&
              cJSON_AddNumberToObject(doc, "time", round(info->time * 1000) / 1000) &&
              cJSON_AddNumberToObject(doc, "traceback_limit", cJSON_IsNumber(limit) ? limit->valuedouble : 1) &&
              cJSON_AddBoolToObject(doc, "truncated", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "truncated"))) &&
              cJSON_AddNumberToObject(doc, "ntraces", cJSON_GetArraySize(traces)) &&
              cJSON_AddItemToObject(doc, "traces", traces);
    cJSON_Delete(result);
    if (!ok) {
        if (!cJSON_GetObjectItemCaseSensitive(doc, "traces"))
            cJSON_Delete(traces);
        cJSON_Delete(doc);
        *err = -ENOMEM;
        return NULL;
    }
    return doc;
}

static cJSON *fail(cJSON *doc, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    cJSON_Delete(doc);
    return NULL;
}

cJSON *msd_snapshot_parse(const char *text, size_t len, char *err, size_t errlen)
{
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(doc))
        return fail(doc, err, errlen, "not a JSON object");
    const cJSON *traces = cJSON_GetObjectItemCaseSensitive(doc, "traces");
    if (!cJSON_IsArray(traces))
        return fail(doc, err, errlen, "no \"traces\" array");
    const cJSON *t;
    cJSON_ArrayForEach(t, traces) {
        const cJSON *frames = cJSON_GetObjectItemCaseSensitive(t, "frames");
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "size")) ||
            !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "count")) || !cJSON_IsArray(frames))
            return fail(doc, err, errlen, "a trace needs numeric \"size\" and \"count\" and a \"frames\" array");
        const cJSON *f;
        cJSON_ArrayForEach(f, frames) {
            if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(f, "file")) ||
                !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(f, "lineno")))
                return fail(doc, err, errlen, "a frame needs a string \"file\" and a numeric \"lineno\"");
        }
    }
    return doc;
}

/* Member k of o when it is a number in [lo, hi], else 0 (a double outside an integer type's range must not be
 * converted to it). */
static double num_in(const cJSON *o, const char *k, double lo, double hi)
{
    double v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return v >= lo && v <= hi ? v : 0;
}

int msd_snapshot_info(const cJSON *doc, msd_snapinfo *out)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id"), *app = cJSON_GetObjectItemCaseSensitive(doc, "app");
    if (!cJSON_IsNumber(id) || !(id->valuedouble >= 1 && id->valuedouble < 9007199254740992.0) ||
        !cJSON_IsString(app))
        return -EPROTO;
    *out = (msd_snapinfo){
        .id = (int64_t)id->valuedouble,
        .app = strdup(app->valuestring),
        .pid = (int64_t)num_in(doc, "pid", 0, 9007199254740992.0),
        .app_id = (uint64_t)num_in(doc, "app_id", 0, 9007199254740992.0),
        .time = num_in(doc, "time", 0, 1e12),
        .traces = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "traces")),
    };
    return out->app ? 0 : -ENOMEM;
}

void msd_snapinfo_free(msd_snapinfo *info)
{
    free(info->app);
    info->app = NULL;
}

/* ---- Diff ------------------------------------------------------------------------------------------------- */

typedef struct group {
    char *key;
    const cJSON *frames; /* of one trace of the group (for file/lineno/traceback) */
    double size[2], count[2];
} group;

enum { KEY_LINENO, KEY_FILENAME, KEY_TRACEBACK };

/* The grouping key of a trace's frames: "file\nline" or "file" or every frame's "file\nline\n". */
static char *make_key(const cJSON *frames, int kind)
{
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = '\0';
    const cJSON *f;
    cJSON_ArrayForEach(f, frames) {
        const char *file = cJSON_GetObjectItemCaseSensitive(f, "file")->valuestring;
        double line = cJSON_GetObjectItemCaseSensitive(f, "lineno")->valuedouble;
        size_t need = strlen(file) + 32;
        if (len + need + 1 > cap) {
            while (len + need + 1 > cap)
                cap *= 2;
            char *ns = realloc(s, cap);
            if (!ns) {
                free(s);
                return NULL;
            }
            s = ns;
        }
        len += (size_t)snprintf(s + len, cap - len, kind == KEY_FILENAME ? "%s" : "%s\n%.0f\n", file, line);
        if (kind != KEY_TRACEBACK)
            break;
    }
    return s;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const group *)a)->key, ((const group *)b)->key);
}

static int cmp_diff(const void *a, const void *b)
{
    const group *x = a, *y = b;
    double dx = x->size[1] - x->size[0], dy = y->size[1] - y->size[0];
    if (dx != dy)
        return dx < dy ? 1 : -1;
    if (x->size[1] != y->size[1])
        return x->size[1] < y->size[1] ? 1 : -1;
    return strcmp(x->key, y->key);
}

cJSON *msd_snapshot_diff(const cJSON *from, const cJSON *to, const char *key, size_t limit)
{
    int kind = strcmp(key, "lineno") == 0 ? KEY_LINENO : strcmp(key, "filename") == 0 ? KEY_FILENAME
             : strcmp(key, "traceback") == 0 ? KEY_TRACEBACK : -1;
    if (kind < 0) {
        errno = EINVAL;
        return NULL;
    }
    const cJSON *tr[2] = {cJSON_GetObjectItemCaseSensitive(from, "traces"),
                          cJSON_GetObjectItemCaseSensitive(to, "traces")};
    size_t n = (size_t)cJSON_GetArraySize(tr[0]) + (size_t)cJSON_GetArraySize(tr[1]), m = 0;
    group *g = calloc(n ? n : 1, sizeof(*g));
    cJSON *out = cJSON_CreateObject(), *stats = cJSON_CreateArray();
    if (!g || !out || !stats)
        goto oom;
    for (int side = 0; side < 2; side++) {
        const cJSON *t;
        cJSON_ArrayForEach(t, tr[side]) {
            const cJSON *frames = cJSON_GetObjectItemCaseSensitive(t, "frames");
            if (!(g[m].key = make_key(frames, kind)))
                goto oom;
            g[m].frames = frames;
            g[m].size[side] = cJSON_GetObjectItemCaseSensitive(t, "size")->valuedouble;
            g[m].count[side] = cJSON_GetObjectItemCaseSensitive(t, "count")->valuedouble;
            m++;
        }
    }
    if (m)
        qsort(g, m, sizeof(*g), cmp_key);
    /* Merge runs of equal keys into their first element. Invariant: g[0..w) are distinct, sorted groups. */
    size_t w = 0;
    for (size_t i = 0; i < m; i++) {
        if (w && strcmp(g[w - 1].key, g[i].key) == 0) {
            for (int s = 0; s < 2; s++) {
                g[w - 1].size[s] += g[i].size[s];
                g[w - 1].count[s] += g[i].count[s];
            }
            free(g[i].key);
        } else {
            g[w++] = g[i];
        }
    }
    if (w)
        qsort(g, w, sizeof(*g), cmp_diff);
    for (size_t i = 0; i < w && (!limit || i < limit); i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e)
            goto oom_w;
        cJSON_AddItemToArray(stats, e);
        const cJSON *f0 = cJSON_GetArrayItem(g[i].frames, 0);
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(f0, "file");
        cJSON_AddStringToObject(e, "file", cJSON_IsString(file) ? file->valuestring : "<unknown>");
        cJSON_AddNumberToObject(e, "lineno",
                                kind == KEY_FILENAME ? 0 : cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f0, "lineno")) );
        cJSON_AddNumberToObject(e, "size", g[i].size[1]);
        cJSON_AddNumberToObject(e, "size_diff", g[i].size[1] - g[i].size[0]);
        cJSON_AddNumberToObject(e, "count", g[i].count[1]);
        cJSON_AddNumberToObject(e, "count_diff", g[i].count[1] - g[i].count[0]);
        if (kind == KEY_TRACEBACK)
            cJSON_AddItemToObject(e, "traceback", cJSON_Duplicate(g[i].frames, 1));
    }
    for (size_t i = 0; i < w; i++)
        free(g[i].key);
    free(g);
    cJSON_AddStringToObject(out, "key", key);
    cJSON_AddItemToObject(out, "stats", stats);
    return out;
oom_w:
    m = w;
oom:
    for (size_t i = 0; g && i < m; i++)
        free(g[i].key);
    free(g);
    cJSON_Delete(out);
    cJSON_Delete(stats);
    errno = ENOMEM;
    return NULL;
}

/*
 * daemon/snapshot.c — storing, loading and diffing trace snapshots. See snapshot.h for the format.
 * Entry points: msd_snapshot_store(), msd_snapshot_diff().
 *
 * A diff groups each snapshot's traces by the key (file:line of the innermost frame, file, or the whole
 * traceback), sums size and count per group, and pairs the groups of the two snapshots by sorting all groups'
 * keys together and walking them once — no hash table, O(n log n), and the result does not depend on the order
 * the agent sent its traces in.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "fs.h"
#include "snapshot.h"

#define SNAPSHOT_FILE_MAX (8u << 20)

/* One more than the largest stored id (1 when none). O(files). */
static int64_t next_id(const char *dir)
{
    int64_t max = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return 1;
    struct dirent *e;
    while ((e = readdir(dp))) {
        char *end;
        long long v = strtoll(e->d_name, &end, 10);
        if (v > max && strcmp(end, ".json") == 0)
            max = v;
    }
    closedir(dp);
    return max + 1;
}

int64_t msd_snapshot_store(const char *data_dir, const char *app, int64_t pid, uint64_t app_id, const cJSON *result)
{
    const cJSON *traces = cJSON_GetObjectItemCaseSensitive(result, "traces");
    if (!cJSON_IsArray(traces))
        return -EPROTO;
    char *dir = NULL, *path = NULL, *tmp = NULL, *text = NULL;
    cJSON *doc = NULL;
    int64_t rc = -ENOMEM;
    if (asprintf(&dir, "%s/snapshots", data_dir) < 0) {
        dir = NULL;
        goto out;
    }
    if ((rc = msd_mkdir_private(dir)) < 0) {
        msd_log("cannot create %s: %s", dir, strerror((int)-rc));
        goto out;
    }
    int64_t id = next_id(dir);
    rc = -ENOMEM;
    if (asprintf(&path, "%s/%lld.json", dir, (long long)id) < 0 || asprintf(&tmp, "%s.tmp", path) < 0) {
        path = tmp = NULL;
        goto out;
    }
    doc = cJSON_CreateObject();
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(result, "traceback_limit");
    cJSON *copy = cJSON_Duplicate(traces, 1);
    if (!doc || !copy || !cJSON_AddNumberToObject(doc, "id", (double)id) || !cJSON_AddStringToObject(doc, "app", app) ||
        !cJSON_AddNumberToObject(doc, "pid", (double)pid) || !cJSON_AddNumberToObject(doc, "app_id", (double)app_id) ||
        !cJSON_AddNumberToObject(doc, "time", round(msd_now_wall() * 1000) / 1000) ||
        !cJSON_AddNumberToObject(doc, "traceback_limit", cJSON_IsNumber(limit) ? limit->valuedouble : 1) ||
        !cJSON_AddBoolToObject(doc, "truncated", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "truncated"))) ||
        !cJSON_AddItemToObject(doc, "traces", copy)) {
        if (!cJSON_GetObjectItemCaseSensitive(doc, "traces"))
            cJSON_Delete(copy);
        goto out;
    }
    if (!(text = cJSON_PrintUnformatted(doc)))
        goto out;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t n = strlen(text);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        rc = errno ? -errno : -EIO;
        msd_log("cannot write snapshot %s: %s", path, strerror((int)-rc));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        goto out;
    }
    rc = id;
out:
    cJSON_Delete(doc);
    free(text);
    free(tmp);
    free(path);
    free(dir);
    return rc;
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

cJSON *msd_snapshot_load(const char *data_dir, int64_t id)
{
    char *path = NULL;
    if (asprintf(&path, "%s/snapshots/%lld.json", data_dir, (long long)id) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return NULL; /* errno from fopen */
    char *buf = malloc(SNAPSHOT_FILE_MAX);
    size_t n = buf ? fread(buf, 1, SNAPSHOT_FILE_MAX, f) : 0;
    fclose(f);
    if (!buf) {
        errno = ENOMEM;
        return NULL;
    }
    char err[128];
    cJSON *doc = msd_snapshot_parse(buf, n, err, sizeof(err));
    free(buf);
    if (!doc)
        errno = EPROTO;
    return doc;
}

static int cmp_id(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

cJSON *msd_snapshot_list(const char *data_dir, const char *app)
{
    cJSON *arr = cJSON_CreateArray();
    char *dir = NULL;
    if (!arr || asprintf(&dir, "%s/snapshots", data_dir) < 0) {
        cJSON_Delete(arr);
        return NULL;
    }
    DIR *dp = opendir(dir);
    free(dir);
    if (!dp)
        return arr;
    long long *ids = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        char *end;
        long long v = strtoll(e->d_name, &end, 10);
        if (v <= 0 || strcmp(end, ".json") != 0)
            continue;
        if (n == cap) {
            long long *ni = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof(*ids));
            if (!ni)
                break;
            ids = ni;
        }
        ids[n++] = v;
    }
    closedir(dp);
    if (n)
        qsort(ids, n, sizeof(*ids), cmp_id);
    for (size_t i = 0; i < n; i++) {
        cJSON *doc = msd_snapshot_load(data_dir, ids[i]);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "app");
        if (!doc || (app && (!cJSON_IsString(name) || strcmp(name->valuestring, app) != 0))) {
            cJSON_Delete(doc);
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        if (o) {
            static const char *const keep[] = {"id", "app", "pid", "app_id", "time"};
            for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
                cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(doc, keep[k]);
                if (v)
                    cJSON_AddItemToObject(o, keep[k], v);
            }
            cJSON_AddNumberToObject(o, "traces", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "traces")));
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_Delete(doc);
    }
    free(ids);
    return arr;
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

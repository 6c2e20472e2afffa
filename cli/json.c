/*
 * cli/json.c — reading the daemon's documents. Every accessor accepts NULL (a missing section) and returns the
 * default, so the views can print "-" for what an agent did not send instead of checking each level.
 */
#include <stdlib.h>

#include "cli.h"

const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

double jnum(const cJSON *o, const char *key, double def)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

const char *jstr(const cJSON *o, const char *key, const char *def)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : def;
}

bool jbool(const cJSON *o, const char *key, bool def)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static int cmp_desc(const void *a, const void *b, void *key)
{
    double x = jnum(*(const cJSON *const *)a, key, 0), y = jnum(*(const cJSON *const *)b, key, 0);
    return x < y ? 1 : x > y ? -1 : 0;
}

const cJSON **jsorted_desc(const cJSON *arr, const char *key, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    const cJSON **v = malloc((*n ? *n : 1) * sizeof(*v)), *e;
    if (!v)
        return NULL;
    size_t i = 0;
    cJSON_ArrayForEach(e, arr) v[i++] = e;
    qsort_r(v, *n, sizeof(*v), cmp_desc, (void *)key);
    return v;
}

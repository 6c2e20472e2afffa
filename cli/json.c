/*
 * cli/json.c — reading the daemon's documents. Every accessor accepts NULL (a missing section) and returns the
 * default, so the views can print "-" for what an agent did not send instead of checking each level.
 */
#include <math.h>

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

bool jhas_num(const cJSON *o, const char *key)
{
    return cJSON_IsNumber(jget(o, key));
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

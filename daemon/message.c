/*
 * daemon/message.c — parsing and validating the JSON messages of the wire protocol (docs/PROTOCOL.md §3-5).
 * Entry point: msd_msg_parse().
 *
 * Validation is deliberately shallow where the daemon only passes data through (the API serves stats sections as
 * the agent sent them) and strict where the daemon itself relies on a member (hello's pid and app, a reply's id,
 * the JSON type of each stats section). Everything the agent sends is untrusted input.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"

#define APP_NAME_MAX 255

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -EPROTO;
}

/* True when v is a number holding an integer in [lo, hi]. */
static int is_int_in(const cJSON *v, double lo, double hi)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    return isfinite(d) && d == floor(d) && d >= lo && d <= hi;
}

static int parse_hello(msd_msg *m, char *err, size_t errlen)
{
    const cJSON *j = m->json;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "protocol");
    if (!is_int_in(v, 0, 1e9))
        return fail(err, errlen, "hello: \"protocol\" must be a non-negative integer");
    m->protocol = (int)v->valuedouble;
    v = cJSON_GetObjectItemCaseSensitive(j, "pid");
    if (!is_int_in(v, 1, 4194304.0 * 1024))
        return fail(err, errlen, "hello: \"pid\" must be a positive integer");
    m->pid = (int64_t)v->valuedouble;
    v = cJSON_GetObjectItemCaseSensitive(j, "app");
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > APP_NAME_MAX)
        return fail(err, errlen, "hello: \"app\" must be a string of 1 to 255 bytes");
    m->app = v->valuestring;
    v = cJSON_GetObjectItemCaseSensitive(j, "library");
    if (v && !cJSON_IsString(v))
        return fail(err, errlen, "hello: \"library\" must be a string");
    m->library = v ? v->valuestring : NULL;
    v = cJSON_GetObjectItemCaseSensitive(j, "argv");
    if (v) {
        if (!cJSON_IsArray(v))
            return fail(err, errlen, "hello: \"argv\" must be an array of strings");
        const cJSON *a;
        cJSON_ArrayForEach(a, v) if (!cJSON_IsString(a)) return fail(err, errlen, "hello: \"argv\" must be an array of strings");
    }
    m->argv = v;
    v = cJSON_GetObjectItemCaseSensitive(j, "interval_ms");
    if (v && !is_int_in(v, 0, 86400000))
        return fail(err, errlen, "hello: \"interval_ms\" must be an integer in [0, 86400000]");
    m->interval_ms = v ? (int64_t)v->valuedouble : 0;
    return 0;
}

/* The stats sections and the JSON type each must have when present. */
static const struct {
    const char *name;
    int array; /* 1: array of objects, 0: object */
} stats_sections[] = {
    {"heap", 0}, {"pools", 1}, {"refcount", 0}, {"types", 1}, {"gc", 0}, {"trace", 0},
};

static int parse_stats(msd_msg *m, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(stats_sections) / sizeof(stats_sections[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->json, stats_sections[i].name);
        if (!v)
            continue;
        if (stats_sections[i].array) {
            if (!cJSON_IsArray(v)) {
                snprintf(err, errlen, "stats: \"%s\" must be an array", stats_sections[i].name);
                return -EPROTO;
            }
            const cJSON *e;
            cJSON_ArrayForEach(e, v) if (!cJSON_IsObject(e)) {
                snprintf(err, errlen, "stats: \"%s\" must hold objects", stats_sections[i].name);
                return -EPROTO;
            }
        } else if (!cJSON_IsObject(v)) {
            snprintf(err, errlen, "stats: \"%s\" must be an object", stats_sections[i].name);
            return -EPROTO;
        }
    }
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(m->json, "types");
    const cJSON *t;
    cJSON_ArrayForEach(t, types) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (!cJSON_IsString(name))
            return fail(err, errlen, "stats: every entry of \"types\" needs a string \"name\"");
    }
    const cJSON *gc = cJSON_GetObjectItemCaseSensitive(m->json, "gc");
    const cJSON *gens = cJSON_GetObjectItemCaseSensitive(gc, "generations");
    if (gens && !cJSON_IsArray(gens))
        return fail(err, errlen, "stats: \"gc.generations\" must be an array");
    return 0;
}

static int parse_reply(msd_msg *m, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->json, "id");
    if (!is_int_in(v, 1, 9007199254740992.0))
        return fail(err, errlen, "reply: \"id\" must be a positive integer");
    m->id = (uint64_t)v->valuedouble;
    v = cJSON_GetObjectItemCaseSensitive(m->json, "ok");
    if (!cJSON_IsBool(v))
        return fail(err, errlen, "reply: \"ok\" must be a boolean");
    m->ok = cJSON_IsTrue(v);
    if (m->ok) {
        m->result = cJSON_GetObjectItemCaseSensitive(m->json, "result");
    } else {
        v = cJSON_GetObjectItemCaseSensitive(m->json, "error");
        m->error = cJSON_IsString(v) ? v->valuestring : "the app reported an error without a message";
    }
    return 0;
}

int msd_msg_parse(const uint8_t *payload, size_t len, msd_msg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (errlen)
        err[0] = '\0';
    /* cJSON stops strings at a NUL byte; refuse them instead of letting two readers disagree. */
    if (memchr(payload, '\0', len))
        return fail(err, errlen, "payload contains a NUL byte");
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)payload, len, &end, 0);
    if (!j)
        return fail(err, errlen, "payload is not valid JSON");
    /* Only whitespace may follow the value. */
    const char *stop = (const char *)payload + len;
    while (end && end < stop && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != stop) {
        cJSON_Delete(j);
        return fail(err, errlen, "trailing bytes after the JSON value");
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return fail(err, errlen, "payload is not a JSON object");
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type)) {
        cJSON_Delete(j);
        return fail(err, errlen, "message without a string \"type\"");
    }
    out->json = j;
    out->raw = (const char *)payload;
    out->raw_len = len;
    int rc = 0;
    if (strcmp(type->valuestring, "hello") == 0) {
        out->type = MSD_MSG_HELLO;
        rc = parse_hello(out, err, errlen);
    } else if (strcmp(type->valuestring, "stats") == 0) {
        out->type = MSD_MSG_STATS;
        rc = parse_stats(out, err, errlen);
    } else if (strcmp(type->valuestring, "reply") == 0) {
        out->type = MSD_MSG_REPLY;
        rc = parse_reply(out, err, errlen);
    } else if (strcmp(type->valuestring, "bye") == 0) {
        out->type = MSD_MSG_BYE;
    } else {
        out->type = MSD_MSG_UNKNOWN;
    }
    if (rc < 0) {
        cJSON_Delete(j);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

void msd_msg_free(msd_msg *m)
{
    cJSON_Delete(m->json);
    memset(m, 0, sizeof(*m));
}

static double num(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : 0.0;
}

void msd_sample_from_stats(const cJSON *stats, msd_sample *out)
{
    const cJSON *heap = cJSON_GetObjectItemCaseSensitive(stats, "heap");
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(stats, "refcount");
    const cJSON *gc = cJSON_GetObjectItemCaseSensitive(stats, "gc");
    out->pool_bytes = num(heap, "pool_bytes_in_use");
    out->system_bytes = num(heap, "system_bytes_in_use");
    out->objects_alive = num(rc, "objects_alive");
    out->pause_total_ns = num(gc, "pause_total_ns");
    out->pause_max_ns = num(gc, "pause_max_ns");
    out->garbage = num(gc, "garbage");
    const cJSON *gens = cJSON_GetObjectItemCaseSensitive(gc, "generations");
    for (int i = 0; i < 3; i++)
        out->collections[i] = num(cJSON_GetArrayItem(gens, i), "collections");
}

/* ---- Top-level member spans ------------------------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at an opening quote; returns the byte after the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p >= end) /* a backslash as the last byte */
                return NULL;
            continue;
        }
        if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Skips one value (any type); returns the byte after it, or NULL. Nesting is counted, strings skipped whole. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                if (!(p = skip_string(p, end)))
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    /* number, true, false, null */
    const char *q = p;
    while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
        q++;
    return q > p ? q : NULL;
}

long msd_json_members(const char *text, size_t len, msd_span *spans, size_t max)
{
    const char *end = text + len, *p = skip_ws(text, end);
    if (p >= end || *p != '{')
        return -EPROTO;
    p = skip_ws(p + 1, end);
    long n = 0;
    if (p < end && *p == '}')
        return 0;
    while (p < end) {
        if (*p != '"')
            return -EPROTO;
        const char *start = p;
        if (!(p = skip_string(p, end)))
            return -EPROTO;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return -EPROTO;
        p = skip_ws(p + 1, end);
        if (!(p = skip_value(p, end)))
            return -EPROTO;
        if ((size_t)n == max)
            return -E2BIG;
        spans[n].start = (size_t)(start - text);
        spans[n].end = (size_t)(p - text);
        n++;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}')
            return n;
        return -EPROTO;
    }
    return -EPROTO;
}

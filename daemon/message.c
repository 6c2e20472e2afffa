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

/* The stats sections and the JSON type each must have when present, in the order they are checked. */
static const struct {
    const char *name;
    int array; /* 1: array of objects, 0: object */
} stats_sections[] = {
    {"heap", 0}, {"pools", 1}, {"refcount", 0}, {"types", 1}, {"gc", 0}, {"trace", 0},
};
#define NSECTIONS (sizeof(stats_sections) / sizeof(stats_sections[0]))

/*
 * Validates a stats message without a tree, with the rules (and words) the cJSON version had: each section, when
 * present, has its JSON type; every entry of "types" has a string "name"; "gc.generations", when present, is an
 * array. As cJSON_GetObjectItemCaseSensitive, the first member of a name counts (keys read as C strings).
 * One walk over the top-level members notes them for the registry, looks into the "pools" and "types" arrays as
 * it passes them (so they are read once) and notes the types' names and counts for the history; the errors are
 * then reported in the order the cJSON version checked them (section by section, then names, then generations).
 */
static int parse_stats(msd_msg *m, char *err, size_t errlen)
{
    msd_jval sec[NSECTIONS] = {{0}};
    bool non_object[NSECTIONS] = {false}; /* an array section holds something else than objects */
    bool names_ok = true;
    msd_jiter it, arr;
    msd_jval k, v, e;
    msd_json_iter(m->doc, &it);
    while (msd_json_next_key(&it, &k)) {
        char key[16]; /* the longest section name is 8 bytes: a longer key cannot match even when cut */
        size_t si = NSECTIONS;
        if (msd_json_string(k, key, sizeof(key)))
            for (size_t i = 0; i < NSECTIONS; i++)
                if (!sec[i].n && strcmp(key, stats_sections[i].name) == 0) {
                    si = i;
                    break;
                }
        if (si < NSECTIONS && stats_sections[si].array && msd_json_open(&it, &arr) && !arr.object) {
            bool types = si == 3;
            while (msd_json_next(&arr, NULL, &e)) {
                if (msd_json_kind(e) != MSD_J_OBJECT) {
                    non_object[si] = true;
                    continue;
                }
                if (!types)
                    continue;
                msd_type_ref r = msd_type_ref_of(e);
                if (msd_json_kind(r.name) != MSD_J_STRING)
                    names_ok = false;
                if (m->ntypes_noted < MSD_MSG_TYPES) {
                    m->type_refs[m->ntypes_noted++] = r;
                    m->types_rest = arr;
                }
            }
            if (!msd_json_close(&it, &arr, &v))
                break;
        } else if (!msd_json_take_value(&it, &v)) {
            break;
        }
        if (si < NSECTIONS)
            sec[si] = v;
        if (m->nmembers < MSD_MSG_MEMBERS) {
            m->members[m->nmembers].key = k;
            m->members[m->nmembers].val = v;
        }
        m->nmembers++;
    }
    for (size_t i = 0; i < NSECTIONS; i++) {
        if (!sec[i].n)
            continue;
        msd_jkind kind = msd_json_kind(sec[i]);
        if (stats_sections[i].array && kind != MSD_J_ARRAY) {
            snprintf(err, errlen, "stats: \"%s\" must be an array", stats_sections[i].name);
            return -EPROTO;
        }
        if (stats_sections[i].array && non_object[i]) {
            snprintf(err, errlen, "stats: \"%s\" must hold objects", stats_sections[i].name);
            return -EPROTO;
        }
        if (!stats_sections[i].array && kind != MSD_J_OBJECT) {
            snprintf(err, errlen, "stats: \"%s\" must be an object", stats_sections[i].name);
            return -EPROTO;
        }
    }
    m->heap = sec[0];
    m->refcount = sec[2];
    m->types = sec[3];
    m->gc = sec[4];
    if (!names_ok)
        return fail(err, errlen, "stats: every entry of \"types\" needs a string \"name\"");
    msd_jval gens = msd_json_get(m->gc, "generations");
    if (gens.n && msd_json_kind(gens) != MSD_J_ARRAY)
        return fail(err, errlen, "stats: \"gc.generations\" must be an array");
    return 0;
}

msd_type_ref msd_type_ref_of(msd_jval entry)
{
    msd_type_ref r = {{NULL, 0}, {NULL, 0}};
    msd_jiter it;
    msd_jval k, v;
    msd_json_iter(entry, &it); /* yields nothing unless entry is an object */
    while ((!r.name.n || !r.alive.n) && msd_json_next(&it, &k, &v)) {
        if (!r.name.n && msd_json_string_is(k, "name"))
            r.name = v;
        else if (!r.alive.n && msd_json_string_is(k, "alive"))
            r.alive = v;
    }
    return r;
}

void msd_types_begin(const msd_msg *stats, msd_types_iter *ti)
{
    ti->m = stats;
    ti->i = 0;
    if (stats)
        ti->rest = stats->types_rest;
    else
        ti->rest = (msd_jiter){NULL, NULL, false};
}

bool msd_types_next(msd_types_iter *ti, msd_type_ref *out)
{
    if (!ti->m)
        return false;
    if (ti->i < ti->m->ntypes_noted) {
        *out = ti->m->type_refs[ti->i++];
        return true;
    }
    msd_jval v;
    if (ti->m->ntypes_noted < MSD_MSG_TYPES || !msd_json_next(&ti->rest, NULL, &v))
        return false;
    *out = msd_type_ref_of(v);
    return true;
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
    /* One pass that accepts exactly what cJSON accepts (json.h), so the errors below are the ones a cJSON parse
     * gave, whichever way the message is read afterwards. */
    const char *text = (const char *)payload;
    size_t end;
    bool strict;
    if (msd_json_check(text, len, &end, &strict) < 0)
        return fail(err, errlen, "payload is not valid JSON");
    /* Only whitespace may follow the value. */
    for (size_t i = end; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
            return fail(err, errlen, "trailing bytes after the JSON value");
    /* The value: after an optional BOM (only when len > 4, as cJSON) and whitespace, up to end. */
    size_t start = len > 4 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (start < end && (unsigned char)text[start] <= 0x20)
        start++;
    msd_jval doc = {text + start, end - start};
    if (msd_json_kind(doc) != MSD_J_OBJECT)
        return fail(err, errlen, "payload is not a JSON object");
    msd_jval type = msd_json_get(doc, "type");
    if (msd_json_kind(type) != MSD_J_STRING)
        return fail(err, errlen, "message without a string \"type\"");
    out->raw = text;
    out->raw_len = len;
    out->doc = doc;
    out->strict = strict;
    /* Stats, one per app per interval, are read in place; the rare other messages get a cJSON tree. */
    if (msd_json_string_is(type, "stats")) {
        out->type = MSD_MSG_STATS;
        int rc = parse_stats(out, err, errlen);
        if (rc < 0)
            memset(out, 0, sizeof(*out));
        return rc;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j) /* out of memory: the text itself was checked */
        return fail(err, errlen, "payload is not valid JSON");
    out->json = j;
    int rc = 0;
    if (msd_json_string_is(type, "hello")) {
        out->type = MSD_MSG_HELLO;
        rc = parse_hello(out, err, errlen);
    } else if (msd_json_string_is(type, "reply")) {
        out->type = MSD_MSG_REPLY;
        rc = parse_reply(out, err, errlen);
    } else if (msd_json_string_is(type, "bye")) {
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

/* The values of the first members of object obj named names[i] (n == 0 when absent), in one walk. */
static void pick(msd_jval obj, const char *const *names, msd_jval *out, size_t n)
{
    msd_jiter it;
    msd_jval k, v;
    size_t left = n;
    for (size_t i = 0; i < n; i++)
        out[i] = (msd_jval){NULL, 0};
    if (msd_json_kind(obj) != MSD_J_OBJECT)
        return;
    msd_json_iter(obj, &it);
    while (left && msd_json_next(&it, &k, &v)) {
        char key[24]; /* longer than every name: a longer key cannot match even when cut */
        msd_json_string(k, key, sizeof(key));
        for (size_t i = 0; i < n; i++)
            if (!out[i].n && strcmp(key, names[i]) == 0) {
                out[i] = v;
                left--;
                break;
            }
    }
}

/* A finite number, else 0 (missing members read as 0). */
static double num(msd_jval v)
{
    double d;
    return msd_json_number(v, &d) && isfinite(d) ? d : 0.0;
}

void msd_sample_from_stats(const msd_msg *stats, msd_sample *out)
{
    static const char *const heap_names[] = {"pool_bytes_in_use", "system_bytes_in_use"};
    static const char *const gc_names[] = {"pause_total_ns", "pause_max_ns", "garbage", "generations"};
    msd_jval heap[2], gc[4];
    pick(stats->heap, heap_names, heap, 2);
    pick(stats->gc, gc_names, gc, 4);
    out->pool_bytes = num(heap[0]);
    out->system_bytes = num(heap[1]);
    out->objects_alive = num(msd_json_get(stats->refcount, "objects_alive"));
    out->pause_total_ns = num(gc[0]);
    out->pause_max_ns = num(gc[1]);
    out->garbage = num(gc[2]);
    msd_jiter it;
    msd_jval g;
    size_t i = 0;
    msd_json_iter(gc[3], &it); /* yields nothing unless generations is an array */
    for (; i < 3 && msd_json_next(&it, NULL, &g); i++)
        out->collections[i] = num(msd_json_get(g, "collections"));
    for (; i < 3; i++)
        out->collections[i] = 0;
}

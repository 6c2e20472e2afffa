/*
 * daemon/message.c — parsing and validating the wire protocol's messages (see message.h). Entry point:
 * msd_msg_parse(); read parse_top() first: every byte an agent sends passes through it once.
 *
 * parse_top() walks the top-level object with the pull parser (json.h). It reads the stats sections it knows
 * into the model as it meets them — each section by a field table generated from common/stats_schema.h — and
 * steps over everything else, noting where each member lies. Only when the walk is over is the message's type
 * known (an agent may send "type" last), so the spans noted on the way are turned into the model's `body`
 * afterwards, and a message of another type is then parsed again by cJSON (a few per connection).
 *
 * Errors in the stats sections are collected during the walk and reported afterwards in a fixed order —
 * section by section (heap, pools, refcount, types, gc, trace), then type names, then gc.generations — so the
 * message an agent gets does not depend on the order of its members.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "message.h"

static int fail(char *err, size_t errlen, const char *why)
{
    if (errlen)
        snprintf(err, errlen, "%s", why);
    return -EPROTO;
}

/* ---- Field tables ------------------------------------------------------------------------------------------ */

typedef struct field {
    const char *name;
    size_t len;
    size_t off;   /* of the double in its section struct */
    bool boolean; /* a boolean member (1 or 0; a number is taken too), else a number (a boolean is not) */
} field;

#define F_heap(n) {#n, sizeof(#n) - 1, offsetof(msd_heap, n), false},
#define F_pool(n) {#n, sizeof(#n) - 1, offsetof(msd_pool, n), false},
#define F_refcount(n) {#n, sizeof(#n) - 1, offsetof(msd_refcount, n), false},
#define F_type(n) {#n, sizeof(#n) - 1, offsetof(msd_type, n), false},
#define F_gen(n) {#n, sizeof(#n) - 1, offsetof(msd_gen, n), false},
#define F_gc(n) {#n, sizeof(#n) - 1, offsetof(msd_gc, n), false},
#define B_gc(n) {#n, sizeof(#n) - 1, offsetof(msd_gc, n), true},
#define F_trace(n) {#n, sizeof(#n) - 1, offsetof(msd_trace, n), false},
#define B_trace(n) {#n, sizeof(#n) - 1, offsetof(msd_trace, n), true},
#define F_top(n) {#n, sizeof(#n) - 1, offsetof(msd_stats, n), false},
static const field heap_fields[] = {MSC_STATS_HEAP(F_heap)};
static const field pool_fields[] = {MSC_STATS_POOL(F_pool)};
static const field refcount_fields[] = {MSC_STATS_REFCOUNT(F_refcount)};
static const field type_fields[] = {MSC_STATS_TYPE(F_type)};
static const field gen_fields[] = {MSC_STATS_GEN(F_gen)};
static const field gc_fields[] = {MSC_STATS_GC(F_gc) MSC_STATS_GC_BOOLS(B_gc)};
static const field trace_fields[] = {MSC_STATS_TRACE(F_trace) MSC_STATS_TRACE_BOOLS(B_trace)};
static const field top_fields[] = {MSC_STATS_TOP(F_top)};
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NFIELDS(heap_fields) <= 64 && NFIELDS(gen_fields) <= 64, "a section's seen-mask has 64 bits");

/* The index of the field whose name key decodes to, or -1. Agents send a section's members in the schema's
 * order, so the field after the previous one (*hint) is tried first: one comparison per member usually. */
static int find_field(const field *f, size_t n, msd_jval key, size_t *hint)
{
    /* Without a backslash the token's bytes are the name: compare them directly. */
    bool plain = key.n >= 2 && memchr(key.p + 1, '\\', key.n - 2) == NULL;
    size_t klen = key.n - 2;
    for (size_t k = 0; k < n; k++) {
        size_t i = (*hint + k) % n;
        bool eq = plain ? f[i].len == klen && memcmp(key.p + 1, f[i].name, klen) == 0
                        : msd_json_string_is(key, f[i].name);
        if (eq) {
            *hint = i + 1;
            return (int)i;
        }
    }
    return -1;
}

/* A member's value into field i of base, when it is a finite number (or, for a boolean field, a boolean: 1 or
 * 0); anything else is stepped over and leaves NAN. As cJSON_GetObjectItem did, the first member of a name
 * counts (*seen). */
static void read_field(msd_jp *jp, const field *f, int i, void *base, uint64_t *seen)
{
    double d;
    if (i < 0 || (*seen >> i & 1) || !msd_jp_number(jp, &d, f[i].boolean)) {
        msd_jp_skip(jp, NULL);
    } else {
        *(double *)(void *)((char *)base + f[i].off) = isfinite(d) ? d : NAN;
    }
    if (i >= 0)
        *seen |= 1ull << i;
}

/* The members of the object at the cursor into base's fields. The caller has checked it is an object. */
static void read_object(msd_jp *jp, const field *f, size_t n, void *base)
{
    msd_jval key;
    uint64_t seen = 0;
    size_t hint = 0;
    msd_jp_object(jp);
    while (msd_jp_member(jp, &key))
        read_field(jp, f, find_field(f, n, key, &hint), base, &seen);
}

/* ---- The stats sections ---------------------------------------------------------------------------------------- */

enum { S_HEAP, S_POOLS, S_REFCOUNT, S_TYPES, S_GC, S_TRACE, NSECTIONS };
static const struct {
    const char *name;
    bool array; /* an array of objects, else an object */
} sections[NSECTIONS] = {
    [S_HEAP] = {"heap", false}, [S_POOLS] = {"pools", true}, [S_REFCOUNT] = {"refcount", false},
    [S_TYPES] = {"types", true}, [S_GC] = {"gc", false},     [S_TRACE] = {"trace", false},
};

typedef enum sec_error { SEC_OK, SEC_KIND, SEC_NOT_OBJECTS } sec_error;

/* What the walk learned that is reported only once the type is known. */
typedef struct walk {
    msd_stats *m;
    bool seen[NSECTIONS];
    sec_error errors[NSECTIONS];
    bool names_bad; /* an entry of "types" without a string "name" */
    bool gens_bad;  /* gc.generations is not an array */
} walk;

/* One entry of "types": its first "name" (decoded into the name store) and its numbers. Returns false when
 * out of memory. */
static bool read_type(msd_jp *jp, walk *w)
{
    msd_stats *m = w->m;
    msd_type *t = msd_stats_add_type(m);
    if (!t)
        return false;
    size_t name_at = m->names.len;
    bool named = false, name_seen = false;
    msd_jval key, tok;
    uint64_t seen = 0;
    size_t hint = 0;
    msd_jp_object(jp);
    while (msd_jp_member(jp, &key)) {
        if (!name_seen && msd_json_string_is(key, "name")) {
            name_seen = true;
            if (!msd_jp_string(jp, &tok)) {
                msd_jp_skip(jp, NULL);
                continue;
            }
            /* The decoded name is never longer than its token. */
            if (msc_buf_reserve(&m->names, tok.n + 1) < 0)
                return false;
            size_t n = msd_json_string(tok, msc_buf_tail(&m->names), tok.n + 1);
            msc_buf_commit(&m->names, n + 1);
            named = true;
            continue;
        }
        read_field(jp, type_fields, find_field(type_fields, NFIELDS(type_fields), key, &hint), t, &seen);
    }
    if (!named) {
        w->names_bad = true;
        if (msc_buf_append(&m->names, "", 1) < 0) /* a name the entry still has, never read */
            return false;
    }
    /* Until the walk ends, a name is its offset in the store (which moves as it grows): msd_msg_parse() turns
     * the offsets into pointers at the end. */
    t->name = (const char *)(uintptr_t)name_at;
    return true;
}

static bool read_pool(msd_jp *jp, walk *w)
{
    msd_stats *m = w->m;
    msd_pool *p = msd_stats_add_pool(m);
    if (!p)
        return false;
    read_object(jp, pool_fields, NFIELDS(pool_fields), p);
    return true;
}

/* An array section: every element must be an object (else SEC_NOT_OBJECTS; the others are still read). */
static bool read_array(msd_jp *jp, walk *w, int s, bool (*entry)(msd_jp *, walk *))
{
    msd_jp_array(jp);
    while (msd_jp_element(jp)) {
        if (msd_jp_peek(jp) != MSD_J_OBJECT) {
            w->errors[s] = SEC_NOT_OBJECTS;
            msd_jp_skip(jp, NULL);
        } else if (!entry(jp, w)) {
            return false;
        }
    }
    return true;
}

static void read_gc(msd_jp *jp, walk *w)
{
    msd_gc *gc = &w->m->gc;
    msd_jval key;
    uint64_t seen = 0;
    size_t hint = 0;
    bool gens_seen = false;
    msd_jp_object(jp);
    while (msd_jp_member(jp, &key)) {
        if (gens_seen || !msd_json_string_is(key, "generations")) {
            read_field(jp, gc_fields, find_field(gc_fields, NFIELDS(gc_fields), key, &hint), gc, &seen);
            continue;
        }
        gens_seen = true;
        if (msd_jp_peek(jp) != MSD_J_ARRAY) {
            w->gens_bad = true;
            msd_jp_skip(jp, NULL);
            continue;
        }
        msd_jp_array(jp);
        while (msd_jp_element(jp)) {
            if (gc->ngens < MSC_STATS_GENERATIONS && msd_jp_peek(jp) == MSD_J_OBJECT)
                read_object(jp, gen_fields, NFIELDS(gen_fields), &gc->gens[gc->ngens]);
            else
                msd_jp_skip(jp, NULL);
            if (gc->ngens < MSC_STATS_GENERATIONS)
                gc->ngens++;
        }
    }
}

/* The value of section s at the cursor (its first occurrence). Returns false when out of memory. */
static bool read_section(msd_jp *jp, walk *w, int s)
{
    msd_stats *m = w->m;
    msd_jkind k = msd_jp_peek(jp);
    if (k != (sections[s].array ? MSD_J_ARRAY : MSD_J_OBJECT)) {
        w->errors[s] = SEC_KIND;
        msd_jp_skip(jp, NULL);
        return true;
    }
    m->sections |= 1u << s;
    switch (s) {
    case S_HEAP: read_object(jp, heap_fields, NFIELDS(heap_fields), &m->heap); return true;
    case S_REFCOUNT: read_object(jp, refcount_fields, NFIELDS(refcount_fields), &m->refcount); return true;
    case S_TRACE: read_object(jp, trace_fields, NFIELDS(trace_fields), &m->trace); return true;
    case S_GC: read_gc(jp, w); return true;
    case S_POOLS: return read_array(jp, w, s, read_pool);
    default: return read_array(jp, w, s, read_type);
    }
}

_Static_assert(MSD_SEC_HEAP == 1 << S_HEAP && MSD_SEC_POOLS == 1 << S_POOLS && MSD_SEC_REFCOUNT == 1 << S_REFCOUNT &&
                   MSD_SEC_TYPES == 1 << S_TYPES && MSD_SEC_GC == 1 << S_GC && MSD_SEC_TRACE == 1 << S_TRACE,
               "section bits follow the section table");

/* The index of the section named by key, or -1. */
static int section_of(msd_jval key)
{
    for (int s = 0; s < NSECTIONS; s++)
        if (msd_json_string_is(key, sections[s].name))
            return s;
    return -1;
}

/* Members the document does not copy: the message type, and the names the daemon sets itself. */
static bool daemon_member(msd_jval key)
{
    static const char *const names[] = {"type", "id", "pid", "name", "time"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (msd_json_string_is(key, names[i]))
            return true;
    return false;
}

/* ---- The walk -------------------------------------------------------------------------------------------------- */

/* Where a top-level member lies, for the body: its name's token, and its value [val, end). */
typedef struct span {
    msd_jval key;
    const char *val, *end;
    bool spaced; /* whitespace between or inside the tokens: compact it */
} span;
#define SPANS 64 /* the members noted during the walk; a message with more is walked again for its body */

/* Appends the member to the body: `,"key":value` without whitespace. */
static int body_member(msc_buf *body, const span *s)
{
    if (msc_buf_putc(body, ',') < 0)
        return -ENOMEM;
    if (!s->spaced) /* "key":value as sent */
        return msc_buf_append(body, s->key.p, (size_t)(s->end - s->key.p)) < 0 ? -ENOMEM : 0;
    if (msc_buf_append(body, s->key.p, s->key.n) < 0 || msc_buf_putc(body, ':') < 0 ||
        msd_json_compact((msd_jval){s->val, (size_t)(s->end - s->val)}, body) < 0)
        return -ENOMEM;
    return 0;
}

/* Builds the body from every member but the daemon's own, walking the (valid) text again. */
static int body_rewalk(const char *text, size_t len, msc_buf *body)
{
    msd_jp jp;
    msd_jval key, val;
    msd_jp_init(&jp, text, len);
    msd_jp_object(&jp);
    for (;;) {
        jp.spaced = false;
        if (!msd_jp_member(&jp, &key))
            break;
        msd_jp_skip(&jp, &val);
        if (daemon_member(key))
            continue;
        span s = {key, val.p, val.p + val.n, jp.spaced};
        if (body_member(body, &s) < 0)
            return -ENOMEM;
    }
    return 0;
}

typedef struct top {
    msd_jval type;  /* the first "type" member's value: a string token, or n == 0 */
    bool type_seen;
    span spans[SPANS];
    size_t nspans, nmembers;
    bool oom;
} top;

/* The walk over the top-level object (the cursor at its '{'). */
static void parse_top(msd_jp *jp, walk *w, top *t)
{
    msd_jval key;
    uint64_t seen = 0;
    size_t hint = 0;
    msd_jp_object(jp);
    for (;;) {
        jp->spaced = false; /* from the comma before the member: whitespace anywhere in it is seen */
        if (!msd_jp_member(jp, &key))
            break;
        msd_jp_peek(jp);
        const char *val = (const char *)jp->p;
        int s = section_of(key);
        if (s >= 0 && !w->seen[s]) {
            w->seen[s] = true;
            if (!read_section(jp, w, s))
                t->oom = true, msd_jp_fail(jp, "out of memory");
        } else if (!t->type_seen && msd_json_string_is(key, "type")) {
            t->type_seen = true;
            if (!msd_jp_string(jp, &t->type))
                msd_jp_skip(jp, NULL);
        } else {
            int f = find_field(top_fields, NFIELDS(top_fields), key, &hint);
            read_field(jp, top_fields, f, w->m, &seen);
        }
        if (daemon_member(key))
            continue;
        if (t->nspans < SPANS)
            t->spans[t->nspans++] = (span){key, val, (const char *)jp->p, jp->spaced};
        t->nmembers++;
    }
}

/* The errors of a stats message, in the fixed order (see the top of the file); 0 when there are none. */
static int stats_errors(const walk *w, char *err, size_t errlen)
{
    for (int s = 0; s < NSECTIONS; s++) {
        if (w->errors[s] == SEC_KIND) {
            snprintf(err, errlen, "stats: \"%s\" must be %s", sections[s].name, sections[s].array ? "an array" : "an object");
            return -EPROTO;
        }
        if (w->errors[s] == SEC_NOT_OBJECTS) {
            snprintf(err, errlen, "stats: \"%s\" must hold objects", sections[s].name);
            return -EPROTO;
        }
    }
    if (w->names_bad)
        return fail(err, errlen, "stats: every entry of \"types\" needs a string \"name\"");
    if (w->gens_bad)
        return fail(err, errlen, "stats: \"gc.generations\" must be an array");
    return 0;
}

/* ---- The other messages (a cJSON tree) ------------------------------------------------------------------------- */

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
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > MSC_APP_NAME_MAX)
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

static int parse_tree(const char *text, size_t len, msd_jval type, msd_msg *out, char *err, size_t errlen)
{
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j) /* the text is valid JSON: only memory can be missing */
        return fail(err, errlen, "daemon out of memory while parsing a message");
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

int msd_msg_parse(const uint8_t *payload, size_t len, msd_stats *model, msd_msg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (errlen)
        err[0] = '\0';
    const char *text = (const char *)payload;
    msd_stats_reset(model);
    walk w = {.m = model};
    top t = {.nspans = 0};
    msd_jp jp;
    msd_jp_init(&jp, text, len);
    msd_jkind k = msd_jp_peek(&jp);
    if (k == MSD_J_OBJECT)
        parse_top(&jp, &w, &t);
    else
        msd_jp_skip(&jp, NULL);
    if (t.oom)
        return fail(err, errlen, "daemon out of memory while reading stats");
    if (msd_jp_finish(&jp) && k != MSD_J_OBJECT)
        return fail(err, errlen, "payload is not a JSON object");
    if (jp.err.reason) {
        if (strcmp(jp.err.reason, "trailing bytes after the JSON value") == 0)
            return fail(err, errlen, jp.err.reason);
        if (errlen)
            snprintf(err, errlen, "payload is not valid JSON: %s (byte %zu)", jp.err.reason, jp.err.at);
        return -EPROTO;
    }
    if (!t.type.n)
        return fail(err, errlen, "message without a string \"type\"");
    if (!msd_json_string_is(t.type, "stats"))
        return parse_tree(text, len, t.type, out, err, errlen);

    int rc = stats_errors(&w, err, errlen);
    if (rc < 0)
        return rc;
    /* The names' offsets become pointers now that the store has stopped moving. */
    for (size_t i = 0; i < model->ntypes; i++)
        model->types[i].name = model->names.data + (uintptr_t)model->types[i].name;
    for (size_t i = 0; i < t.nspans && rc == 0; i++)
        rc = body_member(&model->body, &t.spans[i]);
    if (rc == 0 && t.nmembers > SPANS) {
        msc_buf_clear(&model->body);
        rc = body_rewalk(text, len, &model->body);
    }
    if (rc < 0)
        return fail(err, errlen, "daemon out of memory while reading stats");
    out->type = MSD_MSG_STATS;
    out->stats = model;
    return 0;
}

void msd_msg_free(msd_msg *m)
{
    cJSON_Delete(m->json);
    memset(m, 0, sizeof(*m));
}

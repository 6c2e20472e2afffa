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
 * section by section (heap, pools, refcount, types, gc, trace, cycles), then type names, then cycle keys, then
 * gc.generations — so the message an agent gets does not depend on the order of its members.
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

/* What a member of a section is to the walk. */
typedef enum field_kind {
    K_NUMBER,  /* a finite number into the double at off (anything else: NAN) */
    K_BOOL,    /* a boolean (1 or 0) or a number into the double at off */
    K_NAME,    /* types[].name: a string */
    K_GENS,    /* gc.generations: an array of objects */
    K_SECTION, /* top level: the section numbered off (S_*) */
    K_TYPE,    /* top level: "type" */
    K_DAEMON,  /* top level: a member the daemon sets itself in documents (id, pid, name, time): not copied */
} field_kind;

typedef struct field {
    const char *name;
    unsigned char len;
    unsigned char kind;
    unsigned short off;
} field;

enum { S_HEAP, S_POOLS, S_REFCOUNT, S_TYPES, S_GC, S_TRACE, S_CYCLES, NSECTIONS };
static const struct {
    const char *name;
    bool array; /* an array of objects, else an object */
} sections[NSECTIONS] = {
    [S_HEAP] = {"heap", false}, [S_POOLS] = {"pools", true}, [S_REFCOUNT] = {"refcount", false},
    [S_TYPES] = {"types", true}, [S_GC] = {"gc", false},     [S_TRACE] = {"trace", false},
    [S_CYCLES] = {"cycles", true},
};

#define FIELD(n, kind, off) {#n, sizeof(#n) - 1, kind, (unsigned short)(off)},
#define F_heap(n) FIELD(n, K_NUMBER, offsetof(msd_heap, n))
#define F_pool(n) FIELD(n, K_NUMBER, offsetof(msd_pool, n))
#define F_refcount(n) FIELD(n, K_NUMBER, offsetof(msd_refcount, n))
#define F_type(n) FIELD(n, K_NUMBER, offsetof(msd_type, n))
#define F_gen(n) FIELD(n, K_NUMBER, offsetof(msd_gen, n))
#define F_gc(n) FIELD(n, K_NUMBER, offsetof(msd_gc, n))
#define B_gc(n) FIELD(n, K_BOOL, offsetof(msd_gc, n))
#define F_trace(n) FIELD(n, K_NUMBER, offsetof(msd_trace, n))
#define B_trace(n) FIELD(n, K_BOOL, offsetof(msd_trace, n))
#define F_top(n) FIELD(n, K_NUMBER, offsetof(msd_stats, n))
#define F_cycle(n) FIELD(n, K_NUMBER, offsetof(msd_cycle, n))
static const field heap_fields[] = {MSC_STATS_HEAP(F_heap)};
static const field pool_fields[] = {MSC_STATS_POOL(F_pool)};
static const field refcount_fields[] = {MSC_STATS_REFCOUNT(F_refcount)};
static const field type_fields[] = {FIELD(name, K_NAME, 0) MSC_STATS_TYPE(F_type)};
static const field gen_fields[] = {MSC_STATS_GEN(F_gen)};
static const field gc_fields[] = {MSC_STATS_GC_BOOLS(B_gc) FIELD(generations, K_GENS, 0) MSC_STATS_GC(F_gc)};
static const field trace_fields[] = {MSC_STATS_TRACE_BOOLS(B_trace) MSC_STATS_TRACE(F_trace)};
static const field cycle_fields[] = {FIELD(key, K_NAME, 0) MSC_STATS_CYCLE(F_cycle)};
static const field top_fields[] = {
    FIELD(type, K_TYPE, 0) MSC_STATS_TOP(F_top)
    FIELD(heap, K_SECTION, S_HEAP) FIELD(pools, K_SECTION, S_POOLS) FIELD(refcount, K_SECTION, S_REFCOUNT)
    FIELD(types, K_SECTION, S_TYPES) FIELD(gc, K_SECTION, S_GC) FIELD(trace, K_SECTION, S_TRACE)
    FIELD(cycles, K_SECTION, S_CYCLES)
    FIELD(id, K_DAEMON, 0) FIELD(pid, K_DAEMON, 0) FIELD(name, K_DAEMON, 0) FIELD(time, K_DAEMON, 0)
};
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NFIELDS(heap_fields) <= 64 && NFIELDS(top_fields) <= 64, "a section's seen-mask has 64 bits");

/* A table and the walk's place in it. Agents send a section's members in the schema's order, so the field after
 * the previous one (hint) is tried first: one comparison per member usually. As cJSON_GetObjectItem did, the
 * first member of a name counts (seen). */
typedef struct lookup {
    const field *f;
    size_t n, hint;
    uint64_t seen;
} lookup;
#define LOOKUP(table) {table, NFIELDS(table), 0, 0}

/* Field i was found: the next guess is the field after it. Returns i, or -1 when i was seen before. */
static int take(lookup *l, size_t i)
{
    l->hint = i + 1 < l->n ? i + 1 : 0;
    if (l->seen >> i & 1)
        return -1;
    l->seen |= 1ull << i;
    return (int)i;
}

/* The index of the field the member named by key is, or -1 (unknown, or seen before), trying the hint first.
 * escaped: the key token has a backslash (msd_jp's flag right after it read the key). */
static int find_field(lookup *l, bool escaped, msd_jval key)
{
    size_t klen = key.n - 2;
    for (size_t k = 0; k < l->n; k++) {
        size_t i = l->hint + k < l->n ? l->hint + k : l->hint + k - l->n;
        const field *f = &l->f[i];
        /* Without a backslash the token's bytes are the name: compare them directly. */
        if (!escaped ? f->len == klen && msd_bytes_eq(key.p + 1, f->name, klen) : msd_json_string_is(key, f->name))
            return take(l, i);
    }
    return -1;
}

/* The next member of the object being read (false at its end) and, in *i, its field (-1: none). The hint's
 * name is the parser's guess, so a member in the schema's order costs no lookup at all. */
static bool next_member(msd_jp *jp, lookup *l, msd_jval *key, int *i)
{
    const field *g = &l->f[l->hint];
    if (!msd_jp_member_guess(jp, g->name, g->len, key))
        return false;
    *i = jp->guessed ? take(l, l->hint) : find_field(l, jp->escaped, *key);
    return true;
}

/* A K_NUMBER or K_BOOL member's value into base, else the value is stepped over and the field stays NAN. */
static void read_number(msd_jp *jp, const field *f, void *base)
{
    double d;
    if (msd_jp_number(jp, &d, f->kind == K_BOOL))
        *(double *)(void *)((char *)base + f->off) = isfinite(d) ? d : NAN;
    else
        msd_jp_skip(jp, NULL);
}

/* ---- The stats sections ---------------------------------------------------------------------------------------- */

typedef enum sec_error { SEC_OK, SEC_KIND, SEC_NOT_OBJECTS } sec_error;

/* What the walk learned that is reported only once the type is known. */
typedef struct walk {
    msd_stats *m;
    sec_error errors[NSECTIONS];
    bool names_bad; /* an entry of "types" without a string "name" */
    bool keys_bad;  /* an entry of "cycles" without a string "key" */
    bool gens_bad;  /* gc.generations is not an array */
} walk;

static bool read_members(msd_jp *jp, walk *w, const field *table, size_t n, void *base, bool *named);

/* A type's "name" (a string, else stepped over) into the name store. False when out of memory. */
static bool read_name(msd_jp *jp, walk *w, bool *named)
{
    msd_jval tok;
    msc_buf *names = &w->m->names;
    if (!msd_jp_string(jp, &tok)) { /* not a string: the entry stays without a name */
        msd_jp_skip(jp, NULL);
        return true;
    }
    /* The decoded name is never longer than its token; without a backslash it is the token's bytes. */
    if (msc_buf_reserve(names, tok.n + 1) < 0)
        return false;
    char *to = msc_buf_tail(names);
    size_t len = tok.n - 2;
    if (jp->escaped)
        len = msd_json_string(tok, to, tok.n + 1);
    else
        memcpy(to, tok.p + 1, len), to[len] = '\0';
    msc_buf_commit(names, len + 1);
    *named = true;
    return true;
}

static void read_generations(msd_jp *jp, walk *w)
{
    msd_gc *gc = &w->m->gc;
    if (msd_jp_peek(jp) != MSD_J_ARRAY) {
        w->gens_bad = true;
        msd_jp_skip(jp, NULL);
        return;
    }
    msd_jp_array(jp);
    while (msd_jp_element(jp)) {
        if (gc->ngens < MSC_STATS_GENERATIONS && msd_jp_peek(jp) == MSD_J_OBJECT)
            read_members(jp, w, gen_fields, NFIELDS(gen_fields), &gc->gens[gc->ngens], NULL);
        else
            msd_jp_skip(jp, NULL); /* an entry that is not an object keeps its fields NAN */
        if (gc->ngens < MSC_STATS_GENERATIONS)
            gc->ngens++;
    }
}

/* The members of the object at the cursor (the caller has checked it is one), each read as its field says into
 * base; members the table does not have are stepped over. named: a K_NAME member was read. False when out of
 * memory. */
static bool read_members(msd_jp *jp, walk *w, const field *table, size_t n, void *base, bool *named)
{
    lookup l = {table, n, 0, 0};
    msd_jval key;
    int i;
    msd_jp_object(jp);
    while (next_member(jp, &l, &key, &i)) {
        const field *f = i < 0 ? NULL : &table[i];
        if (!f)
            msd_jp_skip(jp, NULL);
        else if (f->kind == K_GENS)
            read_generations(jp, w);
        else if (f->kind == K_NAME && !read_name(jp, w, named))
            return false;
        else if (f->kind != K_NAME)
            read_number(jp, f, base);
    }
    return true;
}

/* One entry of an array section that carries a string (a type's "name", a cycle's "key") besides its numbers: the
 * first such string decoded into the name store, where *name points (an offset until the walk ends:
 * msd_msg_parse() turns the offsets into pointers, the store moving as it grows); "" and *bad when there is none.
 * False when out of memory. */
static bool read_named(msd_jp *jp, walk *w, const field *table, size_t n, void *entry, const char **name, bool *bad)
{
    msd_stats *m = w->m;
    size_t at = m->names.len;
    bool named = false;
    if (!read_members(jp, w, table, n, entry, &named))
        return false;
    if (!named) {
        *bad = true;
        if (msc_buf_append(&m->names, "", 1) < 0) /* a name the entry still has, never read */
            return false;
    }
    *name = (const char *)(uintptr_t)at;
    return true;
}

static bool read_type(msd_jp *jp, walk *w)
{
    msd_type *t = msd_stats_add_type(w->m);
    return t && read_named(jp, w, type_fields, NFIELDS(type_fields), t, &t->name, &w->names_bad);
}

static bool read_cycle(msd_jp *jp, walk *w)
{
    msd_cycle *c = msd_stats_add_cycle(w->m);
    return c && read_named(jp, w, cycle_fields, NFIELDS(cycle_fields), c, &c->key, &w->keys_bad);
}

static bool read_pool(msd_jp *jp, walk *w)
{
    msd_pool *p = msd_stats_add_pool(w->m);
    return p && read_members(jp, w, pool_fields, NFIELDS(pool_fields), p, NULL);
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
    case S_HEAP: return read_members(jp, w, heap_fields, NFIELDS(heap_fields), &m->heap, NULL);
    case S_REFCOUNT: return read_members(jp, w, refcount_fields, NFIELDS(refcount_fields), &m->refcount, NULL);
    case S_TRACE: return read_members(jp, w, trace_fields, NFIELDS(trace_fields), &m->trace, NULL);
    case S_GC: return read_members(jp, w, gc_fields, NFIELDS(gc_fields), &m->gc, NULL);
    case S_POOLS: return read_array(jp, w, s, read_pool);
    case S_CYCLES: return read_array(jp, w, s, read_cycle);
    default: return read_array(jp, w, s, read_type);
    }
}

_Static_assert(MSD_SEC_HEAP == 1 << S_HEAP && MSD_SEC_POOLS == 1 << S_POOLS && MSD_SEC_REFCOUNT == 1 << S_REFCOUNT &&
                   MSD_SEC_TYPES == 1 << S_TYPES && MSD_SEC_GC == 1 << S_GC && MSD_SEC_TRACE == 1 << S_TRACE &&
                   MSD_SEC_CYCLES == 1 << S_CYCLES,
               "section bits follow the section table");

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

/* True for the members the document does not copy: the message type, and the names the daemon sets itself. */
static bool daemon_member(bool escaped, msd_jval key)
{
    lookup l = LOOKUP(top_fields);
    int i = find_field(&l, escaped, key);
    return i >= 0 && (top_fields[i].kind == K_TYPE || top_fields[i].kind == K_DAEMON);
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
        bool skip = daemon_member(jp.escaped, key);
        msd_jp_skip(&jp, &val);
        if (skip)
            continue;
        span s = {key, val.p, val.p + val.n, jp.spaced};
        if (body_member(body, &s) < 0)
            return -ENOMEM;
    }
    return 0;
}

typedef struct top {
    msd_jval type;  /* the first "type" member's value: a string token, or n == 0 */
    span spans[SPANS];
    size_t nspans, nmembers;
    bool oom;
} top;

/* The walk over the top-level object (the cursor at its '{'). */
static void parse_top(msd_jp *jp, walk *w, top *t)
{
    lookup l = LOOKUP(top_fields);
    msd_jval key;
    msd_jp_object(jp);
    for (;;) {
        jp->spaced = false; /* from the comma before the member: whitespace anywhere in it is seen */
        int i;
        if (!next_member(jp, &l, &key, &i))
            break;
        bool escaped = jp->escaped;
        msd_jp_peek(jp);
        const char *val = (const char *)jp->p;
        field_kind kind = i < 0 ? K_NUMBER : (field_kind)top_fields[i].kind;
        if (i < 0) {
            msd_jp_skip(jp, NULL);
        } else if (kind == K_SECTION) {
            if (!read_section(jp, w, top_fields[i].off))
                t->oom = true, msd_jp_fail(jp, "out of memory");
        } else if (kind == K_TYPE) {
            if (!msd_jp_string(jp, &t->type))
                msd_jp_skip(jp, NULL);
        } else if (kind == K_NUMBER) {
            read_number(jp, &top_fields[i], w->m);
        } else {
            msd_jp_skip(jp, NULL);
        }
        /* A repeated daemon member (found no more: seen) is not copied either. */
        if (kind == K_TYPE || kind == K_DAEMON || (i < 0 && daemon_member(escaped, key)))
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
    if (w->keys_bad)
        return fail(err, errlen, "stats: every entry of \"cycles\" needs a string \"key\"");
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
    for (size_t i = 0; i < model->ncycles; i++)
        model->cycles[i].key = model->names.data + (uintptr_t)model->cycles[i].key;
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

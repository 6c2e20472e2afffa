/*
 * daemon/json.c — the non-allocating JSON scanner (see json.h for the contract). Entry points: msd_json_check()
 * to validate, then msd_json_iter()/msd_json_next()/msd_json_get() and the readers to pick values out.
 *
 * The check is an iterative state machine over the bytes with an explicit stack of container kinds (one bit per
 * level, MSD_JSON_DEPTH_MAX levels), so a deeply nested input costs neither recursion nor memory. Each rule below
 * mirrors one function of cJSON 1.7 (named in the comments); where cJSON is lenient we are lenient in the same
 * way and clear *strict, so that callers can tell text they may copy verbatim into a JSON document.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef const unsigned char *uptr;

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* cJSON's whitespace is any byte <= 0x20 (NUL included); RFC 8259's is four of them. */
static uptr skip_ws(uptr p, uptr e, bool *strict)
{
    while (p < e && *p <= 0x20) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
            *strict = false;
        p++;
    }
    return p;
}

static uptr skip_ws_fast(uptr p, uptr e)
{
    while (p < e && *p <= 0x20)
        p++;
    return p;
}

/* Byte classes, so that the hot loops test one table entry per byte. */
enum { C_NUM = 1, C_STR_STOP = 2, C_SKIP_STOP = 4 };
static const unsigned char cls[256] = {
    /* parse_string stops at a quote or a backslash; the check also notes control bytes (not strict) */
    ['"'] = C_STR_STOP | C_SKIP_STOP, ['\\'] = C_STR_STOP,
    [0x00] = C_STR_STOP, [0x01] = C_STR_STOP, [0x02] = C_STR_STOP, [0x03] = C_STR_STOP, [0x04] = C_STR_STOP,
    [0x05] = C_STR_STOP, [0x06] = C_STR_STOP, [0x07] = C_STR_STOP, [0x08] = C_STR_STOP, [0x09] = C_STR_STOP,
    [0x0a] = C_STR_STOP, [0x0b] = C_STR_STOP, [0x0c] = C_STR_STOP, [0x0d] = C_STR_STOP, [0x0e] = C_STR_STOP,
    [0x0f] = C_STR_STOP, [0x10] = C_STR_STOP, [0x11] = C_STR_STOP, [0x12] = C_STR_STOP, [0x13] = C_STR_STOP,
    [0x14] = C_STR_STOP, [0x15] = C_STR_STOP, [0x16] = C_STR_STOP, [0x17] = C_STR_STOP, [0x18] = C_STR_STOP,
    [0x19] = C_STR_STOP, [0x1a] = C_STR_STOP, [0x1b] = C_STR_STOP, [0x1c] = C_STR_STOP, [0x1d] = C_STR_STOP,
    [0x1e] = C_STR_STOP, [0x1f] = C_STR_STOP,
    /* skipping a container stops at brackets and quotes */
    ['{'] = C_SKIP_STOP, ['['] = C_SKIP_STOP, ['}'] = C_SKIP_STOP, [']'] = C_SKIP_STOP,
    /* the bytes cJSON copies into a number */
    ['0'] = C_NUM, ['1'] = C_NUM, ['2'] = C_NUM, ['3'] = C_NUM, ['4'] = C_NUM, ['5'] = C_NUM, ['6'] = C_NUM,
    ['7'] = C_NUM, ['8'] = C_NUM, ['9'] = C_NUM, ['+'] = C_NUM, ['-'] = C_NUM, ['.'] = C_NUM, ['e'] = C_NUM,
    ['E'] = C_NUM,
};

static bool is_numchar(unsigned char c)
{
    return cls[c] & C_NUM;
}

/*
 * parse_number: cJSON (Debian's 1.7.15, whose number buffer has no fixed size) copies the whole run of
 * [0-9+-.eE] at p and lets strtod read it; the number ends where strtod stops (whatever follows must then be a
 * separator, which the caller checks). Returns how many bytes strtod takes (0: none, not a number). strtod's
 * decimal grammar is [+-]? (D+ (. D*)? | . D+) ([eE] [+-]? D+)? (its other forms, inf/nan/hex, need letters
 * outside the run). *strict stays set only for an RFC 8259 number that is the whole run:
 * -? (0 | [1-9] D*) (. D+)? ([eE] [+-]? D+)?.
 */
static size_t number_len(uptr p, uptr e, bool *strict)
{
    size_t max = (size_t)(e - p);
    /* Most numbers are plain integers: digits, then a byte that cannot continue the run. */
    size_t q = p[0] == '-';
    while (q < max && is_digit(p[q]))
        q++;
    if (q > (size_t)(p[0] == '-') && (q == max || !is_numchar(p[q]))) {
        size_t first = p[0] == '-';
        if (p[first] == '0' && q - first > 1)
            *strict = false;
        return q;
    }
    size_t run = 0;
    while (run < max && is_numchar(p[run]))
        run++;
    size_t i = 0;
    bool sign = i < run && (p[i] == '+' || p[i] == '-');
    if (sign)
        i++;
    size_t int_start = i;
    while (i < run && is_digit(p[i]))
        i++;
    size_t d1 = i - int_start, d2 = 0;
    if (i < run && p[i] == '.') {
        size_t j = i + 1;
        while (j < run && is_digit(p[j]))
            j++;
        d2 = j - i - 1;
        if (d1 + d2 == 0)
            return 0;
        if (d2 == 0) /* "1." */
            *strict = false;
        i = j;
    } else if (d1 == 0) {
        return 0;
    }
    if (i < run && (p[i] == 'e' || p[i] == 'E')) {
        size_t j = i + 1;
        if (j < run && (p[j] == '+' || p[j] == '-'))
            j++;
        size_t d3 = j;
        while (j < run && is_digit(p[j]))
            j++;
        if (j > d3)
            i = j; /* else strtod stops before the 'e' */
    }
    if ((sign && p[0] != '-') || d1 == 0 || (d1 > 1 && p[int_start] == '0') || i != run)
        *strict = false;
    return i;
}

/* parse_hex4: four hex digits; cJSON reads anything else as 0 (a leniency). */
static unsigned hex4(uptr p, bool *strict)
{
    unsigned h = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'A' && c <= 'F')
            d = 10u + c - 'A';
        else if (c >= 'a' && c <= 'f')
            d = 10u + c - 'a';
        else {
            *strict = false;
            return 0;
        }
        h = (h << 4) | d;
    }
    return h;
}

/*
 * The length of the \u escape at r (1 or 2 UTF-16 units: 6 or 12 bytes) and its code point, as
 * utf16_literal_to_utf8 reads it; 0 when cJSON refuses it: fewer than 6 bytes before the closing quote `end`, a
 * lone low surrogate, or a high surrogate not followed by \u and a low one.
 */
static size_t utf16_escape(uptr r, uptr end, unsigned long *cp, bool *strict)
{
    if (end - r < 6)
        return 0;
    unsigned c1 = hex4(r + 2, strict);
    if (c1 >= 0xDC00 && c1 <= 0xDFFF)
        return 0;
    if (c1 < 0xD800 || c1 > 0xDBFF) {
        *cp = c1;
        return 6;
    }
    if (end - (r + 6) < 6 || r[6] != '\\' || r[7] != 'u')
        return 0;
    unsigned c2 = hex4(r + 8, strict);
    if (c2 < 0xDC00 || c2 > 0xDFFF)
        return 0;
    *cp = 0x10000 + (((unsigned long)(c1 & 0x3FF) << 10) | (c2 & 0x3FF));
    return 12;
}

/*
 * parse_string, first pass: the closing quote of the string token at p (p[0] == '"'), skipping a backslash and
 * the byte after it; NULL when there is none (or a backslash is the last byte). *escaped: a backslash was seen.
 */
static uptr string_close(uptr p, uptr e, bool *escaped, bool *strict)
{
    for (uptr q = p + 1; q < e; q++) {
        while (q < e && !(cls[*q] & C_STR_STOP))
            q++;
        if (q >= e)
            break;
        unsigned char c = *q;
        if (c == '"')
            return q;
        if (c == '\\') {
            if (q + 1 >= e)
                return NULL;
            *escaped = true;
            q++;
        } else if (c < 0x20) { /* cJSON keeps raw control bytes; JSON forbids them */
            *strict = false;
        }
    }
    return NULL;
}

/* parse_string, second pass: the escapes between r and the closing quote `end`. Like cJSON, it steps over a
 * \u escape by its length whatever the first pass paired, and may read the closing quote as an escaped one. */
static bool escapes_ok(uptr r, uptr end, bool *strict)
{
    while (r < end) {
        if (*r != '\\') {
            r++;
            continue;
        }
        switch (r[1]) {
        case 'b': case 'f': case 'n': case 'r': case 't': case '"': case '\\': case '/':
            r += 2;
            break;
        case 'u': {
            unsigned long cp;
            size_t n = utf16_escape(r, end, &cp, strict);
            if (n == 0)
                return false;
            r += n;
            break;
        }
        default:
            return false;
        }
    }
    return true;
}

/* A whole string token at p: the byte after its closing quote, or NULL. */
static uptr scan_string(uptr p, uptr e, bool *strict)
{
    bool escaped = false;
    uptr q = string_close(p, e, &escaped, strict);
    if (!q || (escaped && !escapes_ok(p + 1, q, strict)))
        return NULL;
    return q + 1;
}

/* The literal at p (null, true, false) — cJSON compares the bytes and does not look at what follows. */
static size_t literal_len(uptr p, uptr e)
{
    size_t n = (size_t)(e - p);
    if (n >= 4 && memcmp(p, "null", 4) == 0)
        return 4;
    if (n >= 5 && memcmp(p, "false", 5) == 0)
        return 5;
    if (n >= 4 && memcmp(p, "true", 4) == 0)
        return 4;
    return 0;
}

int msd_json_check(const char *text, size_t len, size_t *end, bool *strict)
{
    uptr p = (uptr)text, e = p + len;
    uint8_t stack[(MSD_JSON_DEPTH_MAX + 7) / 8]; /* bit set: that level is an object */
    size_t depth = 0;
    bool ok = true;
    if (len > 4 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) /* skip_utf8_bom */
        p += 3;
    p = skip_ws(p, e, &ok);
    for (;;) {
        /* A value starts at p (whitespace skipped). */
        if (p >= e)
            return -EPROTO;
        size_t n;
        switch (*p) {
        case '"':
            if (!(p = scan_string(p, e, &ok)))
                return -EPROTO;
            break;
        case '[':
        case '{': {
            bool obj = *p == '{';
            if (depth >= MSD_JSON_DEPTH_MAX)
                return -EPROTO;
            if (obj)
                stack[depth / 8] |= (uint8_t)(1u << (depth % 8));
            else
                stack[depth / 8] &= (uint8_t)~(1u << (depth % 8));
            depth++;
            p = skip_ws(p + 1, e, &ok);
            if (p < e && *p == (obj ? '}' : ']')) { /* empty */
                p++;
                depth--;
                break;
            }
            if (!obj)
                continue; /* the first element */
            goto member;
        }
        default:
            if (*p == '-' || is_digit(*p))
                n = number_len(p, e, &ok);
            else
                n = literal_len(p, e);
            if (n == 0)
                return -EPROTO;
            p += n;
            break;
        }
        /* After a value: close the containers it ends, find the next value. */
        for (;;) {
            if (depth == 0) {
                *end = (size_t)(p - (uptr)text);
                *strict = ok;
                return 0;
            }
            bool obj = stack[(depth - 1) / 8] & (1u << ((depth - 1) % 8));
            p = skip_ws(p, e, &ok);
            if (p >= e)
                return -EPROTO;
            if (*p == ',') {
                p = skip_ws(p + 1, e, &ok);
                if (obj)
                    goto member;
                break; /* the next element */
            }
            if (*p != (obj ? '}' : ']'))
                return -EPROTO;
            p++;
            depth--;
        }
        continue;
    member: /* p at a member's key (whitespace skipped) */
        if (p >= e || *p != '"' || !(p = scan_string(p, e, &ok)))
            return -EPROTO;
        p = skip_ws(p, e, &ok);
        if (p >= e || *p != ':')
            return -EPROTO;
        p = skip_ws(p + 1, e, &ok);
    }
}

/* ---- Reading checked text ------------------------------------------------------------------------------------ */

/* The byte after the value at p, or NULL. For checked text; bounded by e on any text. */
static uptr skip_value(uptr p, uptr e)
{
    if (p >= e)
        return NULL;
    bool dummy = true, esc = false;
    if (*p == '"') {
        uptr q = string_close(p, e, &esc, &dummy);
        return q ? q + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        for (; p < e; p++) {
            while (p < e && !(cls[*p] & C_SKIP_STOP))
                p++;
            if (p >= e)
                break;
            unsigned char c = *p;
            if (c == '"') {
                if (!(p = string_close(p, e, &esc, &dummy)))
                    return NULL;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return p + 1;
            }
        }
        return NULL;
    }
    size_t n = (*p == '-' || is_digit(*p)) ? number_len(p, e, &dummy) : literal_len(p, e);
    return n ? p + n : NULL;
}

msd_jkind msd_json_kind(msd_jval v)
{
    if (!v.p || v.n == 0)
        return MSD_J_NONE;
    switch (v.p[0]) {
    case '{': return MSD_J_OBJECT;
    case '[': return MSD_J_ARRAY;
    case '"': return MSD_J_STRING;
    case 'n': return MSD_J_NULL;
    case 't': case 'f': return MSD_J_BOOL;
    default: return MSD_J_NUMBER;
    }
}

bool msd_json_iter(msd_jval v, msd_jiter *it)
{
    msd_jkind k = msd_json_kind(v);
    it->p = it->end = v.p;
    it->object = k == MSD_J_OBJECT;
    if (k != MSD_J_OBJECT && k != MSD_J_ARRAY)
        return false;
    it->p = v.p + 1;
    it->end = v.p + v.n - 1; /* the closing bracket */
    return true;
}

/* Moves it to the start of the next member's key (object) or element (array); false at the end of the
 * container, with it->p left at its closing bracket (what msd_json_close() needs). */
static bool next_start(msd_jiter *it)
{
    uptr p = skip_ws_fast((uptr)it->p, (uptr)it->end), e = (uptr)it->end;
    if (p < e && *p == ',')
        p = skip_ws_fast(p + 1, e);
    it->p = (const char *)p;
    return p < e && *p != '}' && *p != ']';
}

bool msd_json_next_key(msd_jiter *it, msd_jval *key)
{
    if (!it->object || !next_start(it))
        return false;
    uptr p = (uptr)it->p, e = (uptr)it->end, k = p;
    if (*p != '"' || !(p = skip_value(p, e)))
        goto done;
    *key = (msd_jval){(const char *)k, (size_t)(p - k)};
    p = skip_ws_fast(p, e);
    if (p >= e || *p != ':')
        goto done;
    it->p = (const char *)skip_ws_fast(p + 1, e);
    return true;
done:
    it->p = it->end;
    return false;
}

bool msd_json_take_value(msd_jiter *it, msd_jval *val)
{
    uptr v = (uptr)it->p, p = skip_value(v, (uptr)it->end);
    if (!p) {
        it->p = it->end;
        return false;
    }
    *val = (msd_jval){(const char *)v, (size_t)(p - v)};
    it->p = (const char *)p;
    return true;
}

bool msd_json_next(msd_jiter *it, msd_jval *key, msd_jval *val)
{
    if (it->object) {
        msd_jval k;
        if (!msd_json_next_key(it, &k))
            return false;
        if (key)
            *key = k;
    } else {
        if (!next_start(it))
            return false;
        if (key)
            *key = (msd_jval){NULL, 0};
    }
    return msd_json_take_value(it, val);
}

bool msd_json_open(msd_jiter *it, msd_jiter *child)
{
    uptr p = (uptr)it->p;
    child->p = child->end = it->p;
    child->object = false;
    if (p >= (uptr)it->end || (*p != '{' && *p != '['))
        return false;
    child->object = *p == '{';
    child->p = (const char *)p + 1;
    child->end = it->end; /* a bound only: the walk stops at the container's own closing bracket */
    return true;
}

bool msd_json_close(msd_jiter *it, const msd_jiter *child, msd_jval *val)
{
    const char *start = it->p;
    if (child->p >= child->end || (*child->p != '}' && *child->p != ']')) {
        it->p = it->end;
        return false;
    }
    it->p = child->p + 1;
    *val = (msd_jval){start, (size_t)(it->p - start)};
    return true;
}

/*
 * Decodes string token s into buf (cap >= 1) as parse_string does, as a C string: stops at a decoded NUL, after
 * cap - 1 bytes, or at the closing quote. Returns the bytes written.
 */
static size_t decode(msd_jval s, char *buf, size_t cap)
{
    size_t w = 0;
    buf[0] = '\0';
    if (msd_json_kind(s) != MSD_J_STRING || s.n < 2)
        return 0;
    uptr r = (uptr)s.p + 1, end = (uptr)s.p + s.n - 1;
    bool dummy = true;
    while (r < end && w + 1 < cap) {
        unsigned char c = *r;
        if (c != '\\') {
            if (c == '\0')
                break;
            buf[w++] = (char)c;
            r++;
            continue;
        }
        unsigned long cp = 0;
        size_t n = 2;
        switch (r[1]) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case '"': case '\\': case '/': cp = r[1]; break;
        case 'u':
            n = utf16_escape(r, end, &cp, &dummy);
            break;
        default:
            n = 0;
            break;
        }
        if (n == 0) /* not checked text */
            break;
        if (cp == 0)
            break;
        unsigned char u[4];
        size_t un;
        if (cp < 0x80) {
            u[0] = (unsigned char)cp;
            un = 1;
        } else if (cp < 0x800) {
            u[0] = (unsigned char)(0xC0 | (cp >> 6));
            u[1] = (unsigned char)(0x80 | (cp & 0x3F));
            un = 2;
        } else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xE0 | (cp >> 12));
            u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (unsigned char)(0x80 | (cp & 0x3F));
            un = 3;
        } else {
            u[0] = (unsigned char)(0xF0 | (cp >> 18));
            u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[3] = (unsigned char)(0x80 | (cp & 0x3F));
            un = 4;
        }
        for (size_t i = 0; i < un && w + 1 < cap; i++)
            buf[w++] = (char)u[i];
        r += n;
    }
    buf[w] = '\0';
    return w;
}

bool msd_json_string(msd_jval s, char *buf, size_t cap)
{
    decode(s, buf, cap);
    return msd_json_kind(s) == MSD_J_STRING;
}

bool msd_json_string_is(msd_jval s, const char *name)
{
    size_t nl = strlen(name);
    /* Without a backslash the token's bytes are the string (NUL bytes are refused before any of this runs). */
    if (s.n == nl + 2 && s.p[0] == '"' && memchr(s.p + 1, '\\', nl) == NULL)
        return memcmp(s.p + 1, name, nl) == 0 && memchr(s.p + 1, '\0', nl) == NULL;
    char buf[64];
    if (nl + 2 > sizeof(buf) || msd_json_kind(s) != MSD_J_STRING)
        return false;
    /* One byte more than name: a longer string then differs in length. */
    return decode(s, buf, nl + 2) == nl && memcmp(buf, name, nl) == 0;
}

msd_jval msd_json_get(msd_jval obj, const char *name)
{
    msd_jiter it;
    msd_jval k, v;
    if (msd_json_kind(obj) == MSD_J_OBJECT && msd_json_iter(obj, &it))
        while (msd_json_next(&it, &k, &v))
            if (msd_json_string_is(k, name))
                return v;
    return (msd_jval){NULL, 0};
}

msd_jval msd_json_at(msd_jval arr, size_t i)
{
    msd_jiter it;
    msd_jval v;
    if (msd_json_kind(arr) == MSD_J_ARRAY && msd_json_iter(arr, &it))
        while (msd_json_next(&it, NULL, &v))
            if (i-- == 0)
                return v;
    return (msd_jval){NULL, 0};
}

bool msd_json_number(msd_jval v, double *out)
{
    if (msd_json_kind(v) != MSD_J_NUMBER)
        return false;
    bool dummy = true;
    size_t n = number_len((uptr)v.p, (uptr)v.p + v.n, &dummy);
    if (n == 0)
        return false;
    /* Up to 15 digits, an integer is exact in a double: the value strtod would round to. */
    size_t i = v.p[0] == '-';
    if (n - i >= 1 && n - i <= 15) {
        uint64_t u = 0;
        size_t j = i;
        while (j < n && is_digit((unsigned char)v.p[j]))
            u = u * 10 + (uint64_t)(v.p[j++] - '0');
        if (j == n) {
            *out = i ? -(double)u : (double)u;
            return true;
        }
    }
    /* strtod needs a NUL after the number, and v may end the buffer: a copy (on the heap only for absurdly long
     * numbers). The daemon never calls setlocale, so strtod's decimal point is '.', as in JSON. */
    char small[64], *buf = n < sizeof(small) ? small : malloc(n + 1);
    if (!buf)
        return false;
    memcpy(buf, v.p, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    return true;
}

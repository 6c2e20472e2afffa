/*
 * daemon/json.c — strict JSON without a tree (see json.h for the rules). Entry points: msd_json_check() for a
 * whole text, the msd_jp_* pull parser for reading one in a single pass, and the token readers.
 *
 * Every token is scanned by one function (scan_string, scan_number, scan_literal) that either returns the byte
 * after the token or records why the text is not JSON. msd_jp_skip() steps over a whole value with an explicit
 * stack of container kinds (one bit per level), so a deeply nested input costs neither recursion nor memory;
 * msd_json_check() is msd_jp_skip() over the whole text. Hot loops test one byte-class table entry per byte.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonstr.h"

typedef const unsigned char *uptr;

/* Byte classes: the bytes that end a run of plain string bytes, the JSON whitespace, the bytes a value starts
 * with. */
enum { C_STR = 1, C_WS = 2, C_DIGIT = 4 };
#define C_STR8 C_STR, C_STR, C_STR, C_STR, C_STR, C_STR, C_STR, C_STR
static const unsigned char cls[256] = {
    [0x00] = C_STR, [0x01] = C_STR, [0x02] = C_STR, [0x03] = C_STR, [0x04] = C_STR, [0x05] = C_STR,
    [0x06] = C_STR, [0x07] = C_STR, [0x08] = C_STR, [0x09] = C_STR | C_WS, [0x0a] = C_STR | C_WS,
    [0x0b] = C_STR, [0x0c] = C_STR, [0x0d] = C_STR | C_WS, [0x0e] = C_STR, [0x0f] = C_STR, [0x10] = C_STR,
    [0x11] = C_STR, [0x12] = C_STR, [0x13] = C_STR, [0x14] = C_STR, [0x15] = C_STR, [0x16] = C_STR,
    [0x17] = C_STR, [0x18] = C_STR, [0x19] = C_STR, [0x1a] = C_STR, [0x1b] = C_STR, [0x1c] = C_STR,
    [0x1d] = C_STR, [0x1e] = C_STR, [0x1f] = C_STR, [' '] = C_WS, ['"'] = C_STR, ['\\'] = C_STR,
    ['0'] = C_DIGIT, ['1'] = C_DIGIT, ['2'] = C_DIGIT, ['3'] = C_DIGIT, ['4'] = C_DIGIT, ['5'] = C_DIGIT,
    ['6'] = C_DIGIT, ['7'] = C_DIGIT, ['8'] = C_DIGIT, ['9'] = C_DIGIT,
    /* every byte >= 0x80 ends a plain run: it starts a UTF-8 sequence to validate */
    [0x80] = C_STR8, C_STR8, C_STR8, C_STR8, C_STR8, C_STR8, C_STR8, C_STR8,
             C_STR8, C_STR8, C_STR8, C_STR8, C_STR8, C_STR8, C_STR8, C_STR8,
};

static bool is_digit(unsigned char c)
{
    return cls[c] & C_DIGIT;
}

static bool fail_at(msd_jp *jp, uptr at, const char *reason)
{
    if (!jp->err.reason) {
        jp->err.reason = reason;
        jp->err.at = (size_t)(at - jp->start);
    }
    jp->p = jp->end; /* nothing more is read */
    return false;
}

bool msd_jp_fail(msd_jp *jp, const char *reason)
{
    return fail_at(jp, jp->p, reason);
}

/* Compact text (what agents send) has no whitespace at all: the common case is one comparison of the byte,
 * off the chain of dependent loads that scanning is. */
static uptr ws(msd_jp *jp, uptr p)
{
    uptr e = jp->end, q = p;
    if (q >= e || *q > ' ')
        return q;
    while (q < e && (cls[*q] & C_WS))
        q++;
    if (q != p)
        jp->spaced = true;
    return q;
}

static unsigned hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return 10u + c - 'a';
    if (c >= 'A' && c <= 'F')
        return 10u + c - 'A';
    return 16;
}

/* The four hex digits at p as a code unit, or -1. */
static long hex4(uptr p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned d = hex_digit(p[i]);
        if (d > 15)
            return -1;
        v = v << 4 | d;
    }
    return (long)v;
}

/*
 * The \u escape at r (r[0] == '\\', r[1] == 'u'), one or two UTF-16 units (6 or 12 bytes) before `end`: its
 * length and code point, or 0 with *why set. A high surrogate must be followed by \u and a low one.
 */
static size_t u_escape(uptr r, uptr end, unsigned long *cp, const char **why)
{
    long c1 = end - r >= 6 ? hex4(r + 2) : -1;
    if (c1 < 0) {
        *why = "\\u must be followed by four hex digits";
        return 0;
    }
    if (c1 >= 0xDC00 && c1 <= 0xDFFF) {
        *why = "a lone UTF-16 low surrogate in a \\u escape";
        return 0;
    }
    if (c1 < 0xD800 || c1 > 0xDBFF) {
        *cp = (unsigned long)c1;
        return 6;
    }
    long c2 = end - r >= 12 && r[6] == '\\' && r[7] == 'u' ? hex4(r + 8) : -1;
    if (c2 < 0xDC00 || c2 > 0xDFFF) {
        *why = "a UTF-16 high surrogate not followed by a low one";
        return 0;
    }
    *cp = 0x10000 + (((unsigned long)c1 & 0x3FF) << 10 | ((unsigned long)c2 & 0x3FF));
    return 12;
}

/* The string token at p (p[0] == '"'): the byte after its closing quote, or NULL after recording why. */
/* True when one of the 8 bytes of w is '"', '\\', a control byte or >= 0x80: one that ends a run of plain string
 * bytes (the classic has-zero-byte tests of Hacker's Delight, 6-1). */
static bool has_stop_byte(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t zero_q = (q - ones) & ~q, zero_b = (b - ones) & ~b, below_space = w - ones * 0x20;
    return ((zero_q | zero_b | below_space | w) & highs) != 0;
}

static uptr scan_string(msd_jp *jp, uptr p)
{
    uptr e = jp->end, q = p + 1;
    jp->escaped = false;
    for (;;) {
        /* Eight plain bytes at a time (names and keys are mostly plain ASCII), then byte by byte. */
        for (uint64_t w; e - q >= 8 && (memcpy(&w, q, 8), !has_stop_byte(w));)
            q += 8;
        while (q < e && !(cls[*q] & C_STR))
            q++;
        if (q >= e)
            return fail_at(jp, p, "a string is not closed"), NULL;
        unsigned char c = *q;
        if (c == '"')
            return q + 1;
        if (c == '\\') {
            jp->escaped = true;
            if (q + 1 >= e)
                return fail_at(jp, p, "a string is not closed"), NULL;
            switch (q[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                q += 2;
                break;
            case 'u': {
                unsigned long cp;
                const char *why = NULL;
                size_t n = u_escape(q, e, &cp, &why);
                if (!n)
                    return fail_at(jp, q, why), NULL;
                q += n;
                break;
            }
            default:
                return fail_at(jp, q, "an unknown escape in a string"), NULL;
            }
        } else if (c < 0x20) {
            return fail_at(jp, q, "a raw control byte in a string (escape it)"), NULL;
        } else {
            size_t n = msc_utf8_len(q, e);
            if (!n)
                return fail_at(jp, q, "invalid UTF-8 in a string"), NULL;
            q += n;
        }
    }
}

/* The number token at p: the byte after it, or NULL after recording why. */
static uptr scan_number(msd_jp *jp, uptr p)
{
    uptr e = jp->end, q = p;
    if (q < e && *q == '-')
        q++;
    if (q >= e || !is_digit(*q))
        return fail_at(jp, q, "a digit must follow '-'"), NULL;
    if (*q == '0') {
        q++;
        if (q < e && is_digit(*q))
            return fail_at(jp, q, "a leading zero in a number"), NULL;
    } else {
        while (q < e && is_digit(*q))
            q++;
    }
    if (q < e && *q == '.') {
        q++;
        if (q >= e || !is_digit(*q))
            return fail_at(jp, q, "a digit must follow the decimal point"), NULL;
        while (q < e && is_digit(*q))
            q++;
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < e && (*q == '+' || *q == '-'))
            q++;
        if (q >= e || !is_digit(*q))
            return fail_at(jp, q, "a digit must follow the exponent"), NULL;
        while (q < e && is_digit(*q))
            q++;
    }
    return q;
}

/* true, false or null at p: the byte after it, or NULL. */
static uptr scan_literal(msd_jp *jp, uptr p)
{
    size_t left = (size_t)(jp->end - p);
    if (left >= 4 && memcmp(p, "true", 4) == 0)
        return p + 4;
    if (left >= 5 && memcmp(p, "false", 5) == 0)
        return p + 5;
    if (left >= 4 && memcmp(p, "null", 4) == 0)
        return p + 4;
    return fail_at(jp, p, "a value was expected"), NULL;
}

static msd_jkind kind_of(unsigned char c)
{
    switch (c) {
    case '{': return MSD_J_OBJECT;
    case '[': return MSD_J_ARRAY;
    case '"': return MSD_J_STRING;
    case 't': case 'f': return MSD_J_BOOL;
    case 'n': return MSD_J_NULL;
    default: return c == '-' || is_digit(c) ? MSD_J_NUMBER : MSD_J_NONE;
    }
}

void msd_jp_init(msd_jp *jp, const char *text, size_t len)
{
    uptr p = (uptr)text;
    *jp = (msd_jp){.p = p, .start = p, .end = p + len};
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        jp->p += 3;
}

msd_jkind msd_jp_peek(msd_jp *jp)
{
    if (jp->err.reason)
        return MSD_J_NONE;
    jp->p = ws(jp, jp->p);
    return jp->p < jp->end ? kind_of(*jp->p) : MSD_J_NONE;
}

size_t msd_jp_offset(const msd_jp *jp)
{
    return (size_t)(jp->p - jp->start);
}

static bool open_container(msd_jp *jp, msd_jkind want)
{
    if (msd_jp_peek(jp) != want)
        return false;
    if (jp->depth >= MSD_JSON_DEPTH_MAX)
        return fail_at(jp, jp->p, "containers nested too deep");
    jp->p++;
    jp->depth++;
    jp->first = true;
    return true;
}

bool msd_jp_object(msd_jp *jp)
{
    return open_container(jp, MSD_J_OBJECT);
}

bool msd_jp_array(msd_jp *jp)
{
    return open_container(jp, MSD_J_ARRAY);
}

/* At the next member or element of the innermost container: past its comma; false (the container consumed)
 * at its closing bracket. */
static bool next_item(msd_jp *jp, unsigned char close, const char *expected)
{
    if (jp->err.reason)
        return false;
    uptr p = ws(jp, jp->p), e = jp->end;
    bool first = jp->first;
    jp->first = false;
    if (p < e && *p == close) {
        jp->p = p + 1;
        jp->depth--;
        return false;
    }
    if (!first) {
        if (p >= e || *p != ',')
            return fail_at(jp, p, p >= e ? "the text ends inside a container" : expected);
        p = ws(jp, p + 1);
    }
    jp->p = p;
    return true;
}

/* The member at p (past its comma) whose name token ends at q: its ':' and the cursor at its value. */
static bool member_colon(msd_jp *jp, uptr p, uptr q, msd_jval *key)
{
    uptr e = jp->end;
    *key = (msd_jval){(const char *)p, (size_t)(q - p)};
    q = ws(jp, q);
    if (q >= e || *q != ':')
        return fail_at(jp, q, "expected ':' after a member name");
    jp->p = ws(jp, q + 1); /* at the value: the reader that follows need not look for whitespace */
    return true;
}

/* The member whose name starts at the cursor (past its comma), scanned. */
static bool member_scan(msd_jp *jp, msd_jval *key)
{
    uptr p = jp->p;
    jp->guessed = false;
    if (p >= jp->end || *p != '"')
        return fail_at(jp, p, "expected a member name (a string)");
    uptr q = scan_string(jp, p);
    return q && member_colon(jp, p, q, key);
}

bool msd_jp_member(msd_jp *jp, msd_jval *key)
{
    if (!next_item(jp, '}', "expected ',' or '}' after an object member"))
        return (jp->guessed = false);
    return member_scan(jp, key);
}

bool msd_jp_member_guess(msd_jp *jp, const char *guess, size_t glen, msd_jval *key)
{
    if (!next_item(jp, '}', "expected ',' or '}' after an object member"))
        return (jp->guessed = false);
    uptr p = jp->p;
    /* The guess's bytes need no escape, so a token made of exactly them between quotes is that name: one
     * comparison of known bytes instead of a scan for the closing quote and a comparison after it. */
    if ((size_t)(jp->end - p) > glen + 2 && p[0] == '"' && p[glen + 1] == '"' && msd_bytes_eq(p + 1, guess, glen)) {
        jp->escaped = false;
        jp->guessed = true;
        return member_colon(jp, p, p + glen + 2, key);
    }
    return member_scan(jp, key);
}

bool msd_jp_element(msd_jp *jp)
{
    return next_item(jp, ']', "expected ',' or ']' after an array element");
}

/* Moves the cursor past a token just scanned (q: the byte after it, NULL when the scan failed) and gives its span
 * (tok may be NULL). */
static bool advance(msd_jp *jp, uptr q, msd_jval *tok)
{
    if (!q)
        return false;
    if (tok)
        *tok = (msd_jval){(const char *)jp->p, (size_t)(q - jp->p)};
    jp->p = q;
    return true;
}

/* The leading decimal digits of the 8 bytes at p (first byte lowest, as loaded on a little-endian machine): how
 * many there are (0..8) and, in *v, their value. No branch depends on the digits: numbers of every length cost
 * the same few instructions, where a loop per digit mispredicts its exit on most numbers. */
static unsigned eight_digits(uptr p, uint64_t *v)
{
    const uint64_t zeros = 0x3030303030303030ull, lows = 0x7F7F7F7F7F7F7F7Full, highs = 0x8080808080808080ull;
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t x = w ^ zeros;                                   /* digits become 0..9, in their bytes */
    uint64_t not_digit = (((x & lows) + 0x7676767676767676ull) | x) & highs; /* a byte's top bit: > 9 */
    unsigned n = not_digit ? (unsigned)__builtin_ctzll(not_digit) / 8 : 8;
    if (n == 0)
        return 0;
    x <<= 8 * (8 - n); /* the digits at the top, zeros below: the value of 8 digits is that of n */
    /* Pairs, then fours, then eight (simdjson's parse_eight_digits_unrolled). */
    x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFull;
    x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFull;
    *v = (x * 10000 + (x >> 32)) & 0xFFFFFFFFull;
    return n;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "eight_digits() reads the first byte as the lowest"
#endif

bool msd_jp_number(msd_jp *jp, double *out, bool bools)
{
    msd_jkind k = msd_jp_peek(jp);
    if (k == MSD_J_NUMBER) {
        /* Most numbers are integers of a few digits: their value as they are scanned, eight digits at a time
         * (exact up to 16 digits), when 16 bytes can be read. */
        uptr p = jp->p, e = jp->end, d = p + (*p == '-');
        if (e - d >= 16) {
            uint64_t hi, lo = 0;
            unsigned n = eight_digits(d, &hi), m = n == 8 ? eight_digits(d + 8, &lo) : 0;
            static const uint64_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
            uptr q = d + n + m;
            /* Not a leading zero (unless it is the whole integer part), not the start of a fraction or exponent,
             * not more than 16 digits: those go the long way. */
            if (n && !(*d == '0' && n + m > 1) && m < 8 && *q != '.' && (*q | 0x20) != 'e') {
                uint64_t u = hi * pow10[m] + lo;
                *out = *p == '-' ? -(double)u : (double)u;
                jp->p = q;
                return true;
            }
        }
        uptr end = scan_number(jp, p);
        if (!end)
            return false;
        *out = msd_json_number((msd_jval){(const char *)p, (size_t)(end - p)});
        jp->p = end;
        return true;
    }
    if (k != MSD_J_BOOL || !bools)
        return false;
    bool t = *jp->p == 't';
    if (!advance(jp, scan_literal(jp, jp->p), NULL))
        return false;
    *out = t;
    return true;
}

bool msd_jp_string(msd_jp *jp, msd_jval *tok)
{
    return msd_jp_peek(jp) == MSD_J_STRING && advance(jp, scan_string(jp, jp->p), tok);
}

bool msd_jp_skip(msd_jp *jp, msd_jval *span)
{
    uint8_t stack[(MSD_JSON_DEPTH_MAX + 7) / 8]; /* bit set: that level is an object */
    unsigned depth = 0;
    if (jp->err.reason)
        return false;
    uptr p = ws(jp, jp->p), e = jp->end, start = p;
    for (;;) {
        /* A value starts at p (whitespace skipped). */
        if (p >= e)
            return fail_at(jp, p, "a value was expected, the text ends");
        switch (*p) {
        case '"':
            if (!(p = scan_string(jp, p)))
                return false;
            break;
        case '{':
        case '[': {
            bool obj = *p == '{';
            if (jp->depth + depth >= MSD_JSON_DEPTH_MAX)
                return fail_at(jp, p, "containers nested too deep");
            if (obj)
                stack[depth / 8] |= (uint8_t)(1u << (depth % 8));
            else
                stack[depth / 8] &= (uint8_t) ~(1u << (depth % 8));
            depth++;
            p = ws(jp, p + 1);
            if (p < e && *p == (obj ? '}' : ']')) { /* empty */
                p++;
                depth--;
                break;
            }
            if (!obj)
                continue; /* the first element */
            goto member;
        }
        case 't': case 'f': case 'n':
            if (!(p = scan_literal(jp, p)))
                return false;
            break;
        default:
            if (kind_of(*p) != MSD_J_NUMBER)
                return fail_at(jp, p, "a value was expected");
            if (!(p = scan_number(jp, p)))
                return false;
            break;
        }
        /* After a value: close the containers it ends, find the next value. */
        for (;;) {
            if (depth == 0) {
                if (span)
                    *span = (msd_jval){(const char *)start, (size_t)(p - start)};
                jp->p = p;
                return true;
            }
            bool obj = stack[(depth - 1) / 8] & (1u << ((depth - 1) % 8));
            p = ws(jp, p);
            if (p >= e)
                return fail_at(jp, p, "the text ends inside a container");
            if (*p == ',') {
                p = ws(jp, p + 1);
                if (obj)
                    goto member;
                break; /* the next element */
            }
            if (*p != (obj ? '}' : ']'))
                return fail_at(jp, p, obj ? "expected ',' or '}' after an object member"
                                          : "expected ',' or ']' after an array element");
            p++;
            depth--;
        }
        continue;
    member: /* p at a member's name (whitespace skipped) */
        if (p >= e || *p != '"')
            return fail_at(jp, p, "expected a member name (a string)");
        if (!(p = scan_string(jp, p)))
            return false;
        p = ws(jp, p);
        if (p >= e || *p != ':')
            return fail_at(jp, p, "expected ':' after a member name");
        p = ws(jp, p + 1);
    }
}

bool msd_jp_finish(msd_jp *jp)
{
    if (jp->err.reason)
        return false;
    uptr p = ws(jp, jp->p);
    if (p != jp->end)
        return fail_at(jp, p, "trailing bytes after the JSON value");
    jp->p = p;
    return true;
}

int msd_json_check(const char *text, size_t len, size_t *end, bool *spaced, msd_json_error *err)
{
    msd_jp jp;
    msd_jp_init(&jp, text, len);
    if (!msd_jp_skip(&jp, NULL)) {
        if (err)
            *err = jp.err;
        return -EPROTO;
    }
    if (end)
        *end = msd_jp_offset(&jp);
    if (spaced)
        *spaced = jp.spaced;
    return 0;
}

/* ---- Reading validated tokens ---------------------------------------------------------------------------------- */

/* Decodes string token s into buf (cap >= 1) as a C string; returns the bytes written. The token is validated
 * text, but the loop is bounded by it on any input. */
static size_t decode(msd_jval s, char *buf, size_t cap)
{
    size_t w = 0;
    buf[0] = '\0';
    if (s.n < 2 || s.p[0] != '"')
        return 0;
    uptr r = (uptr)s.p + 1, end = (uptr)s.p + s.n - 1;
    while (r < end) {
        unsigned char c = *r;
        if (c != '\\') {
            /* A UTF-8 sequence is copied whole or not at all, so a cut name stays valid UTF-8. */
            size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (n > (size_t)(end - r) || w + n >= cap)
                break;
            memcpy(buf + w, r, n);
            w += n;
            r += n;
            continue;
        }
        unsigned long cp = 0;
        size_t n = 2;
        const char *why;
        switch (r + 1 < end ? r[1] : 0) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case '"': case '\\': case '/': cp = r[1]; break;
        case 'u': n = u_escape(r, end, &cp, &why); break;
        default: n = 0; break;
        }
        if (n == 0 || cp == 0) /* not validated text, or a \u0000: the C string ends */
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
        if (w + un >= cap)
            break;
        memcpy(buf + w, u, un);
        w += un;
        r += n;
    }
    buf[w] = '\0';
    return w;
}

size_t msd_json_string(msd_jval s, char *buf, size_t cap)
{
    return decode(s, buf, cap);
}

bool msd_json_string_is(msd_jval s, const char *name)
{
    size_t nl = strlen(name);
    /* Without a backslash the token's bytes are the string. */
    if (s.n == nl + 2 && s.p[0] == '"' && memchr(s.p + 1, '\\', nl) == NULL)
        return memcmp(s.p + 1, name, nl) == 0;
    char buf[64];
    if (nl + 2 > sizeof(buf) || s.n < 2 || s.p[0] != '"')
        return false;
    /* One byte more than name: a longer string then differs in length. */
    return decode(s, buf, nl + 2) == nl && memcmp(buf, name, nl) == 0;
}

double msd_json_number(msd_jval v)
{
    const char *p = v.p;
    size_t n = v.n, i = n && p[0] == '-';
    /* Up to 15 digits, an integer is exact in a double: the value strtod would round to. */
    if (n - i >= 1 && n - i <= 15) {
        uint64_t u = 0;
        size_t j = i;
        while (j < n && is_digit((unsigned char)p[j]))
            u = u * 10 + (uint64_t)(p[j++] - '0');
        if (j == n)
            return i ? -(double)u : (double)u;
    }
    /* strtod needs a NUL after the number, and v may end the buffer: a copy (on the heap only for absurdly long
     * numbers). The daemon never calls setlocale, so strtod's decimal point is '.', as in JSON. */
    char small[64], *buf = n < sizeof(small) ? small : malloc(n + 1);
    if (!buf)
        return NAN;
    memcpy(buf, p, n);
    buf[n] = '\0';
    double d = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    return d;
}

int msd_json_compact(msd_jval v, msc_buf *out)
{
    if (msc_buf_reserve(out, v.n) < 0)
        return -ENOMEM;
    char *w = msc_buf_tail(out);
    const char *r = v.p, *e = v.p + v.n;
    while (r < e) {
        char c = *r++;
        if (c == '"') { /* copy the string whole: its bytes are not whitespace */
            *w++ = c;
            while (r < e) {
                c = *r++;
                *w++ = c;
                if (c == '\\' && r < e)
                    *w++ = *r++;
                else if (c == '"')
                    break;
            }
        } else if (!(cls[(unsigned char)c] & C_WS)) {
            *w++ = c;
        }
    }
    msc_buf_commit(out, (size_t)(w - msc_buf_tail(out)));
    return 0;
}

/*
 * common/jsonstr.h — the one writer of JSON strings in memscope, and the one UTF-8 validator: the daemon's
 * documents (app names, type names, dict keys), its metrics labels and its JSON parser, and the .heapsnapshot
 * writer the library and the daemon share. Names come from programs and peers as whatever bytes they had; a
 * document must stay valid JSON (RFC 8259) and valid UTF-8 whatever they are, so:
 *
 *   '"' and '\\'                  escaped with a backslash
 *   control bytes (< 0x20)        \u00XX
 *   a valid UTF-8 sequence        as it is (Unicode's table 3-7: no overlong form, no surrogate, <= U+10FFFF)
 *   any other byte (>= 0x80)      U+FFFD, the replacement character (3 bytes), one per byte
 *
 * so a byte of input becomes at most 6 bytes of output. Header-only (static inline), like buf.h.
 */
#ifndef MEMSCOPE_COMMON_JSONSTR_H
#define MEMSCOPE_COMMON_JSONSTR_H

#include <stddef.h>
#include <string.h>

/* The length of the UTF-8 sequence at p (p < e, p[0] >= 0x80) if it is valid, else 0. */
static inline size_t msc_utf8_len(const unsigned char *p, const unsigned char *e)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if ((size_t)(e - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* The most bytes msc_json_str writes for n bytes of input, quotes included. */
#define MSC_JSON_STR_MAX(n) (6 * (n) + 2)

/*
 * The escaped form of the bytes *s .. e, without quotes, into out[0 .. cap): as many whole characters as fit
 * (cap >= 6 always fits one), *s advanced past them. Returns the bytes written. A caller with room for
 * 6 * (e - *s) bytes gets all of it in one call; a streaming one calls again until *s == e. O(input).
 */
static inline size_t msc_json_escape(char *out, size_t cap, const unsigned char **s, const unsigned char *e)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = *s;
    char *w = out, *end = out + cap;
    while (p < e && end - w >= 6) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *w++ = (char)c;
            p++;
        } else if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char)c;
            p++;
        } else if (c < 0x20) {
            memcpy(w, "\\u00", 4);
            w[4] = hex[c >> 4];
            w[5] = hex[c & 15];
            w += 6;
            p++;
        } else {
            size_t k = msc_utf8_len(p, e);
            if (k) {
                memcpy(w, p, k);
                w += k;
                p += k;
            } else {
                memcpy(w, "\xEF\xBF\xBD", 3);
                w += 3;
                p++;
            }
        }
    }
    *s = p;
    return (size_t)(w - out);
}

/* Bytes s[0 .. n) as one JSON string token, quotes included, into out (MSC_JSON_STR_MAX(n) bytes). Returns the
 * length written (no NUL). */
static inline size_t msc_json_str(char *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    out[0] = '"';
    size_t len = 1 + msc_json_escape(out + 1, 6 * n, &p, p + n);
    out[len++] = '"';
    return len;
}

#endif /* MEMSCOPE_COMMON_JSONSTR_H */

/*
 * daemon/json.h — strict JSON (RFC 8259) without a tree: a validator and a pull parser that read the agents'
 * messages in one pass and allocate nothing.
 *
 * Why: every app sends a ~4 KB stats message per interval, and the daemon needs its numbers in a typed model
 * (stats.h). Parsing each message into a cJSON tree (a malloc per value, strtod per number) and then reading
 * the tree was most of the daemon's CPU at 1000 apps; validating it and walking it again in place still read
 * every byte three or four times. The pull parser below validates and extracts at once: message.c reads the
 * members it knows into the model and steps over the rest, each byte once.
 *
 * What "strict" means here (docs/PROTOCOL.md section 2): RFC 8259's grammar, nothing more —
 *   - whitespace is space, tab, LF and CR only;
 *   - numbers are -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?: no leading zeros, no "1.", no "+1";
 *   - strings hold no raw control byte (< 0x20), only the escapes \" \\ \/ \b \f \n \r \t \uXXXX (four hex
 *     digits), and valid UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF);
 *   - a \u escape of a UTF-16 surrogate must be a high one followed by a low one (a lone surrogate has no UTF-8
 *     form: RFC 8259 section 8.2 leaves its meaning undefined, so it is refused);
 *   - an optional UTF-8 byte order mark before the value is ignored (RFC 8259 section 8.1 allows that);
 *   - containers nest at most MSD_JSON_DEPTH_MAX deep.
 * Every refusal comes with a reason and the offset of the byte where the text stopped being JSON, for the log.
 * Accepted text is therefore valid JSON that any parser reads the same way, and the daemon may serve an
 * agent's bytes verbatim.
 */
#ifndef MEMSCOPE_DAEMON_JSON_H
#define MEMSCOPE_DAEMON_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define MSD_JSON_DEPTH_MAX 1000

/* A token or value inside text: its first byte and its length (n == 0: none). */
typedef struct msd_jval {
    const char *p;
    size_t n;
} msd_jval;

typedef enum msd_jkind { MSD_J_NONE, MSD_J_NULL, MSD_J_BOOL, MSD_J_NUMBER, MSD_J_STRING, MSD_J_ARRAY, MSD_J_OBJECT } msd_jkind;

/* Why text is not JSON: a static reason ("leading zero in a number") and the offset of the offending byte. */
typedef struct msd_json_error {
    const char *reason;
    size_t at;
} msd_json_error;

/*
 * Checks that text[0..len) starts with one strict JSON value (an optional BOM and whitespace first). Returns 0
 * with *end = the offset just after the value (what follows is not looked at), or -EPROTO with *err filled.
 * *spaced tells whether the value has whitespace between its tokens (a compact copy then differs). Either of
 * end, spaced, err may be NULL. O(len), no allocation, no recursion.
 */
int msd_json_check(const char *text, size_t len, size_t *end, bool *spaced, msd_json_error *err);

/*
 * The pull parser: the caller asks for the next token in the shape it expects, and gets false when the text
 * is not that shape (a wrong kind is not an error: msd_jp_skip() then steps over the value) or not JSON (an
 * error: jp->err is set, and every later call returns false). It keeps no stack of its own: the caller's code
 * is the stack for the containers it opens, msd_jp_skip() has its own for what it steps over, and jp->depth
 * counts both against MSD_JSON_DEPTH_MAX.
 *
 *     msd_jp_object(jp)                      '{'                 (or false: not an object here)
 *     while (msd_jp_member(jp, &key))        "key" :             (false at '}', which it consumes)
 *         msd_jp_number(jp, &d) || msd_jp_skip(jp, NULL);
 *     msd_jp_array(jp)                       '['
 *     while (msd_jp_element(jp)) ...         (false at ']', which it consumes)
 */
typedef struct msd_jp {
    const unsigned char *p, *start, *end;
    unsigned depth;        /* containers open at p */
    bool spaced;           /* whitespace was seen between tokens */
    bool first;            /* at the first member/element of the innermost container opened */
    bool escaped;          /* the last string token read (a member's name, msd_jp_string) had a backslash: its
                            * bytes are not its value (without one, they are: compare them directly) */
    bool guessed;          /* the last member's name was msd_jp_member_guess()'s guess */
    msd_json_error err;    /* err.reason != NULL once the text was found not to be JSON */
} msd_jp;

/* Starts a walk over text[0..len) (skips a BOM and leading whitespace). */
void msd_jp_init(msd_jp *jp, const char *text, size_t len);
/* The kind of the value at the cursor (whitespace skipped), from its first byte; MSD_J_NONE at the end of the
 * text, after an error, or before a byte that starts no value (which is then the error). */
msd_jkind msd_jp_peek(msd_jp *jp);
/* The offset of the cursor (the next value's first byte after msd_jp_peek()). */
size_t msd_jp_offset(const msd_jp *jp);
bool msd_jp_object(msd_jp *jp);
bool msd_jp_member(msd_jp *jp, msd_jval *key); /* key: the string token, quotes included */
/* msd_jp_member() for a reader that knows which name usually comes next (agents send members in one order):
 * jp->guessed tells whether the name is guess[0..glen), which must be bytes that need no escape. A right guess
 * costs one comparison instead of a scan of the name. */
bool msd_jp_member_guess(msd_jp *jp, const char *guess, size_t glen, msd_jval *key);
bool msd_jp_array(msd_jp *jp);
bool msd_jp_element(msd_jp *jp);
/* Reads a number (true with *out: its value, possibly +-inf for huge exponents), or a boolean as 1 or 0 when
 * bools is true. False, consuming nothing, for any other kind. */
bool msd_jp_number(msd_jp *jp, double *out, bool bools);
/* Reads a string token (validated) into *tok. False, consuming nothing, for another kind. */
bool msd_jp_string(msd_jp *jp, msd_jval *tok);
/* Validates and steps over one value of any kind; *span (may be NULL) is where it lies. */
bool msd_jp_skip(msd_jp *jp, msd_jval *span);
/* True when only whitespace is left (else the error "trailing bytes after the JSON value"). */
bool msd_jp_finish(msd_jp *jp);
/* Records an error at the cursor unless one is recorded already; returns false. */
bool msd_jp_fail(msd_jp *jp, const char *reason);

/* a[0..n) == b[0..n), for the short names of a schema. A memcmp of a constant size is a few loads the compiler
 * writes inline; a call to memcmp for each member of each message was a tenth of reading one. */
static inline bool msd_bytes_eq(const void *a, const void *b, size_t n)
{
    switch (n) {
#define MSD_EQ_CASE(k) case k: return __builtin_memcmp(a, b, k) == 0;
        MSD_EQ_CASE(1) MSD_EQ_CASE(2) MSD_EQ_CASE(3) MSD_EQ_CASE(4) MSD_EQ_CASE(5) MSD_EQ_CASE(6) MSD_EQ_CASE(7)
        MSD_EQ_CASE(8) MSD_EQ_CASE(9) MSD_EQ_CASE(10) MSD_EQ_CASE(11) MSD_EQ_CASE(12) MSD_EQ_CASE(13)
        MSD_EQ_CASE(14) MSD_EQ_CASE(15) MSD_EQ_CASE(16) MSD_EQ_CASE(17) MSD_EQ_CASE(18) MSD_EQ_CASE(19)
        MSD_EQ_CASE(20) MSD_EQ_CASE(21) MSD_EQ_CASE(22) MSD_EQ_CASE(23) MSD_EQ_CASE(24)
#undef MSD_EQ_CASE
    default: return __builtin_memcmp(a, b, n) == 0;
    }
}

/* ---- Reading validated tokens -------------------------------------------------------------------------------- */

/* True when string token s decodes (as a C string: up to a \u0000) to exactly name. */
bool msd_json_string_is(msd_jval s, const char *name);
/* Decodes string token s into buf as a C string: escapes to UTF-8, stopping at a decoded NUL or after cap - 1
 * bytes (never inside a UTF-8 sequence). Returns the length written; 0 with buf = "" when s is not a string.
 * cap >= 1. */
size_t msd_json_string(msd_jval s, char *buf, size_t cap);
/* The value of a validated number token (strtod's, exact for integers of up to 15 digits). */
double msd_json_number(msd_jval v);


/* Appends value v (validated text) to out without whitespace between its tokens: 0 or -ENOMEM. O(v.n). */
int msd_json_compact(msd_jval v, msc_buf *out);

/* Strings are written with common/jsonstr.h (msc_json_str), UTF-8 checked with msc_utf8_len there. */

#endif /* MEMSCOPE_DAEMON_JSON_H */

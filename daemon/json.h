/*
 * daemon/json.h — a JSON scanner that builds no tree and allocates nothing, for the stats messages (issue 5).
 *
 * Why: every app sends a ~4 KB stats document per interval, and parsing each one into a cJSON tree (a malloc per
 * value and per string, strtod for every number) was most of the daemon's CPU at 1000 apps. The daemon needs
 * only a dozen numbers and the type names out of it; the rest is served as the agent's own bytes. So a stats
 * payload is validated once by msd_json_check() and then read in place with the cursor functions below.
 *
 * Contract with the rest of the daemon: msd_json_check() accepts exactly the texts cJSON 1.7 accepts (as
 * cJSON_ParseWithLengthOpts(text, len, &end, 0) with the parse end in *end), so a malformed message is refused
 * whichever path it takes and with the same words (tests/integration/test_json.c and the frame fuzzer compare
 * the two). That includes cJSON's leniencies — any byte <= 0x20 is whitespace, numbers are whatever strtod
 * takes from a run of [0-9+-.eE] that starts with '-' or a digit ("01", "1.", "-.5"; any length, 1e999 is inf),
 * control bytes and invalid UTF-8 inside strings pass, "\u" with bad hex digits reads as U+0000 — and its limits:
 * nesting deeper than MSD_JSON_DEPTH_MAX containers, a lone or reversed UTF-16 surrogate, an unknown escape.
 * The scanner also says whether the text is strict RFC 8259 JSON apart from UTF-8 validity (no leniency used):
 * only strict text is served byte for byte; the rest is re-printed by cJSON so that the API serves valid JSON.
 *
 * The cursor functions (msd_json_next() and the readers) are for text msd_json_check() accepted: on anything
 * else they return "nothing" but never read outside the value they are given.
 */
#ifndef MEMSCOPE_DAEMON_JSON_H
#define MEMSCOPE_DAEMON_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define MSD_JSON_DEPTH_MAX 1000 /* cJSON's CJSON_NESTING_LIMIT: containers nested deeper are refused */

/*
 * Checks that text[0..len) starts with one JSON value as cJSON reads it: an optional UTF-8 BOM (only when len > 4,
 * as cJSON), whitespace, the value. Returns 0 with *end = the offset just after the value (what follows is not
 * looked at) and *strict as described above, or -EPROTO. O(len), no allocation, no recursion.
 */
int msd_json_check(const char *text, size_t len, size_t *end, bool *strict);

/* A value inside checked text: its first byte and its length (0: no value). */
typedef struct msd_jval {
    const char *p;
    size_t n;
} msd_jval;

typedef enum msd_jkind { MSD_J_NONE, MSD_J_NULL, MSD_J_BOOL, MSD_J_NUMBER, MSD_J_STRING, MSD_J_ARRAY, MSD_J_OBJECT } msd_jkind;

msd_jkind msd_json_kind(msd_jval v); /* from the first byte; MSD_J_NONE for n == 0 */

/* Walks the members of an object or the elements of an array. */
typedef struct msd_jiter {
    const char *p, *end; /* next byte to look at, end of the container (after its closing bracket) */
    bool object;
} msd_jiter;

/* Starts a walk over v; false (and an iterator that yields nothing) when v is not an object or array. */
bool msd_json_iter(msd_jval v, msd_jiter *it);
/* The next member (key: its string token, quotes included) or element (key may be NULL); false at the end. */
bool msd_json_next(msd_jiter *it, msd_jval *key, msd_jval *val);

/*
 * The same walk in steps, to look into a value while passing it (one pass instead of a skip and a second walk):
 * msd_json_next_key() stops at a member's value; then either msd_json_take_value() skips it, or, when it is an
 * object or array, msd_json_open() starts a walk over its contents in `child` and, once msd_json_next(child, ...)
 * has returned false, msd_json_close() moves `it` past the container and gives its span. All return false on the
 * end of the walk or on text msd_json_check() did not accept.
 */
bool msd_json_next_key(msd_jiter *it, msd_jval *key);
bool msd_json_take_value(msd_jiter *it, msd_jval *val);
bool msd_json_open(msd_jiter *it, msd_jiter *child);
bool msd_json_close(msd_jiter *it, const msd_jiter *child, msd_jval *val);

/* The value of the first member of object obj whose key decodes to name (cJSON_GetObjectItemCaseSensitive:
 * the key read as a C string, so "a\u0000b" is "a"); n == 0 when there is none or obj is not an object. */
msd_jval msd_json_get(msd_jval obj, const char *name);
/* The i-th element of array arr (n == 0 when there is none). */
msd_jval msd_json_at(msd_jval arr, size_t i);

/* True when string token s decodes (as a C string) to exactly name. */
bool msd_json_string_is(msd_jval s, const char *name);
/* Decodes string token s as cJSON does (escapes, \u to UTF-8) into buf as a C string: stops at the first decoded
 * NUL or after cap - 1 bytes. Returns false (buf = "") when s is not a string. cap >= 1. */
bool msd_json_string(msd_jval s, char *buf, size_t cap);
/* The number's value as cJSON computes it (strtod; may be +-inf); false when v is not a number (or, for a number
 * of 64 bytes or more, out of memory). */
bool msd_json_number(msd_jval v, double *out);

#endif /* MEMSCOPE_DAEMON_JSON_H */

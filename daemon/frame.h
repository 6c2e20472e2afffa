/*
 * daemon/frame.h — the wire protocol's frames and messages (docs/PROTOCOL.md), as pure functions.
 *
 * Nothing here does I/O, touches the loop or keeps state between calls: the decoder takes a byte buffer and says
 * what is at its start. That makes the whole protocol surface fuzzable in isolation (issue 8) and lets the test
 * agent and any future agent reuse the same rules.
 */
#ifndef MEMSCOPE_DAEMON_FRAME_H
#define MEMSCOPE_DAEMON_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json.h"

#define MSD_FRAME_HEADER 4u
#define MSD_FRAME_MAX (1u << 20) /* largest payload accepted, in bytes */

/*
 * Looks at buf[0..len) for one frame whose payload is at most max bytes.
 * Returns:
 *   > 0        a whole frame is there: the return value is its size (header + payload) and
 *              *payload / *payload_len point into buf;
 *   0          more bytes are needed (len < 4, or the payload is not complete);
 *   -EMSGSIZE  the header announces 0 bytes or more than max: the stream cannot be resynchronized.
 * O(1); never reads past buf[len).
 */
long msd_frame_decode(const uint8_t *buf, size_t len, size_t max, const uint8_t **payload, size_t *payload_len);

/* Writes the 4-byte header for a payload of len bytes (len <= MSD_FRAME_MAX). */
void msd_frame_header(uint8_t out[MSD_FRAME_HEADER], size_t len);

typedef enum msd_msg_type {
    MSD_MSG_UNKNOWN = 0, /* a well-formed message of a type this daemon does not know: ignored */
    MSD_MSG_HELLO,
    MSD_MSG_STATS,
    MSD_MSG_REPLY,
    MSD_MSG_BYE,
} msd_msg_type;

/* A stats message's entry of "types" as the daemon reads it: the values of its first "name" and "alive" members
 * (n == 0 when absent), in place in the payload. */
typedef struct msd_type_ref {
    msd_jval name, alive;
} msd_type_ref;

/* How much of a stats message msd_msg_parse() notes while it validates, so that the registry and the history
 * do not walk the text again: the top-level members (a stats message has about 10) and the first entries of
 * "types" (an app has tens). Beyond these, readers walk the rest of the text (msd_msg_members, msd_types_next). */
#define MSD_MSG_MEMBERS 32
#define MSD_MSG_TYPES 128

/* A parsed, validated message. For hello, reply and unknown types `json` is the whole payload and owns every
 * pointer below; a stats message has no tree (json is NULL): its fields point into raw (see json.h). */
typedef struct msd_msg {
    msd_msg_type type;
    cJSON *json;
    const char *raw;       /* the payload text (borrowed from the caller's buffer) and its length */
    size_t raw_len;
    /* hello */
    int protocol;          /* the version the agent asked for (checked by the caller, to answer "refused") */
    int64_t pid;
    const char *app;
    const char *library;   /* may be NULL */
    const cJSON *argv;     /* array of strings or NULL */
    int64_t interval_ms;   /* 0 if not given */
    /* reply */
    uint64_t id;
    int ok;
    const cJSON *result;   /* ok: the result (may be NULL); !ok: NULL */
    const char *error;     /* !ok: the message */
    /* stats: the top-level object and the first member of each name (n == 0 when absent), borrowed from raw */
    msd_jval doc;
    msd_jval heap, refcount, types, gc;
    bool strict;           /* strict JSON (json.h): members may be copied into the API's document verbatim */
    size_t nmembers;       /* top-level members; the first MSD_MSG_MEMBERS are noted below */
    struct {
        msd_jval key, val;
    } members[MSD_MSG_MEMBERS];
    size_t ntypes_noted;   /* entries of "types" noted in type_refs; the others follow types_rest */
    msd_type_ref type_refs[MSD_MSG_TYPES];
    msd_jiter types_rest;
} msd_msg;

/* Walks a stats message's "types" entries in order: the noted ones, then the rest of the text. */
typedef struct msd_types_iter {
    const msd_msg *m;
    size_t i;
    msd_jiter rest;
} msd_types_iter;
void msd_types_begin(const msd_msg *stats, msd_types_iter *ti); /* stats may be NULL: no entries */
bool msd_types_next(msd_types_iter *ti, msd_type_ref *out);
/* The first "name" and "alive" members of a types entry. */
msd_type_ref msd_type_ref_of(msd_jval entry);

/*
 * Parses and validates one payload. On success returns 0 and fills *out (free with msd_msg_free). On failure
 * returns -EPROTO with a reason in err (always NUL-terminated) and *out holds nothing to free.
 * Checks: a JSON object (as cJSON reads it, json.h) with nothing but whitespace after it, no NUL bytes, a string
 * "type", and for known types the members and JSON types listed in docs/PROTOCOL.md. Cost: one msd_json_check()
 * pass, then for stats a few passes over the parts the daemon reads (no allocation); for other types one cJSON
 * parse. O(len).
 */
int msd_msg_parse(const uint8_t *payload, size_t len, msd_msg *out, char *err, size_t errlen);
void msd_msg_free(msd_msg *m);

/* The main series of one stats message, the part the history keeps (missing members read as 0). */
typedef struct msd_sample {
    double t;              /* monotonic receive time, seconds (the API converts to wall time on output) */
    double pool_bytes;     /* heap.pool_bytes_in_use */
    double system_bytes;   /* heap.system_bytes_in_use */
    double objects_alive;  /* refcount.objects_alive */
    double collections[3]; /* gc.generations[i].collections */
    double pause_total_ns; /* gc.pause_total_ns */
    double pause_max_ns;   /* gc.pause_max_ns */
    double garbage;        /* gc.garbage */
} msd_sample;

/* Reads the main series from a validated stats message (t is left to the caller). Can't fail. */
void msd_sample_from_stats(const msd_msg *stats, msd_sample *out);

#endif /* MEMSCOPE_DAEMON_FRAME_H */

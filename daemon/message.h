/*
 * daemon/message.h — the messages of the wire protocol (docs/PROTOCOL.md sections 3-5), parsed and validated.
 *
 * A stats message (one per app per interval: the traffic) is read in one pass into the caller's typed model
 * (stats.h) and builds no tree. hello, reply and the rest (a few per connection) are checked with the same
 * strict rules and then get a cJSON tree, which owns their string members.
 *
 * Everything an agent sends is untrusted: validation is strict where the daemon relies on a member (hello's pid
 * and app, a reply's id, the JSON type of each stats section) and shallow where it only passes data through
 * (stats members it does not know are served as sent). Pure functions: fuzz targets.
 */
#ifndef MEMSCOPE_DAEMON_MESSAGE_H
#define MEMSCOPE_DAEMON_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "stats.h"

typedef enum msd_msg_type {
    MSD_MSG_UNKNOWN = 0, /* a well-formed message of a type this daemon does not know: ignored */
    MSD_MSG_HELLO,
    MSD_MSG_STATS,
    MSD_MSG_REPLY,
    MSD_MSG_BYE,
} msd_msg_type;

typedef struct msd_msg {
    msd_msg_type type;
    cJSON *json;           /* hello, reply, unknown: the payload's tree, owning the pointers below; stats: NULL */
    /* hello */
    int protocol;          /* the version the agent asked for (checked by the caller, to answer "refused") */
    int64_t pid;
    const char *app;       /* 1 .. MSC_APP_NAME_MAX bytes */
    const char *library;   /* may be NULL */
    const cJSON *argv;     /* array of strings or NULL */
    int64_t interval_ms;   /* 0 if not given */
    /* reply */
    uint64_t id;
    int ok;
    cJSON *result;         /* ok: the result (may be NULL; a caller may detach it from json and keep it) */
    const char *error;     /* !ok: the message */
    /* stats */
    msd_stats *stats;      /* the caller's model, filled */
} msd_msg;

/*
 * Parses and validates one payload. On success returns 0 and fills *out (free with msd_msg_free); a stats
 * message fills *model (which must not be NULL; for any other type its content is left unspecified). On
 * failure returns -EPROTO with a reason in err (always NUL-terminated: "payload is not valid JSON: a leading
 * zero in a number (byte 57)") and *out holds nothing to free.
 * Checks: one strict JSON object (json.h) with nothing but whitespace after it, a string "type" (its first
 * member of that name, read as a C string), and for the known types the members and JSON types listed in
 * docs/PROTOCOL.md. Cost: one pass over the text; for types other than stats one cJSON parse besides. O(len).
 */
int msd_msg_parse(const uint8_t *payload, size_t len, msd_stats *model, msd_msg *out, char *err, size_t errlen);
void msd_msg_free(msd_msg *m);

#endif /* MEMSCOPE_DAEMON_MESSAGE_H */

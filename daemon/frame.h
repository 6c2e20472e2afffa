/*
 * daemon/frame.h — the wire protocol's frames (docs/PROTOCOL.md sections 2 and 6), as pure functions.
 *
 * Nothing here does I/O, touches the loop or keeps state between calls: the decoder takes a byte buffer and says
 * what is at its start. That makes the protocol surface fuzzable in isolation and lets any agent reuse the rules.
 * The messages inside the JSON frames are message.h's; what a binary frame's bytes mean is its request's business
 * (request.c hands them to whoever asked).
 */
#ifndef MEMSCOPE_DAEMON_FRAME_H
#define MEMSCOPE_DAEMON_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#define MSD_FRAME_HEADER MSC_FRAME_HEADER
#define MSD_FRAME_MAX MSC_FRAME_MAX /* largest payload accepted, in bytes */
/* The smallest binary payload: the request id and at least one byte of data. */
#define MSD_FRAME_BINARY_MIN (MSC_BINARY_ID_BYTES + 1u)

/* One decoded frame; every pointer points into the decoder's input. */
typedef struct msd_frame {
    const uint8_t *payload; /* the payload: JSON text, or for a binary frame the id and then the data */
    size_t len;             /* payload bytes */
    bool binary;            /* bit 31 of the length word was set (docs/PROTOCOL.md section 6) */
    uint32_t id;            /* binary: the request id (big-endian on the wire) */
    const uint8_t *data;    /* binary: the bytes after the id */
    size_t data_len;
} msd_frame;

/*
 * Looks at buf[0..len) for one frame whose payload is at most max bytes.
 * Returns:
 *   > 0        a whole frame is there: the return value is its size (header + payload), *f describes it;
 *   0          more bytes are needed (len < 4, or the payload is not complete);
 *   -EMSGSIZE  the header announces 0 bytes or more than max (a binary frame: fewer than MSD_FRAME_BINARY_MIN):
 *              the stream cannot be resynchronized.
 * Whether a binary frame is allowed at this point of the conversation (not before welcome) is the caller's
 * decision. O(1); never reads past buf[len).
 */
long msd_frame_decode(const uint8_t *buf, size_t len, size_t max, msd_frame *f);

/* Writes the 4-byte header for a JSON payload of len bytes (len <= MSD_FRAME_MAX). */
void msd_frame_header(uint8_t out[MSD_FRAME_HEADER], size_t len);

#endif /* MEMSCOPE_DAEMON_FRAME_H */

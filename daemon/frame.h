/*
 * daemon/frame.h — the wire protocol's frames (docs/PROTOCOL.md section 2), as pure functions.
 *
 * Nothing here does I/O, touches the loop or keeps state between calls: the decoder takes a byte buffer and says
 * what is at its start. That makes the protocol surface fuzzable in isolation and lets any agent reuse the rules.
 * The messages inside the frames are message.h's.
 */
#ifndef MEMSCOPE_DAEMON_FRAME_H
#define MEMSCOPE_DAEMON_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#define MSD_FRAME_HEADER MSC_FRAME_HEADER
#define MSD_FRAME_MAX MSC_FRAME_MAX /* largest payload accepted, in bytes */

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

#endif /* MEMSCOPE_DAEMON_FRAME_H */

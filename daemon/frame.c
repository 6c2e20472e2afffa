/*
 * daemon/frame.c — splitting a byte stream into frames (docs/PROTOCOL.md sections 2 and 6). Entry point:
 * msd_frame_decode().
 *
 * A frame is a 4-byte big-endian length word followed by the payload; bit 31 of the word marks a binary frame,
 * whose payload starts with a 4-byte big-endian request id. The decoder is a pure function of the bytes it is
 * given, so a reader can call it after every read() on whatever it has buffered: it either finds a whole frame at
 * the start, asks for more, or declares the stream broken. A broken length cannot be skipped (there is no
 * resynchronization marker), so the only answer to -EMSGSIZE is closing the connection.
 */
#include <errno.h>

#include "frame.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

long msd_frame_decode(const uint8_t *buf, size_t len, size_t max, msd_frame *f)
{
    if (len < MSD_FRAME_HEADER)
        return 0;
    uint32_t word = be32(buf);
    bool binary = (word & MSC_FRAME_BINARY) != 0;
    uint32_t n = word & ~MSC_FRAME_BINARY;
    if (n == 0 || n > max || (binary && n < MSD_FRAME_BINARY_MIN))
        return -EMSGSIZE;
    /* n <= max, and max is far below LONG_MAX on every platform we build for, so the sum cannot overflow. */
    if (len - MSD_FRAME_HEADER < n)
        return 0;
    const uint8_t *p = buf + MSD_FRAME_HEADER;
    *f = (msd_frame){.payload = p, .len = n, .binary = binary};
    if (binary) {
        f->id = be32(p);
        f->data = p + MSC_BINARY_ID_BYTES;
        f->data_len = n - MSC_BINARY_ID_BYTES;
    }
    return (long)(MSD_FRAME_HEADER + n);
}

void msd_frame_header(uint8_t out[MSD_FRAME_HEADER], size_t len)
{
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
}

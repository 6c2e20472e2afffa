/*
 * daemon/frame.c — splitting a byte stream into frames (docs/PROTOCOL.md §2). Entry point: msd_frame_decode().
 *
 * A frame is a 4-byte big-endian payload length followed by the payload. The decoder is a pure function of the
 * bytes it is given, so a reader can call it after every read() on whatever it has buffered: it either finds a
 * whole frame at the start, asks for more, or declares the stream broken. A broken length cannot be skipped
 * (there is no resynchronization marker), so the only answer to -EMSGSIZE is closing the connection.
 */
#include <errno.h>

#include "frame.h"

long msd_frame_decode(const uint8_t *buf, size_t len, size_t max, const uint8_t **payload, size_t *payload_len)
{
    if (len < MSD_FRAME_HEADER)
        return 0;
    uint32_t n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
    if (n == 0 || n > max)
        return -EMSGSIZE;
    /* n <= max, and max is far below LONG_MAX on every platform we build for, so the sum cannot overflow. */
    if (len - MSD_FRAME_HEADER < n)
        return 0;
    *payload = buf + MSD_FRAME_HEADER;
    *payload_len = n;
    return (long)(MSD_FRAME_HEADER + n);
}

void msd_frame_header(uint8_t out[MSD_FRAME_HEADER], size_t len)
{
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
}

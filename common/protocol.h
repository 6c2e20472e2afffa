/*
 * common/protocol.h — the numbers of the wire protocol (docs/PROTOCOL.md), defined once for everyone who
 * speaks or checks it: the agent (client/), the daemon (daemon/) and the CLI (cli/). The protocol document is
 * the contract; these macros are its copy in C, and docs/PROTOCOL.md names each of them.
 *
 * Where a limit applies to a request parameter, the daemon validates it once (an HTTP 400 with the range in
 * the message) before forwarding; the agent checks it again because a daemon is a peer it does not trust.
 */
#ifndef MEMSCOPE_COMMON_PROTOCOL_H
#define MEMSCOPE_COMMON_PROTOCOL_H

#define MSC_PROTOCOL_VERSION 1

/* Frames: a 4-byte big-endian length, then 1 .. MSC_FRAME_MAX bytes of JSON. */
#define MSC_FRAME_HEADER 4u
#define MSC_FRAME_MAX (1u << 20)

/* hello: "app" is 1 .. MSC_APP_NAME_MAX bytes. */
#define MSC_APP_NAME_MAX 255

/* trace.start: "nframes" 1 .. MSC_TRACE_FRAMES_MAX (libmemscope's MS_TRACE_MAX_FRAMES). */
#define MSC_TRACE_FRAMES_MAX 256

/* trace.top and the daemon's trace diff: "limit" 0 .. MSC_TOP_LIMIT_MAX, 0 meaning every entry (the agent
 * still stops before its reply would exceed MSC_FRAME_MAX and says "truncated": true). Default 10. */
#define MSC_TOP_LIMIT_MAX 10000
#define MSC_TOP_LIMIT_DEFAULT 10

/* gc.cycles: "limit" 1 .. MSC_CYCLES_LIMIT_MAX groups (the library's MS_GC_CYCLE_KEYS and the other row). */
#define MSC_CYCLES_LIMIT_MAX 65
#define MSC_CYCLES_LIMIT_DEFAULT 20

/* pools.pinning: "max_utilization" 0 .. 1 (default MSC_PINNING_UTILIZATION_DEFAULT), "limit" 1 ..
 * MSC_PINNING_LIMIT_MAX rows of sites and of types (classes are never more than the size classes). */
#define MSC_PINNING_UTILIZATION_DEFAULT 0.25
#define MSC_PINNING_LIMIT_MAX 1000
#define MSC_PINNING_LIMIT_DEFAULT 20

/* Binary frames (docs/PROTOCOL.md section 6): bit 31 of the length word set; the payload (1 .. MSC_FRAME_MAX
 * bytes, the length without the bit) is a u32 big-endian request id and then bytes of that request's binary
 * result (a heap graph's wire image, common/heapgraph.h), in order. Only an agent sends them, and only for a
 * request whose method says so (heapsnapshot). */
#define MSC_FRAME_BINARY 0x80000000u
#define MSC_BINARY_ID_BYTES 4u

/* heapsnapshot: the agent abandons a transfer the daemon has not read from for this long (and answers
 * ok: false); the daemon extends the request's deadline by --request-timeout at every binary frame. */
#define MSC_HEAPSNAPSHOT_STALL_MS 10000

#endif /* MEMSCOPE_COMMON_PROTOCOL_H */

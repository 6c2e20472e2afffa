#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/: small valid and near-valid inputs for each target.

Run from anywhere: python3 tests/fuzz/make_corpus.py. The seeds are committed; rerun only to change them (the
regression-* files, crash inputs of fixed bugs, are not touched)."""
import json, os, struct, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(payload):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload, separators=(",", ":"))
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack(">I", len(payload)) + payload


hello = {"type": "hello", "protocol": 1, "pid": 1234, "app": "demo", "library": "0.1.0",
         "argv": ["demo", "--x"], "interval_ms": 1000}
stats = {"type": "stats", "seq": 1, "dropped": 0,
         "heap": {"pool_bytes_in_use": 4096, "system_bytes_in_use": 65536, "arenas": 1},
         "pools": [{"block_size": 16, "pools": 1, "blocks_in_use": 3, "blocks_free": 250}],
         "refcount": {"objects_alive": 10, "objects_created": 12, "objects_destroyed": 2},
         "types": [{"name": "Node", "alive": 10, "bytes": 640, "created": 12, "destroyed": 2},
                   {"name": "str", "alive": 3, "bytes": 96, "created": 3, "destroyed": 0}],
         "gc": {"enabled": True, "generations": [{"count": 1, "threshold": 700, "collections": 2, "collected": 5,
                                                   "uncollectable": 0}, {"count": 0, "threshold": 10,
                                                   "collections": 0}, {"count": 0, "threshold": 10}],
                "garbage": 0, "pause_total_ns": 1000, "pause_max_ns": 600},
         "trace": {"tracing": False, "current": 0, "peak": 0}}
reply = {"type": "reply", "id": 1, "ok": True, "result": {"generation": 2, "collected": 42}}
error_reply = {"type": "reply", "id": 2, "ok": False, "error": "no"}

# ---- frame: byte streams of one connection
put("frame", "hello_stats_reply_bye", frame(hello) + frame(stats) + frame(stats) + frame(reply) +
    frame(error_reply) + frame({"type": "bye"}))
put("frame", "hello_only", frame(hello))
put("frame", "many_stats", frame(hello) + b"".join(frame(dict(stats, seq=i)) for i in range(8)))
put("frame", "truncated_payload", frame(hello) + frame(stats)[:-20])
put("frame", "truncated_header", frame(hello) + b"\x00\x00")
put("frame", "zero_length", frame(hello) + b"\x00\x00\x00\x00")
put("frame", "oversized_length", frame(hello) + b"\x00\x20\x00\x00{}")
put("frame", "not_json", frame(hello) + frame("this is not json"))
put("frame", "trailing_bytes", frame(hello) + frame('{"type":"stats"} x'))
put("frame", "nul_byte", frame(hello) + frame(b'{"type":"stats","a":"\x00"}'))
put("frame", "wrong_version", frame(dict(hello, protocol=99)) + frame(stats))
put("frame", "stats_before_hello", frame(stats) + frame(hello))
put("frame", "bad_types", frame(hello) + frame({"type": "stats", "types": [{"alive": 1}]}))
put("frame", "bad_sections", frame(hello) + frame({"type": "stats", "heap": [], "pools": {}}))
put("frame", "unknown_type", frame(hello) + frame({"type": "future", "x": [1, 2, {"y": None}]}))


def binary(rid, data):
    """A binary frame (docs/PROTOCOL.md section 6): bit 31 of the length word, the request id, the bytes."""
    return struct.pack(">II", (len(data) + 4) | 0x80000000, rid) + data


def wire(strings, nodes, edges):
    """A heap graph's wire image (common/heapgraph.h): little-endian words, sections 4-byte aligned."""
    blob = b"".join(x.encode() for x in strings)
    offs, o = [], 0
    for x in strings:
        offs.append(o)
        o += len(x.encode())
    offs.append(o)
    out = b"MSHG" + struct.pack("<5I", 1, len(nodes), len(edges), len(strings), len(blob))
    out += struct.pack("<%dI" % len(offs), *offs) + blob + b"\0" * (-len(blob) % 4)
    out += b"".join(struct.pack("<6I", *n) for n in nodes) + b"".join(struct.pack("<3I", *e) for e in edges)
    return out


# (roots) -[0]-> X -<ref 0>-> X, (roots) -[1]-> (unreachable)
graph = wire(["<dummy>", "(roots)", "(unreachable)", "X", "<ref 0>"],
             [(9, 1, 1, 0, 2, 0), (9, 2, 3, 0, 0, 0), (3, 3, 5, 16, 1, 1)],
             [(1, 0, 2), (1, 1, 1), (3, 4, 2)])
heap_reply = {"type": "reply", "id": 1, "ok": True,
              "result": {"objects": 1, "edges": 3, "graph_bytes": len(graph), "pause_ms": 0.1}}
put("frame", "heap_transfer", frame(hello) + frame(stats) + binary(1, graph[:40]) + frame(stats) +
    binary(1, graph[40:]) + frame(heap_reply))
put("frame", "heap_unknown_id", frame(hello) + binary(7, b"junk") + binary(1, graph) + frame(heap_reply))
put("frame", "heap_corrupt", frame(hello) + binary(1, graph[:-4] + b"\xff\x00\x00\x00") + frame(heap_reply))
put("frame", "binary_before_hello", binary(1, graph) + frame(hello))
put("frame", "binary_too_short", frame(hello) + struct.pack(">II", 4 | 0x80000000, 1))
put("frame", "nested_strings", frame(hello) + frame('{"type":"stats","k\\"ey":"v\\\\","z":[{"a":"}"}]}'))

# ---- api: flags byte, then path \n query \n authorization \n host \n reply \n body (fuzz_api.c)
TOKEN = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
ok_reply = json.dumps(reply, separators=(",", ":"))
snap_reply = json.dumps({"type": "reply", "id": 1, "ok": True, "result": {"traceback_limit": 1, "traces": [
    {"size": 10, "count": 1, "frames": [{"file": "x.c", "lineno": 3}]}]}}, separators=(",", ":"))


def api(flags, path, query="", auth="", rep=ok_reply, body="", method=None, host="127.0.0.1:7070"):
    fields = ([method] if method is not None else []) + [path, query, auth, host, rep, body]
    return bytes([flags]) + "\n".join(fields).encode()


GET, HEAD, POST, OTHER = 0, 1, 2, 3
AUTH = 4
TIMEOUT, GONE, FAIL = 8, 16, 24
put("api", "healthz", api(GET, "/healthz"))
put("api", "version", api(GET, "/api/v1/version"))
put("api", "apps", api(GET, "/api/v1/apps"))
put("api", "app", api(GET, "/api/v1/apps/1"))
put("api", "app_by_pid", api(HEAD, "/api/v1/apps/4242"))
put("api", "history", api(GET, "/api/v1/apps/1/history", "seconds=60"))
put("api", "growth", api(GET, "/api/v1/apps/1/growth"))
put("api", "gc", api(POST | AUTH, "/api/v1/apps/1/gc", body='{"generation":1}'))
put("api", "gc_token_header", api(POST, "/api/v1/apps/1/gc", auth="Bearer " + TOKEN, body="{}"))
put("api", "gc_wrong_token", api(POST, "/api/v1/apps/1/gc", auth="Bearer 0011", body="{}"))
put("api", "gc_timeout", api(POST | AUTH | TIMEOUT, "/api/v1/apps/1/gc"))
put("api", "gc_gone", api(POST | AUTH | GONE, "/api/v1/apps/1/gc"))
put("api", "gc_send_fails", api(POST | AUTH | FAIL, "/api/v1/apps/1/gc"))
put("api", "gc_disconnected", api(POST | AUTH, "/api/v1/apps/2/gc"))
put("api", "gc_error_reply", api(POST | AUTH, "/api/v1/apps/1/gc", rep='{"type":"reply","id":1,"ok":false,"error":"x"}'))
put("api", "gc_enable", api(POST | AUTH, "/api/v1/apps/1/gc/enable"))
put("api", "gc_disable", api(POST | AUTH, "/api/v1/apps/3/gc/disable"))
put("api", "threshold", api(POST | AUTH, "/api/v1/apps/1/gc/threshold", body='{"thresholds":[700,10,10]}'))
put("api", "threshold_bad", api(POST | AUTH, "/api/v1/apps/1/gc/threshold", body='{"thresholds":[1.5,"x",-1,4]}'))
put("api", "heapsnapshot", api(POST | AUTH, "/api/v1/apps/1/heapsnapshot",
    rep='{"type":"reply","id":1,"ok":true,"result":{"objects":0,"edges":0,"graph_bytes":0,"pause_ms":1}}'))
put("api", "heapsnapshot_lie", api(POST | AUTH, "/api/v1/apps/1/heapsnapshot",
    rep='{"type":"reply","id":1,"ok":true,"result":{"graph_bytes":24}}'))
put("api", "heapsnapshot_busy", api(POST | AUTH, "/api/v1/apps/1/heapsnapshot",
    rep='{"type":"reply","id":1,"ok":false,"error":"busy: x"}'))
put("api", "heapsnapshot_timeout", api(POST | AUTH | TIMEOUT, "/api/v1/apps/1/heapsnapshot"))
put("api", "heapsnapshots", api(GET, "/api/v1/apps/1/heapsnapshots"))
put("api", "heapsnapshot_get", api(GET, "/api/v1/apps/1/heapsnapshots/1"))
put("api", "heapsnapshot_types", api(GET, "/api/v1/apps/2/heapsnapshots/7/types"))
put("api", "heapsnapshot_retainers", api(GET, "/api/v1/apps/1/heapsnapshots/1/retainers", "type=Node&limit=5"))
put("api", "heapsnapshot_bad_sid", api(GET, "/api/v1/apps/1/heapsnapshots/x1/retainers", "limit=0"))
put("api", "trace_start", api(POST | AUTH, "/api/v1/apps/1/trace", body='{"action":"start","nframes":5}'))
put("api", "trace_stop", api(POST | AUTH, "/api/v1/apps/1/trace", body='{"action":"stop"}'))
put("api", "trace_top", api(GET, "/api/v1/apps/1/trace/top", "key=traceback&limit=3"))
put("api", "snapshot_take", api(POST | AUTH, "/api/v1/apps/1/trace/snapshots", rep=snap_reply))
put("api", "snapshot_list", api(GET, "/api/v1/apps/1/trace/snapshots"))
put("api", "diff", api(GET, "/api/v1/apps/1/trace/diff", "from=1&to=2&key=filename&limit=5"))
put("api", "diff_missing", api(GET, "/api/v1/apps/9/trace/diff", "from=1&to=77"))
put("api", "bad_query", api(GET, "/api/v1/apps/1/history", "seconds=-1&seconds=x&&=&a"))
put("api", "unknown", api(GET, "/api/v1/apps/1/nothing/here/at/all/really"))
put("api", "traversal", api(GET, "/api/v1/../../etc/passwd"))
put("api", "method", api(OTHER, "/api/v1/apps", method="DELETE"))
put("api", "long_path", api(GET, "/" + "a/" * 600))
V6, ANY4, ANY6 = 64, 128, 192
for i, (flags, host) in enumerate([(GET, "localhost"), (GET, "LOCALHOST:7070"), (GET, "evil.example:7070"),
                                   (V6, "[::1]:7070"), (V6, "[::1"), (V6, "[::1]x"), (ANY4, "10.1.2.3:7070"),
                                   (ANY6, "[fe80::1]:7070"), (ANY6, "[]"), (GET, "localhost:+7070"),
                                   (GET, "127.0.0.1:99999999999999999999"), (GET, "h" * 301), (GET, "")]):
    put("api", f"host_{i}", api(flags, "/api/v1/apps", host=host))

# ---- api_body: one JSON text (fuzz_api_body.c)
for name, body in {
    "empty_object": "{}", "generation": '{"generation":0}', "thresholds": '{"thresholds":[1,2,3]}',
    "trace_start": '{"action":"start","nframes":128}', "trace_stop": '{"action":"stop"}',
    "snapshot": '{"traceback_limit":2,"traces":[{"size":64,"count":1,"frames":[{"file":"a.c","lineno":1},'
                '{"file":"b.c","lineno":2}]},{"size":8,"count":8,"frames":[{"file":"a.c","lineno":1}]}]}',
    "snapshot_bad": '{"traces":[{"size":"x","count":-1,"frames":[{"file":1,"lineno":1.5}]},{}]}',
    "not_object": "[1,2,3]", "deep": "[" * 50 + "]" * 50, "numbers": '{"generation":1e308,"nframes":-0.0}',
    "unicode": '{"action":"st\\u0061rt","x":"\\ud800"}',
}.items():
    put("api_body", name, body)

# ---- snapshot: first byte odd = the harness repairs file_size and the CRC (fuzz_snapshot.c)
def snapshot_file(strings, traces, limit=4, version=1):
    body = b"".join(struct.pack("<I", len(s)) + s for s in strings)
    for size, count, frames in traces:
        body += struct.pack("<QQI", size, count, len(frames))
        body += b"".join(struct.pack("<IIi", f, fn, line) for f, fn, line in frames)
    size = 56 + len(body) + 4
    head = b"MSTRACE\0" + struct.pack("<IIQQQiIII", version, 0, size, 1700000000000000000, 4096, limit,
                                      len(strings), len(traces), 0)
    data = head + body
    return data + struct.pack("<I", zlib.crc32(data) & 0xFFFFFFFF)


NOS = 0xFFFFFFFF
good = snapshot_file([b"a.c", b"main", b"b.c"], [(64, 2, [(0, 1, 10), (2, NOS, 3)]), (8, 1, [(2, 1, 7)])])
put("snapshot", "valid", b"\x00" + good)
put("snapshot", "valid_repaired", b"\x01" + good[:-4])
put("snapshot", "empty", b"\x00" + snapshot_file([], []))
put("snapshot", "bad_crc", b"\x00" + good[:-1] + b"\x00")
put("snapshot", "truncated", b"\x00" + good[:40])
put("snapshot", "future_version", b"\x00" + snapshot_file([b"a.c"], [], version=2))
put("snapshot", "bad_index", b"\x01" + snapshot_file([b"a.c"], [(1, 1, [(5, NOS, 1)])])[:-4])
put("snapshot", "many_frames", b"\x01" + snapshot_file([b"f"], [(1, 1, [(0, NOS, i) for i in range(200)])],
                                                        limit=200)[:-4])

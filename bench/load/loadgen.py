#!/usr/bin/env python3
"""bench/load/loadgen.py — simulated apps speaking docs/PROTOCOL.md to memscoped, for load and soak tests (issue 8).

Each simulated app is one Unix-socket connection: hello, wait for welcome, then a ~4 KB stats message (30 types,
16 pools, as a real app sends) every interval, with a random phase so the daemon sees a steady stream rather than
bursts. Requests from the daemon are answered (a gc.collect gets a plausible result). Anything unexpected — a
refused or failed connect, a close by the daemon, a malformed frame — is counted as an error.

As a module: `await run(socket_path, apps, seconds, interval)` returns a summary dict.
As a program: loadgen.py --socket PATH [--apps N] [--seconds S] [--interval-ms MS]  prints the summary as JSON."""
import argparse
import asyncio
import json
import os
import random
import struct
import time

PID_BASE = 3_000_000  # simulated pids: above any real pid_max default, unique per app


def frame(obj):
    p = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(p)) + p


def stats_message(seq, i):
    types = [{"name": f"Type{k}", "alive": 1000 + k + seq % 7, "bytes": 64000 + k, "created": 5000 + seq,
              "destroyed": 4000 + seq} for k in range(30)]
    pools = [{"block_size": 16 * (k + 1), "pools": 3, "blocks_in_use": 100 + k, "blocks_free": 50} for k in range(16)]
    return {"type": "stats", "seq": seq, "dropped": 0, "time": time.time(),
            "heap": {"pool_bytes_in_use": 1_000_000 + seq, "system_bytes_in_use": 2_000_000, "arenas": 4},
            "pools": pools,
            "refcount": {"objects_alive": 30000 + i, "objects_created": 40000 + seq, "objects_destroyed": 10000},
            "types": types,
            "gc": {"enabled": True, "generations": [{"count": 1, "threshold": 700, "collections": seq,
                                                      "collected": seq * 2, "uncollectable": 0}] * 3,
                   "garbage": 0, "pause_total_ns": 1000 * seq, "pause_max_ns": 900},
            "trace": {"tracing": False, "current": 0, "peak": 0}}


class Totals:
    def __init__(self):
        self.connected = self.stats_sent = self.requests = self.errors = 0
        self.error_kinds = {}
        self.connect_s = []

    def error(self, kind):
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


async def read_frames(reader, writer, tot):
    """Answers the daemon's requests until the connection ends."""
    while True:
        head = await reader.readexactly(4)
        n = struct.unpack(">I", head)[0]
        if n == 0 or n > 1 << 20:
            tot.error("bad frame from the daemon")
            return
        msg = json.loads(await reader.readexactly(n))
        if msg.get("type") == "request":
            tot.requests += 1
            result = {"generation": msg.get("params", {}).get("generation", 2), "collected": 0,
                      "uncollectable": 0, "duration_ns": 1000, "by_type": []}
            writer.write(frame({"type": "reply", "id": msg["id"], "ok": True, "result": result}))


async def app(i, path, deadline, interval, tot, start_delay):
    await asyncio.sleep(start_delay)
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.open_unix_connection(path, limit=1 << 21)
    except OSError as e:
        tot.error(f"connect: {e.strerror}")
        return
    try:
        writer.write(frame({"type": "hello", "protocol": 1, "pid": PID_BASE + i, "app": f"sim{i}",
                            "library": "loadgen", "argv": ["sim", str(i)], "interval_ms": int(interval * 1000)}))
        head = await asyncio.wait_for(reader.readexactly(4), 10)
        welcome = json.loads(await reader.readexactly(struct.unpack(">I", head)[0]))
        if welcome.get("type") != "welcome":
            tot.error(f"not welcomed: {welcome.get('type')}")
            return
        tot.connected += 1
        tot.connect_s.append(time.monotonic() - t0)
        reads = asyncio.ensure_future(read_frames(reader, writer, tot))
        seq = 0
        nxt = time.monotonic() + random.random() * interval
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if reads.done():
                tot.error("closed by the daemon")
                return
            await asyncio.sleep(max(0.0, min(nxt, deadline) - now))
            if time.monotonic() >= deadline:
                break
            seq += 1
            writer.write(frame(stats_message(seq, i)))
            await writer.drain()
            tot.stats_sent += 1
            nxt += interval
        writer.write(frame({"type": "bye"}))
        await writer.drain()
        reads.cancel()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError) as e:
        tot.error(f"connection: {type(e).__name__}")
    finally:
        writer.close()


async def run(path, apps, seconds, interval=1.0, ramp=None):
    """Runs `apps` simulated apps for `seconds` (connections spread over `ramp` seconds, default min(2, seconds/4))."""
    tot = Totals()
    ramp = min(2.0, seconds / 4) if ramp is None else ramp
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(app(i, path, deadline, interval, tot, ramp * i / max(apps, 1)) for i in range(apps)))
    cs = sorted(tot.connect_s) or [0]
    return {"apps": apps, "seconds": seconds, "interval_s": interval, "connected": tot.connected,
            "stats_sent": tot.stats_sent, "requests_answered": tot.requests, "errors": tot.errors,
            "error_kinds": tot.error_kinds, "connect_ms_p50": round(cs[len(cs) // 2] * 1000, 1),
            "connect_ms_max": round(cs[-1] * 1000, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--apps", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--interval-ms", type=int, default=1000)
    a = ap.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.apps + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.apps + 1000), hard))
    print(json.dumps(asyncio.run(run(a.socket, a.apps, a.seconds, a.interval_ms / 1000)), indent=1))


if __name__ == "__main__":
    main()

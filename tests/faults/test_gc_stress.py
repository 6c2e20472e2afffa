#!/usr/bin/env python3
"""tests/faults/test_gc_stress.py — 10,000 remote collections in a row while the app rewires its object graph
(issue 8; suite integration, and suite stress which tools/test.sh runs in the ASan+UBSan build).

memscoped runs with --gc-rate 0 (no rate limit); fault_app gcstress keeps mutating a 2000-node graph full of
cycles and reaches a safe point (ms_poll) between every 50 mutations, where the daemon's collections run. Every
POST .../gc must be answered 200 with the app's result; the app then checks its graph node by node, drops it,
checks that a full collection frees every node and that ms_mem_validate() passes, and exits 0. Under ASan any
use-after-free or overflow in the collector, the agent or the daemon fails the run (and leaks show in the log,
which tools/test.sh greps). MEMSCOPE_GC_STRESS_N overrides the count (for quick local runs)."""
import http.client
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from msdtest import Daemon, env, run_tests, wait_until  # noqa: E402

N = int(os.environ.get("MEMSCOPE_GC_STRESS_N", "10000"))


def test_ten_thousand_remote_collections():
    d = Daemon("--gc-rate", "0", "--request-timeout", "20000")
    e = dict(os.environ, MEMSCOPE_SOCKET=d.socket, MEMSCOPE_APP_NAME="gcstress", MEMSCOPE_INTERVAL_MS="100")
    app = subprocess.Popen([env("FAULT_APP"), "gcstress", "--collections", str(N), "--seconds", "500"],
                           stdout=subprocess.PIPE, text=True, env=e)
    try:
        app_id = wait_until(lambda: (d.app("gcstress") or {}).get("connected") and d.app("gcstress")["id"], 10,
                            what="the app")
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)  # one kept-alive connection
        rng = random.Random(8)
        collected = 0
        t0 = time.monotonic()
        for i in range(N):
            body = json.dumps({"generation": rng.choice((0, 1, 2))})
            c.request("POST", f"/api/v1/apps/{app_id}/gc", body,
                      {"Authorization": "Bearer " + d.token, "Content-Type": "application/json"})
            r = c.getresponse()
            out = r.read()
            assert r.status == 200, f"collection {i}: {r.status} {out!r}"
            collected += json.loads(out)["collected"]
        elapsed = time.monotonic() - t0
        c.close()
        rc = app.wait(120)
        line = app.stdout.read().strip()
        print(f"  {N} remote collections in {elapsed:.1f} s ({N / elapsed:.0f}/s), {collected} objects collected; "
              f"app: {line}")
        assert rc == 0, f"the app found corruption or leaks (exit {rc}): {line}"
        assert d.stop() == 0, "memscoped exits cleanly"
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        d.stop()
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_ten_thousand_remote_collections])

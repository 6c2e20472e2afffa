#!/usr/bin/env python3
"""Attribution (issue 16) with known answers, through the real daemon's HTTP API and the real CLI.

Usage: test_attribution.py MEMSCOPED MEMSCOPE ATTRIBUTION_APP   (meson passes the built binaries)

attribution_app makes garbage cycles at its line A and keeps every 200th of 100,000 64-byte blocks made at its
line B (it prints both line numbers). Checked: GET .../gc/cycles names line A first with the cycles the app made;
GET .../pools/pinning names line B first with the pools and waste that this script computes from the app's own
allocator statistics (the stats message's "pools" section, which the daemon stores and /api/v1/apps/{id} shows),
not from the walk; bad arguments get a JSON 400; `memscope pools APP` prints the same answer. Polls with
deadlines, never sleeps as synchronization.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "prometheus"))
import fixture  # noqa: E402
from fixture import SANITIZER, check, die_with_parent, failures, http_get  # noqa: E402

MEMSCOPED, MEMSCOPE, APP_BIN = sys.argv[1:4]
NAME = "attribution-app"
POOL_SIZE = 16384
BLOCK = 64


def get_json(f, path):
    status, headers, body = http_get(f.url + path)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def run(f):
    f.start_daemon("--gc-rate", "0")
    env = dict(f.env, MEMSCOPE_SOCKET=f.sock, MEMSCOPE_INTERVAL_MS="200", MEMSCOPE_APP_NAME=NAME)
    app = subprocess.Popen([APP_BIN, "--duration", "200"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
    f.procs.append(app)
    first = app.stdout.readline()
    m = re.match(r"line_a=(\d+) line_b=(\d+) kept=(\d+)", first)
    if not check(m is not None, "the app says where its lines are", repr(first)):
        return
    line_a, line_b, kept = (int(x) for x in m.groups())

    def app_doc():
        status, apps = get_json(f, "/api/v1/apps")
        ids = [a["id"] for a in (apps or {}).get("apps", []) if a.get("name") == NAME and a.get("connected")]
        if not ids:
            return None
        status, doc = get_json(f, f"/api/v1/apps/{ids[0]}")
        pools = {p["block_size"]: p for p in (doc or {}).get("pools", [])}
        # A sample taken after the app printed: the 64-byte class holds exactly the kept blocks.
        return (ids[0], pools[BLOCK]) if BLOCK in pools and pools[BLOCK]["blocks_in_use"] == kept else None
    got = fixture.wait_for(app_doc, "the app's stats show its kept 64-byte blocks", 30)
    if not got:
        return
    app_id, cls = got

    # ---- Cycle makers: line A --------------------------------------------------------------------------------
    status, cyc = get_json(f, f"/api/v1/apps/{app_id}/gc/cycles")
    groups = (cyc or {}).get("groups", [])
    check(status == 200 and groups and (groups[0].get("site") or "").endswith(f"attribution_app.c:{line_a}"),
          f"gc/cycles names line A (attribution_app.c:{line_a}) first", json.dumps(cyc)[:600])
    if groups:
        check(groups[0].get("cycles") == 1000 and groups[0].get("objects") == 2000 and
              groups[0].get("types") == {"Pair": 2000},
              "line A: 1000 cycles of 2 Pair objects", json.dumps(groups[0]))

    # ---- Pool pinning: line B -------------------------------------------------------------------------------
    want_pools = cls["pools"]
    want_pool_waste = cls["pools"] * POOL_SIZE - cls["blocks_in_use"] * BLOCK
    # Independently of the allocator too: the 256-block pools, filled in address order, that hold a kept block.
    holding = sum(1 for first in range(0, 100000, 256)
                  if (first + 199) // 200 * 200 <= min(first + 255, 99999))
    check(want_pools == holding, f"the app's stats: {holding} pools of 64-byte blocks", json.dumps(cls))
    status, pin = get_json(f, f"/api/v1/apps/{app_id}/pools/pinning?max_utilization=0.25")
    ok = status == 200 and pin is not None
    check(ok, "GET pools/pinning answers 200 with JSON", f"{status} {json.dumps(pin)[:300]}")
    if not ok:
        return
    for k in ("pinned_pools", "pinned_arenas", "wasted_bytes", "sites", "classes"):
        check(k in pin, f"pools/pinning has {k}")
    sites = pin.get("sites", [])
    check(sites and sites[0]["site"].endswith(f"attribution_app.c:{line_b}"),
          f"pools/pinning names line B (attribution_app.c:{line_b}) first", json.dumps(sites[:3]))
    if sites:
        s = sites[0]
        check(s["pools"] == want_pools and s["blocks"] == kept,
              f"line B: {want_pools} pools, {kept} blocks", json.dumps(s))
        check(s["wasted_bytes"] >= want_pool_waste - 1,
              f"line B's waste covers its pools' ({want_pool_waste} bytes)", json.dumps(s))
        check(0 <= s["oldest_age_s"] < 300, "line B: oldest_age_s is an age in seconds", json.dumps(s))
    c64 = [c for c in pin.get("classes", []) if c["size"] == BLOCK]
    check(c64 and c64[0]["pinned_pools"] == want_pools, "classes: the 64-byte class with its pools", json.dumps(c64))
    check(pin["wasted_bytes"] == pin["pool_wasted_bytes"] + pin["arena_wasted_bytes"] and
          pin["pool_wasted_bytes"] >= want_pool_waste, "wasted_bytes = the pools' + the arenas'", json.dumps(pin)[:400])
    check(pin.get("walk_ms", -1) >= 0 and pin.get("pools_walked", 0) >= want_pools, "the walk reports its cost")

    status, low = get_json(f, f"/api/v1/apps/{app_id}/pools/pinning?max_utilization=0")
    check(status == 200 and low["pinned_pools"] == 0 and low["sites"] == [], "max_utilization=0 pins nothing")
    for q, needle in (("max_utilization=2", "max_utilization"), ("max_utilization=x", "max_utilization"),
                      ("limit=0", "limit")):
        status, err = get_json(f, f"/api/v1/apps/{app_id}/pools/pinning?{q}")
        check(status == 400 and needle in (err or {}).get("error", ""), f"pools/pinning?{q} -> JSON 400",
              f"{status} {err}")
    status, err = get_json(f, "/api/v1/apps/999999/pools/pinning")
    check(status == 404, "pools/pinning of no app -> 404")

    # ---- The CLI -------------------------------------------------------------------------------------------
    cenv = dict(f.env, MEMSCOPE_SOCKET=f.sock)
    r = subprocess.run([MEMSCOPE, "--url", f.url, "pools", NAME, "--json"], env=cenv, capture_output=True, text=True,
                       timeout=60)
    try:
        j = json.loads(r.stdout)
    except ValueError:
        j = None
    check(r.returncode == 0 and j is not None and bool(j.get("sites")) and j["sites"][0]["site"].endswith(f":{line_b}"),
          "memscope pools APP --json: line B first", r.stdout[:300] + r.stderr[:300])
    r = subprocess.run([MEMSCOPE, "--url", f.url, "pools", NAME], env=cenv, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and f"attribution_app.c:{line_b}" in r.stdout and "Pinned" in r.stdout,
          "memscope pools APP: a table naming line B", r.stdout[:600] + r.stderr[:300])
    for out in (r.stderr,):
        check(not SANITIZER.search(out), "the CLI's stderr has no sanitizer report")

    app.stdin.close()
    check(app.wait(timeout=30) == 0, "the app exits cleanly")
    err = app.stderr.read()
    check(not SANITIZER.search(err), "the app's stderr has no sanitizer report", err[-2000:])


def main():
    f = fixture.Fixture(MEMSCOPED, APP_BIN, "memscope-attr-")
    try:
        run(f)
    finally:
        log = f.stop()
        check(not SANITIZER.search(log), "memscoped's stderr has no sanitizer report", log[-3000:])
    print(f"attribution: {len(failures)} failed" if failures else "attribution: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

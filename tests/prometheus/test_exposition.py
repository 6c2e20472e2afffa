#!/usr/bin/env python3
"""GET /metrics against a real memscoped and real docstore apps (issue 7).

Usage: test_exposition.py MEMSCOPED DOCSTORE PROMTOOL

Checks: `promtool check metrics` accepts the 0.0.4 text (with an app whose name needs escaping); the values
match the app's own JSON document; the per-type cut (--metrics-top-types 3) keeps the 3 largest types by bytes;
OpenMetrics is served when Accept asks for it (Content-Type, # EOF, counters' families without _total, UNIT
lines); the daemon's self-metrics count frames, a malformed frame and HTTP answers by code. Exits 77 (skipped)
when promtool is missing, 1 when a check failed.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import check, http_get, main_with_daemon, parse_samples, series, wait_for  # noqa: E402

MEMSCOPED, DOCSTORE, PROMTOOL = sys.argv[1:4]
APP = "promtest-docstore"
WEIRD = 'we"ird\\app\nname'  # a quote, a backslash and a newline: all three must be escaped


def main():
    return main_with_daemon(PROMTOOL, "promtool", MEMSCOPED, DOCSTORE, "memscope-metrics-", run)


def run(f):
    docs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")
    p = subprocess.run([PROMTOOL, "check", "config", os.path.join(docs, "prometheus.yml")], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 0, "promtool check config accepts docs/prometheus.yml", p.stdout + p.stderr)

    f.start_daemon("--metrics-top-types", "3")
    f.start_app(APP, env_extra={"MEMSCOPE_GC_CYCLES": "1"})  # cycle makers counted from the start (issue 16)
    f.start_app(WEIRD)

    def both_apps_have_stats():
        # The agent's first sample goes out on connect, before the demo's first tick has made its objects: wait
        # for a sample with more types than the cut keeps, or the top-K checks below would see one type.
        st, _, body = f.metrics()
        s = parse_samples(body) if st == 200 else {}
        ok = all(series(s, "memscope_objects_alive", app=a) for a in (APP, WEIRD))
        ntypes = series(s, "memscope_types", app=APP)
        ok = ok and ntypes and max(ntypes.values()) > 3
        ok = ok and series(s, "memscope_gc_cycle_objects_total", app=APP)  # its collections found cycles
        return (body, s) if ok else None
    got = wait_for(both_apps_have_stats, "both apps' stats appear in /metrics", 20)
    if not got:
        return
    text, s = got

    st, headers, text = f.metrics()
    check(st == 200 and headers.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8",
          "0.0.4 text by default, with its Content-Type", f"{st} {headers.get('Content-Type')}")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "promtool check metrics accepts the output", p.stdout + p.stderr)
    cyc = series(parse_samples(text), "memscope_gc_cycle_objects_total", app=APP)
    check(0 < len(cyc) <= 10 and all(v > 0 for v in cyc.values()) and "# TYPE memscope_gc_cycle_objects_total counter"
          in text, "the cycle makers' counter: at most 10 sites, each with objects", str(cyc)[:300])
    check(not series(parse_samples(text), "memscope_gc_cycle_objects_total", app=WEIRD),
          "an app that does not count cycle makers has no such series")
    check('app="we\\"ird\\\\app\\nname"' in text, "the app name's quote, backslash and newline are escaped",
          next((line for line in text.splitlines() if "we" in line and "ird" in line), ""))

    # Values are the app's own: compare with its JSON document, fetched right after (the app keeps working, so
    # compare slow-moving values and invariants rather than exact live counters).
    s = parse_samples(text)
    apps = json.loads(http_get(f.url + "/api/v1/apps")[2])["apps"]
    me = next(a for a in apps if a["name"] == APP)
    pid = str(me["pid"])
    check(series(s, "memscope_app_connected", app=APP, pid=pid) == {frozenset({("app", APP), ("pid", pid)}): 1.0},
          "memscope_app_connected{app,pid} is 1")
    doc = json.loads(http_get(f.url + f"/api/v1/apps/{me['id']}")[2])
    thr = {ls: v for ls, v in series(s, "memscope_gc_threshold", app=APP).items()}
    want = {str(i): g["threshold"] for i, g in enumerate(doc["gc"]["generations"])}
    check({dict(ls)["generation"]: v for ls, v in thr.items()} == want,
          "memscope_gc_threshold{generation} matches the app's gc.generations[].threshold", f"{thr} vs {want}")
    arena = series(s, "memscope_heap_arena_size_bytes", app=APP)
    check(list(arena.values()) == [doc["heap"]["arena_size"]], "memscope_heap_arena_size_bytes matches heap.arena_size")
    used = series(s, "memscope_pool_used_blocks", app=APP)
    check(len(used) > 0 and all(dict(ls)["size_class"].isdigit() for ls in used),
          "memscope_pool_used_blocks has a size_class label per non-empty class", str(used)[:300])

    # The top-K cut: 3 types, the largest by bytes in the same document.
    types = series(s, "memscope_type_alive_bytes", app=APP)
    ntypes = series(s, "memscope_types", app=APP)
    check(len(types) == 3, "--metrics-top-types 3 keeps 3 types per app", str(types))
    check(list(ntypes.values()) and list(ntypes.values())[0] > 3, "memscope_types counts every type before the cut",
          str(ntypes))
    smallest_kept = min(types.values()) if types else 0
    alive_counts = series(s, "memscope_type_objects_alive", app=APP)
    check(len(alive_counts) == 3 and {dict(ls)["type"] for ls in alive_counts} == {dict(ls)["type"] for ls in types},
          "every per-type family has the same 3 types")
    check(smallest_kept > 0, "the kept types hold bytes", str(types))

    # OpenMetrics, as Prometheus asks for it.
    accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
              "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
    st, headers, om = f.metrics(accept)
    check(st == 200 and headers.get("Content-Type", "").startswith("application/openmetrics-text; version=1.0.0"),
          "OpenMetrics when Accept asks for it", headers.get("Content-Type", ""))
    check(om.endswith("# EOF\n") and om.count("# EOF") == 1, "OpenMetrics ends with exactly one # EOF line")
    check("# TYPE memscope_objects_created counter\n" in om and "memscope_objects_created_total{" in om,
          "OpenMetrics counters: the family has no _total, its samples do")
    check("# UNIT memscope_heap_pool_bytes bytes\n" in om and "# UNIT memscope_gc_pause_seconds seconds\n" in om,
          "OpenMetrics UNIT lines for _bytes and _seconds families")
    check("# TYPE memscope_daemon_build info\n" in om and "memscope_daemon_build_info{" in om,
          "OpenMetrics info family for the build")
    bad = [line for line in om.splitlines() if line.startswith("# TYPE") and line.endswith(" counter")
           and line.split()[2].endswith("_total")]
    check(not bad, "no OpenMetrics counter family name ends in _total", str(bad))
    st, headers, _ = f.metrics("application/openmetrics-text;q=0, text/plain")
    check(headers.get("Content-Type", "").startswith("text/plain"), "q=0 on OpenMetrics gets the 0.0.4 text")

    # Self-metrics: frames, a malformed frame, HTTP codes.
    http_get(f.url + "/no/such/path")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(f.sock)
        c.sendall(struct.pack(">I", 0))  # a frame announcing 0 bytes: a protocol error
        c.settimeout(5)
        try:
            c.recv(1)  # the daemon closes the connection
        except OSError:
            pass

    def self_metrics():
        s2 = parse_samples(f.metrics()[2])
        mal = s2.get(("memscope_daemon_frames_malformed_total", frozenset()), 0)
        return s2 if mal >= 1 else None
    s2 = wait_for(self_metrics, "memscope_daemon_frames_malformed_total counts the bad frame", 10)
    if s2:
        check(s2.get(("memscope_daemon_frames_received_total", frozenset()), 0) >= 4,
              "memscope_daemon_frames_received_total counts the apps' frames")
        check(s2.get(("memscope_daemon_http_requests_total", frozenset({("code", "404")})), 0) >= 1,
              "memscope_daemon_http_requests_total{code=\"404\"} counts the unknown path")
        check(s2.get(("memscope_daemon_http_requests_total", frozenset({("code", "200")})), 0) >= 3,
              "memscope_daemon_http_requests_total{code=\"200\"} counts the scrapes")
        check(s2.get(("memscope_daemon_connected_apps", frozenset()), 0) == 2, "memscope_daemon_connected_apps is 2")
        check(re.search(r'^memscope_daemon_build_info\{version="[0-9.]+",protocol="1"\} 1$', f.metrics()[2], re.M)
              is not None, "memscope_daemon_build_info carries the version")

    # HEAD: headers only. POST without a token: the API's 401, /metrics is read-only.
    r = urllib.request.urlopen(urllib.request.Request(f.url + "/metrics", method="HEAD"), timeout=5)
    check(r.status == 200 and r.read() == b"", "HEAD /metrics answers 200 without a body")
    try:
        urllib.request.urlopen(urllib.request.Request(f.url + "/metrics", data=b"{}", method="POST"), timeout=5)
        st = 200
    except urllib.error.HTTPError as e:
        st = e.code
    check(st == 401, "POST /metrics without a token is 401", str(st))


if __name__ == "__main__":
    sys.exit(main())

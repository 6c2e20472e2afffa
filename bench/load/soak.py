#!/usr/bin/env python3
"""bench/load/soak.py — memscoped under load (issue 8): N simulated apps at 1 Hz (loadgen.py) plus wrk on the
API plus a stream of forwarded POST .../gc, for S seconds. Reports errors, daemon RSS and CPU over time, and the
API's throughput and latency percentiles.

  soak.py [--memscoped PATH] [--apps 1000] [--seconds 60] [--wrk-connections 16] [--check] [--json FILE]

--check (CI): exit 1 unless there were no errors anywhere, every app connected, and RSS grew after warm-up (the
first quarter, at least 3 s) by no more than the history rings' documented allowance plus 4 MiB.
Without wrk installed, a Python HTTP client stands in for it (lower rates, same checks)."""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_BYTES = 80  # sizeof(msd_sample): what one history point costs per app (daemon/history.h)


def proc_stat(pid):
    """(RSS kB, CPU seconds) of pid."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_daemon(path, tmp):
    sock = os.path.join(tmp, "run", "memscoped.sock")
    p = subprocess.Popen([path, "--socket", sock, "--http", "127.0.0.1:0", "--data-dir", os.path.join(tmp, "data"),
                          "--max-http", "512"], stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "log"), "w"),
                         text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line or "")
        if m:
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()  # keep draining
            return p, sock, int(m.group(1)), m.group(2)
        if not line and p.poll() is not None:
            break
    p.kill()
    sys.exit("memscoped did not start")


def get_json(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, json.loads(body)


def parse_wrk(out):
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    res = {"raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        res[f"p{pct}_ms"] = float(m.group(1)) * unit[m.group(2)] if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(map(int, m.groups())) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    return res


def python_http_load(port, path, seconds, conns):
    """wrk's stand-in: conns threads with kept-alive connections."""
    lat, errors = [], [0]
    stop = time.monotonic() + seconds

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop:
            t = time.monotonic()
            try:
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    errors[0] += 1
            except (OSError, http.client.HTTPException):
                errors[0] += 1
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            lat.append((time.monotonic() - t) * 1000)
    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] if lat else None  # noqa: E731
    return {"rps": len(lat) / seconds, "requests": len(lat), "p50_ms": q(.5), "p75_ms": q(.75), "p90_ms": q(.9),
            "p99_ms": q(.99), "socket_errors": errors[0], "non_2xx": 0, "tool": "python"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memscoped", default=os.environ.get("MEMSCOPED", "build/daemon/memscoped"))
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--wrk-connections", type=int, default=16)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="msd-soak-")
    daemon, sock, port, token = start_daemon(a.memscoped, tmp)
    gen = subprocess.Popen([sys.executable, os.path.join(HERE, "loadgen.py"), "--socket", sock, "--apps", str(a.apps),
                            "--seconds", str(a.seconds)], stdout=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        # Wait for the apps to be in (polling the API, bounded by the ramp-up plus slack).
        deadline = t0 + min(2.0, a.seconds / 4) + 15
        n = 0
        while time.monotonic() < deadline:
            st, j = get_json(port, "/healthz")
            n = j.get("connected", 0)
            if n >= a.apps:
                break
            time.sleep(0.1)
        t_in = time.monotonic() - t0
        st, j = get_json(port, "/api/v1/apps")
        target = f"/api/v1/apps/{j['apps'][0]['id']}" if j.get("apps") else "/healthz"
        # Samples of RSS and CPU, once a second, in a thread.
        samples, stop = [], threading.Event()

        def sampler():
            while not stop.is_set():
                try:
                    samples.append((time.monotonic() - t0, *proc_stat(daemon.pid)))
                except OSError:
                    pass
                stop.wait(1.0)
        threading.Thread(target=sampler, daemon=True).start()
        # Forwarded requests beside the reads: a POST .../gc to a random app every 200 ms.
        post = {"sent": 0, "errors": 0, "statuses": {}}
        post_until = t0 + a.seconds - 1.5  # the simulated apps say goodbye at the end: stop asking them before

        def poster():
            while not stop.is_set() and time.monotonic() < post_until:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    c.request("POST", f"/api/v1/apps/{random.randint(1, a.apps)}/gc", '{"generation":0}',
                              {"Authorization": "Bearer " + token})
                    r = c.getresponse()
                    r.read()
                    post["sent"] += 1
                    post["statuses"][r.status] = post["statuses"].get(r.status, 0) + 1
                    if r.status not in (200, 429):  # 429: the per-app rate limit (2/s), which is not an error
                        post["errors"] += 1
                except (OSError, http.client.HTTPException):
                    post["errors"] += 1
                finally:
                    c.close()
                stop.wait(0.2)
        threading.Thread(target=poster, daemon=True).start()
        remaining = max(1, int(a.seconds - (time.monotonic() - t0) - 1))
        if shutil.which("wrk"):
            out = subprocess.run(["wrk", "-t2", f"-c{a.wrk_connections}", f"-d{remaining}s", "--latency",
                                  f"http://127.0.0.1:{port}{target}"], capture_output=True, text=True).stdout
            web = parse_wrk(out)
            web["tool"] = "wrk"
            web.pop("raw")
        else:
            web = python_http_load(port, target, remaining, min(a.wrk_connections, 8))
        gen_out = gen.communicate(timeout=a.seconds + 60)[0]
        stop.set()
        load = json.loads(gen_out)
        rss_end, cpu_end = proc_stat(daemon.pid)
    finally:
        if gen.poll() is None:
            gen.kill()
        daemon.send_signal(signal.SIGTERM)
        try:
            rc = daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            rc = None
        log = open(os.path.join(tmp, "log")).read()
        shutil.rmtree(tmp, ignore_errors=True)

    warm = max(3.0, a.seconds / 4)
    after = [s for s in samples if s[0] >= warm]
    rss_warm = after[0][1] if after else samples[0][1]
    rss_max = max([s[1] for s in samples] + [rss_end])
    cpu_span = (after[-1][2] - after[0][2]) / max(after[-1][0] - after[0][0], 1e-9) if len(after) > 1 else 0
    # The history rings grow by doubling up to 1024 samples (80 KiB) per app: their growth is by design.
    ring = lambda t: max(16, 1 << max(0, int(t) - 1).bit_length()) * SAMPLE_BYTES  # noqa: E731
    ring_allow_kb = a.apps * (ring(a.seconds + 1) - ring(warm)) / 1024
    res = {
        "apps": a.apps, "seconds": a.seconds, "all_connected_after_s": round(t_in, 2), "loadgen": load,
        "http": web, "gc_posts": post, "daemon_exit": rc,
        "rss_kb": {"at_warmup": rss_warm, "max": rss_max, "end": rss_end,
                   "growth_after_warmup": rss_max - rss_warm, "history_ring_allowance": round(ring_allow_kb)},
        "daemon_cpu_percent_of_one_core": round(cpu_span * 100, 1),
        "rss_series": [(round(t, 1), r) for t, r, _ in samples],
    }
    print(f"memscoped soak: {a.apps} apps at 1 Hz + {web['tool']} ({a.wrk_connections} connections) on GET "
          f"{target} + a forwarded POST gc every 200 ms, {a.seconds:.0f} s")
    print(f"  apps: {load['connected']}/{a.apps} connected (all in after {t_in:.1f} s), {load['stats_sent']} stats "
          f"sent, {load['errors']} errors {load['error_kinds'] or ''}")
    ms = lambda v: "?" if v is None else f"{v:.2f}"  # noqa: E731
    print(f"  API: {web['requests']} requests, {web['rps']:.0f}/s, latency p50 {ms(web['p50_ms'])} ms, p90 "
          f"{ms(web['p90_ms'])} ms, p99 {ms(web['p99_ms'])} ms; socket errors {web['socket_errors']}, non-2xx "
          f"{web['non_2xx']}")
    print(f"  POST gc: {post['sent']} sent, {post['errors']} errors, statuses {post['statuses']}")
    print(f"  daemon: RSS {rss_warm} kB after warm-up ({warm:.0f} s), max {rss_max} kB, end {rss_end} kB "
          f"(growth {rss_max - rss_warm} kB; history rings may take {ring_allow_kb:.0f} kB); CPU "
          f"{cpu_span * 100:.1f}% of one core; exit {rc}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.check:
        problems = []
        if load["errors"] or load["connected"] != a.apps:
            problems.append(f"loadgen: {load['connected']}/{a.apps} connected, errors {load['error_kinds']}")
        if web["socket_errors"] or web["non_2xx"]:
            problems.append(f"HTTP: {web['socket_errors']} socket errors, {web['non_2xx']} non-2xx")
        if post["errors"]:
            problems.append(f"POST gc: {post['errors']} errors")
        if rss_max - rss_warm > ring_allow_kb + 4096:
            problems.append(f"RSS grew {rss_max - rss_warm} kB after warm-up")
        if rc != 0:
            problems.append(f"memscoped exited with {rc}; log: {log[-2000:]}")
        for p in problems:
            print("FAIL:", p)
        sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""tests/faults/test_http_abuse.py — memscoped's HTTP side against hostile or broken clients (issue 8, suite
integration).

  token_on_every_state_changing_endpoint  every POST endpoint (and unknown POST paths) answers 401 with
                      WWW-Authenticate for a missing, wrong, truncated or mis-schemed token, and the app never
                      receives a request; other methods are 405; GET on a POST endpoint changes nothing
  foreign_host        Host names that are not ours are 403 on GET and on POST with the token (DNS rebinding)
  path_traversal      .., encoded .., //, hidden files and symlinks out of --web-dir are 404, for the embedded
                      dashboard and for --web-dir
  huge_requests       a body over 64 KiB is 413 (with and without Content-Length), headers over MHD's 64 KiB
                      connection memory are 431, a huge URL is 414; the daemon keeps serving
  slowloris           48 connections dripping headers a byte at a time do not slow other clients (p100 < 1 s);
                      connections over --max-http are turned away at once (not queued) and service resumes as
                      soon as they go; the apps' stats keep flowing meanwhile"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from msdtest import Daemon, env, run_tests, wait_until  # noqa: E402

POST_ENDPOINTS = ["gc", "gc/enable", "gc/disable", "gc/threshold", "trace", "trace/snapshots"]


def start_app(d, name):
    p = subprocess.Popen([env("FAKE_APP"), "--socket", d.socket, "--name", name, "--interval-ms", "100"],
                         stdout=subprocess.DEVNULL)
    a = wait_until(lambda: (d.app(name) or {}).get("samples", 0) >= 1 and d.app(name), 5, what=f"app {name}")
    return p, a["id"], a["pid"]


def raw(d, data, timeout=5):
    """Sends raw bytes, returns the status code of the answer (0 when the connection closed without one)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        while b"\r\n" not in buf:
            b = s.recv(4096)
            if not b:
                break
            buf += b
        return int(buf.split()[1]) if buf.startswith(b"HTTP/") else 0
    except (ConnectionResetError, BrokenPipeError):
        return 0
    finally:
        s.close()


def test_token_on_every_state_changing_endpoint():
    d = Daemon()
    app, app_id, pid = start_app(d, "victim")
    try:
        bodies = {"gc": '{"generation":2}', "gc/threshold": '{"thresholds":[1,1,1]}',
                  "trace": '{"action":"start"}'}
        bad_tokens = [None, "wrong", d.token[:-1], d.token + "0", d.token.upper() if d.token.upper() != d.token
                      else "X" + d.token[1:], " " + d.token]
        count = 0
        for target in (app_id, pid):
            for ep in POST_ENDPOINTS + ["nothing", "gc/../gc"]:
                path = f"/api/v1/apps/{target}/{ep}"
                for tok in bad_tokens:
                    st, out = d.request("POST", path, bodies.get(ep, "{}"), token=tok)
                    assert st == 401, f"POST {path} with token {tok!r}: {st} {out!r}"
                    count += 1
                for scheme in ("Basic", "bearer", "Token", ""):
                    st, _ = d.request("POST", path, "{}", headers={"Authorization": f"{scheme} {d.token}"})
                    assert st == 401, f"POST {path} with scheme {scheme!r}: {st}"
                    count += 1
        # The 401 says how to authenticate.
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
        c.request("POST", f"/api/v1/apps/{app_id}/gc", "{}")
        r = c.getresponse()
        assert r.status == 401 and r.getheader("WWW-Authenticate") == "Bearer"
        c.close()
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            st, _ = d.request(method, f"/api/v1/apps/{app_id}/gc", "{}", token=True)
            assert st == 405, f"{method}: {st}"
        for ep in POST_ENDPOINTS:
            if ep != "trace/snapshots":  # GET lists snapshots: read-only
                st, _ = d.request("GET", f"/api/v1/apps/{app_id}/{ep}")
                assert st == 404, f"GET {ep}: {st}"
        # Nothing reached the app: its collector was never run, enabled, disabled or re-tuned.
        st, s = d.json("GET", f"/api/v1/apps/{app_id}")
        gens = s["gc"]["generations"]
        assert s["gc"]["enabled"] and all(g["collections"] == 0 for g in gens), s["gc"]
        assert [g["threshold"] for g in gens] == [700, 10, 10]
        assert not s["trace"].get("tracing"), s["trace"]
        assert d.json("GET", "/healthz")[1]["pending_requests"] == 0
        # The positive control: with the token the same request goes through.
        assert d.request("POST", f"/api/v1/apps/{app_id}/gc", '{"generation":0}', token=True)[0] == 200
        print(f"  {count} unauthorized POSTs on {len(POST_ENDPOINTS) + 2} paths x 2 ids: all 401")
    finally:
        app.kill()
        app.wait()
        d.stop()
        d.cleanup()


def test_foreign_host():
    d = Daemon()
    try:
        p = d.port
        bad = ["evil.example", f"evil.example:{p}", f"localhost.evil.example:{p}", f"127.0.0.1.nip.io:{p}",
               f"127.0.0.2:{p}", f"0.0.0.0:{p}", f"localhost:{p + 1}", f"localhost:{p}x", f"[::2]:{p}",
               f"[::1:{p}", "", "localhost:", f"user@localhost:{p}", f"localhost:{p}/x"]
        for h in bad:
            st, _ = d.request("GET", "/api/v1/apps", host=h)
            assert st in (400, 403), f"GET with Host {h!r}: {st}"
            st, _ = d.request("POST", "/api/v1/apps/1/gc", "{}", token=True, host=h)
            assert st in (400, 403), f"POST with Host {h!r}: {st}"
            st, _ = d.request("GET", "/", host=h)
            assert st in (400, 403), f"dashboard with Host {h!r}: {st}"
        # HTTP/1.0 may omit Host: refused too.
        assert raw(d, b"GET /api/v1/apps HTTP/1.0\r\n\r\n") == 403
        for h in (f"localhost:{p}", f"LOCALHOST:{p}", f"127.0.0.1:{p}", "127.0.0.1", f"[::1]:{p}"):
            st, _ = d.request("GET", "/api/v1/apps", host=h)
            assert st == 200, f"Host {h!r}: {st}"
        print(f"  {len(bad)} foreign Host values x 3 requests refused")
    finally:
        d.stop()
        d.cleanup()


TRAVERSALS = [
    "/assets/../../../../etc/passwd", "/assets/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2fetc%2fpasswd",
    "/assets//etc/passwd", "/assets/.hidden", "/assets/../index.html", "/assets/%2fetc%2fpasswd",
    "/../../etc/passwd", "/assets/..\\..\\etc\\passwd", "/assets/secret/../../secret.txt",
    "/assets/link.js", "/assets/a%00.js", "/assets/" + "a/" * 300 + "x.js", "/index.html/..", "/assets/.",
]


def check_traversals(d):
    for path in TRAVERSALS:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
        s.close()
        status = int(buf.split()[1]) if buf.startswith(b"HTTP/") else 0
        assert status in (400, 404), f"GET {path}: {status}"
        assert b"root:" not in buf and b"TOP SECRET" not in buf, f"GET {path} leaked a file"
    assert d.request("GET", "/")[0] == 200, "the dashboard itself is served"


def test_path_traversal():
    d = Daemon()
    try:
        check_traversals(d)
    finally:
        d.stop()
        d.cleanup()
    # --web-dir: a secret beside the web directory and a symlink inside it pointing out.
    tmp = tempfile.mkdtemp(prefix="msd-web-")
    web = os.path.join(tmp, "web")
    os.makedirs(os.path.join(web, "assets", "secret"))
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<html>test</html>")
    with open(os.path.join(tmp, "secret.txt"), "w") as f:
        f.write("TOP SECRET")
    os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(web, "assets", "link.js"))
    d = Daemon("--web-dir", web)
    try:
        check_traversals(d)
        print(f"  {len(TRAVERSALS)} traversal paths x 2 (embedded, --web-dir): 404")
    finally:
        d.stop()
        d.cleanup()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def test_huge_requests():
    d = Daemon()
    try:
        big = "x" * 100_000
        st, _ = d.request("POST", "/api/v1/apps/1/gc", big, token=True)
        assert st == 413, f"100 KB body: {st}"
        # Chunked: no Content-Length to refuse early; the body is counted as it comes.
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        s.sendall(f"POST /api/v1/apps/1/gc HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\nAuthorization: Bearer {d.token}"
                  f"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
        chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
        try:
            for _ in range(8):
                s.sendall(chunk)
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = s.recv(4096)
        s.close()
        assert buf.startswith(b"HTTP/1.1 413"), buf[:60]
        st, _ = d.request("GET", "/api/v1/apps", headers={"X-Big": "h" * 100_000})
        assert st == 431, f"a 100 KB header: {st}"
        st, _ = d.request("GET", "/api/v1/apps", headers={f"X-H{i}": "v" * 40 for i in range(2000)})
        assert st == 431, f"2000 headers: {st}"
        st = raw(d, f"GET /{'a' * 100_000} HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n\r\n".encode())
        assert st in (414, 431), f"a 100 KB URL: {st}"
        assert d.request("GET", "/healthz")[0] == 200
        print("  100 KB body 413 (Content-Length and chunked), 100 KB header and 2000 headers 431, 100 KB URL "
              f"{st}")
    finally:
        d.stop()
        d.cleanup()


def slow_sockets(d, n):
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", d.port), timeout=2)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    return socks


def drip(socks, stop, sent):
    """Sends a never-ending request a byte at a time on every socket, one round every 50 ms."""
    req = b"GET /api/v1/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10_000
    i = 0
    while not stop.is_set() and i < len(req):
        for s in socks:
            try:
                s.send(req[i:i + 1])
                sent[0] += 1
            except OSError:
                pass
        i += 1
        stop.wait(0.05)


def timed_get(d):
    t = time.monotonic()
    try:
        st, _ = d.request("GET", "/api/v1/apps", timeout=5)
    except OSError:
        st = 0
    return st, time.monotonic() - t


def test_slowloris():
    d = Daemon("--max-http", "64")
    app, app_id, _ = start_app(d, "busy")
    try:
        # Below the connection limit: others are served as if nothing happened.
        stop = threading.Event()
        sent = [0]
        socks = slow_sockets(d, 48)
        t = threading.Thread(target=drip, args=(socks, stop, sent), daemon=True)
        t.start()
        lat = []
        t_a = time.monotonic()
        while len(lat) < 40 or time.monotonic() - t_a < 2.0:  # at least 40 requests over at least 2 s of dripping
            st, dt = timed_get(d)
            assert st == 200, f"a normal client got {st} beside 48 slow ones"
            lat.append(dt)
        stop.set()
        t.join()
        for s in socks:
            s.close()
        worst = max(lat)
        assert worst < 1.0, f"a normal request took {worst:.2f} s"
        # Over the limit: the extra connections are turned away at once, not queued; the daemon's loop is not
        # blocked (apps keep sending stats); service returns as soon as the slow clients go.
        samples0 = d.app("busy")["samples"]
        socks = slow_sockets(d, 100)
        t0 = time.monotonic()
        st, dt = timed_get(d)
        assert dt < 2.0, f"a request at the limit hung for {dt:.1f} s (status {st})"
        wait_until(lambda: (d.app("busy") or {}).get("samples", 0) >= samples0 + 3, 5,
                   what="stats still flowing with the HTTP side at its limit")
        for s in socks:
            s.close()
        wait_until(lambda: timed_get(d)[0] == 200, 3, what="service after the slow clients left")
        back = time.monotonic() - t0
        print(f"  48 slow clients ({sent[0]} drips): {len(lat)} normal GETs, worst {worst * 1000:.0f} ms; with 100 slow "
              f"clients (over --max-http 64) a GET took {dt * 1000:.0f} ms (status {st}); back "
              f"{back * 1000:.0f} ms later, after the slow clients left")
        assert st == 200, "the longest-waiting slow client made room for a whole request"
        # The header deadline: a connection still dripping its headers after 10 s is closed.
        s = socket.create_connection(("127.0.0.1", d.port), timeout=1)
        t0 = time.monotonic()
        closed = None
        while time.monotonic() - t0 < 20 and closed is None:
            try:
                s.send(b"G")
                s.settimeout(0.2)
                if s.recv(4096) == b"":
                    closed = time.monotonic() - t0
            except socket.timeout:
                pass
            except OSError:
                closed = time.monotonic() - t0
        s.close()
        assert closed is not None and 9.5 <= closed <= 13, f"a dripping client was closed after {closed} s"
        print(f"  a client dripping its headers was closed after {closed:.1f} s (deadline 10 s)")
    finally:
        app.kill()
        app.wait()
        d.stop()
        d.cleanup()


if __name__ == "__main__":
    run_tests([test_token_on_every_state_changing_endpoint, test_foreign_host, test_path_traversal,
               test_huge_requests, test_slowloris])

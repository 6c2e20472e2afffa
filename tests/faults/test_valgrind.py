#!/usr/bin/env python3
"""tests/faults/test_valgrind.py — memscoped under valgrind memcheck for a short scenario (issue 8, suite
integration): three apps connect and send stats, every GET endpoint is hit (API, dashboard, SSE, /metrics),
collections and tracing are forwarded (with and without the token), snapshots are stored and diffed, one app is
SIGKILLed, a malformed agent is thrown out, and the daemon is stopped with SIGTERM. valgrind runs with
--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite: any invalid access, use of uninitialized
memory or definite leak makes the daemon's exit status 1 (and the log says what)."""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from msdtest import Daemon, env, frame, hello, connect_unix, run_tests, wait_until  # noqa: E402


def test_daemon_under_memcheck():
    vg_log = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"msd-valgrind-{os.getpid()}.log")
    d = Daemon("--gc-rate", "0", wrapper=["valgrind", "--error-exitcode=1", "--leak-check=full",
                                         "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                                         f"--log-file={vg_log}"], ready_timeout=60)
    apps = []
    try:
        for name, extra in (("alpha", []), ("beta", ["--grow", "5"]), ("gamma", ["--types", "40"])):
            apps.append(subprocess.Popen([env("FAKE_APP"), "--socket", d.socket, "--name", name, "--interval-ms",
                                          "100", *extra], stdout=subprocess.DEVNULL))
        wait_until(lambda: sum(a.get("samples", 0) >= 3 for a in d.apps()) == 3, 60, step=0.1, what="3 apps")
        ids = {a["name"]: a["id"] for a in d.apps()}
        a, b = ids["alpha"], ids["beta"]
        for path in ("/healthz", "/api/v1/version", "/api/v1/apps", f"/api/v1/apps/{a}",
                     f"/api/v1/apps/{a}/history?seconds=60", f"/api/v1/apps/{b}/growth", "/api/v1/apps/999",
                     "/", "/assets/app.js", "/metrics", "/nothing"):
            st, _ = d.request("GET", path, timeout=30)
            assert st in (200, 404), f"GET {path}: {st}"
        assert d.request("POST", f"/api/v1/apps/{a}/gc", '{"generation":2}', token=True, timeout=30)[0] == 200
        assert d.request("POST", f"/api/v1/apps/{a}/gc", "{}", timeout=30)[0] == 401
        assert d.request("POST", f"/api/v1/apps/{a}/gc/threshold", '{"thresholds":[500,10,10]}', token=True,
                         timeout=30)[0] == 200
        assert d.request("POST", f"/api/v1/apps/{b}/trace", '{"action":"start","nframes":2}', token=True,
                         timeout=30)[0] == 200
        st, top = d.json("GET", f"/api/v1/apps/{b}/trace/top?limit=5")
        assert st == 200, st
        snaps = []
        for _ in range(2):
            st, j = d.json("POST", f"/api/v1/apps/{b}/trace/snapshots", token=True)
            assert st == 201, st
            snaps.append(j["id"])
        assert d.json("GET", f"/api/v1/apps/{b}/trace/diff?from={snaps[0]}&to={snaps[1]}")[0] == 200
        assert d.request("POST", f"/api/v1/apps/{b}/trace", '{"action":"stop"}', token=True, timeout=30)[0] == 200
        # The SSE stream: open it, read its first bytes, drop it.
        s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
        s.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n\r\n".encode())
        s.recv(4096)
        s.close()
        # A misbehaving agent and an app killed mid-run.
        c = connect_unix(d.socket)
        c.sendall(frame(hello("bad")) + frame(b"not json"))
        c.settimeout(30)
        while c.recv(4096):
            pass
        c.close()
        apps[2].kill()
        wait_until(lambda: not (d.app("gamma") or {"connected": True})["connected"], 30, step=0.1,
                   what="gamma disconnected")
        rc = d.stop(timeout=60)
        log = open(vg_log).read()
        assert "Memcheck" in log, "valgrind ran"
        summary = [line.split("== ", 1)[-1] for line in log.splitlines()
                   if "ERROR SUMMARY" in line or "definitely lost" in line or "in use at exit" in line
                   or "total heap usage" in line]
        print("  " + "\n  ".join(summary))
        assert rc == 0, f"memscoped under valgrind exited {rc}:\n{log[-6000:]}"
    finally:
        for p in apps:
            p.kill()
            p.wait()
        d.stop(timeout=60)
        d.cleanup()
        if os.path.exists(vg_log):
            os.unlink(vg_log)


if __name__ == "__main__":
    run_tests([test_daemon_under_memcheck])

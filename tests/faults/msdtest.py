"""tests/faults/msdtest.py — helpers for the fault, load and valgrind tests (issue 8): a memscoped on a private
socket and a kernel-chosen port, an HTTP client (http.client: these tests need to send what curl refuses to),
and polling with deadlines. Nothing here sleeps to synchronize: every wait polls a condition until a deadline.

The binaries come from the environment (meson sets MEMSCOPED, FAKE_APP and FAULT_APP)."""
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.exit(f"{name} is not set (run through meson test)")
    return v


def wait_until(cond, timeout, step=0.02, what="condition"):
    """Polls cond() until it returns a true value (returned) or timeout seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class Daemon:
    """A memscoped in its own temporary directory. wrapper: argv prefix (e.g. valgrind)."""

    def __init__(self, *extra, socket_path=None, wrapper=(), ready_timeout=10, keep_dir=None):
        self.dir = keep_dir or tempfile.mkdtemp(prefix="msd-fault-")
        self.socket = socket_path or os.path.join(self.dir, "run", "memscoped.sock")
        self.data = os.path.join(self.dir, "data")
        argv = list(wrapper) + [env("MEMSCOPED"), "--socket", self.socket, "--http", "127.0.0.1:0",
                                "--data-dir", self.data, *extra]
        self.log = open(os.path.join(self.dir, f"memscoped-{time.monotonic_ns()}.log"), "w+")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log)
        self.port = None
        self.reported = False
        deadline = time.monotonic() + ready_timeout
        out = ""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.05)
            chunk = os.read(fd, 4096).decode(errors="replace") if r else ""
            if chunk:
                out += chunk
                m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([0-9a-zA-Z._~-]+)\n", out)
                if m:
                    self.port, self.token = int(m.group(1)), m.group(2)
                    # Keep draining stdout: a full pipe would block the daemon's loop.
                    threading.Thread(target=self.drain, args=(fd,), daemon=True).start()
                    return
            if self.proc.poll() is not None:
                break
            if not r:
                continue
        self.kill()
        raise AssertionError(f"memscoped did not get ready: stdout {out!r}, log {self.read_log()!r}")

    def drain(self, fd):
        try:
            while os.read(fd, 65536):
                pass
        except OSError:
            pass

    @property
    def pid(self):
        return self.proc.pid

    def read_log(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status (None when it had to be killed). A sanitizer report in the daemon's
        log (ASan build) is copied to stdout, where tools/test.sh looks for them, and makes the status non-zero."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        log = self.read_log()
        if re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:", log) and not self.reported:
            self.reported = True
            print(f"memscoped (pid {self.pid}) sanitizer report:\n{log}", flush=True)
            return self.proc.returncode or 1
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- HTTP
    def request(self, method, path, body=None, token=None, host=None, headers=None, timeout=10):
        """Returns (status, body bytes). token=True uses the daemon's token."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + (self.token if token is True else token)
        if host is not None:
            c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if host != "":
                c.putheader("Host", host)
        else:
            c.putrequest(method, path, skip_accept_encoding=True)
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            h.setdefault("Content-Type", "application/json")
            h["Content-Length"] = str(len(data))
        for k, v in h.items():
            c.putheader(k, v)
        c.endheaders(data)
        r = c.getresponse()
        out = r.read()
        c.close()
        return r.status, out

    def json(self, method, path, body=None, token=None):
        st, out = self.request(method, path, body, token)
        try:
            return st, json.loads(out)
        except ValueError:
            return st, None

    def apps(self):
        st, j = self.json("GET", "/api/v1/apps")
        return j["apps"] if st == 200 else []

    def app(self, name):
        for a in self.apps():
            if a["name"] == name:
                return a
        return None


# ---- The wire protocol, for impostor agents (docs/PROTOCOL.md)
def frame(obj):
    payload = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(payload)) + payload


def hello(name, pid=None):
    return {"type": "hello", "protocol": 1, "pid": pid or os.getpid(), "app": name, "interval_ms": 100}


def read_frame(sock, timeout=5):
    """One whole frame's JSON from sock, or None at EOF."""
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < 4:
        b = sock.recv(4 - len(buf))
        if not b:
            return None
        buf += b
    n = struct.unpack(">I", buf)[0]
    data = b""
    while len(data) < n:
        b = sock.recv(n - len(data))
        if not b:
            return None
        data += b
    return json.loads(data)


def connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def run_tests(tests):
    """Runs test functions in order, each in a try; prints a line per test; exits 1 if any failed."""
    failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
            print(f"ok   {t.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
        except Exception as e:  # noqa: BLE001 - a test failure of any kind
            failed += 1
            import traceback
            traceback.print_exc()
            print(f"FAIL {t.__name__}: {e}", flush=True)
    sys.exit(1 if failed else 0)

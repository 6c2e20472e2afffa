"""What the /metrics tests share: a real memscoped on a private socket and a kernel-chosen port, real docstore
processes, HTTP with urllib (a client that is not ours), polls with deadlines (never fixed sleeps), and cleanup
that kills every process the test started, even when the test itself is killed (PR_SET_PDEATHSIG).
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer")

failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond or not detail else f"\n     {detail}"), flush=True)
    if not cond:
        failures.append(what)
    return cond


def wait_for(pred, what, timeout):
    """Polls pred() until it returns a true value; fails the check `what` and returns None at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
        except (OSError, ValueError):
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            check(False, f"within {timeout:g} s: {what}")
            return None
        time.sleep(0.1)


def main_with_daemon(tool, tool_name, memscoped, docstore, prefix, run, limit_s=None):
    """The main() of a test that needs an outside tool: 77 (skipped) when `tool` is not there, else run(fixture)
    with a fresh memscoped, whose log is then checked for sanitizer reports; 1 when a check failed, else 0."""
    if not os.access(tool, os.X_OK):
        print(f"SKIP: {tool_name} not found ({tool}); tools/install-deps.sh installs Debian's prometheus package")
        return 77
    t0 = time.monotonic()
    f = Fixture(memscoped, docstore, prefix)
    try:
        run(f)
    finally:
        log = f.stop()
        check(not SANITIZER.search(log), "memscoped's stderr has no sanitizer report", log[-3000:])
    if limit_s:
        check(time.monotonic() - t0 < limit_s, f"the test took under {limit_s} s ({time.monotonic() - t0:.1f} s)")
    return 1 if failures else 0


def die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, headers=None, timeout=5):
    """(status, headers, body text); HTTP errors are answers too."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


class Fixture:
    def __init__(self, memscoped, docstore, prefix):
        self.memscoped, self.docstore = memscoped, docstore
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.sock = os.path.join(self.tmp, "run", "memscope", "memscoped.sock")
        self.procs = []
        self.lines = []
        self.url = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEMSCOPE_")}

    def start_daemon(self, *extra):
        self.daemon_log = os.path.join(self.tmp, "memscoped.log")
        d = subprocess.Popen([self.memscoped, "--socket", self.sock, "--http", "127.0.0.1:0", "--data-dir",
                              os.path.join(self.tmp, "data"), *extra],
                             stdout=subprocess.PIPE, stderr=open(self.daemon_log, "w"), text=True,
                             env=self.env, preexec_fn=die_with_parent)
        self.procs.append(d)

        def reader():
            for line in d.stdout:
                self.lines.append(line)
        threading.Thread(target=reader, daemon=True).start()

        def url():
            for line in self.lines:
                m = re.search(r"(http://127\.0\.0\.1:(\d+))/\?token=", line)
                if m:
                    return m.group(1), int(m.group(2))
            return None
        got = wait_for(url, "memscoped prints its URL", 20)
        if not got:
            raise SystemExit(1)
        self.url, self.port = got

    def start_app(self, name, interval_ms=200, env_extra=None):
        env = dict(self.env, MEMSCOPE_SOCKET=self.sock, MEMSCOPE_INTERVAL_MS=str(interval_ms), MEMSCOPE_APP_NAME=name,
                   **(env_extra or {}))
        # --duration: a safety net; the test ends the app long before.
        p = subprocess.Popen([self.docstore, "--tick-ms", "20", "--docs", "20", "--quiet", "--duration", "120"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=die_with_parent)
        self.procs.append(p)
        return p

    def metrics(self, accept=None):
        return http_get(self.url + "/metrics", {"Accept": accept} if accept else None)

    def spawn(self, argv, log_name):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, log_name), "w"),
                             env=self.env, preexec_fn=die_with_parent)
        self.procs.append(p)
        return p

    def stop(self):
        """SIGTERM everything we started (memscoped last would be nicer, but each exits on its own), then SIGKILL
        what is still running after 10 s. Returns memscoped's stderr."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log = ""
        try:
            log = open(self.daemon_log).read()
        except OSError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        return log


def parse_samples(text):
    """{(name, frozenset(labels.items())): value} from exposition text (both formats); our own small parser for
    the checks, on top of promtool and Prometheus which judge the syntax."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            raise ValueError("bad sample line: " + line)
        labels = {}
        if m.group(3):
            for lm in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3)):
                labels[lm.group(1)] = re.sub(r'\\(.)', lambda e: "\n" if e.group(1) == "n" else e.group(1),
                                             lm.group(2))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def series(samples, name, **labels):
    """Values of the samples of `name` whose labels include `labels`, as {frozenset(labels): value}."""
    want = set(labels.items())
    return {ls: v for (n, ls), v in samples.items() if n == name and want <= set(ls)}

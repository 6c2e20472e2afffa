#!/usr/bin/env python3
"""`memscope why` and `memscope heapsnapshot` against a scripted memscoped (issue 15).

Usage: test_why_fake.py MEMSCOPE

The real daemon and docstore are driven by test_cli.py; this one serves the documents of the issue's contract
(POST .../heapsnapshot, GET .../retainers, GET .../heapsnapshots/{sid}) from a Python HTTP server, so that the
cases a live app does not produce on demand are checked too: every kind of edge label, unlabelled and
unreachable roots, Content-Disposition names that must not be trusted (a path, a hidden file), an empty
download, the daemon's errors (404, 409, 401) and a file that cannot be written. Requests are recorded: the
test checks the token went with the POST, and the type was escaped in the query. Exits 1 if a check failed.
"""
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.parse

MEMSCOPE = os.path.abspath(sys.argv[1])
TOKEN = "f" * 48
failures = []


def check(ok, what, detail=""):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
        if detail:
            print("     " + detail.replace("\n", "\n     "))


SNAPSHOT = {"id": 7, "objects": 48213, "edges": 96022, "bytes": 3250585, "pause_ms": 3.21}
RETAINERS = {
    "type": "AuditEntry", "objects": 9812, "groups": 4,
    "paths": [
        {"count": 9805, "retained_bytes": 1258291,
         "root": {"name": "audit", "type": "list", "external_refs": 1},
         "path": [{"type": "list", "edge": "[i]"}, {"type": "AuditEntry"}],
         "example": [{"type": "list", "edge": "[1532]", "id": 5}, {"type": "AuditEntry", "id": 77}]},
        {"count": 4, "retained_bytes": 512,
         "root": {"name": None, "type": "dict", "external_refs": 2},
         "path": [{"type": "dict", "edge": "['cache']"}, {"type": "Folder", "edge": ".parent"},
                  {"type": "Folder", "edge": "<ref 0>"}, {"type": "AuditEntry"}]},
        {"count": 2, "retained_bytes": 128,
         "root": {"name": "(unreachable)", "type": "Folder", "external_refs": 0},
         "path": [{"type": "Folder", "edge": "[<int>]"}, {"type": "AuditEntry"}]},
    ],
}
LIST = [dict(SNAPSHOT, id=6, app="docstore", pid=4242, app_id=1, time=1764763200.5, pause_ms=41.5),
        dict(SNAPSHOT, id=7, app="docstore", pid=4242, app_id=1, time=1764763260.25, objects=1234567)]
BODY = b'{"snapshot":{"meta":{}},"nodes":[],"edges":[],"strings":["<dummy>"]}\n' * 1000
requests = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, doc=None, body=None, headers=()):
        data = body if body is not None else json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if body is None else "application/octet-stream")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        requests.append(("GET", self.path, self.headers.get("Authorization")))
        if u.path == "/api/v1/apps":
            return self.send(200, {"apps": [
                {"id": 1, "pid": 4242, "name": "docstore", "connected": True},
                {"id": 2, "pid": 4343, "name": "gone/app", "connected": True},
                {"id": 3, "pid": 4444, "name": "offline", "connected": False}]})
        m = re.fullmatch(r"/api/v1/apps/(\d+)/heapsnapshots", u.path)
        if m:
            return self.send(200, {"snapshots": LIST if m.group(1) == "1" else []})
        m = re.fullmatch(r"/api/v1/apps/(\d+)/heapsnapshots/(\d+)(/retainers)?", u.path)
        if not m:
            return self.send(404, {"error": "no such route"})
        app, sid = int(m.group(1)), int(m.group(2))
        if sid == 404:
            return self.send(404, {"error": f"no heap snapshot {sid} of app {app}"})
        if m.group(3):
            q = urllib.parse.parse_qs(u.query)
            t = q.get("type", [""])[0]
            if t == "Missing":
                return self.send(404, {"error": "no object of type 'Missing' in heap snapshot 7"})
            doc = dict(RETAINERS, type=t)
            doc["paths"] = doc["paths"][:int(q.get("limit", ["10"])[0]) or None]
            return self.send(200, doc)
        names = {7: 'attachment; filename="docstore-7.heapsnapshot"', 8: 'attachment; filename="../../etc/evil"',
                 9: 'attachment; filename=".hidden"', 10: "attachment"}
        body = b"" if sid == 11 else BODY
        return self.send(200, body=body, headers=[("Content-Disposition", names.get(sid, "attachment"))])

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        requests.append(("POST", self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.send(401, {"error": "missing or wrong token"})
        m = re.fullmatch(r"/api/v1/apps/(\d+)/heapsnapshot", self.path)
        if not m:
            return self.send(404, {"error": "no such route"})
        if m.group(1) == "3":
            return self.send(409, {"error": "the app is disconnected"})
        return self.send(200, SNAPSHOT)


def run(*args, env=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MEMSCOPE_")}
    e.update({"MEMSCOPE_URL": URL, "MEMSCOPE_TOKEN": TOKEN})
    e.update(env or {})
    p = subprocess.run([MEMSCOPE] + list(args), env=e, capture_output=True, text=True, timeout=60, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    if re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:", p.stderr):
        check(False, "no sanitizer report from memscope " + " ".join(args), p.stderr[:3000])
    return p


def one_error(p, needle):
    lines = p.stderr.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("memscope: ") and needle in lines[0]


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gives up mid-download (the unwritable file) resets its connection: expected


server = Server(("127.0.0.1", 0), Handler)
URL = f"http://127.0.0.1:{server.server_address[1]}"
threading.Thread(target=server.serve_forever, daemon=True).start()
tmp = tempfile.mkdtemp(prefix="memscope-why-")

# ---- why ---------------------------------------------------------------------------------------------------
p = run("why", "docstore", "AuditEntry")
lines = p.stdout.splitlines()
check(p.returncode == 0, "why: exit 0", p.stderr)
check(lines[:1] == ["docstore (id 1): heap snapshot 7: 48213 objects, 96022 edges, 3.1 MiB, pause 3.21 ms"],
      "why: the snapshot line first", p.stdout)
check(len(lines) > 1 and lines[1] == "AuditEntry: 9812 objects, 4 retainer paths (the largest shown; -n for more)",
      "why: the type's line says more groups exist", p.stdout)
want = ["  9805 objects, 1.2 MiB retained: audit (list, 1 external ref) -[i]-> AuditEntry",
        "     4 objects,   512 B retained: dict (2 external refs) ['cache'] -> Folder -.parent-> Folder "
        "-<ref 0>-> AuditEntry",
        "     2 objects,   128 B retained: (unreachable) Folder [<int>] -> AuditEntry"]
check(lines[2:] == want, "why: groups aligned, paths read like code (index, dict key, field, <ref>, roots)",
      "\n".join(lines[2:]) + "\n--- wanted ---\n" + "\n".join(want))
post = [r for r in requests if r[0] == "POST"]
check(post and post[-1] == ("POST", "/api/v1/apps/1/heapsnapshot", "Bearer " + TOKEN),
      "why: POSTs .../heapsnapshot with the token")

p = run("why", "4242", "a b&c/é", "-n", "2", "--snapshot", "7")
get = [r for r in requests if "/retainers" in r[1]][-1]
check(p.returncode == 0 and get[1] == "/api/v1/apps/1/heapsnapshots/7/retainers?type=a%20b%26c%2F%C3%A9&limit=2",
      "why --snapshot: no POST, the type percent-encoded, -n as limit", repr(get))
check("heap snapshot" not in p.stdout and len(p.stdout.splitlines()) == 3, "why --snapshot: no snapshot line",
      p.stdout)

requests.clear()
p = run("why", "docstore", "AuditEntry", "--json")
doc = json.loads(p.stdout) if p.returncode == 0 else None
check(doc == dict(RETAINERS, paths=RETAINERS["paths"][:10]), "why --json: the daemon's document alone",
      p.stdout[:300])

p = run("why", "docstore", "Missing")
check(p.returncode == 1 and one_error(p, "app 'docstore' (id 1, pid 4242): no object of type 'Missing'")
      and "(HTTP 404)" in p.stderr, "why of an absent type: exit 1, the daemon's 404", p.stderr)
p = run("why", "offline", "X")
check(p.returncode == 1 and one_error(p, "disconnected (HTTP 409)"), "why on a disconnected app: the 409", p.stderr)
p = run("why", "docstore", "X", env={"MEMSCOPE_TOKEN": "0" * 48})
check(p.returncode == 1 and one_error(p, "HTTP 401"), "why with a wrong token: the 401", p.stderr)
p = run("why", "docstore", "X", "--snapshot", "404")
check(p.returncode == 1 and one_error(p, "no heap snapshot 404"), "why --snapshot of an unknown one", p.stderr)
for args, needle in [(("why",), "missing APP"), (("why", "docstore"), "missing TYPE"),
                     (("why", "docstore", "T", "x"), "unexpected argument 'x'"), (("why", "d", "T", "-n", "x"), "-n"),
                     (("why", "d", "T", "--snapshot", "y"), "--snapshot"), (("why", "d", ""), "TYPE is empty"),
                     (("heapsnapshot",), "missing APP"), (("heapsnapshot", "d", "-o", ""), "-o needs a file name")]:
    p = run(*args)
    check(p.returncode == 2 and one_error(p, needle), f"usage error -> exit 2: memscope {' '.join(args)}", p.stderr)
for verb in ("why", "heapsnapshot"):
    p = run(verb, "--help")
    check(p.returncode == 0 and p.stdout.startswith(f"Usage: memscope {verb}"), f"memscope {verb} --help")

# ---- heapsnapshot --------------------------------------------------------------------------------------------
p = run("heapsnapshot", "docstore", cwd=tmp)
path = os.path.join(tmp, "docstore-7.heapsnapshot")
check(p.returncode == 0 and os.path.exists(path) and open(path, "rb").read() == BODY,
      "heapsnapshot: the download under the name memscoped suggests, byte for byte", p.stdout + p.stderr)
check(p.stdout.splitlines()[:1] == ["docstore (id 1): heap snapshot 7: 48213 objects, 96022 edges, 3.1 MiB, "
                                    "pause 3.21 ms"] and f"saved docstore-7.heapsnapshot ({len(BODY) / 1024:.1f} KiB)" in p.stdout,
      "heapsnapshot: the snapshot line and the file", p.stdout)
check(not [f for f in os.listdir(tmp) if f.endswith(".tmp")], "heapsnapshot: no temporary file left")
for sid, want, what in [(8, "evil", "a path in the suggested name: only its last component"),
                        (9, "docstore-9.heapsnapshot", "a hidden name refused: APP-SID.heapsnapshot"),
                        (10, "docstore-10.heapsnapshot", "no name suggested: APP-SID.heapsnapshot")]:
    p = run("heapsnapshot", "docstore", "--snapshot", str(sid), cwd=tmp)
    check(p.returncode == 0 and os.path.exists(os.path.join(tmp, want)) and f"saved {want} " in p.stdout,
          f"heapsnapshot: {what}", p.stdout + p.stderr)
p = run("heapsnapshot", "gone/app", "--snapshot", "10", cwd=tmp)
check(p.returncode == 0 and os.path.exists(os.path.join(tmp, "gone_app-10.heapsnapshot")),
      "heapsnapshot: an app name with a slash makes a safe file name", p.stdout + p.stderr)
out = os.path.join(tmp, "sub.heapsnapshot")
p = run("heapsnapshot", "docstore", "-o", out, "--json")
doc = json.loads(p.stdout) if p.returncode == 0 else {}
check(doc == dict(SNAPSHOT, file=out, file_bytes=len(BODY)), "heapsnapshot -o --json: the summary and the file",
      p.stdout)
p = run("heapsnapshot", "docstore", "--snapshot", "11", "-o", os.path.join(tmp, "empty"))
check(p.returncode == 0 and os.path.getsize(os.path.join(tmp, "empty")) == 0, "heapsnapshot: an empty download",
      p.stderr)
p = run("heapsnapshot", "docstore", "--snapshot", "7", "-o", "-")
check(p.returncode == 0 and p.stdout.encode() == BODY, "heapsnapshot -o -: the file on standard output", p.stderr)
p = run("heapsnapshot", "docstore", "--snapshot", "404", "-o", os.path.join(tmp, "never"))
check(p.returncode == 1 and one_error(p, "no heap snapshot 404 of app 1 (HTTP 404)")
      and not os.path.exists(os.path.join(tmp, "never")) and not os.path.exists(os.path.join(tmp, "never.tmp")),
      "heapsnapshot of an unknown id: exit 1, the 404, no file", p.stderr)
p = run("heapsnapshot", "docstore", "--snapshot", "7", "-o", os.path.join(tmp, "no", "such", "dir"))
check(p.returncode == 1 and one_error(p, "cannot write") and "No such file or directory" in p.stderr,
      "heapsnapshot into a missing directory: exit 1, why", p.stderr)
p = run("heapsnapshot", "offline")
check(p.returncode == 1 and one_error(p, "(HTTP 409)"), "heapsnapshot of a disconnected app: the 409", p.stderr)

# ---- heapsnapshot --list -----------------------------------------------------------------------------------
p = run("heapsnapshot", "docstore", "--list")
rows = [l.split() for l in p.stdout.splitlines()]
check(p.returncode == 0 and rows and rows[0] == ["ID", "TAKEN", "PID", "OBJECTS", "EDGES", "SIZE", "PAUSE"]
      and len(rows) == 3 and rows[1][0] == "6" and rows[2][0] == "7" and rows[1][3] == "4242"
      and "41.5" in p.stdout and ("1,234,567" in p.stdout or "1234567" in p.stdout or "1.2M" in p.stdout),
      "heapsnapshot --list: one row per stored snapshot, with its numbers", p.stdout + p.stderr)
check(not any(r[0] == "POST" for r in requests[-2:]), "heapsnapshot --list takes no snapshot")
p = run("heapsnapshot", "docstore", "--list", "--json")
check(p.returncode == 0 and json.loads(p.stdout) == {"snapshots": LIST}, "heapsnapshot --list --json: the document",
      p.stdout + p.stderr)
p = run("heapsnapshot", "gone/app", "-l")
check(p.returncode == 0 and "no heap snapshots stored for gone/app" in p.stdout, "heapsnapshot -l: none stored",
      p.stdout + p.stderr)
p = run("heapsnapshot", "docstore", "--list", "-o", "x")
check(p.returncode == 2 and "--list takes neither" in p.stderr, "heapsnapshot --list -o: a usage error", p.stderr)

server.shutdown()
print(f"why_fake: {len(failures)} failed" if failures else "why_fake: all checks passed")
sys.exit(1 if failures else 0)

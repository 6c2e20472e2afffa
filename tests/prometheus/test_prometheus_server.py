#!/usr/bin/env python3
"""A real Prometheus server scrapes a real memscoped while docstore runs (issue 7).

Usage: test_prometheus_server.py MEMSCOPED DOCSTORE PROMETHEUS

Prometheus (Debian's package) runs on loopback with a temporary config (one job scraping memscoped every second)
and a temporary TSDB. The test asks Prometheus's HTTP API for memscope series and checks they hold values, that
the target is healthy, and that Prometheus negotiated OpenMetrics (the UNIT metadata only travels in that format).
Every wait polls with a deadline; the whole test is bounded well under 60 s; every process is killed at the end.
Exits 77 (skipped) when prometheus is missing, 1 when a check failed.
"""
import json
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import check, free_port, http_get, main_with_daemon, wait_for  # noqa: E402

MEMSCOPED, DOCSTORE, PROMETHEUS = sys.argv[1:4]
APP = "promserver-docstore"
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")


def main():
    return main_with_daemon(PROMETHEUS, "prometheus", MEMSCOPED, DOCSTORE, "memscope-prom-", run, limit_s=60)


def query(base, promql):
    st, _, body = http_get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    if st != 200:
        return None
    j = json.loads(body)
    return j["data"]["result"] if j.get("status") == "success" else None


def run(f):
    f.start_daemon()
    f.start_app(APP)
    wait_for(lambda: "memscope_objects_alive{app=\"%s\"" % APP in f.metrics()[2], "the app's stats reach /metrics", 15)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = os.path.join(f.tmp, "prometheus.yml")
    with open(cfg, "w") as out:
        out.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: memscope
    static_configs:
      - targets: ["127.0.0.1:{f.port}"]
""")
    f.spawn([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={os.path.join(f.tmp, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], "prometheus.log")
    if not wait_for(lambda: http_get(base + "/-/ready", timeout=2)[0] == 200, "Prometheus is ready", 20):
        print(open(os.path.join(f.tmp, "prometheus.log")).read()[-3000:])
        return

    sel = f'memscope_objects_alive{{app="{APP}",job="memscope"}}'
    res = wait_for(lambda: query(base, sel), f"Prometheus has {sel}", 15)
    if res:
        v = float(res[0]["value"][1])
        check(v > 0, f"{sel} has a positive value ({v:g})")
        check(res[0]["metric"].get("pid", "").isdigit(), "the series carries the pid label")

    res = wait_for(lambda: query(base, f'memscope_heap_pool_bytes{{app="{APP}"}} > 0'),
                   "memscope_heap_pool_bytes > 0", 5)
    check(bool(res), "a _bytes gauge has values in Prometheus")
    res = wait_for(lambda: query(base, f'increase(memscope_objects_created_total{{app="{APP}"}}[1m]) > 0'),
                   "a counter increases in Prometheus (two scrapes at least)", 10)
    check(bool(res), "memscope_objects_created_total increases across scrapes")
    res = query(base, 'memscope_daemon_connected_apps{job="memscope"}')
    check(bool(res) and float(res[0]["value"][1]) == 1, "the daemon's self-metric memscope_daemon_connected_apps is 1",
          str(res))

    # docs/grafana-dashboard.json: every panel's PromQL is valid for this Prometheus, and every memscope_ name it
    # uses is one memscoped exports.
    dash = json.load(open(os.path.join(DOCS, "grafana-dashboard.json")))
    exported = set(re.findall(r"^(memscope_[a-z_]+)", f.metrics()[2], re.M))
    for p in dash["panels"]:
        for t in p.get("targets", []):
            expr = t["expr"].replace("$instance", ".*").replace("$app", ".*")
            st, _, body = http_get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            check(st == 200 and json.loads(body).get("status") == "success",
                  f"dashboard panel \"{p['title']}\" ({t['refId']}): Prometheus accepts its query", body[:300])
            unknown = set(re.findall(r"memscope_[a-z_]+", t["expr"])) - exported
            check(not unknown, f"dashboard panel \"{p['title']}\" uses exported series only", str(unknown))
    for v in dash["templating"]["list"]:
        for name in re.findall(r"memscope_[a-z_]+", v.get("definition", "")):
            check(name in exported, f"dashboard variable ${v['name']} uses an exported series ({name})")

    st, _, body = http_get(base + "/api/v1/targets")
    targets = json.loads(body)["data"]["activeTargets"] if st == 200 else []
    check(len(targets) == 1 and targets[0]["health"] == "up" and not targets[0]["lastError"],
          "the memscoped target is up with no scrape error", str(targets)[:500])
    st, _, body = http_get(base + "/api/v1/metadata?" + urllib.parse.urlencode({"metric": "memscope_heap_pool_bytes"}))
    meta = json.loads(body).get("data", {}).get("memscope_heap_pool_bytes", []) if st == 200 else []
    check(any(m.get("unit") == "bytes" and m.get("type") == "gauge" for m in meta),
          "Prometheus scraped OpenMetrics (the UNIT line reached its metadata)", str(meta))


if __name__ == "__main__":
    sys.exit(main())

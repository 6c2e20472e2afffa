#!/usr/bin/env python3
"""tests/layers/check_daemon_layers.py — the daemon's module graph holds (issue 14, daemon/README.md draws it).

Reads every `#include "..."` of daemon/*.c and *.h and checks:
  - every module belongs to a layer, and includes only modules of its own layer or of layers below it
    (the HTTP driver, in particular, includes no view: it dispatches through route.h's table);
  - the include graph between the daemon's modules has no cycle (a module's .c and .h are one node);
  - no file of the daemon has a static variable that is not const: state lives in the daemon context
    (daemon.h's msd_daemon) or in a module's own object, never in a singleton.
Exits 0, or 1 after printing every violation.   check_daemon_layers.py DAEMON_DIR"""
import os
import re
import sys

# The layers, lowest first: a module may include its own layer and the ones before it.
LAYERS = [
    ("common", {"array", "buf", "list", "protocol", "stats_schema", "heapgraph", "hashtable", "jsonstr"}),
    ("core", {"daemon", "blob", "log", "fs", "json", "frame", "message", "stats", "history", "snapshot",
              "metrics", "host", "token", "snapindex", "heapanalysis"}),
    ("registry", {"registry", "route"}),
    ("services", {"ipc", "request", "sockpath", "worker", "snapstore", "heapstore", "appdoc", "http"}),
    ("views", {"api", "sse", "web", "metrics_view"}),
    ("table", {"routes"}),
    ("main", {"main"}),
]
RANK = {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}
# Inside a layer, these may not include one another: the driver knows no view, and no view knows the driver.
APART = {("http", "api"), ("http", "sse"), ("http", "web"), ("http", "metrics_view"), ("http", "routes"),
         ("http", "ipc"), ("ipc", "http"), ("request", "http")}

# A module's private header (ipc_internal.h) is part of the module.
def module_of(name):
    return name[:-len("_internal")] if name.endswith("_internal") else name


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)
STATIC_VAR = re.compile(r'^static\s+(?!const\b|inline\b)[^(){};=]*[;=]', re.M)


def main():
    root = sys.argv[1]
    edges, problems = {}, []
    for name in sorted(os.listdir(root)):
        if not name.endswith((".c", ".h")):
            continue
        module = module_of(name[:-2])
        text = open(os.path.join(root, name)).read()
        if module not in RANK:
            problems.append(f"{name}: module {module} is in no layer (add it to LAYERS and daemon/README.md)")
            continue
        for inc in INCLUDE.findall(text):
            inc = module_of(os.path.basename(inc))
            if inc == module:
                continue
            if inc not in RANK:
                problems.append(f"{name}: includes {inc}.h, which is in no layer")
                continue
            edges.setdefault(module, set()).add(inc)
            if RANK[inc] > RANK[module]:
                problems.append(f"{name}: {LAYERS[RANK[module]][0]} module {module} includes {inc}.h of the "
                                f"higher layer {LAYERS[RANK[inc]][0]}")
            if (module, inc) in APART:
                problems.append(f"{name}: {module} must not include {inc}.h")
        if name.endswith(".c"):
            code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
            for m in STATIC_VAR.finditer(code):
                problems.append(f"{name}: a static variable (a singleton): {m.group(0).strip()}")
    # Cycles: depth-first search over modules.
    state = {}

    def visit(m, path):
        state[m] = 1
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                problems.append("include cycle: " + " -> ".join(path[path.index(n):] + [n]))
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    for p in problems:
        print(p)
    nedges = sum(len(v) for v in edges.values())
    print(f"{len(RANK)} modules in {len(LAYERS)} layers, {nedges} includes: "
          f"{'ok' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

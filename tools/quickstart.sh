#!/usr/bin/env bash
# The main job: install dependencies, build, start memscoped and the demo app (examples/docstore.c) connected to
# it, and print the dashboard URL. Runs until Ctrl-C (or for SECONDS when given: tools/quickstart.sh 60).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-0}

tools/install-deps.sh
[ -d build/meson-private ] || meson setup build >/dev/null
meson compile -C build >/dev/null

run=$(mktemp -d /tmp/memscope-quickstart.XXXXXX)
sock="$run/memscoped.sock"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT INT TERM

./build/daemon/memscoped --socket "$sock" --data-dir "$run/data" >"$run/memscoped.log" 2>&1 &
pids+=($!)
# The daemon prints its URL once it listens; wait for that line (at most 10 s).
for _ in $(seq 100); do
  grep -q "dashboard and API at" "$run/memscoped.log" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$run/memscoped.log" >&2; exit 1; }
  sleep 0.1
done
url=$(grep -o 'http://[^ ]*' "$run/memscoped.log" | head -1)
[ -n "$url" ] || { echo "memscoped did not start:" >&2; cat "$run/memscoped.log" >&2; exit 1; }

MEMSCOPE_SOCKET="$sock" MEMSCOPE_APP_NAME=docstore ./build/examples/docstore --quiet &
pids+=($!)

token=${url##*token=}
base=${url%%/\?*}
cat <<MSG

  memscope is running: memscoped + the demo app "docstore" (a document store with reference cycles and a leak).

  Dashboard:   $url

  Try the API:
    curl -s $base/api/v1/apps
    curl -s $base/api/v1/apps/1          # the first app; its pid works too
    curl -s -X POST -H 'Authorization: Bearer $token' $base/api/v1/apps/1/gc -d '{"generation": 2}'

  Press Ctrl-C to stop.
MSG
if [ "$duration" -gt 0 ]; then sleep "$duration"; else wait "${pids[0]}"; fi

#!/usr/bin/env bash
# memscoped at scale (issue 5's benchmarks 2 and 3), in one run:
#   scale  N simulated apps (bench/load/loadgen.py) sending ~4 KB stats at 1 Hz: the daemon's CPU (from
#          /proc/PID/stat over the measured window, after a warm-up) and RSS per app.
#   api    wrk on GET /api/v1/apps/{id} (a 4 KB document) against a bare libmicrohttpd server answering a static
#          buffer of the same size, five interleaved pairs; the ratio is memscoped's rate over the bare server's
#          (median of the pairs).
#
#   bench/daemon/run.sh [BUILD_DIR] [APPS...]     default: build-bench, apps 100 1000
# Needs wrk (Debian package) and python3.
set -euo pipefail
build=${1:-build-bench}; shift || true
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(100 1000)
here=$(cd "$(dirname "$0")" && pwd)
daemon="$build/daemon/memscoped"; bare="$build/bench/daemon/bare_mhd"
for b in "$daemon" "$bare"; do [ -x "$b" ] || { echo "build first: meson setup $build --buildtype=release && meson compile -C $build" >&2; exit 2; }; done
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }

run=$(mktemp -d); pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

start_daemon() { # port
  "$daemon" --socket "$run/d.sock" --http "127.0.0.1:$1" --data-dir "$run/data" >"$run/log" 2>&1 &
  dpid=$!; pids+=("$dpid")
  for _ in $(seq 100); do [ -S "$run/d.sock" ] && return; sleep 0.1; done
  echo "memscoped did not start" >&2; cat "$run/log" >&2; exit 1
}
stop_daemon() { kill "$dpid"; wait "$dpid" 2>/dev/null || true; }

echo "memscoped scale and API speed  ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%H:%M) UTC)"
echo
printf '%8s %12s %14s %14s %8s\n' apps "CPU % core" "us per message" "RSS KiB/app" errors
hz=$(getconf CLK_TCK)
for n in "${counts[@]}"; do
  port=$(free_port); start_daemon "$port"
  base_rss=$(rss_kib "$dpid")
  warm=$(( n / 200 + 5 )); window=20
  python3 "$here/../load/loadgen.py" --socket "$run/d.sock" --apps "$n" --seconds $((warm + window + 2)) \
    >"$run/load.json" 2>"$run/load.err" &
  lpid=$!; pids+=("$lpid")
  sleep "$warm"                      # connections ramp up; not measured
  t0=$(ticks "$dpid"); sleep "$window"; t1=$(ticks "$dpid")
  rss=$(rss_kib "$dpid")
  wait "$lpid" || true
  errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("errors", "?"))' "$run/load.json" 2>/dev/null || echo "?")
  cpu=$(echo "($t1 - $t0) * 100 / $hz / $window" | bc -l)
  us=$(echo "($t1 - $t0) * 1000000 / $hz / ($n * $window)" | bc -l)
  printf '%8d %12.2f %14.1f %14.1f %8s\n' "$n" "$cpu" "$us" "$(echo "($rss - $base_rss) / $n" | bc -l)" "$errors"
  stop_daemon
done

echo
port=$(free_port); start_daemon "$port"
python3 "$here/../load/loadgen.py" --socket "$run/d.sock" --apps 1 --seconds 3600 >/dev/null 2>&1 &
pids+=($!)
url="http://127.0.0.1:$port/api/v1/apps/1"
for _ in $(seq 100); do curl -sf "$url" >/dev/null && break; sleep 0.1; done
size=$(curl -s "$url" | wc -c)
# Servers on CPU 0, wrk on CPU 1 (when there are two): unpinned on a 2-CPU machine, the scheduler moved wrk, the
# server and the network softirqs about and the same pair measured anywhere from 0.75 to 1.1.
pin_srv=(); pin_wrk=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  pin_srv=(taskset -c 0); pin_wrk=(taskset -c 1); taskset -a -p -c 0 "$dpid" >/dev/null
fi
bport=$(free_port); "${pin_srv[@]}" "$bare" "$bport" "$size" & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$bport/" >/dev/null && break; sleep 0.1; done
rate() { "${pin_wrk[@]}" wrk -t1 -c10 -d4s "$1" | awk '/Requests\/sec/ {print $2}'; }
declare -a ms_r bare_r ratios
for pass in 1 2 3 4 5; do
  m=$(rate "$url"); b=$(rate "http://127.0.0.1:$bport/")
  ms_r+=("$m"); bare_r+=("$b"); ratios+=("$(echo "$m / $b" | bc -l)")
done
avg() { echo "$@" | tr ' ' '\n' | awk '{ s += $1 } END { printf "%.0f", s / NR }'; }
median=$(printf '%s\n' "${ratios[@]}" | sort -g | sed -n 3p)
printf 'GET /api/v1/apps/{id} (%d bytes), wrk -t1 -c10 -d4s, 5 interleaved pairs%s:\n' "$size" \
  "$([ ${#pin_wrk[@]} -gt 0 ] && echo ', servers on CPU 0, wrk on CPU 1')"
printf '  memscoped  %10s req/s   (%s)\n' "$(avg "${ms_r[@]}")" "${ms_r[*]}"
printf '  bare MHD   %10s req/s   (%s)\n' "$(avg "${bare_r[@]}")" "${bare_r[*]}"
printf '  ratio      %10.2f         median of the pairs (%s; target >= 0.90)\n' "$median" \
  "$(printf '%.2f ' "${ratios[@]}" | sed 's/ $//')"

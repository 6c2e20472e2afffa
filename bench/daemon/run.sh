#!/usr/bin/env bash
# memscoped at scale and its API's speed, in one run:
#   scale   N simulated apps (bench/daemon/loadgen.c) sending a 4 KB stats message (30 types, 16 pools) at 1 Hz:
#           the daemon's CPU (from /proc/PID/stat over a 20 s window after a warm-up), the messages it received
#           in that window (its own counter, /healthz's frames_received), so the cost per message is
#           measured rather than assumed, its RSS per app, and at 1000 apps the time of a GET /metrics scrape
#           (median of 10, under that load).
#           With --baseline OTHER_BUILD, the other build's memscoped is measured the same way, each count run
#           with one daemon and then the other, so both see the same machine.
#   api     wrk on GET /api/v1/apps/{id} (a 4 KB document) against a bare libmicrohttpd server answering a static
#           buffer of the same size, five interleaved pairs; the ratio is memscoped's rate over the bare server's
#           (median of the pairs).
#
#   bench/daemon/run.sh [BUILD_DIR] [--baseline OTHER_BUILD] [--no-api] [APPS...]
#   defaults: build-bench, apps 1000 10000
# Needs wrk (Debian package), curl and python3.
set -euo pipefail
build=build-bench; baseline=""; api=1; counts=()
[ $# -gt 0 ] && [ "${1#-}" = "$1" ] && ! [[ "$1" =~ ^[0-9]+$ ]] && { build=$1; shift; }
while [ $# -gt 0 ]; do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    --no-api) api=0; shift ;;
    *) counts+=("$1"); shift ;;
  esac
done
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
here=$(cd "$(dirname "$0")" && pwd)
daemon="$build/daemon/memscoped"; bare="$build/bench/daemon/bare_mhd"; loadgen="$build/bench/daemon/loadgen"
for b in "$daemon" "$bare" "$loadgen" ${baseline:+"$baseline/daemon/memscoped"}; do
  [ -x "$b" ] || { echo "build first: meson setup $build --buildtype=release && meson compile -C $build ($b)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }

run=$(mktemp -d); pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# The daemon's own count of the frames it read (GET /healthz; a /metrics scrape would leave its document's memory
# in the RSS being measured, and the old build has the same count in /metrics only).
frames() {
  local n; n=$(curl -s "http://127.0.0.1:$1/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("frames_received", ""))')
  [ -n "$n" ] || n=$(curl -s "http://127.0.0.1:$1/metrics" | awk '/^memscope_daemon_frames_received_total/ {print $2}')
  echo "$n"
}

start_daemon() { # binary port
  rm -f "$run/d.sock"
  "$1" --socket "$run/d.sock" --http "127.0.0.1:$2" --data-dir "$run/data" >"$run/log" 2>&1 &
  dpid=$!; pids+=("$dpid")
  for _ in $(seq 100); do [ -S "$run/d.sock" ] && return; sleep 0.1; done
  echo "memscoped did not start" >&2; cat "$run/log" >&2; exit 1
}
stop_daemon() { kill "$dpid"; wait "$dpid" 2>/dev/null || true; }

echo "memscoped scale and API speed  ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%H:%M) UTC)"
echo
printf '%8s %-10s %11s %13s %12s %12s %16s %7s\n' apps build "CPU % core" "us per msg" "msgs/s" "RSS KiB/app" \
  "/metrics ms" errors
hz=$(getconf CLK_TCK)
builds=("$build"); [ -n "$baseline" ] && builds=("$baseline" "$build")
for n in "${counts[@]}"; do
  for b in "${builds[@]}"; do
    port=$(free_port); start_daemon "$b/daemon/memscoped" "$port"
    base_rss=$(rss_kib "$dpid")
    warm=$(( n / 1000 + 4 )); window=20
    "$loadgen" --socket "$run/d.sock" --apps "$n" --seconds $((warm + window + 6)) >"$run/load.json" 2>"$run/load.err" &
    lpid=$!; pids+=("$lpid")
    sleep "$warm"                      # connections ramp up; not measured
    f0=$(frames "$port"); t0=$(ticks "$dpid"); sleep "$window"; t1=$(ticks "$dpid"); f1=$(frames "$port")
    rss=$(rss_kib "$dpid")
    scrape="-"
    if [ "$n" = 1000 ]; then           # under the same load, after the window
      scrape=$(for _ in $(seq 10); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/metrics"; done |
               sort -g | sed -n 5p | awk '{printf "%.1f", $1 * 1000}')
    fi
    wait "$lpid" || true
    errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("send_errors", "?"))' "$run/load.json" 2>/dev/null || echo "?")
    msgs=$(( f1 - f0 ))
    cpu=$(echo "($t1 - $t0) * 100 / $hz / $window" | bc -l)
    us=$(echo "($t1 - $t0) * 1000000 / $hz / ($msgs + ($msgs == 0))" | bc -l)
    name=$([ "$b" = "$build" ] && echo this || echo baseline)
    printf '%8d %-10s %11.2f %13.1f %12.0f %12.1f %16s %7s\n' "$n" "$name" "$cpu" "$us" "$(echo "$msgs / $window" | bc -l)" \
      "$(echo "($rss - $base_rss) / $n" | bc -l)" "$scrape" "$errors"
    stop_daemon
  done
done
[ "$api" = 1 ] || exit 0

echo
port=$(free_port); start_daemon "$daemon" "$port"
"$loadgen" --socket "$run/d.sock" --apps 1 --seconds 3600 >/dev/null 2>&1 &
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

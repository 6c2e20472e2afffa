#!/usr/bin/env bash
# Agent overhead: the same workload with no agent, an agent that finds no daemon, and an agent reporting to a real
# memscoped every 1000 ms and every 100 ms. Prints each median round time and its ratio to "no agent"; then the
# same comparison paired inside one process (agent_overhead ab), which is what resolves differences under ~3%.
#   bench/agent/run.sh [BUILD_DIR] [ROUNDS]      (BUILD_DIR default: build-bench, configured --buildtype=release)
set -euo pipefail
build=${1:-build-bench}
rounds=${2:-3000}
bin="$build/bench/agent/agent_overhead"
daemon="$build/daemon/memscoped"
[ -x "$bin" ] && [ -x "$daemon" ] || { echo "build first: meson setup $build --buildtype=release && meson compile -C $build" >&2; exit 2; }

run=$(mktemp -d)
trap 'kill $dpid 2>/dev/null || true; rm -rf "$run"' EXIT
"$daemon" --socket "$run/d.sock" --http 127.0.0.1:0 --data-dir "$run/data" >"$run/log" 2>&1 &
dpid=$!
for _ in $(seq 100); do [ -S "$run/d.sock" ] && break; sleep 0.1; done

declare -A median
one() { # label, env...
  local label=$1; shift
  local line
  line=$(env -u MEMSCOPE_SOCKET "$@" "$bin" "$label" "$rounds")
  echo "  $line"
  median[$label]=$(sed -n 's/.*median_ns=\([0-9]*\).*/\1/p' <<<"$line")
}
echo "agent overhead ($rounds rounds of 1000 objects each; load: $(cut -d' ' -f1 /proc/loadavg))"
# Interleave the configurations twice so drift in machine load hits all of them alike.
for pass in 1 2; do
  one "no-agent-$pass"
  one "no-daemon-$pass" MEMSCOPE_SOCKET=/nonexistent/memscoped.sock
  one "1000ms-$pass" MEMSCOPE_SOCKET="$run/d.sock" MEMSCOPE_INTERVAL_MS=1000
  one "100ms-$pass" MEMSCOPE_SOCKET="$run/d.sock" MEMSCOPE_INTERVAL_MS=100
done
printf '\n%-12s %14s %10s\n' config "median ns/round" "vs none"
for c in no-agent no-daemon 1000ms 100ms; do
  a=${median[$c-1]}; b=${median[$c-2]}; m=$(( (a + b) / 2 ))
  base=$(( (${median[no-agent-1]} + ${median[no-agent-2]}) / 2 ))
  printf '%-12s %14d %9.3fx\n' "$c" "$m" "$(echo "$m / $base" | bc -l)"
done

# Paired, in one process: blocks with the agent stopped and running alternate (ABBA), so that drift cancels; the
# on/off ratio of each pair's median round time, and their median.
echo
echo "paired (one process, agent stopped/running in ABBA blocks of $((rounds * 3)) rounds):"
for iv in 1000 100; do
  echo "  $("$bin" ab "$run/d.sock" "$iv" 6 $((rounds * 3)))"
done

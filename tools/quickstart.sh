#!/usr/bin/env bash
# The main job: install dependencies, build, and run memscope. For now this is the allocator's statistics
# example; the daemon and the demo app replace it when they land.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -d build/meson-private ] || meson setup build >/dev/null
meson compile -C build >/dev/null
./build/examples/mallocstats

#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build, run every suite, then the unit suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer, and the allocator tests with the 512-byte threshold.
# Ends with one line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh || { echo "dependency installation failed" >&2; exit 1; }

export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"

setup() { # setup DIR [meson options...]
  local dir=$1; shift
  if [ -d "$dir/meson-private" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
  else meson setup "$dir" "$@" >/dev/null; fi
}

status=0
run() { # run DIR [meson test args...]: build then test; remember failures, keep going
  local dir=$1; shift
  echo "== $dir: meson test $*"
  meson compile -C "$dir" >/dev/null || { echo "build failed in $dir" >&2; meson compile -C "$dir" 2>&1 | tail -30; status=1; return; }
  meson test -C "$dir" --print-errorlogs "$@" || status=1
}

setup build || exit 1
# e2e: the dashboard in a real chromium; there a missing chromium or playwright-core is a failure, not a skip.
# One `meson test` run, so that build/meson-logs/testlog.json (counted below) holds every suite.
MEMSCOPE_E2E_REQUIRED=1 run build --suite unit --suite examples --suite integration --suite e2e

setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Ddebug_level=2 -Dbench=disabled || exit 1
run build-asan --suite unit --suite examples --suite integration
# Criterion's workers report a leak on stderr without failing the test: the log is the verdict.
if grep -qE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" build-asan/meson-logs/testlog.txt; then
  echo "sanitizer reports in the ASan run:" >&2
  grep -E -A12 "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" build-asan/meson-logs/testlog.txt | head -60 >&2
  status=1
fi

setup build-512 -Dsmall_threshold=512 -Dbench=disabled || exit 1
run build-512 mem mem_stress

# Fuzzing (issue 8, tests/fuzz/README.md): the libFuzzer targets, each run for 45 s from its committed corpus under
# ASan+UBSan; a crash, a leak, a timeout or 2 GiB of memory fails. Only the fuzzers are needed (-Dtests=disabled).
CC=clang setup build-fuzz -Dfuzz=enabled -Dfuzz_seconds=45 -Db_sanitize=address,undefined -Db_lundef=false \
  -Dtests=disabled -Dbench=disabled || exit 1
run build-fuzz --suite fuzz

# One closing line for humans and CI, counted from meson's own logs.
python3 - build build-asan build-512 build-fuzz <<'PY'
import json, sys, os
passed = failed = skipped = 0
for d in sys.argv[1:]:
    log = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        continue
    for line in open(log):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status

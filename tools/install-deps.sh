#!/usr/bin/env bash
# Installs what memscope needs from Debian 12 (bookworm) packages. Idempotent: apt is only asked when a package is
# missing. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config git python3 curl
  libcriterion-dev                       # unit and integration tests
  libuv1-dev libmicrohttpd-dev libcjson-dev   # memscoped
  libdw-dev                              # tracing: symbolizing return addresses
  libcurl4-openssl-dev                   # HTTP client of the tests and the CLI
  prometheus                             # /metrics tests: promtool and a real Prometheus server
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev   # allocator benchmark competitors
  chromium                               # the dashboard's e2e tests (driven by playwright-core from npm)
  clang libclang-rt-14-dev valgrind wrk  # issue 8: libFuzzer targets, memcheck of the daemon, load on the API
)
# node and npm for web/ (uPlot, playwright-core): Debian's packages, unless a node with its own npm is installed
# (a nodejs package that bundles npm conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The dashboard's npm packages (uPlot, embedded into memscoped at build time; playwright-core for the e2e suite),
# pinned by web/package-lock.json. Nothing is fetched at run time: the dashboard works offline.
cd "$(dirname "$0")/../web"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi

# memlab and Chrome DevTools' frontend (with esbuild, which bundles its heap snapshot loader), for the
# .heapsnapshot validation (tests/heapsnapshot, issue 15), pinned by its package-lock.json. memlab
# depends on puppeteer, whose install script would download a browser: no scripts run, and PUPPETEER_SKIP_DOWNLOAD
# says the same to any that would. memlab only parses files here; it never starts a browser.
cd ../tests/heapsnapshot
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi

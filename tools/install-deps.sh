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
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev   # allocator benchmark competitors
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

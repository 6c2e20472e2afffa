#!/usr/bin/env bash
# `meson install` (issue 7): installs into a temporary DESTDIR, checks every installed piece (library, headers,
# memscope.pc, both binaries, man pages, memscoped.service), then builds tinyapp.c in a directory outside the tree
# against the installed library with `pkg-config --cflags --libs memscope` (PKG_CONFIG_PATH and
# PKG_CONFIG_SYSROOT_DIR pointed into the DESTDIR, -Wl,-rpath so it runs) and runs it — checking that the library
# it loaded is the installed one — and links it statically with `pkg-config --static --libs memscope`, which only
# works when memscope.pc declares the private dependencies (libcjson, libdw, pthread).
#
# Usage: test_install.sh BUILD_ROOT TINYAPP_C SANITIZE   (SANITIZE: meson's b_sanitize, "none" or e.g.
# "address,undefined": the app must be built with the library's sanitizer runtime)
set -uo pipefail
build=$1 tinyapp=$2 sanitize=${3:-none}

failures=0
check() { # check DESCRIPTION COMMAND...: runs the command, prints ok/FAIL
    local what=$1; shift
    if "$@" >/dev/null 2>&1; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
die() { echo "FAIL $*"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memscope-install-XXXXXX") || die "mktemp"
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/destdir

# --no-rebuild: meson test has built everything already, and two ninjas in one build dir would race.
meson install -C "$build" --destdir "$dest" --no-rebuild >"$tmp/install.log" 2>&1 ||
    { tail -30 "$tmp/install.log"; die "meson install --destdir"; }
echo "ok   meson install --destdir"

pc=$(find "$dest" -name memscope.pc -path '*/pkgconfig/*' | head -1)
[ -n "$pc" ] || die "memscope.pc is installed"
echo "ok   memscope.pc is installed (${pc#"$dest"})"
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
# The .pc's own paths (as installed, without the DESTDIR): pkgconf prefixes --variable output with the sysroot.
var() { PKG_CONFIG_SYSROOT_DIR= pkg-config --variable="$1" memscope; }
prefix=$(var prefix)
libdir=$dest$(var libdir)
includedir=$dest$(var includedir)

check "bin/memscoped is installed and runs" "$dest$prefix/bin/memscoped" --version
check "bin/memscope is installed and runs" "$dest$prefix/bin/memscope" --help
check "libmemscope.so is installed" test -e "$libdir/libmemscope.so"
check "libmemscope.a is installed" test -f "$libdir/libmemscope.a"
check "the public headers are installed" test -f "$includedir/memscope/memscope.h" -a -f "$includedir/memscope/config.h" \
    -a -f "$includedir/memscope/agent.h"
check "memscope.1 is installed" test -n "$(find "$dest" -path '*/man1/memscope.1*')"
check "memscoped.8 is installed" test -n "$(find "$dest" -path '*/man8/memscoped.8*')"
check "memscope.pc declares the private dependencies" grep -qE '^Requires.private:.*libcjson.*libdw' "$pc"
check "memscope.pc links pthread privately" grep -qE '^Libs.private:.*-pthread' "$pc"

unit=$(find "$dest" -name memscoped.service -path '*/systemd/system/*' | head -1)
if [ -z "$unit" ]; then
    echo "FAIL memscoped.service is installed in a systemd unit dir"; failures=$((failures + 1))
else
    echo "ok   memscoped.service is installed (${unit#"$dest"})"
    check "the unit runs the installed memscoped" grep -q "^ExecStart=$prefix/bin/memscoped " "$unit"
    for opt in RuntimeDirectory=memscope StateDirectory=memscope ProtectSystem=strict ProtectHome=yes \
               NoNewPrivileges=yes PrivateTmp=yes PrivateDevices=yes ProtectKernelTunables=yes \
               'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service; do
        check "the unit sets $opt" grep -qx "$opt" "$unit"
    done
    if command -v systemd-analyze >/dev/null; then
        # verify needs the binary where ExecStart says: point it into the DESTDIR for the check.
        sed "s#^ExecStart=$prefix/bin/memscoped#ExecStart=$dest$prefix/bin/memscoped#" "$unit" >"$tmp/memscoped.service"
        if out=$(systemd-analyze verify --man=no "$tmp/memscoped.service" 2>&1) && [ -z "$out" ]; then
            echo "ok   systemd-analyze verify accepts memscoped.service"
        else
            echo "FAIL systemd-analyze verify accepts memscoped.service"; echo "$out" | sed 's/^/     /'
            failures=$((failures + 1))
        fi
    fi
fi

# The tiny app, outside the tree.
app=$tmp/app
mkdir -p "$app"
cp "$tinyapp" "$app/tinyapp.c"
cd "$app" || die "cd"
san=()
[ "$sanitize" != none ] && [ -n "$sanitize" ] && san=(-fsanitize="$sanitize")
cc=${CC:-cc}
flags=$(pkg-config --cflags --libs memscope) || die "pkg-config --cflags --libs memscope"
echo "ok   pkg-config --cflags --libs memscope: $flags" | sed "s#$dest#\$DESTDIR#g"
# shellcheck disable=SC2086 # word splitting of pkg-config's output is intended
if ! "$cc" -std=c11 -Wall -Wextra -Werror "${san[@]}" tinyapp.c -o tinyapp $flags -Wl,-rpath,"$libdir" 2>"$tmp/cc.log"; then
    cat "$tmp/cc.log"; die "tinyapp builds against the installed library"
fi
echo "ok   tinyapp builds against the installed library"
out=$(env -u LD_LIBRARY_PATH -u MEMSCOPE_SOCKET ./tinyapp 2>&1)
rc=$?
[ $rc -eq 0 ] && echo "ok   tinyapp runs: $out" | sed "s#$dest#\$DESTDIR#g" || { echo "FAIL tinyapp runs (exit $rc): $out"; failures=$((failures + 1)); }
loaded=$(echo "$out" | sed -n 's/^memscope .* from //p')
check "tinyapp loaded the installed libmemscope.so, not the build tree's" \
    test -n "$loaded" -a "$(readlink -f "$loaded")" = "$(readlink -f "$libdir/libmemscope.so")"

# Static: libmemscope.a, with the rest of `pkg-config --static --libs` (cjson, dw, pthread, m, dl) dynamic.
static_libs=$(pkg-config --static --libs memscope | sed 's/\(^\| \)-lmemscope\( \|$\)/ /')
# shellcheck disable=SC2086
if "$cc" -std=c11 -Wall -Wextra -Werror "${san[@]}" tinyapp.c -o tinyapp_static $(pkg-config --cflags memscope) \
        -L"$libdir" -Wl,-Bstatic -lmemscope -Wl,-Bdynamic $static_libs 2>"$tmp/cc-static.log"; then
    echo "ok   tinyapp links statically with pkg-config --static --libs memscope"
    out=$(env -u LD_LIBRARY_PATH -u MEMSCOPE_SOCKET ./tinyapp_static 2>&1)
    rc=$?
    check "tinyapp_static runs ($out)" test $rc -eq 0
    check "tinyapp_static does not load libmemscope.so" test -z "$(ldd ./tinyapp_static | grep libmemscope)"
else
    echo "FAIL tinyapp links statically with pkg-config --static --libs memscope"
    sed 's/^/     /' "$tmp/cc-static.log" | head -20
    failures=$((failures + 1))
fi

echo "install test: $failures failed"
[ $failures -eq 0 ]

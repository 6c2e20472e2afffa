#!/bin/sh
# The shared library exports exactly the public API: every defined dynamic symbol starts with ms_ (functions and
# data declared with MS_API under include/memscope/). Anything else is an internal leaking out.
set -eu
lib=$1
# ASan builds add __odr_asan.* markers for exported data: theirs, not ours.
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^__odr_asan' || true)
[ -n "$syms" ] || { echo "no exported symbols found in $lib"; exit 1; }
leaks=$(printf '%s\n' "$syms" | grep -v '^ms_' | grep -v '^ms[A-Z]' || true)
if [ -n "$leaks" ]; then
  echo "symbols exported without the ms_ prefix:"; printf '%s\n' "$leaks"; exit 1
fi
internal=$(printf '%s\n' "$syms" | grep '^ms__' || true)
if [ -n "$internal" ]; then
  echo "internal ms__ symbols exported (missing hidden visibility?):"; printf '%s\n' "$internal"; exit 1
fi
# Functions that must be exported, not only well named (issue 15's): without MS_API a function is hidden, and a
# program built against the header fails to load with the shared library.
for want in ms_root_name ms_heapsnapshot_write; do
  printf '%s\n' "$syms" | grep -qx "$want" || { echo "$want is not exported"; exit 1; }
done
echo "$(printf '%s\n' "$syms" | wc -l) public symbols, all ms_"

#!/bin/sh
# compare.sh PYTHON C_PROGRAM PY_SCRIPT [SCRIPT_ARGS...] — runs a seed example in CPython and in C; fails unless
# the C program succeeds (it checks its own behaviour) and prints the same lines as the Python program. Lines
# that show addresses ("id(...)") cannot match and are left out of the comparison.
set -u
python=$1 prog=$2 script=$3
shift 3
c_out=$("$prog") || { echo "C program failed (exit $?):"; echo "$c_out"; exit 1; }
py_out=$("$python" "$script" "$@") || { echo "python failed"; exit 1; }
filter() { printf '%s\n' "$1" | grep -v '^id('; }
if [ "$(filter "$c_out")" != "$(filter "$py_out")" ]; then
    echo "output differs from Python's"
    echo "--- python"; printf '%s\n' "$py_out"
    echo "--- C"; printf '%s\n' "$c_out"
    exit 1
fi
printf '%s\n' "$c_out"

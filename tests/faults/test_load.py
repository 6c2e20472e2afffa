#!/usr/bin/env python3
"""tests/faults/test_load.py — the short load run of CI (issue 8): bench/load/soak.py with 200 simulated apps at
1 Hz, wrk (or a Python client) on the API and forwarded POSTs for 10 s. Asserts no errors anywhere, every app
connected, bounded RSS growth after warm-up and a clean exit — never timings (bench/README.md has those)."""
import os
import subprocess
import sys

soak = os.path.join(os.path.dirname(os.path.abspath(os.environ["LOADGEN"])), "soak.py")
sys.exit(subprocess.call([sys.executable, soak, "--apps", "200", "--seconds", "10", "--wrk-connections", "8",
                          "--check"]))

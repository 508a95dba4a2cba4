"""The benchmark script runs end to end and prints one figure per measurement (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bench_prints_its_figures():
    done = subprocess.run([sys.executable, "-m", "devtools.demo_provider.bench", "-n", "8"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "median" in line and "p99" in line]
    assert len(lines) == 6 and any("6-entry batch" in line for line in lines)

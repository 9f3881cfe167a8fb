"""Smoke test of the write-ahead-log benchmark: it runs end to end and reports every row.
(It never asserts speed: the numbers of a --quick run mean nothing.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_wal_benchmark_quick_run_reports_every_row() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.wal", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines():
        m = re.match(r"(\S.*?)\s{2,}(puts/s|s)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            rows[m.group(1)] = (float(m.group(3)), float(m.group(4)))
    assert set(rows) == {"put-16conn -f50", "put-16conn -f0", "put-1conn -f0", "recovery 5000 jobs"}
    assert all(theirs > 0 and ours > 0 for theirs, ours in rows.values())

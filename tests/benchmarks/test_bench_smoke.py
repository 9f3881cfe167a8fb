"""Smoke tests: the whole benchmark harness in its smallest mode, against real servers.

They check that every workload produces a row with positive numbers, never how fast anything is.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report, workloads

REPO = Path(__file__).resolve().parents[2]

BEANSTALKD = shutil.which("beanstalkd") or "/usr/bin/beanstalkd"
EXPECTED_ROWS = [w.name for w in workloads.WORKLOADS] + ["cycle-4p4c p50", "cycle-4p4c p99"]


def run_quick(*extra: str) -> dict[str, tuple[float, float, float]]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return report.parse_table(proc.stdout)


def assert_complete(table: dict[str, tuple[float, float, float]]) -> None:
    assert sorted(table) == sorted(EXPECTED_ROWS)
    for name, numbers in table.items():
        assert all(n > 0 for n in numbers), (name, numbers)


@pytest.mark.timeout(60)
def test_harness_against_beanstalkd_twice() -> None:
    """beanstalkd as both servers: validates the harness whatever state our server is in."""
    assert_complete(run_quick("--ours-cmd", f"{BEANSTALKD} -l {{host}} -p {{port}}"))


@pytest.mark.timeout(60)
@pytest.mark.skipif(
    importlib.util.find_spec("tubeworks.queue.cli") is None,
    reason="our queue server (tubeworks.queue.cli) is not written yet",
)
def test_harness_against_beanstalkd_and_ours() -> None:
    assert_complete(run_quick())


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--only", "nope"], "error: --only: no workload named 'nope'; expected one of "),
        (["--ours-cmd", "beanstalkd -l {host}"],
         "error: --ours-cmd: expected a {port} placeholder, got 'beanstalkd -l {host}'"),
        pytest.param(
            ["--gen-cpu", "4096"], "error: --gen-cpu: expected one of CPUs [",
            marks=pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="no pinning on 1 CPU"),
        ),
    ],
)
def test_bad_options_are_rejected_before_anything_runs(args: list[str], error: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(error)

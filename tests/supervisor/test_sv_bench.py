"""The supervisor benchmark runs end to end (tiny sizes; numbers are not checked)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.timeout(90)
def test_benchmark_smoke() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tubeworks.supervisor.bench",
            "--procs",
            "3",
            "--rounds",
            "1",
            "--rpc-seconds",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["metric", "tubeworks", "supervisord"]
    assert [line.split()[0] for line in lines[1:]] == [
        "startup_s",
        "exit_seen_ms_median",
        "rpc_calls_per_s",
        "shutdown_s",
    ]
    assert all(float(v) > 0 for line in lines[1:] for v in line.split()[1:])

"""``python -m benchmarks.workers --quick`` end to end: a real queue server, real worker
processes of every framework that is installed (the others are skipped by the harness, which
says how to install them), completions counted in the real Redis.

Checks that the table has a positive rate for each framework, and that the run leaves no
process and no Redis key behind. Never checks speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from benchmarks.workers.frameworks import all_frameworks

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/14"  # the tests' own database; the benchmark uses 13


def _redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"redis is not running at 127.0.0.1:6379 ({exc}); CI starts it")
    return client


def _harness(
    tmp_path: Path, *args: str, timeout: float = 80
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the harness with a marker in its environment; return the result and the marker."""
    marker = uuid.uuid4().hex
    env = {**os.environ, "BENCH_WORKERS_TEST_RUN": marker}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.workers", "--redis-url", REDIS_URL, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc, marker


def _processes_with(marker: str) -> list[int]:
    """Pids whose environment carries ``marker``: anything the harness started and left."""
    needle = f"BENCH_WORKERS_TEST_RUN={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.timeout(90)
def test_quick_run_gives_a_positive_rate_for_each_framework_and_cleans_up(
    tmp_path: Path,
) -> None:
    client = _redis_or_skip()
    keys_before = {k for k in client.scan_iter(match="*twbench*")}
    out = tmp_path / "results.json"
    proc, marker = _harness(tmp_path, "--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    data = json.loads(out.read_text())
    ran = {r["framework"] for r in data["results"]}
    assert "tubeworks" in ran
    assert ran | set(data["skipped"]) == {f.name for f in all_frameworks()}
    for r in data["results"]:
        assert r["workers"] == 1 and not r["errors"], r
        assert r["rate"] > 0 and r["ratio"] > 0, r

    table = proc.stdout.splitlines()
    assert table[1].split()[:4] == ["framework", "N", "jobs/s", "tubeworks/x"]
    for name in ran:
        row = next(line.split() for line in table if line.split()[:1] == [name])
        assert row[1] == "1" and float(row[2]) > 0 and float(row[3]) > 0, row
    for name, reason in data["skipped"].items():
        assert f"skipped {name}: {reason}" in proc.stdout

    assert _processes_with(marker) == []
    assert {k for k in client.scan_iter(match="*twbench*")} == keys_before


@pytest.mark.timeout(30)
def test_unreachable_rabbitmq_is_skipped_with_a_reason(tmp_path: Path) -> None:
    _redis_or_skip()
    proc, _ = _harness(
        tmp_path,
        "--quick",
        "-f",
        "dramatiq-rabbitmq",
        "--amqp-url",
        "amqp://guest:guest@127.0.0.1:1/%2F",
    )
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("skipped"))
    assert line.startswith("skipped dramatiq-rabbitmq: ")
    assert (
        "RabbitMQ is not reachable at 127.0.0.1:1 (start it: rabbitmq-server -detached)" in line
        or "not installed (install the frameworks with `uv sync --group bench`)" in line
    )


@pytest.mark.timeout(30)
def test_unreachable_redis_stops_the_benchmark_with_a_reason(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.workers",
            "--quick",
            "--redis-url",
            "redis://127.0.0.1:1/0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=25,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: redis is not reachable at redis://127.0.0.1:1/0 (")
    assert proc.stderr.rstrip().endswith("the benchmark counts jobs in Redis")

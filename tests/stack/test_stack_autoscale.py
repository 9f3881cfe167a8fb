"""Autoscaling under ``tubeworks up``: a backlog grows the pool, idleness shrinks it to min,
and workers that were not chosen to stop keep running (same pids)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_harness import TUBEWORKS, Up, child_env, eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import free_port
from tubeworks.client import Client

HANDLER = """
import time
from tubeworks.worker import App
app = App()

@app.handler("work")
def work(payload):
    time.sleep(0.1)
"""


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[Up, int]]:
    port = free_port()
    (tmp_path / "busy.py").write_text(HANDLER)
    (tmp_path / "stack.ini").write_text(
        textwrap.dedent(
            f"""
            [queue]
            port = {port}
            [pool:busy]
            app = busy:app
            autoscale = work
            min = 1
            max = 4
            target = 5
            cooldown = 1
            interval = 0.1
            """
        )
    )
    running = Up(["-c", "stack.ini"], tmp_path)
    try:
        yield running, port
    finally:
        running.kill_all()


def worker_pids(up: Up) -> dict[str, int]:
    """busy_NN -> pid, for the worker processes alive now (from the supervisor's log lines)."""
    alive: dict[str, int] = {}
    for line in up.lines:
        if m := re.search(r"spawned: '(busy_\d+)' with pid (\d+)", line):
            alive[m.group(1)] = int(m.group(2))
        elif m := re.search(r"stopped: (busy_\d+) ", line):
            alive.pop(m.group(1), None)
    return alive


@pytest.mark.timeout(60)
def test_backlog_scales_up_idle_scales_down_to_min_keeping_pids(
    up: tuple[Up, int], tmp_path: Path
) -> None:
    stack, port = up
    stack.wait_for("pool busy: 1 x busy:app (autoscaled on work)")
    first = eventually(lambda: worker_pids(stack).get("busy_00"), what="busy_00 to start")
    with Client("127.0.0.1", port, use="work") as c:
        c.put_many([b"{}"] * 60)
    grew = stack.wait_for("autoscale busy: 1 -> 4 processes (backlog")
    assert re.search(r"backlog \d+ > 1x5", grew)
    eventually(lambda: len(worker_pids(stack)) == 4, what="4 workers")
    with Client("127.0.0.1", port) as c:
        eventually(
            lambda: c.stats_tube("work").current_jobs_ready == 0
            and c.stats_tube("work").current_jobs_reserved == 0,
            timeout=30,
            what="the backlog to drain",
        )
    # it may step down while the last jobs run (4 -> 2 -> 1); it ends at min with no backlog
    last = stack.wait_for("-> 1 processes (backlog ")
    assert re.search(r"autoscale busy: [234] -> 1 processes \(backlog [0-5] <= 1x5 for", last)
    log = "\n".join(stack.lines)
    sizes = [int(n) for n in re.findall(r"autoscale busy: \d+ -> (\d+) processes", log)]
    assert sizes[0] == 4 and sizes[-1] == 1 and sizes == sorted(sizes, reverse=True)
    eventually(lambda: len(worker_pids(stack)) == 1, what="scale-down to finish")
    assert worker_pids(stack) == {"busy_00": first}  # never restarted
    assert stack.proc.poll() is None
    status = subprocess.run(
        [*TUBEWORKS, "up", "-c", "stack.ini", "--status"], cwd=tmp_path, capture_output=True,
        text=True, env=child_env(), timeout=30,
    )
    assert "autoscale busy: 1 processes (min 1, max 4, target 5), backlog 0" in status.stdout
    assert " 1 -> 4: backlog " in status.stdout
    assert re.search(r" [234] -> 1: backlog ", status.stdout)
    assert re.search(rf"^busy:busy_00 +RUNNING +pid {first},", status.stdout, re.M)
    assert stack.stop() == 0
    assert stack.leftovers() == []

"""``tubeworks up`` end to end: a real supervisor, a real queue server, real workers."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_harness import TUBEWORKS, Up, child_env, eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import free_port, running
from tubeworks.client import Client

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ups() -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        up.kill_all()


def start(ups: list[Up], args: list[str], cwd: Path) -> Up:
    up = Up(args, cwd)
    ups.append(up)
    return up


def test_defaults_run_a_queue_under_var_and_stop_cleanly(tmp_path: Path, ups: list[Up]) -> None:
    port = free_port()
    up = start(ups, ["-p", str(port)], tmp_path)
    line = up.wait_for("queue listening")
    where = f"127.0.0.1:{port} (log in {tmp_path}/var/queue)"
    assert line == f"tubeworks up: queue listening on {where}"
    up.wait_for("[pool:NAME]")  # says how to add a worker pool
    with Client("127.0.0.1", port, use="t") as c:
        job_id = c.put(b"kept")
    up.children()
    assert up.stop(signal.SIGTERM) == 0
    assert up.lines[-1] == "tubeworks up: stopped"
    assert up.seen_pids and up.leftovers() == []
    # the queue flushed its log: the job is there for the next server on the same directory
    with running("tubeworks", "-b", str(tmp_path / "var" / "queue")) as srv, Client(
        *srv.address
    ) as c:
        assert c.peek(job_id).body == b"kept"


def test_second_up_on_the_same_config_says_already_running(tmp_path: Path, ups: list[Up]) -> None:
    port = free_port()
    up = start(ups, ["-p", str(port)], tmp_path)
    up.wait_for("queue listening")
    second = subprocess.run(
        [*TUBEWORKS, "up", "-p", str(port)], cwd=tmp_path, capture_output=True, text=True,
        env=child_env(), timeout=30,
    )
    assert second.returncode == 1
    assert second.stderr.startswith("tubeworks up: already running for this config (pid ")
    assert up.proc.poll() is None
    assert up.stop(signal.SIGINT) == 0


def test_init_writes_a_starter_that_up_runs(tmp_path: Path, ups: list[Up]) -> None:
    out = subprocess.run(
        [*TUBEWORKS, "init"], cwd=tmp_path, capture_output=True, text=True, env=child_env(),
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "wrote ./tubeworks.ini" in out.stdout
    config = tmp_path / "tubeworks.ini"
    port = free_port()
    config.write_text(config.read_text().replace("port = 11300", f"port = {port}"))
    again = subprocess.run(
        [*TUBEWORKS, "init"], cwd=tmp_path, capture_output=True, text=True, env=child_env(),
        timeout=30,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    up = start(ups, [], tmp_path)
    up.wait_for("pool hello: 1 x handlers:app (autoscaled on hello)")
    with Client("127.0.0.1", port, use="hello") as c:
        c.put(b'{"name": "world"}')
    logs = tmp_path / "var" / "log"

    def greeted() -> bool:
        return any("hello, world" in p.read_text() for p in logs.glob("hello_00-stdout*"))

    eventually(greeted, what="the sample handler's greeting")
    status = subprocess.run(
        [*TUBEWORKS, "up", "--status"], cwd=tmp_path, capture_output=True, text=True,
        env=child_env(), timeout=30,
    )
    assert status.returncode == 0, status.stderr
    assert re.search(r"^hello:hello_00 +(STARTING|RUNNING) ", status.stdout, re.M)
    assert re.search(r"^hello:hello_01 +STOPPED ", status.stdout, re.M)
    assert "autoscale hello: 1 processes (min 1, max 4, target 20)" in status.stdout
    assert up.stop() == 0
    assert up.leftovers() == []


HANDLER = '''
import os, time
from tubeworks.worker import App, Bury
app = App()

@app.handler("slow")
def slow(payload, ctx):
    open(os.path.join(payload["dir"], "started"), "w").close()
    time.sleep(1.0)
    open(os.path.join(payload["dir"], "finished"), "w").close()

@app.handler("bad")
def bad(payload, ctx):
    raise Bury("no good")
'''


def test_stop_lets_workers_finish_the_job_in_hand(tmp_path: Path, ups: list[Up]) -> None:
    port = free_port()
    (tmp_path / "slowapp.py").write_text(HANDLER)
    (tmp_path / "stack.ini").write_text(
        textwrap.dedent(
            f"""
            [queue]
            port = {port}
            [pool:slow]
            app = slowapp:app
            tubes = slow
            numprocs = 2
            """
        )
    )
    up = start(ups, ["-c", "stack.ini"], tmp_path)
    up.wait_for("pool slow: 2 x slowapp:app (fixed size)")
    with Client("127.0.0.1", port, use="slow") as c:
        c.put(f'{{"dir": "{tmp_path}"}}'.encode())
    eventually(lambda: (tmp_path / "started").exists(), what="the job to start")
    eventually(lambda: len([k for k in up.children() if k.cmdline()[3:4] == ["worker"]]) == 2)
    assert up.stop(signal.SIGTERM) == 0
    assert (tmp_path / "finished").exists()
    assert up.leftovers() == []
    assert any("stopped: slow:slow_00" in line or "stopped: slow_00" in line for line in up.lines)


def test_a_queue_that_cannot_start_stops_up_with_status_1(tmp_path: Path, ups: list[Up]) -> None:
    port = free_port()
    (tmp_path / "stack.ini").write_text(f"[queue]\nport = {port}\nargs = --no-such-flag\n")
    up = start(ups, ["-c", "stack.ini"], tmp_path)
    assert up.proc.wait(60) == 1
    assert any("the queue server could not start" in line for line in up.lines), up.lines


def test_bad_pool_value_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "stack.ini").write_text("[pool:p]\napp = m:app\nmin = 3\nmax = 2\nautoscale = t\n")
    out = subprocess.run(
        [*TUBEWORKS, "up", "-c", "stack.ini"], cwd=tmp_path, capture_output=True, text=True,
        env=child_env(), timeout=30,
    )
    assert out.returncode == 1
    expected = f"{tmp_path}/stack.ini:4: [pool:p] max: expected max >= min (3), got 2"
    assert out.stderr == f"Error: {expected}\n"


def test_a_taken_queue_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [*TUBEWORKS, "up", "-p", str(port)], cwd=tmp_path, capture_output=True, text=True,
            env=child_env(), timeout=30,
        )
    assert out.returncode == 1
    assert out.stderr == (
        f"tubeworks up: port {port} on 127.0.0.1 is taken by another program; "
        "set port= in [queue] or pass -p PORT\n"
    )

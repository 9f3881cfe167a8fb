"""``tubeworks worker APP`` as a real process: signals, grace, recycling, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from servers import RunningServer
from tubeworks.client import Client, NotFound

pytestmark = pytest.mark.timeout(40)

APP = textwrap.dedent(
    """
    import os, pathlib, time
    from tubeworks.worker import App

    app = App()
    FLAGS = pathlib.Path(os.environ["FLAGS"])

    @app.handler("quick")
    def quick(payload):
        (FLAGS / f"done-{payload}").touch()

    @app.handler("slow")
    def slow(payload):
        (FLAGS / f"started-{payload}").touch()
        while not (FLAGS / "go").exists():   # the test says when this job may finish
            time.sleep(0.01)
        (FLAGS / f"done-{payload}").touch()
    """
)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "jobs_app.py").write_text(APP)
    (tmp_path / "flags").mkdir()
    return tmp_path


@pytest.fixture
def client(beanstalkd: RunningServer) -> Iterator[Client]:
    with Client(*beanstalkd.address) as c:
        yield c


def spawn(project: Path, server: RunningServer, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FLAGS": str(project / "flags")}
    argv = [sys.executable, "-m", "tubeworks", "worker", "jobs_app:app"]
    argv += ["-a", f"127.0.0.1:{server.port}", *args]
    return subprocess.Popen(
        argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def put(client: Client, tube: str, payload: str) -> int:
    client.use(tube)
    return client.put(f'"{payload}"')


def state(client: Client, job_id: int) -> str:
    try:
        return str(client.stats_job(job_id).state.value)
    except NotFound:
        return "deleted"


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


def test_sigterm_finishes_the_job_in_hand_then_exits_0(
    project: Path, beanstalkd: RunningServer, client: Client
) -> None:
    flags = project / "flags"
    in_hand = put(client, "slow", "a")
    proc = spawn(project, beanstalkd, "--tubes", "slow,quick", "-c", "1")
    wait_until(lambda: (flags / "started-a").exists())
    proc.send_signal(signal.SIGTERM)
    waiting = put(client, "quick", "b")  # arrives after the stop: must stay in the queue
    (flags / "go").touch()
    status, err = finish(proc)
    assert status == 0, err
    assert state(client, in_hand) == "deleted" and (flags / "done-a").exists()
    assert state(client, waiting) == "ready" and client.stats_job(waiting).reserves == 0
    assert f"job={in_hand} tube=slow attempt=1 outcome=deleted duration=" in err
    assert "stopping (SIGTERM)" in err


def test_second_signal_releases_the_job_at_once_and_exits_1(
    project: Path, beanstalkd: RunningServer, client: Client
) -> None:
    flags = project / "flags"
    job_id = put(client, "slow", "a")
    proc = spawn(project, beanstalkd, "--grace", "60")
    wait_until(lambda: (flags / "started-a").exists())
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: "stopping (SIGINT)" in (proc.stderr.readline() if proc.stderr else ""))
    proc.send_signal(signal.SIGINT)
    status, err = finish(proc)
    assert status == 1, err
    assert state(client, job_id) == "ready" and not (flags / "done-a").exists()
    assert client.stats_job(job_id).releases == 1


def test_max_jobs_recycles_with_exit_0(
    project: Path, beanstalkd: RunningServer, client: Client
) -> None:
    ids = [put(client, "quick", str(n)) for n in range(3)]
    status, err = finish(
        spawn(project, beanstalkd, "--tubes", "quick", "--max-jobs", "2", "-c", "1")
    )
    assert status == 0, err
    assert [state(client, i) for i in ids] == ["deleted", "deleted", "ready"]
    assert "recycling after 2 jobs (max_jobs)" in err
    assert "reserved=2 deleted=2 released=0 buried=0" in err


def test_bad_app_and_tubes_are_usage_errors(project: Path, beanstalkd: RunningServer) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tubeworks", "worker", "jobs_app:nothing"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "FLAGS": "/"},
    )
    assert (
        proc.returncode == 2
        and "'jobs_app:nothing' is NoneType, expected a tubeworks App" in proc.stderr
    )
    status, err = finish(spawn(project, beanstalkd, "--tubes", "nope"))
    assert status == 2 and "no handler for tubes ['nope']; handlers: quick, slow" in err


def test_default_concurrency_is_four_slots(
    project: Path, beanstalkd: RunningServer, client: Client
) -> None:
    ids = [put(client, "quick", str(n)) for n in range(2)]
    status, err = finish(spawn(project, beanstalkd, "--tubes", "quick", "--max-jobs", "2"))
    assert status == 0, err
    assert "worker started: tubes=quick concurrency=4 " in err
    assert [state(client, i) for i in ids] == ["deleted", "deleted"]

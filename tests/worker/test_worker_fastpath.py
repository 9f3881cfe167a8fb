"""The worker's happy path: no thread per job and no ``stats-job`` unless something needs it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from servers import RunningServer
from tubeworks.client import Client
from tubeworks.worker import App, Backoff, JobContext, Worker, WorkerConfig

pytestmark = pytest.mark.timeout(30)


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def client(beanstalkd: RunningServer) -> Iterator[Client]:
    with Client(*beanstalkd.address) as c:
        yield c


def run_until(worker: Worker, condition: Callable[[], bool]) -> int | None:
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(worker.run(install_signals=False)))
    thread.start()
    try:
        wait_until(condition)
    finally:
        worker.stop("test over")
        thread.join(20)
    return status[0] if status else None


def test_one_tube_and_no_context_means_no_stats_job_and_no_thread_per_job(
    beanstalkd: RunningServer, client: Client
) -> None:
    app = App(f"127.0.0.1:{beanstalkd.port}")
    threads: set[int] = set()

    @app.handler("fast")
    def fast(payload: Any) -> None:
        threads.add(threading.get_ident())

    for n in range(20):
        app.put("fast", n)
    before = client.stats().cmd_stats_job
    worker = Worker(app, WorkerConfig(concurrency=1))
    assert run_until(worker, lambda: worker.statistics().deleted == 20) == 0
    assert client.stats().cmd_stats_job == before
    assert len(threads) == 1  # every job ran on the one slot thread
    assert (
        client.stats_tube("fast").total_jobs == 20
        and client.stats_tube("fast").current_jobs_ready == 0
    )


def test_failures_still_learn_the_attempt_and_priority(
    beanstalkd: RunningServer, client: Client
) -> None:
    app = App(f"127.0.0.1:{beanstalkd.port}")

    @app.handler("bad", backoff=Backoff(base=0.0, cap=0.0, jitter=0.0, max_attempts=2))
    def bad(payload: Any) -> None:
        raise RuntimeError("no")

    job_id = app.put("bad", 1, priority=7)
    worker = Worker(app, WorkerConfig())
    assert run_until(worker, lambda: worker.statistics().buried == 1) == 0
    st = client.stats_job(job_id)
    assert (st.state.value, st.pri, st.reserves, st.releases) == ("buried", 7, 2, 1)
    assert worker.statistics().failed == 2


def test_several_tubes_and_contexts_still_get_tube_attempt_and_ttr(
    beanstalkd: RunningServer, client: Client
) -> None:
    app = App(f"127.0.0.1:{beanstalkd.port}")
    seen: list[tuple[str, int, float]] = []

    @app.handler("a")
    def a(payload: Any, ctx: JobContext) -> None:
        seen.append((ctx.tube, ctx.attempt, ctx.ttr))

    app.handler("b")(lambda payload: seen.append(("b", 0, 0.0)))
    app.put("a", 1, ttr=42)
    app.put("b", 2)
    worker = Worker(app, WorkerConfig(concurrency=2))
    assert run_until(worker, lambda: worker.statistics().deleted == 2) == 0
    assert sorted(seen) == [("a", 1, 42.0), ("b", 0, 0.0)]

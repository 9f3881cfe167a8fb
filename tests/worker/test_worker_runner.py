"""The worker loop in-process, against the real beanstalkd."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from servers import RunningServer, running
from tubeworks.client import Client, NotFound
from tubeworks.worker import RAW, App, Backoff, Bury, JobContext, Retry, Worker, WorkerConfig

pytestmark = pytest.mark.timeout(30)
FAST = Backoff(base=0.0, cap=0.0, jitter=0.0, max_attempts=3)


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Running:
    """A Worker on a thread; ``stop()`` waits for run() and returns its status."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.status: int | None = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        self.status = self.worker.run(install_signals=False)

    def stop(self) -> int | None:
        self.worker.stop("test over")
        self.thread.join(20)
        return self.status


@pytest.fixture
def server(beanstalkd: RunningServer) -> RunningServer:
    return beanstalkd


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(*server.address) as c:
        yield c


def start(app: App, **config: Any) -> Running:
    return Running(Worker(app, WorkerConfig(**config)))


def job_state(client: Client, job_id: int) -> str:
    try:
        return str(client.stats_job(job_id).state.value)
    except NotFound:
        return "deleted"


def test_success_deletes_and_handlers_get_payload_and_context(
    server: RunningServer, client: Client
) -> None:
    app = App(f"127.0.0.1:{server.port}")
    seen: list[tuple[Any, int, str]] = []

    @app.handler("emails")
    def send(payload: Any, ctx: JobContext) -> None:
        seen.append((payload, ctx.attempt, ctx.tube))

    job_id = app.put("emails", {"to": "a@example.com"})
    w = start(app)
    try:
        wait_until(lambda: job_state(client, job_id) == "deleted")
    finally:
        assert w.stop() == 0
    assert seen == [({"to": "a@example.com"}, 1, "emails")]
    assert w.worker.statistics().deleted == 1


def test_failures_release_with_backoff_then_bury_after_max_attempts(
    server: RunningServer, client: Client
) -> None:
    app = App(f"127.0.0.1:{server.port}", backoff=FAST)
    calls = []

    @app.handler("flaky")
    def fail(payload: Any) -> None:
        calls.append(payload)
        raise ValueError("boom")

    job_id = app.put("flaky", 1)
    w = start(app)
    try:
        wait_until(lambda: job_state(client, job_id) == "buried")
    finally:
        w.stop()
    assert calls == [1, 1, 1]
    st = client.stats_job(job_id)
    assert st.reserves == 3 and st.releases == 2 and st.buries == 1
    stats = w.worker.statistics()
    assert (stats.failed, stats.released, stats.buried) == (3, 2, 1)


def test_undecodable_jobs_are_buried_at_once(server: RunningServer, client: Client) -> None:
    app = App(f"127.0.0.1:{server.port}")
    calls = []
    app.handler("json")(calls.append)
    client.use("json")
    job_id = client.put(b"{not json")
    w = start(app)
    try:
        wait_until(lambda: job_state(client, job_id) == "buried")
    finally:
        w.stop()
    assert calls == [] and client.stats_job(job_id).reserves == 1


def test_retry_and_bury_requests_and_raw_bytes(server: RunningServer, client: Client) -> None:
    app = App(f"127.0.0.1:{server.port}", serializer=RAW)
    attempts: list[int] = []

    @app.handler("ask")
    def ask(payload: bytes, ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        if payload == b"bury":
            raise Bury("not for us")
        if ctx.attempt < 3:
            raise Retry(delay=0)

    retry_id = app.put("ask", b"retry")
    bury_id = app.put("ask", b"bury")
    w = start(app)
    try:
        wait_until(lambda: job_state(client, retry_id) == "deleted")
        wait_until(lambda: job_state(client, bury_id) == "buried")
    finally:
        w.stop()
    assert sorted(attempts) == [1, 1, 2, 3]


def test_async_handlers(server: RunningServer, client: Client) -> None:
    import asyncio

    app = App(f"127.0.0.1:{server.port}")
    got = []

    @app.handler("aio")
    async def handle(payload: Any) -> None:
        await asyncio.sleep(0)
        got.append(payload)

    job_id = app.put("aio", [1, 2])
    w = start(app)
    try:
        wait_until(lambda: job_state(client, job_id) == "deleted")
    finally:
        w.stop()
    assert got == [[1, 2]]


def test_long_jobs_are_touched_before_ttr(server: RunningServer, client: Client) -> None:
    app = App(f"127.0.0.1:{server.port}")
    holder: dict[str, Worker] = {}

    @app.handler("long")
    def slow(payload: Any) -> None:
        # Outlive the 1 s TTR twice over: only the automatic touches keep the job ours.
        wait_until(lambda: holder["w"].statistics().touched >= 4)

    job_id = app.put("long", None, ttr=1)
    w = start(app)
    holder["w"] = w.worker
    try:
        wait_until(lambda: job_state(client, job_id) == "deleted")
    finally:
        w.stop()
    assert client.stats().job_timeouts == 0
    assert w.worker.statistics().deleted == 1


def test_handlers_can_touch(server: RunningServer, client: Client) -> None:
    app = App(f"127.0.0.1:{server.port}")
    holder: dict[str, Worker] = {}

    @app.handler("t")
    def touchy(payload: Any, ctx: JobContext) -> None:
        ctx.touch()
        wait_until(lambda: holder["w"].statistics().touched >= 1)

    job_id = app.put("t", None, ttr=3600)
    w = start(app)
    holder["w"] = w.worker
    try:
        wait_until(lambda: job_state(client, job_id) == "deleted")
    finally:
        w.stop()


def test_stop_finishes_the_job_in_hand_and_reserves_no_more(
    server: RunningServer, client: Client
) -> None:
    app = App(f"127.0.0.1:{server.port}")
    started, release = threading.Event(), threading.Event()

    @app.handler("work")
    def work(payload: Any) -> None:
        started.set()
        assert release.wait(10)

    first = app.put("work", 1)
    w = start(app, concurrency=2)
    assert started.wait(10)
    w.worker.stop("test")  # the other slot, idle in reserve, is woken and leaves
    second = app.put("work", 2)
    release.set()
    assert w.stop() == 0
    assert job_state(client, first) == "deleted"
    assert job_state(client, second) == "ready"
    assert client.stats_job(second).reserves == 0


def test_grace_exceeded_releases_the_job_and_exits_1(server: RunningServer, client: Client) -> None:
    app = App(f"127.0.0.1:{server.port}")
    started, never = threading.Event(), threading.Event()

    @app.handler("stuck")
    def stuck(payload: Any) -> None:
        started.set()
        never.wait(30)

    job_id = app.put("stuck", 1)
    w = start(app, grace=0.2)
    assert started.wait(10)
    try:
        assert w.stop() == 1
        assert job_state(client, job_id) == "ready"
        assert client.stats_job(job_id).releases == 1
    finally:
        never.set()


def test_recycles_after_max_jobs(server: RunningServer, client: Client) -> None:
    app = App(f"127.0.0.1:{server.port}")
    app.handler("r")(lambda payload: None)
    ids = [app.put("r", n) for n in range(3)]
    w = start(app, max_jobs=2)
    w.thread.join(20)
    assert w.status == 0 and "max_jobs" in w.worker.stop_reason
    assert [job_state(client, i) for i in ids] == ["deleted", "deleted", "ready"]


def test_reconnects_when_the_queue_server_restarts() -> None:
    with running("beanstalkd") as first:
        port = first.port
        app = App(f"127.0.0.1:{port}")
        done: list[int] = []
        app.handler("q")(done.append)
        w = start(app, reconnect_cap=0.2)
        app.put("q", 1)
        wait_until(lambda: done == [1])
        app.close()
    try:
        with running("beanstalkd", port=port):
            app.put("q", 2)
            wait_until(lambda: done == [1, 2])
    finally:
        assert w.stop() == 0
    assert w.worker.statistics().queue_errors >= 1


def test_unknown_tubes_are_refused() -> None:
    app = App("127.0.0.1:1")
    app.handler("a")(print)
    with pytest.raises(ValueError, match=r"^no handler for tubes \['b'\]; handlers: a$"):
        Worker(app, WorkerConfig(tubes=("b",)))


def test_recycles_above_max_memory(server: RunningServer, client: Client) -> None:
    app = App(f"127.0.0.1:{server.port}")
    app.handler("m")(lambda payload: None)
    ids = [app.put("m", n) for n in range(2)]
    w = start(app, max_memory=1)  # any process is above one byte after its first job
    w.thread.join(20)
    assert w.status == 0 and "(max_memory)" in w.worker.stop_reason
    assert [job_state(client, i) for i in ids] == ["deleted", "ready"]


def test_resources_are_opened_by_handlers_and_closed_at_shutdown(
    server: RunningServer, client: Client
) -> None:
    app = App(f"127.0.0.1:{server.port}")
    events: list[str] = []

    class Conn:
        def __init__(self) -> None:
            events.append("open")

        def close(self) -> None:
            events.append("close")

    app.resources.add("conn", Conn)

    @app.handler("res")
    def use(payload: Any) -> None:
        app.resources["conn"]
        events.append(f"job {payload}")

    ids = [app.put("res", n) for n in range(2)]
    w = start(app)
    try:
        wait_until(lambda: all(job_state(client, i) == "deleted" for i in ids))
        assert events == ["open", "job 0", "job 1"]
    finally:
        assert w.stop() == 0
    assert events[-1] == "close"


def test_each_slot_gets_its_own_resources(server: RunningServer, client: Client) -> None:
    app = App(f"127.0.0.1:{server.port}")
    closed: list[object] = []

    class Conn:
        def close(self) -> None:
            closed.append(self)

    app.resources.add("conn", Conn)
    both = threading.Barrier(2, timeout=10)
    used: list[object] = []

    @app.handler("pair")
    def use(payload: Any) -> None:
        used.append(app.resources["conn"])
        both.wait()  # two jobs in flight at once, one per slot

    ids = [app.put("pair", n) for n in range(2)]
    w = start(app, concurrency=2)
    try:
        wait_until(lambda: all(job_state(client, i) == "deleted" for i in ids))
    finally:
        assert w.stop() == 0
    assert len(used) == 2 and used[0] is not used[1]
    assert sorted(map(id, closed)) == sorted(map(id, used))

"""The blocking Client against real servers: ours and the real beanstalkd (``any_server``)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator

import pytest

from servers import RunningServer
from tubeworks.client import (
    BatchFailed,
    Client,
    ClientBusy,
    ClientClosed,
    DeadlineSoon,
    Job,
    JobSpec,
    JobState,
    JobTooBig,
    LocalProtocolError,
    NotFound,
    NotIgnored,
    TimedOut,
)

pytestmark = pytest.mark.timeout(45)  # generous: server start/stop is slow on a loaded CI box


@pytest.fixture
def client(any_server: RunningServer) -> Iterator[Client]:
    with Client(any_server.host, any_server.port) as c:
        yield c


def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_put_reserve_delete(client: Client) -> None:
    job_id = client.put(json.dumps({"n": 1}), priority=7, ttr=30)
    stats = client.stats_job(job_id)
    assert (stats.id, stats.tube, stats.state, stats.pri, stats.ttr) == (
        job_id,
        "default",
        JobState.READY,
        7,
        30,
    )
    job = client.reserve(timeout=1)
    assert job == Job(job_id, b'{"n": 1}')
    assert job.json() == {"n": 1} and job.text == '{"n": 1}'
    assert client.stats_job(job).state is JobState.RESERVED
    client.delete(job)
    with pytest.raises(NotFound, match=r"^stats-job: NOT_FOUND$"):
        client.stats_job(job_id)


def test_binary_body_round_trips(client: Client) -> None:
    body = bytes(range(256)) + b"\r\n" * 3
    job_id = client.put(body)
    assert client.peek(job_id).body == body
    assert client.reserve(0).body == body


def test_tubes_use_watch_ignore(client: Client) -> None:
    assert client.use("emails") == "emails"
    assert client.using() == "emails"
    assert client.watch("emails") == 2
    assert client.watch("emails") == 2
    assert client.ignore("default") == 1
    assert client.watching() == ["emails"]
    with pytest.raises(NotIgnored, match=r"^ignore: NOT_IGNORED$"):
        client.ignore("emails")
    client.put(b"x")
    assert client.reserve(0).body == b"x"
    assert set(client.tubes()) == {"default", "emails"}


def test_reserve_timeout(client: Client) -> None:
    with pytest.raises(TimedOut, match=r"^reserve: TIMED_OUT$"):
        client.reserve(timeout=0)


def test_deadline_soon(client: Client) -> None:
    client.put(b"x", ttr=1)
    client.reserve(0)
    with pytest.raises(DeadlineSoon):
        client.reserve(timeout=1)


def test_release_bury_kick_touch_peek(client: Client) -> None:
    a, b = client.put(b"a"), client.put(b"b")
    job = client.reserve(0)
    assert job.id == a
    client.touch(job)
    client.release(job, priority=3, delay=100)
    stats = client.stats_job(a)
    assert (stats.state, stats.pri, stats.delay, stats.releases) == (JobState.DELAYED, 3, 100, 1)
    assert client.peek_delayed().id == a
    assert client.peek_ready().id == b
    client.bury(client.reserve(0), priority=9)
    assert client.peek_buried() == Job(b, b"b")
    assert client.kick(10) == 1  # buried jobs first
    assert client.kick(10) == 1  # then delayed ones
    assert client.stats_tube("default").current_jobs_ready == 2
    job = client.reserve(0)
    assert job.id == a  # priority 3 beats the default
    client.bury(job)
    client.kick_job(a)
    with pytest.raises(NotFound, match=r"^kick-job: NOT_FOUND$"):
        client.kick_job(a)
    for method in (client.peek_buried, client.peek_delayed):
        with pytest.raises(NotFound):
            method()
    with pytest.raises(NotFound, match=r"^peek: NOT_FOUND$"):
        client.peek(999_999)
    with pytest.raises(NotFound, match=r"^touch: NOT_FOUND$"):
        client.touch(999_999)


def test_reserve_job(client: Client) -> None:
    first, second = client.put(b"1"), client.put(b"2")
    assert client.reserve_job(second) == Job(second, b"2")
    with pytest.raises(NotFound, match=r"^reserve-job: NOT_FOUND$"):
        client.reserve_job(second)
    assert client.reserve(0).id == first


def test_stats_are_typed(client: Client) -> None:
    client.put(b"x", priority=5)
    stats = client.stats()
    assert stats.current_jobs_urgent == 1 and stats.cmd_put == 1
    assert isinstance(stats.draining, bool) and not stats.draining
    assert isinstance(stats.rusage_utime, float)
    assert stats.max_job_size == 65535
    tube = client.stats_tube("default")
    assert (tube.name, tube.current_jobs_ready, tube.total_jobs) == ("default", 1, 1)
    assert tube.as_dict()["current-jobs-ready"] == 1
    with pytest.raises(NotFound, match=r"^stats-tube: NOT_FOUND$"):
        client.stats_tube("nosuch")


def test_pause_tube(client: Client) -> None:
    client.put(b"x")
    client.pause_tube("default", 60)
    assert client.stats_tube("default").pause == 60
    with pytest.raises(TimedOut):
        client.reserve(0)
    client.pause_tube("default", 0)
    assert client.reserve(0).body == b"x"
    with pytest.raises(NotFound, match=r"^pause-tube: NOT_FOUND$"):
        client.pause_tube("nosuch", 1)


def test_job_too_big_keeps_connection_usable(client: Client) -> None:
    with pytest.raises(JobTooBig, match=r"^put: JOB_TOO_BIG$"):
        client.put(b"x" * 70_000)
    assert client.put(b"small") > 0


def test_bad_arguments_raise_before_sending(client: Client) -> None:
    with pytest.raises(LocalProtocolError, match=r"^priority must be in 0\.\.4294967295, got -1$"):
        client.put(b"x", priority=-1)
    with pytest.raises(LocalProtocolError, match=r"^invalid tube name 'a b'"):
        client.use("a b")
    assert client.stats().cmd_put == 0


def test_put_many(client: Client) -> None:
    ids = client.put_many((f"job {i}" for i in range(5000)), priority=9)
    assert len(ids) == 5000 and len(set(ids)) == 5000 and ids == sorted(ids)
    assert client.stats_tube("default").current_jobs_ready == 5000
    assert client.peek(ids[1234]).body == b"job 1234"
    specs = [JobSpec(b"a", priority=1), JobSpec("b", delay=100, ttr=5)]
    more = client.put_many(specs, window=1)
    assert client.stats_job(more[1]).state is JobState.DELAYED
    assert client.stats_job(more[0]).pri == 1


def test_put_many_reports_each_failure(client: Client) -> None:
    with pytest.raises(
        BatchFailed, match=r"^put_many: 1 of 3 items failed: put: JOB_TOO_BIG$"
    ) as e:
        client.put_many([b"a", b"x" * 70_000, b"c"], window=10)
    ok_a, too_big, ok_c = e.value.results
    assert isinstance(too_big, JobTooBig) and e.value.errors == [too_big]
    assert client.peek(ok_a).body == b"a" and client.peek(ok_c).body == b"c"


def test_close_releases_reservations_and_refuses_calls(any_server: RunningServer) -> None:
    with Client(*any_server.address) as other:
        other.put(b"x")
        c = Client(*any_server.address)
        job = c.reserve(0)
        c.close()
        assert c.closed
        with pytest.raises(ClientClosed, match=r"^client is closed$"):
            c.put(b"y")
        assert other.reserve(timeout=5).id == job.id
        c.connect()  # an explicit connect reopens it
        assert c.put(b"z") > job.id
        c.close()


def test_sharing_across_threads_is_detected(any_server: RunningServer) -> None:
    with Client(*any_server.address) as c, Client(*any_server.address) as observer:
        got: list[Job] = []
        worker = threading.Thread(target=lambda: got.append(c.reserve(timeout=10)))
        worker.start()
        wait_for(lambda: observer.stats().current_waiting == 1)
        with pytest.raises(ClientBusy, match=r"^client is already in use by another thread"):
            c.put(b"x")
        observer.put(b"wake")
        worker.join(10)
        assert [j.body for j in got] == [b"wake"]


def test_batch_helpers(client: Client) -> None:
    ids = client.put_many([b"a", b"b", b"c"])
    client.use("other")
    client.put(b"elsewhere")
    jobs = client.reserve_many(5)
    assert [j.id for j in jobs] == ids  # only what is ready in watched tubes, without waiting
    assert client.reserve_many(0) == []
    assert {s.name: s.current_jobs_reserved for s in client.stats_tubes()} == {
        "default": 3,
        "other": 0,
    }
    client.delete_many(jobs[:2], window=1)
    with pytest.raises(BatchFailed, match=r"^delete_many: 1 of 2 items failed") as e:
        client.delete_many([jobs[2], 999_999])
    assert e.value.results[0] is None and isinstance(e.value.results[1], NotFound)
    assert client.stats_tube("default").current_jobs == 0


def test_abort_from_another_thread_ends_a_blocked_reserve(any_server: RunningServer) -> None:
    with Client(*any_server.address) as c, Client(*any_server.address) as observer:
        errors: list[BaseException] = []

        def reserve() -> None:
            try:
                c.reserve()
            except ClientClosed as exc:
                errors.append(exc)

        worker = threading.Thread(target=reserve)
        worker.start()
        wait_for(lambda: observer.stats().current_waiting == 1)
        c.abort()
        worker.join(10)
        assert [str(e) for e in errors] == ["client was closed while a call was in flight"]
        with pytest.raises(ClientClosed, match=r"^client is closed$"):
            c.stats()
        wait_for(lambda: observer.stats().current_waiting == 0)


def test_forked_child_gets_its_own_connection(any_server: RunningServer) -> None:
    with Client(*any_server.address, use="forks") as c:
        c.put(b"parent before")
        connections = c.stats().total_connections
        pid = os.fork()
        if pid == 0:  # the child: must not touch the parent's socket
            try:
                code = 0 if c.put(b"child") > 0 and c.using() == "forks" else 1
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        c.put(b"parent after")  # the parent's connection is still in step
        assert c.stats_tube("forks").current_jobs_ready == 3
        assert c.stats().total_connections == connections + 1  # the child's own


def test_release_and_bury_keep_the_priority_unless_given(client: Client) -> None:
    job_id = client.put(b"x", priority=42)
    client.release(client.reserve(0))
    assert client.stats_job(job_id).pri == 42
    client.bury(client.reserve(0))
    assert client.stats_job(job_id).pri == 42
    client.kick_job(job_id)
    client.release(client.reserve(0), priority=7, delay=30)
    stats = client.stats_job(job_id)
    assert (stats.pri, stats.state, stats.delay) == (7, JobState.DELAYED, 30)
    with pytest.raises(NotFound, match=r"^stats-job: NOT_FOUND$"):
        client.release(999_999)
    with pytest.raises(NotFound, match=r"^bury: NOT_FOUND$"):
        client.bury(job_id, priority=1)  # delayed, not reserved by us

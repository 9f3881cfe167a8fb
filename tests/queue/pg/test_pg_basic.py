"""The PostgreSQL store at socket level: one server, every kind of command, exact replies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_helpers import Client, needs_pg, pg_schema, pg_server, sql

from servers import RunningServer

pytestmark = [needs_pg, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


@pytest.fixture(scope="module")
def server(schema: str) -> Iterator[RunningServer]:
    with pg_server(schema) as srv:
        yield srv


@pytest.fixture
def client(server: RunningServer, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client on a tube of its own, so the module's tests share one server safely."""
    tube = b"t-" + request.node.name.encode()[:40].replace(b"[", b"_").replace(b"]", b"_")
    with Client(server) as c:
        assert c.call(b"use %s\r\n" % tube) == b"USING %s\r\n" % tube
        assert c.call(b"watch %s\r\n" % tube) == b"WATCHING 2\r\n"
        assert c.call(b"ignore default\r\n") == b"WATCHING 1\r\n"
        yield c


def test_put_reserve_delete(client: Client, schema: str) -> None:
    job = client.put(b"hello", pri=5)
    assert client.call(b"peek %d\r\n" % job) == b"FOUND %d 5\r\nhello\r\n" % job
    assert client.call(b"reserve\r\n") == b"RESERVED %d 5\r\nhello\r\n" % job
    assert sql(schema, "SELECT state FROM jobs WHERE id = %s", (job,)) == [(2,)]
    assert client.call(b"delete %d\r\n" % job) == b"DELETED\r\n"
    assert client.call(b"peek %d\r\n" % job) == b"NOT_FOUND\r\n"
    assert sql(schema, "SELECT count(*) FROM jobs WHERE id = %s", (job,)) == [(0,)]


def test_priority_then_fifo(client: Client) -> None:
    a = client.put(b"a", pri=10)
    b = client.put(b"b", pri=1)
    c = client.put(b"c", pri=10)
    got = [client.call(b"reserve-with-timeout 0\r\n").split()[1] for _ in range(3)]
    assert got == [b"%d" % b, b"%d" % a, b"%d" % c]
    assert client.call(b"reserve-with-timeout 0\r\n") == b"TIMED_OUT\r\n"


def test_release_bury_kick_and_stats_job(client: Client) -> None:
    job = client.put(b"x")
    client.call(b"reserve\r\n")
    assert client.call(b"release %d 7 0\r\n" % job) == b"RELEASED\r\n"
    stats = client.yaml(b"stats-job %d\r\n" % job)
    assert (stats["state"], stats["pri"], stats["releases"], stats["reserves"]) == (
        "ready", "7", "1", "1")
    client.call(b"reserve\r\n")
    assert client.call(b"bury %d 3\r\n" % job) == b"BURIED\r\n"
    assert client.call(b"peek-buried\r\n") == b"FOUND %d 1\r\nx\r\n" % job
    assert client.call(b"kick 10\r\n") == b"KICKED 1\r\n"
    stats = client.yaml(b"stats-job %d\r\n" % job)
    assert (stats["state"], stats["pri"], stats["buries"], stats["kicks"]) == (
        "ready", "3", "1", "1")
    assert client.call(b"delete %d\r\n" % job) == b"DELETED\r\n"


def test_delayed_job_becomes_ready(client: Client) -> None:
    job = client.put(b"later", delay=1)
    assert client.yaml(b"stats-job %d\r\n" % job)["state"] == "delayed"
    assert client.call(b"peek-delayed\r\n") == b"FOUND %d 5\r\nlater\r\n" % job
    assert client.call(b"reserve-with-timeout 5\r\n") == b"RESERVED %d 5\r\nlater\r\n" % job
    client.call(b"delete %d\r\n" % job)


def test_not_found_for_others_reservation(server: RunningServer, client: Client) -> None:
    job = client.put(b"mine")
    client.call(b"reserve\r\n")
    with Client(server) as other:
        assert other.call(b"delete %d\r\n" % job) == b"NOT_FOUND\r\n"
        assert other.call(b"release %d 0 0\r\n" % job) == b"NOT_FOUND\r\n"
        assert other.call(b"touch %d\r\n" % job) == b"NOT_FOUND\r\n"
    assert client.call(b"touch %d\r\n" % job) == b"TOUCHED\r\n"
    assert client.call(b"delete %d\r\n" % job) == b"DELETED\r\n"


def test_close_releases_reservation(server: RunningServer, client: Client) -> None:
    job = client.put(b"orphan")
    with Client(server) as worker:
        worker.call(b"watch %s\r\n" % client.call(b"list-tube-used\r\n").split()[1])
        assert worker.call(b"reserve\r\n").startswith(b"RESERVED %d " % job)
    assert client.call(b"reserve-with-timeout 5\r\n").startswith(b"RESERVED %d " % job)
    client.call(b"delete %d\r\n" % job)


def test_blocked_reserve_wakes_on_put(server: RunningServer, client: Client) -> None:
    client.send(b"reserve\r\n")
    tube = b"t-test_blocked_reserve_wakes_on_put"
    with Client(server) as producer:
        producer.call(b"use %s\r\n" % tube)
        job = producer.put(b"wake")
    assert client.reply() == b"RESERVED %d 4\r\nwake\r\n" % job


def test_reserve_with_timeout_times_out(client: Client) -> None:
    assert client.call(b"reserve-with-timeout 1\r\n") == b"TIMED_OUT\r\n"


def test_pause_tube(client: Client) -> None:
    tube = client.call(b"list-tube-used\r\n").split()[1]
    job = client.put(b"p")
    assert client.call(b"pause-tube %s 1\r\n" % tube) == b"PAUSED\r\n"
    assert client.call(b"reserve-with-timeout 0\r\n") == b"TIMED_OUT\r\n"
    assert client.yaml(b"stats-tube %s\r\n" % tube)["pause"] == "1"
    assert client.call(b"reserve-with-timeout 5\r\n").startswith(b"RESERVED %d " % job)
    client.call(b"delete %d\r\n" % job)


def test_ttr_expiry_returns_job(server: RunningServer, client: Client) -> None:
    job = client.put(b"slow", ttr=1)
    assert client.call(b"reserve\r\n").startswith(b"RESERVED %d " % job)
    assert client.call(b"reserve-with-timeout 5\r\n") == b"DEADLINE_SOON\r\n"
    with Client(server) as other:
        other.call(b"watch %s\r\n" % client.call(b"list-tube-used\r\n").split()[1])
        assert other.call(b"reserve-with-timeout 5\r\n").startswith(b"RESERVED %d " % job)
        assert client.call(b"touch %d\r\n" % job) == b"NOT_FOUND\r\n"  # no longer ours
        stats = other.yaml(b"stats-job %d\r\n" % job)
        assert (stats["timeouts"], stats["reserves"], stats["state"]) == ("1", "2", "reserved")
        assert other.call(b"delete %d\r\n" % job) == b"DELETED\r\n"

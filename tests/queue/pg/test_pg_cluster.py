"""Two or more servers on one database: shared tubes, exclusive reservations, global pause,
kick, bury and stats, wake-ups across servers, a server killed mid-run, a terminated session."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from pg_helpers import PG_DSN, Client, needs_pg, pg_schema, pg_server, sql

from servers import RunningServer

pytestmark = [needs_pg, pytest.mark.timeout(60)]


@contextlib.contextmanager
def cluster(n: int = 2) -> Iterator[tuple[str, list[RunningServer]]]:
    with pg_schema() as schema, contextlib.ExitStack() as stack:
        yield schema, [stack.enter_context(pg_server(schema)) for _ in range(n)]


def test_put_on_one_reserved_on_other() -> None:
    with cluster() as (_, (a, b)), Client(a) as ca, Client(b) as cb:
        job = ca.put(b"shared", pri=3)
        assert cb.call(b"peek %d\r\n" % job) == b"FOUND %d 6\r\nshared\r\n" % job
        assert cb.call(b"reserve-with-timeout 0\r\n") == b"RESERVED %d 6\r\nshared\r\n" % job
        # held by b's client: a's clients cannot take, release or delete it
        assert ca.call(b"reserve-with-timeout 0\r\n") == b"TIMED_OUT\r\n"
        assert ca.call(b"reserve-job %d\r\n" % job) == b"NOT_FOUND\r\n"
        assert ca.call(b"delete %d\r\n" % job) == b"NOT_FOUND\r\n"
        assert ca.yaml(b"stats-job %d\r\n" % job)["state"] == "reserved"
        assert cb.call(b"delete %d\r\n" % job) == b"DELETED\r\n"
        assert ca.call(b"peek %d\r\n" % job) == b"NOT_FOUND\r\n"


def test_blocked_reserve_wakes_on_put_through_other_server() -> None:
    with cluster() as (_, (a, b)), Client(a) as ca, Client(b) as cb:
        cb.send(b"reserve\r\n")
        wait_for_waiting(cb, b)
        job = ca.put(b"wake up")
        assert cb.reply(timeout=10) == b"RESERVED %d 7\r\nwake up\r\n" % job


def wait_for_waiting(client: Client, server: RunningServer) -> None:
    """Until ``server`` counts a client blocked in reserve (its reserve query came back empty)."""
    with Client(server) as probe:
        deadline = time.monotonic() + 10
        while probe.yaml(b"stats\r\n")["current-waiting"] != "1":
            assert time.monotonic() < deadline, "the reserve never blocked"
            time.sleep(0.01)


def test_pause_kick_bury_and_stats_are_global() -> None:
    with cluster() as (_, (a, b)), Client(a) as ca, Client(b) as cb:
        for c in (ca, cb):
            c.call(b"use g\r\n")
            c.call(b"watch g\r\n")
        j1 = ca.put(b"one")
        j2 = cb.put(b"two")
        assert ca.call(b"pause-tube g 30\r\n") == b"PAUSED\r\n"
        assert cb.call(b"reserve-with-timeout 0\r\n") == b"TIMED_OUT\r\n"
        assert cb.yaml(b"stats-tube g\r\n")["pause"] == "30"
        assert cb.call(b"pause-tube g 0\r\n") == b"PAUSED\r\n"
        assert cb.call(b"reserve-with-timeout 0\r\n").startswith(b"RESERVED %d " % j1)
        assert cb.call(b"bury %d 0\r\n" % j1) == b"BURIED\r\n"
        assert ca.call(b"peek-buried\r\n").startswith(b"FOUND %d " % j1)
        tube = ca.yaml(b"stats-tube g\r\n")
        assert (tube["current-jobs-buried"], tube["current-jobs-ready"]) == ("1", "1")
        # b's clients count on a once b's housekeeping has written them
        deadline = time.monotonic() + 10
        while (tube["current-using"], tube["current-watching"]) != ("2", "2"):
            assert time.monotonic() < deadline, tube
            time.sleep(0.05)
            tube = ca.yaml(b"stats-tube g\r\n")
        # connections too: a's client counts on b once a's housekeeping has written it
        while cb.yaml(b"stats\r\n")["current-connections"] != "2":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert ca.call(b"kick 5\r\n") == b"KICKED 1\r\n"
        assert cb.yaml(b"stats-job %d\r\n" % j1)["kicks"] == "1"
        stats = cb.yaml(b"stats\r\n")
        assert (stats["current-jobs-ready"], stats["current-jobs-buried"]) == ("2", "0")
        assert int(stats["total-jobs"]) >= 1  # b's own put at least; a's after its housekeeping
        for job in (j1, j2):
            assert ca.call(b"delete %d\r\n" % job) == b"DELETED\r\n"
        listed = ca.call(b"list-tubes\r\n")
        assert b"- g\n" in listed


@pytest.mark.timeout(30)
def test_ttr_enforced_after_the_reserving_server_died() -> None:
    """The job of a worker whose server was killed comes back at its TTR (plus at most one
    housekeeping interval), through the surviving server."""
    with cluster() as (_, (a, b)), Client(b) as cb:
        with Client(a) as ca:
            job = ca.put(b"orphan", ttr=2)
            assert ca.call(b"reserve\r\n").startswith(b"RESERVED %d " % job)
            reserved_at = time.monotonic()
            a.stop(signal.SIGKILL)
        assert cb.call(b"reserve-with-timeout 0\r\n") == b"TIMED_OUT\r\n"
        assert cb.call(b"reserve-with-timeout 15\r\n").startswith(b"RESERVED %d " % job)
        assert time.monotonic() - reserved_at >= 1.5  # not before its TTR
        stats = cb.yaml(b"stats-job %d\r\n" % job)
        assert (stats["timeouts"], stats["reserves"]) == ("1", "2")


@pytest.mark.timeout(60)
def test_kill_one_server_mid_run_every_acknowledged_job_delivered() -> None:
    """Producers and consumers on both servers; one server is killed mid-run. Every job whose
    put was acknowledged is delivered (reserved by a consumer, and in the end deleted), and a
    job is reserved a second time only after its first holder's server died."""
    total_per_producer = 150
    with cluster() as (schema, servers):
        acked: set[int] = set()
        deleted: dict[int, int] = {}
        reservations: dict[int, list[int]] = {}  # job -> indexes of the servers that handed it out
        lock = threading.Lock()
        stop = threading.Event()
        killed = threading.Event()

        def produce(server_index: int) -> None:
            try:
                with Client(servers[server_index]) as c:
                    for i in range(total_per_producer):
                        job = c.put(b"job %d" % i, ttr=2)
                        with lock:
                            acked.add(job)
            except (OSError, AssertionError, TimeoutError):
                assert killed.is_set() and server_index == 0

        def consume(server_index: int) -> None:
            try:
                with Client(servers[server_index]) as c:
                    while not stop.is_set():
                        reply = c.call(b"reserve-with-timeout 1\r\n")
                        if reply == b"TIMED_OUT\r\n":
                            continue
                        assert reply.startswith(b"RESERVED "), reply
                        job = int(reply.split()[1])
                        with lock:
                            reservations.setdefault(job, []).append(server_index)
                        assert c.call(b"delete %d\r\n" % job) == b"DELETED\r\n"
                        with lock:
                            deleted[job] = deleted.get(job, 0) + 1
            except (OSError, AssertionError, TimeoutError):
                if not (killed.is_set() and server_index == 0):
                    raise

        errors: list[BaseException] = []

        def guarded(fn: object, *args: object) -> threading.Thread:
            def run() -> None:
                try:
                    fn(*args)  # type: ignore[operator]
                except BaseException as exc:
                    errors.append(exc)
            t = threading.Thread(target=run)
            t.start()
            return t

        producers = [guarded(produce, i) for i in (0, 1, 0, 1)]
        consumers = [guarded(consume, i) for i in (0, 1, 0, 1)]
        deadline = time.monotonic() + 20
        while len(acked) < total_per_producer and time.monotonic() < deadline:
            time.sleep(0.01)
        killed.set()
        servers[0].stop(signal.SIGKILL)
        for t in producers:
            t.join(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                done = acked <= set(reservations)
            if done and sql(schema, "SELECT count(*) FROM jobs") == [(0,)]:
                break
            time.sleep(0.05)
        stop.set()
        for t in consumers:
            t.join(10)
        assert not errors, errors
        # Delivered = handed to a worker. A worker on the killed server may have deleted its
        # job without hearing DELETED; every job is gone from the database in the end.
        missing = acked - set(reservations)
        assert not missing, f"acknowledged jobs never delivered: {sorted(missing)[:10]}"
        assert sql(schema, "SELECT count(*) FROM jobs") == [(0,)]
        assert all(n == 1 for n in deleted.values())
        for job, holders in reservations.items():
            # a second reservation only after the first holder's server (index 0) was killed
            assert len(holders) == 1 or holders[:-1] == [0] * (len(holders) - 1), (job, holders)
        assert len(acked) > total_per_producer


def terminate_sessions(schema: str) -> int:
    """pg_terminate_backend every session of the servers on ``schema``."""
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as db:
        rows = db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"tubeworks-queue {schema}"[:63],),
        ).fetchall()
    return len(rows)


def test_failover_of_terminated_sessions() -> None:
    """After pg_terminate_backend of every session the servers hold, commands still work
    (the pool reconnects) and a blocked reserve is still woken across servers (LISTEN
    reconnects)."""
    with cluster() as (schema, (a, b)), Client(a) as ca, Client(b) as cb:
        ca.put(b"warm")  # the pools have connections now
        cb.call(b"reserve-with-timeout 0\r\n")
        assert terminate_sessions(schema) >= 4  # pool and LISTEN sessions of both servers
        job = ca.put(b"after")
        assert ca.call(b"peek %d\r\n" % job) == b"FOUND %d 5\r\nafter\r\n" % job
        cb.call(b"watch other\r\n")
        cb.call(b"ignore default\r\n")
        cb.send(b"reserve\r\n")
        wait_for_waiting(cb, b)
        ca.call(b"use other\r\n")
        job = ca.put(b"woken")
        assert cb.reply(timeout=10) == b"RESERVED %d 5\r\nwoken\r\n" % job

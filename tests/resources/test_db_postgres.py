"""The Database wrapper against a real PostgreSQL with psycopg 3."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from resources.conftest import PG_HOST, PG_PORT, pg_rows, wait_until
from resources.faultproxy import FaultProxy, Link
from tubeworks.resources import CommitOutcomeUnknown, Database
from tubeworks.resources._drivers import socket_has_news

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def db(pg_connect: Callable[..., Any]) -> Iterator[Database]:
    database = Database(pg_connect)
    yield database
    database.close()


def backend_pid(db: Database) -> int:
    return int(db.connection.info.backend_pid)


def terminate(admin: Any, raw: Any) -> None:
    """pg_terminate_backend the session of ``raw`` and wait until its socket shows it."""
    admin.execute("SELECT pg_terminate_backend(%s)", (raw.info.backend_pid,))
    fd = raw.pgconn.socket
    wait_until(lambda: socket_has_news(fd), what="the server to end the session")


def test_terminated_between_jobs_next_jobs_query_succeeds(
    pg_table: str, pg_admin: Any, db: Database
) -> None:
    db.run_transaction(lambda t: t.execute(f"INSERT INTO {pg_table} (k) VALUES ('job-1')"))
    first = backend_pid(db)
    terminate(pg_admin, db.connection)

    db.run_transaction(lambda t: t.execute(f"INSERT INTO {pg_table} (k) VALUES ('job-2')"))
    assert backend_pid(db) != first
    assert pg_rows(pg_admin, pg_table) == [("job-1", 0), ("job-2", 0)]
    assert db.statistics().disconnects_seen == 1


def test_terminated_between_jobs_autocommit_insert_runs_once(
    pg_connect: Callable[..., Any], pg_admin: Any, pg_table: str
) -> None:
    db = Database(lambda: pg_connect(autocommit=True))
    try:
        db.execute("SELECT 1")
        terminate(pg_admin, db.connection)
        db.execute(f"INSERT INTO {pg_table} (k) VALUES ('once')")
    finally:
        db.close()
    assert pg_rows(pg_admin, pg_table) == [("once", 0)]


def test_idle_session_timeout_next_query_succeeds(db: Database) -> None:
    db.execute("SET idle_session_timeout = '1s'")
    db.commit()
    raw = db.connection
    fd = raw.pgconn.socket
    wait_until(lambda: socket_has_news(fd), what="the idle session timeout")
    assert db.execute("SELECT 6 * 7").rows == [(42,)]
    assert db.connection is not raw


def test_terminated_before_commit_insert_is_not_duplicated(
    pg_table: str, pg_admin: Any, db: Database
) -> None:
    runs = []

    def job(t: Database) -> None:
        runs.append(backend_pid(t))
        t.execute(f"INSERT INTO {pg_table} (k, n) VALUES ('job-1', %s)", (len(runs),))
        if len(runs) == 1:
            terminate(pg_admin, t.connection)

    db.run_transaction(job)
    assert len(runs) == 2 and runs[0] != runs[1]
    assert pg_rows(pg_admin, pg_table) == [("job-1", 2)]


def test_terminated_during_a_read_reruns_it(db: Database, pg_admin: Any) -> None:
    victim = backend_pid(db)
    db.commit()
    query = f"SELECT CASE WHEN pg_backend_pid() = {victim} THEN pg_sleep(30)::text END, 7"

    def killer() -> None:
        def running() -> bool:
            row = pg_admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
                " AND query LIKE 'SELECT CASE%%' AND state = 'active'",
                (victim,),
            ).fetchone()
            return bool(row[0])

        wait_until(running, what="the query to start")
        pg_admin.execute("SELECT pg_terminate_backend(%s)", (victim,))

    t = threading.Thread(target=killer)
    t.start()
    try:
        assert db.execute(query).rows == [(None, 7)]
    finally:
        t.join()
    assert db.statistics().retries == 1


class LoseCommitReply(FaultProxy):
    def from_client(self, link: Link, data: bytes) -> None:
        if b"COMMIT\x00" in data and link.number == 0:
            link.state["commit_sent"] = True
        link.to_server(data)

    def from_server(self, link: Link, data: bytes) -> None:
        if link.state.get("commit_sent"):
            link.cut()
            return
        link.to_client(data)


def test_lost_commit_reply_is_commit_outcome_unknown(
    pg_connect: Callable[..., Any], pg_admin: Any, pg_table: str
) -> None:
    proxy = LoseCommitReply((PG_HOST, PG_PORT))
    dsn = f"host=127.0.0.1 port={proxy.port} dbname=test user=postgres sslmode=disable"
    db = Database(lambda: pg_connect(dsn))
    try:
        with pytest.raises(CommitOutcomeUnknown) as info:
            db.run_transaction(lambda t: t.execute(f"INSERT INTO {pg_table} (k) VALUES ('paid')"))
        assert isinstance(info.value.__cause__, psycopg.OperationalError)
        wait_until(lambda: pg_rows(pg_admin, pg_table) != [], what="the commit to be visible")
        assert pg_rows(pg_admin, pg_table) == [("paid", 0)]
    finally:
        db.close()
        proxy.close()


def test_statement_timeout_is_not_a_disconnect(db: Database) -> None:
    db.execute("SET statement_timeout = '10ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        db.execute("SELECT pg_sleep(5)")
    db.rollback()
    assert db.statistics().disconnects_seen == 0

"""The Database wrapper against a real MariaDB: idle timeouts, KILL, lost COMMIT replies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest

from resources.conftest import (
    MYSQL_ARGS,
    mysql_kill,
    mysql_rows,
    mysql_running,
    wait_until,
)
from resources.faultproxy import FaultProxy, Link
from tubeworks.resources import CommitOutcomeUnknown, ConnectionLost, Database
from tubeworks.resources._drivers import socket_has_news

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def db(mysql_connect: Callable[..., Any]) -> Iterator[Database]:
    database = Database(mysql_connect)
    yield database
    database.close()


def thread_id(db: Database) -> int:
    return int(db.connection.thread_id())


def wait_dead(raw: Any) -> None:
    """Wait until the client side sees the server's close (the event, not a sleep)."""
    fd = raw._sock.fileno()
    wait_until(lambda: socket_has_news(fd), what="the server to close the connection")


def kill_between_jobs(db: Database, admin: Any) -> None:
    raw = db.connection
    mysql_kill(admin, raw.thread_id())
    wait_dead(raw)


def test_idle_past_wait_timeout_next_query_succeeds(db: Database) -> None:
    db.execute("SET SESSION wait_timeout = 1")
    first = thread_id(db)
    db.commit()
    wait_dead(db.connection)  # the server hangs up after ~1 s of idleness

    assert db.execute("SELECT 41 + 1").rows == [(42,)]
    assert thread_id(db) != first
    assert db.statistics().disconnects_seen == 1


def test_idle_timeout_autocommit_insert_runs_once(
    mysql_connect: Callable[..., Any], mysql_admin: Any, mysql_table: str
) -> None:
    db = Database(lambda: mysql_connect(autocommit=True))
    try:
        db.execute("SET SESSION wait_timeout = 1")
        wait_dead(db.connection)
        db.execute(f"INSERT INTO {mysql_table} (k) VALUES ('job-1')")
    finally:
        db.close()
    assert mysql_rows(mysql_admin, mysql_table) == [("job-1", 0)]


def test_killed_between_jobs_next_jobs_query_succeeds(
    mysql_table: str, mysql_admin: Any, db: Database
) -> None:
    db.run_transaction(lambda t: t.execute(f"INSERT INTO {mysql_table} (k) VALUES ('job-1')"))
    kill_between_jobs(db, mysql_admin)

    db.run_transaction(lambda t: t.execute(f"INSERT INTO {mysql_table} (k) VALUES ('job-2')"))
    assert db.execute(f"SELECT COUNT(*) FROM {mysql_table}").rows == [(2,)]
    assert mysql_rows(mysql_admin, mysql_table) == [("job-1", 0), ("job-2", 0)]


def test_killed_before_commit_insert_is_not_duplicated(
    mysql_table: str, mysql_admin: Any, db: Database
) -> None:
    runs = []

    def job(t: Database) -> None:
        runs.append(thread_id(t))
        t.execute(f"INSERT INTO {mysql_table} (k, n) VALUES ('job-1', %s)", (len(runs),))
        if len(runs) == 1:
            kill_between_jobs(t, mysql_admin)  # dies after the INSERT, before COMMIT

    db.run_transaction(job)

    assert len(runs) == 2 and runs[0] != runs[1]
    assert mysql_rows(mysql_admin, mysql_table) == [("job-1", 2)]
    assert db.statistics().lost == 1


def test_killed_mid_transaction_raises_connection_lost_and_commits_nothing(
    mysql_table: str, mysql_admin: Any, db: Database
) -> None:
    db.execute(f"INSERT INTO {mysql_table} (k) VALUES ('a')")
    kill_between_jobs(db, mysql_admin)
    with pytest.raises(
        ConnectionLost,
        match=r"^connection lost before \"INSERT INTO tw_res_\w+ \(k\) VALUES \('b'\)\" was sent; "
        r"the server rolled back the open transaction$",
    ):
        db.execute(f"INSERT INTO {mysql_table} (k) VALUES ('b')")
    assert mysql_rows(mysql_admin, mysql_table) == []
    db.execute(f"INSERT INTO {mysql_table} (k) VALUES ('c')")  # the wrapper recovered
    db.commit()
    assert mysql_rows(mysql_admin, mysql_table) == [("c", 0)]


def test_killed_during_a_read_reruns_it_on_a_new_connection(db: Database, mysql_admin: Any) -> None:
    victim = thread_id(db)
    db.commit()
    query = f"SELECT IF(CONNECTION_ID() = {victim}, SLEEP(30), 7)"

    def killer() -> None:
        wait_until(lambda: mysql_running(mysql_admin, victim, "SELECT IF"), what="the query")
        mysql_kill(mysql_admin, victim)

    t = threading.Thread(target=killer)
    t.start()
    try:
        assert db.execute(query).rows == [(7,)]
    finally:
        t.join()
    assert db.statistics().retries == 1


def test_autocommit_write_killed_in_flight_is_not_retried(
    mysql_connect: Callable[..., Any], mysql_admin: Any, mysql_table: str
) -> None:
    db = Database(lambda: mysql_connect(autocommit=True))
    victim = thread_id(db)
    query = f"INSERT INTO {mysql_table} (k) SELECT 'once' FROM DUAL WHERE SLEEP(30) = 0"

    def killer() -> None:
        wait_until(lambda: mysql_running(mysql_admin, victim, "INSERT"), what="the insert")
        mysql_kill(mysql_admin, victim)

    t = threading.Thread(target=killer)
    t.start()
    try:
        with pytest.raises(CommitOutcomeUnknown) as info:
            db.execute(query)
    finally:
        t.join()
        db.close()
    assert isinstance(info.value.__cause__, pymysql.err.OperationalError)
    assert info.value.__cause__.args[0] in (2013, 1927)  # lost, or told it was killed
    assert mysql_rows(mysql_admin, mysql_table) == []  # killed mid-statement, and not re-run


class LoseCommitReply(FaultProxy):
    """Forwards a COMMIT to the server, then drops the connection instead of the reply."""

    def from_client(self, link: Link, data: bytes) -> None:
        if b"\x03COMMIT" in data and link.number == 0:
            link.state["commit_sent"] = True
        link.to_server(data)

    def from_server(self, link: Link, data: bytes) -> None:
        if link.state.get("commit_sent"):
            link.cut()
            return
        link.to_client(data)


def test_lost_commit_reply_is_commit_outcome_unknown(
    mysql_connect: Callable[..., Any], mysql_admin: Any, mysql_table: str
) -> None:
    proxy = LoseCommitReply((MYSQL_ARGS["host"], MYSQL_ARGS["port"]))
    db = Database(lambda: mysql_connect(host="127.0.0.1", port=proxy.port))
    try:
        with pytest.raises(
            CommitOutcomeUnknown,
            match=r"^connection lost after 'COMMIT' was sent; it may or may not have been "
            r"committed: \(2013, 'Lost connection to MySQL server during query",
        ):
            db.run_transaction(
                lambda t: t.execute(f"INSERT INTO {mysql_table} (k) VALUES ('paid')")
            )
        # The server did commit: a retry would have inserted it twice (or hit the key).
        assert mysql_rows(mysql_admin, mysql_table) == [("paid", 0)]
        assert db.execute("SELECT 1").rows == [(1,)]  # and the wrapper reconnects afterwards
    finally:
        db.close()
        proxy.close()


def test_non_connection_errors_pass_through_unchanged(mysql_table: str, db: Database) -> None:
    db.execute(f"INSERT INTO {mysql_table} (k) VALUES ('dup')")
    with pytest.raises(pymysql.err.IntegrityError) as info:
        db.execute(f"INSERT INTO {mysql_table} (k) VALUES ('dup')")
    assert info.value.args[0] == 1062
    db.rollback()
    assert db.statistics().disconnects_seen == 0


def test_on_connect_runs_again_after_a_reconnect(
    mysql_connect: Callable[..., Any], mysql_admin: Any
) -> None:
    seen = []

    def setup(conn: Any) -> None:
        seen.append(conn.thread_id())
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")

    db = Database(mysql_connect, on_connect=setup)
    try:
        assert db.execute("SELECT @@SESSION.sql_mode").rows == [("ANSI_QUOTES",)]
        db.commit()
        kill_between_jobs(db, mysql_admin)
        assert db.execute("SELECT @@SESSION.sql_mode").rows == [("ANSI_QUOTES",)]
    finally:
        db.close()
    assert len(seen) == 2 and seen[0] != seen[1]


def test_unreachable_server_is_connection_lost(mysql_connect: Callable[..., Any]) -> None:
    from servers import free_port

    db = Database(lambda: mysql_connect(host="127.0.0.1", port=free_port(), connect_timeout=2))
    with pytest.raises(ConnectionLost, match=r"^could not connect to the database: \(2003, "):
        db.execute("SELECT 1")


def test_ping_after_idleness_and_a_failed_ping_reconnects_before_sending(
    mysql_connect: Callable[..., Any], mysql_admin: Any, mysql_table: str
) -> None:
    from dataclasses import replace

    from tubeworks.resources import MYSQL

    now = [0.0]
    pings: list[str] = []
    fail_next = [False]

    def ping(conn: Any) -> None:
        pings.append("ping")
        if fail_next[0]:
            fail_next[0] = False
            raise pymysql.err.OperationalError(2006, "pretend the server went away")
        conn.ping()

    db = Database(
        lambda: mysql_connect(autocommit=True),
        driver=replace(MYSQL, ping=ping),
        ping_after=10,
        clock=lambda: now[0],
    )
    try:
        db.execute("SELECT 1")
        now[0] += 5
        db.execute("SELECT 1")
        assert pings == []  # not idle long enough
        now[0] += 10
        db.execute("SELECT 1")
        assert pings == ["ping"]
        first = thread_id(db)
        now[0] += 10
        fail_next[0] = True
        db.executemany(f"INSERT INTO {mysql_table} (k) VALUES (%s)", [("a",), ("b",)])
        assert thread_id(db) != first  # the failed ping replaced the connection first
    finally:
        db.close()
    assert mysql_rows(mysql_admin, mysql_table) == [("a", 0), ("b", 0)]

"""SQLAlchemy engines with the rules installed, against the real MariaDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from resources.conftest import (
    MYSQL_ARGS,
    PG_HOST,
    PG_PORT,
    mysql_kill,
    mysql_rows,
    pg_rows,
    wait_until,
)
from resources.faultproxy import FaultProxy, Link
from tubeworks.resources import CommitOutcomeUnknown
from tubeworks.resources._drivers import socket_has_news
from tubeworks.resources.sqla import run_transaction, watch

pytestmark = pytest.mark.timeout(30)


def mysql_url(port: int = MYSQL_ARGS["port"]) -> str:
    a = MYSQL_ARGS
    return f"mysql+pymysql://{a['user']}:{a['password']}@{a['host']}:{port}/{a['database']}"


def pg_url(port: int = PG_PORT) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{port}/test"


@pytest.fixture
def mysql_engine(mysql_connect: Callable[..., Any]) -> Iterator[Engine]:
    engine = watch(sa.create_engine(mysql_url(), pool_size=1, max_overflow=0))
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_connect: Callable[..., Any]) -> Iterator[Engine]:
    engine = watch(sa.create_engine(pg_url(), pool_size=1, max_overflow=0))
    yield engine
    engine.dispose()


def pooled_dbapi(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.connection.dbapi_connection


def insert(table: str, key: str) -> Callable[[sa.Connection], None]:
    def work(conn: sa.Connection) -> None:
        conn.execute(sa.text(f"INSERT INTO {table} (k) VALUES (:k)"), {"k": key})

    return work


def test_mysql_pooled_connection_killed_between_jobs(
    mysql_table: str, mysql_admin: Any, mysql_engine: Engine
) -> None:
    run_transaction(mysql_engine, insert(mysql_table, "job-1"))
    raw = pooled_dbapi(mysql_engine)
    mysql_kill(mysql_admin, raw.thread_id())
    fd = raw._sock.fileno()
    wait_until(lambda: socket_has_news(fd), what="the kill")

    with mysql_engine.connect() as conn:  # no retry here: checkout replaced the dead one
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    run_transaction(mysql_engine, insert(mysql_table, "job-2"))
    assert mysql_rows(mysql_admin, mysql_table) == [("job-1", 0), ("job-2", 0)]
    assert pooled_dbapi(mysql_engine) is not raw


def test_mysql_killed_before_commit_is_rerun_once(
    mysql_table: str, mysql_admin: Any, mysql_engine: Engine
) -> None:
    runs = []

    def work(conn: sa.Connection) -> None:
        runs.append(1)
        insert(mysql_table, "job-1")(conn)
        if len(runs) == 1:
            raw = conn.connection.dbapi_connection
            mysql_kill(mysql_admin, raw.thread_id())
            fd = raw._sock.fileno()
            wait_until(lambda: socket_has_news(fd), what="the kill")

    run_transaction(mysql_engine, work)
    assert len(runs) == 2
    assert mysql_rows(mysql_admin, mysql_table) == [("job-1", 0)]


def test_mysql_killed_before_the_first_statement_reruns_the_unit(
    mysql_table: str, mysql_admin: Any, mysql_engine: Engine
) -> None:
    """The statement finds the connection dead: the pool is invalidated, the unit re-run."""
    runs = []

    def work(conn: sa.Connection) -> None:
        runs.append(conn.connection.dbapi_connection.thread_id())
        if len(runs) == 1:
            mysql_kill(mysql_admin, runs[0])
            wait_until(
                lambda: socket_has_news(conn.connection.dbapi_connection._sock.fileno()),
                what="the kill",
            )
        insert(mysql_table, "job-1")(conn)

    run_transaction(mysql_engine, work)
    assert len(runs) == 2 and runs[0] != runs[1]
    assert mysql_rows(mysql_admin, mysql_table) == [("job-1", 0)]


def test_postgres_terminated_between_jobs(pg_table: str, pg_admin: Any, pg_engine: Engine) -> None:
    run_transaction(pg_engine, insert(pg_table, "job-1"))
    raw = pooled_dbapi(pg_engine)
    pg_admin.execute("SELECT pg_terminate_backend(%s)", (raw.info.backend_pid,))
    fd = raw.pgconn.socket
    wait_until(lambda: socket_has_news(fd), what="the termination")
    with pg_engine.connect() as conn:  # no retry here: checkout replaced the dead one
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1

    run_transaction(pg_engine, insert(pg_table, "job-2"))
    assert pg_rows(pg_admin, pg_table) == [("job-1", 0), ("job-2", 0)]


class LoseCommitReply(FaultProxy):
    """The COMMIT query on the wire: after MySQL's COM_QUERY byte, or NUL-ended for PostgreSQL
    (bare "COMMIT" would also match PyMySQL's "SET AUTOCOMMIT = 0" at connect)."""

    def __init__(self, upstream: tuple[str, int], commit: bytes) -> None:
        super().__init__(upstream)
        self.commit = commit

    def from_client(self, link: Link, data: bytes) -> None:
        if self.commit in data and link.number == 0:
            link.state["commit_sent"] = True
        link.to_server(data)

    def from_server(self, link: Link, data: bytes) -> None:
        if link.state.get("commit_sent"):
            link.cut()
            return
        link.to_client(data)


@pytest.mark.parametrize("dialect", ["mysql", "postgresql"])
def test_lost_commit_reply_is_commit_outcome_unknown(
    request: pytest.FixtureRequest, dialect: str
) -> None:
    if dialect == "mysql":
        request.getfixturevalue("mysql_connect")
        admin, table = (
            request.getfixturevalue("mysql_admin"),
            request.getfixturevalue("mysql_table"),
        )
        proxy = LoseCommitReply((MYSQL_ARGS["host"], MYSQL_ARGS["port"]), b"\x03COMMIT")
        url, rows = mysql_url(proxy.port).replace(MYSQL_ARGS["host"], "127.0.0.1"), mysql_rows
    else:
        request.getfixturevalue("pg_connect")
        admin, table = request.getfixturevalue("pg_admin"), request.getfixturevalue("pg_table")
        proxy = LoseCommitReply((PG_HOST, PG_PORT), b"COMMIT\x00")
        url, rows = pg_url(proxy.port).replace(PG_HOST, "127.0.0.1") + "?sslmode=disable", pg_rows
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    try:
        with pytest.raises(
            CommitOutcomeUnknown,
            match=r"^connection lost after 'COMMIT' was sent; it may or may not have been "
            r"committed: ",
        ):
            run_transaction(engine, insert(table, "paid"))
        wait_until(lambda: rows(admin, table) != [], what="the commit to be visible")
        assert rows(admin, table) == [("paid", 0)]
    finally:
        engine.dispose()
        proxy.close()

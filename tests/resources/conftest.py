"""Fixtures for the resources tests: the machine's MariaDB and PostgreSQL, scratch tables.

The servers are the ones CI starts (``.ci/run``): MariaDB on 127.0.0.1:3306 (root, no
password, database ``test``) and PostgreSQL on 127.0.0.1:5432 (trust, database ``test``).
Tests that need one are skipped with a reason when it is not listening. Table names are
unique per test because other sessions' tests may share the databases.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

MYSQL_ARGS: dict[str, Any] = {
    "host": os.environ.get("TUBEWORKS_TEST_MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("TUBEWORKS_TEST_MYSQL_PORT", "3306")),
    "user": os.environ.get("TUBEWORKS_TEST_MYSQL_USER", "root"),
    "password": os.environ.get("TUBEWORKS_TEST_MYSQL_PASSWORD", ""),
    "database": os.environ.get("TUBEWORKS_TEST_MYSQL_DB", "test"),
}
PG_HOST = os.environ.get("TUBEWORKS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TUBEWORKS_TEST_PG_PORT", "5432"))
PG_DSN = os.environ.get(
    "TUBEWORKS_TEST_PG_DSN", f"host={PG_HOST} port={PG_PORT} dbname=test user=postgres"
)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.005)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# -- MariaDB --------------------------------------------------------------------------------


@pytest.fixture
def mysql_connect() -> Callable[..., Any]:
    """Returns ``connect(**overrides)`` that opens a fresh PyMySQL connection."""
    if not _listening(MYSQL_ARGS["host"], MYSQL_ARGS["port"]):
        pytest.skip(f"no MariaDB/MySQL listening on {MYSQL_ARGS['host']}:{MYSQL_ARGS['port']}")
    import pymysql

    def connect(**overrides: Any) -> Any:
        return pymysql.connect(**{**MYSQL_ARGS, **overrides})

    return connect


@pytest.fixture
def mysql_admin(mysql_connect: Callable[..., Any]) -> Iterator[Any]:
    """A second session, for KILL and for checking what was committed."""
    conn = mysql_connect(autocommit=True)
    with conn.cursor() as cur:  # a test that leaves a transaction open fails, not hangs
        cur.execute("SET SESSION lock_wait_timeout = 10")
    yield conn
    conn.close()


@pytest.fixture
def mysql_table(mysql_admin: Any) -> Iterator[str]:
    name = unique_name("tw_res")
    with mysql_admin.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, "
            "k VARCHAR(64) NOT NULL UNIQUE, n INT NOT NULL DEFAULT 0) ENGINE=InnoDB"
        )
    yield name
    with mysql_admin.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")


def mysql_rows(admin: Any, table: str) -> list[tuple[Any, ...]]:
    with admin.cursor() as cur:
        cur.execute(f"SELECT k, n FROM {table} ORDER BY id")
        return list(cur.fetchall())


def mysql_kill(admin: Any, thread_id: int) -> None:
    with admin.cursor() as cur:
        cur.execute(f"KILL CONNECTION {int(thread_id)}")


def mysql_running(admin: Any, thread_id: int, info_prefix: str) -> bool:
    """True once session ``thread_id`` is executing a statement starting with the prefix."""
    with admin.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s AND INFO LIKE %s",
            (thread_id, info_prefix + "%"),
        )
        return bool(cur.fetchone()[0])


# -- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
def pg_connect() -> Callable[..., Any]:
    """Returns ``connect(**kwargs)`` that opens a fresh psycopg 3 connection."""
    if not _listening(PG_HOST, PG_PORT):
        pytest.skip(f"no PostgreSQL listening on {PG_HOST}:{PG_PORT}")
    import psycopg

    def connect(dsn: str = PG_DSN, **kwargs: Any) -> Any:
        return psycopg.connect(dsn, **kwargs)

    return connect


@pytest.fixture
def pg_admin(pg_connect: Callable[..., Any]) -> Iterator[Any]:
    conn = pg_connect(autocommit=True)
    conn.execute("SET lock_timeout = '10s'")
    yield conn
    conn.close()


@pytest.fixture
def pg_table(pg_admin: Any) -> Iterator[str]:
    name = unique_name("tw_res")
    pg_admin.execute(
        f"CREATE TABLE {name} (id SERIAL PRIMARY KEY, k TEXT NOT NULL UNIQUE, "
        "n INT NOT NULL DEFAULT 0)"
    )
    yield name
    pg_admin.execute(f"DROP TABLE IF EXISTS {name}")


def pg_rows(admin: Any, table: str) -> list[tuple[Any, ...]]:
    return list(admin.execute(f"SELECT k, n FROM {table} ORDER BY id").fetchall())

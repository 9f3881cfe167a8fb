"""Where example 3 keeps events: SQLite (a file) or MariaDB (a server), chosen by a DSN.

    sqlite:////absolute/path.sqlite
    mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE

Both tables use the event id as primary key and the insert ignores a row that is already
there, so storing an event twice is harmless: that is what makes a retry after a lost
connection (or a COMMIT whose answer was lost) safe.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

COLUMNS = "event_id, kind, user_id, at, worker_pid"


@dataclass(frozen=True)
class Dsn:
    kind: str  # "sqlite" or "mysql"
    path: str = ""  # sqlite
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    database: str = ""

    def mysql_args(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, "database": self.database}


def parse_dsn(text: str) -> Dsn:
    parts = urlsplit(text)
    if parts.scheme == "sqlite":
        if not parts.path:
            raise ValueError(f"expected sqlite:////absolute/path, got {text!r}")
        return Dsn("sqlite", path=parts.path)
    if parts.scheme in ("mysql", "mariadb"):
        return Dsn(
            "mysql",
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/"),
        )
    raise ValueError(f"expected a sqlite:// or mysql:// DSN, got {text!r}")


def create_tables(dsn: Dsn, table: str) -> None:
    """The events table and, for MariaDB, the table where workers note their sessions."""
    if dsn.kind == "sqlite":
        with sqlite3.connect(dsn.path) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (event_id TEXT PRIMARY KEY, kind TEXT, "
                "user_id INTEGER, at REAL, worker_pid INTEGER)"
            )
        conn.close()
        return
    import pymysql

    conn = pymysql.connect(**dsn.mysql_args(), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (event_id VARCHAR(64) PRIMARY KEY, "
                "kind VARCHAR(32), user_id INT, at DOUBLE, worker_pid INT)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {table}_sessions (conn_id BIGINT PRIMARY KEY, "
                "worker_pid INT)"
            )
    finally:
        conn.close()

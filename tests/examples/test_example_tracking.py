"""Example 3: events stored while the database fails under the workers (SQLite, MariaDB)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
from pathlib import Path

import pytest
from example_harness import Said, no_children_left
from examples.run import run_tracking
from examples.tracking.produce import events

MYSQL_HOST = os.environ.get("TUBEWORKS_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TUBEWORKS_TEST_MYSQL_PORT", "3306"))


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.timeout(60)
def test_sqlite_rows_once_each_after_a_lock_mid_run(tmp_path: Path) -> None:
    summary = run_tracking(tmp_path / "ex3", Said(), events=200)
    with contextlib.closing(sqlite3.connect(tmp_path / "ex3" / "events.sqlite")) as conn:
        query = "SELECT event_id, kind, user_id FROM events ORDER BY event_id"
        rows = conn.execute(query).fetchall()
    expected = events(200)
    assert [r[0] for r in rows] == [e["id"] for e in expected]
    assert rows[57] == (expected[57]["id"], expected[57]["kind"], expected[57]["user"])
    assert summary[1].startswith("   locked the SQLite file for 1.5 s")
    assert no_children_left()


@pytest.mark.timeout(60)
@pytest.mark.skipif(not _listening(MYSQL_HOST, MYSQL_PORT), reason="no MariaDB listening")
def test_mariadb_sessions_killed_mid_run_and_the_workers_carry_on(tmp_path: Path) -> None:
    import pymysql

    dsn = f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/test"
    summary = run_tracking(tmp_path / "ex3", Said(), events=200, dsn=dsn)
    table = re.search(r"\(table (events_\w+)\)", summary[0])
    assert table, summary
    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", database="test")
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT event_id FROM {table.group(1)} ORDER BY event_id")
            ids = [r[0] for r in cur.fetchall()]
            cur.execute(f"SELECT COUNT(*) FROM {table.group(1)}_sessions")
            (sessions,) = cur.fetchone()
            cur.execute(f"DROP TABLE {table.group(1)}, {table.group(1)}_sessions")
    finally:
        conn.close()
    assert ids == [e["id"] for e in events(200)]
    killed = re.search(r"killed (\d+) worker database session", summary[1])
    assert killed and int(killed.group(1)) >= 1
    assert sessions > int(killed.group(1))  # the workers opened new sessions after the kill
    assert no_children_left()

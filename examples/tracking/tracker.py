"""Example 3's worker: one job per tracked event -> one row.

The database is named by ``EXAMPLE_DB`` (see :mod:`store`), the table by ``EXAMPLE_TABLE``.
With MariaDB the connection is a :class:`tubeworks.resources.Database`: it reconnects after
the server kills the session and re-runs the transaction when nothing of it was committed.
Every new session writes its id to ``TABLE_sessions``, which is how the example finds the
sessions to kill. With SQLite a locked database makes the job come back a little later.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from store import COLUMNS, parse_dsn

from tubeworks.resources import CommitOutcomeUnknown, ConnectionLost, Database
from tubeworks.worker import App, Retry

DSN = parse_dsn(os.environ.get("EXAMPLE_DB", "sqlite:////tmp/tubeworks-events.sqlite"))
TABLE = os.environ.get("EXAMPLE_TABLE", "events")

app = App()


def _note_session(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"REPLACE INTO {TABLE}_sessions VALUES (CONNECTION_ID(), %s)", (os.getpid(),)
        )
    conn.commit()


def _open() -> Any:
    if DSN.kind == "sqlite":
        # one connection per worker slot, used by one job at a time, but each job runs on its
        # own handler thread; a short lock timeout turns an outage into a retry, not a hang
        return sqlite3.connect(DSN.path, timeout=0.5, check_same_thread=False)
    import pymysql

    return Database(
        lambda: pymysql.connect(**DSN.mysql_args(), autocommit=False, connect_timeout=5),
        on_connect=_note_session,
    )


app.resources.add("db", _open)


@app.handler("events", max_attempts=20)
def track(event: dict[str, Any]) -> None:
    row = (event["id"], event["kind"], event["user"], event["at"], os.getpid())
    db = app.resources["db"]
    if isinstance(db, sqlite3.Connection):
        try:
            with db:  # one transaction; INSERT OR IGNORE makes a re-run harmless
                db.execute(f"INSERT OR IGNORE INTO {TABLE} ({COLUMNS}) VALUES (?,?,?,?,?)", row)
        except sqlite3.OperationalError as exc:  # "database is locked"
            raise Retry(delay=0.3) from exc
        return
    try:
        db.run_transaction(
            lambda d: d.execute(
                f"INSERT IGNORE INTO {TABLE} ({COLUMNS}) VALUES (%s,%s,%s,%s,%s)", row
            ),
            attempts=3,
        )
    except (ConnectionLost, CommitOutcomeUnknown) as exc:
        raise Retry(delay=0.3) from exc  # the row may exist; INSERT IGNORE keeps it single

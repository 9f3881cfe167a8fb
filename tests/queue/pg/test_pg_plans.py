"""Query plans on a large table: every per-command query of the PostgreSQL store is an index
probe, never a sequential scan of ``jobs`` (reserve: one index probe per watched tube).

The table gets 100,000 jobs over 100 tubes in all four states, then ANALYZE. ``stats`` counts
every job by state and is the one deliberate full scan (documented in docs/queue-postgresql.md).
Run this module with ``-s`` to see the plans; ``TUBEWORKS_PG_PLAN_JOBS=2000000`` checks them on two
million jobs (about a minute to fill).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pg_helpers import PG_DSN, needs_pg, pg_schema

from tubeworks.queue.pgstore import sql as Q
from tubeworks.queue.pgstore.db import migrate, parse_target

pytestmark = [needs_pg, pytest.mark.timeout(60)]

JOBS = int(os.environ.get("TUBEWORKS_PG_PLAN_JOBS", "100000"))  # more: see the module docstring
TUBES = 100
NOW = 1_000_000.0


@pytest.fixture(scope="module")
def db() -> Iterator[psycopg.Connection[Any]]:
    with pg_schema() as schema:
        asyncio.run(migrate(parse_target(f"{PG_DSN}?schema={schema}")))
        with psycopg.connect(PG_DSN, autocommit=True, options=f"-c search_path={schema}") as conn:
            conn.execute(
                b"""
                INSERT INTO jobs (id, tube, state, pri, delay, ttr, body, created, ready_at,
                                  deadline, owner, owner_conn, bury_seq)
                SELECT i, convert_to('tube-' || (i %% %(tubes)s), 'UTF8'),
                       CASE WHEN i %% 10 < 7 THEN 1 WHEN i %% 10 = 7 THEN 4
                            WHEN i %% 10 = 8 THEN 3 ELSE 2 END,
                       i %% 5000, 0, 60, 'body', 0, %(now)s + i %% 1000, %(now)s + i %% 100,
                       'srv', i %% 50, i
                FROM generate_series(1, %(jobs)s) AS i
                """,
                {"tubes": TUBES, "jobs": JOBS, "now": NOW},
            )
            conn.execute(b"INSERT INTO tubes (name) VALUES ('tube-1')")
            conn.execute(b"ANALYZE")
            yield conn


PARAMS: dict[str, Any] = {
    "owner": "srv", "conn": 7, "now": NOW, "id": 12345, "tube": b"tube-7", "n": 5, "pri": 1,
    "delay": 0, "tubes": [b"tube-1", b"tube-2", b"tube-3"], "ids": [1, 2, 3],
}
QUERIES = {
    name: getattr(Q, name)
    for name in (
        "RESERVE", "RESERVE_JOB", "DELETE", "RELEASE", "BURY", "TOUCH", "RELEASE_ALL", "PEEK",
        "PEEK_READY", "PEEK_DELAYED", "PEEK_BURIED", "HAS_BURIED", "KICK_BURIED",
        "KICK_DELAYED", "KICK_JOB", "STATS_JOB", "TUBE_COUNTS", "TUBES_WITH_JOBS",
        "TUBE_HAS_JOBS", "SWEEP",
    )
}


def scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from scans(child)


def plan_of(db: psycopg.Connection[Any], query: str) -> tuple[dict[str, Any], str]:
    with db.transaction(force_rollback=True):  # nextval() etc. must leave no trace
        (doc,) = db.execute(("EXPLAIN (FORMAT JSON) " + query).encode(), PARAMS).fetchone()  # type: ignore[misc]
        text = "\n".join(r[0] for r in db.execute(("EXPLAIN " + query).encode(), PARAMS))
    doc = doc if isinstance(doc, list) else json.loads(doc)
    return doc[0]["Plan"], text


@pytest.mark.parametrize("name", list(QUERIES))
def test_no_sequential_scan_of_jobs(db: psycopg.Connection[Any], name: str) -> None:
    plan, text = plan_of(db, QUERIES[name])
    print(f"\n--- {name}\n{text}")
    on_jobs = [n for n in scans(plan) if n.get("Relation Name") == "jobs"]
    assert on_jobs, text
    assert all(n["Node Type"] != "Seq Scan" for n in on_jobs), text


def test_reserve_probes_each_watched_tube_once(db: psycopg.Connection[Any]) -> None:
    """The reserve subquery runs once per watched tube (a LIMIT 1 index probe each)."""
    with db.transaction(force_rollback=True):
        (doc,) = db.execute(
            ("EXPLAIN (ANALYZE, FORMAT JSON) " + Q.RESERVE).encode(), PARAMS
        ).fetchone()  # type: ignore[misc]
    probes = [n for n in scans(doc[0]["Plan"]) if n.get("Index Name") == "jobs_by_tube"]
    assert probes and all(n["Actual Loops"] == 3 for n in probes), probes
    assert all(n["Actual Rows"] <= 1 for n in probes)

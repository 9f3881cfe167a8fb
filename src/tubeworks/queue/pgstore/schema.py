"""The PostgreSQL schema: versioned DDL and the migration step the server runs at start.

Every server runs :func:`migrate` before serving. It takes a transaction-scoped advisory lock,
so two servers starting together never both create the tables, then reads ``meta.schema_version``
and applies the missing steps of :data:`MIGRATIONS` in order. A database whose version is newer
than this code's is refused (an older server must not write to a layout it does not know).

Job states are the queue's numbers (:mod:`tubeworks.queue.jobs`): 1 ready, 2 reserved, 3 buried,
4 delayed. Each index serves one query of ``sql.py``:

- ``jobs_by_tube (tube, state, pri, id)``: reserve (the best ready job of one tube), per-tube
  counts, and the skip scan that lists tubes that hold jobs.
- ``jobs_delayed (tube, ready_at, id) WHERE state = 4``: peek-delayed and kicking delayed jobs.
- ``jobs_due (ready_at) WHERE state = 4``: the sweep that makes delayed jobs ready.
- ``jobs_buried (tube, bury_seq) WHERE state = 3``: buried jobs first in, first out.
- ``jobs_ttr (deadline) WHERE state = 2``: the sweep that ends expired reservations.
"""

from __future__ import annotations

from typing import Final

#: The layout this code reads and writes.
SCHEMA_VERSION: Final = 1

_V1: Final = """
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE SEQUENCE job_ids;
CREATE SEQUENCE bury_order;
CREATE TABLE jobs (
    id bigint PRIMARY KEY,
    tube bytea NOT NULL,
    state smallint NOT NULL,
    pri bigint NOT NULL,
    delay bigint NOT NULL,
    ttr bigint NOT NULL,
    body bytea NOT NULL,                 -- with its trailing CRLF, ready to send
    created float8 NOT NULL,             -- unix time of the put
    ready_at float8 NOT NULL DEFAULT 0,  -- DELAYED: when it becomes ready
    deadline float8 NOT NULL DEFAULT 0,  -- RESERVED: when the TTR runs out
    owner text,                          -- RESERVED: servers.id of the reserving server
    owner_conn bigint,                   -- RESERVED: that server's connection number
    bury_seq bigint NOT NULL DEFAULT 0,  -- BURIED: burial order
    reserves integer NOT NULL DEFAULT 0,
    timeouts integer NOT NULL DEFAULT 0,
    releases integer NOT NULL DEFAULT 0,
    buries integer NOT NULL DEFAULT 0,
    kicks integer NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_tube ON jobs (tube, state, pri, id);
CREATE INDEX jobs_delayed ON jobs (tube, ready_at, id) WHERE state = 4;
CREATE INDEX jobs_due ON jobs (ready_at) WHERE state = 4;
CREATE INDEX jobs_buried ON jobs (tube, bury_seq) WHERE state = 3;
CREATE INDEX jobs_ttr ON jobs (deadline) WHERE state = 2;
CREATE TABLE tubes (
    name bytea PRIMARY KEY,
    pause bigint NOT NULL DEFAULT 0,       -- requested pause, seconds
    unpause_at float8 NOT NULL DEFAULT 0,  -- unix time the pause ends
    cmd_pause bigint NOT NULL DEFAULT 0
);
CREATE TABLE servers (
    id text PRIMARY KEY,
    started_at float8 NOT NULL,
    heartbeat float8 NOT NULL,  -- unix time of the last sign of life
    pid integer NOT NULL,
    hostname text NOT NULL
);
-- Each server's snapshot of its clients' tube use and its counters (written every second).
CREATE TABLE server_tubes (
    server_id text NOT NULL,
    tube bytea NOT NULL,
    using_count integer NOT NULL,
    watching integer NOT NULL,
    waiting integer NOT NULL,
    PRIMARY KEY (server_id, tube)
);
CREATE TABLE server_counters (
    server_id text NOT NULL,
    tube bytea NOT NULL,  -- b'' for server-wide counters
    name text NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (server_id, tube, name)
);
"""

#: (version, DDL) steps; step N turns version N-1 into version N.
MIGRATIONS: Final = ((1, _V1),)


class SchemaError(Exception):
    """The database cannot be used: unreachable, read-only, or of another schema version."""


def plan(current: int | None) -> list[tuple[int, str]]:
    """The migration steps that bring a schema at ``current`` (None: empty) to the latest.

    Raises :class:`SchemaError` for a version newer than this code's.
    """
    have = current or 0
    if have > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {have} is newer than this server's ({SCHEMA_VERSION}); "
            f"upgrade tubeworks"
        )
    return [(v, ddl) for v, ddl in MIGRATIONS if v > have]


def lock_key(schema: str) -> int:
    """A stable advisory-lock key for one schema (signed 64-bit)."""
    import hashlib

    digest = hashlib.sha256(b"tubeworks-migrate:" + schema.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)

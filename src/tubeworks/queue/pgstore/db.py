"""Connections to PostgreSQL: a small pool that reconnects, the LISTEN channel, migration.

The only module that imports :mod:`psycopg`; every driver error is turned into
:class:`DatabaseError` (a query failed) or :class:`~.schema.SchemaError` (the database cannot be
used at all) here, so the store never sees the driver's exception types.

A pooled connection that fails with a connection-level error is thrown away; the next query
opens a fresh one. That is the whole reconnect story: a restarted database or a terminated
backend costs the queries that were in flight on the broken connection, nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from tubeworks.queue.pgstore.schema import SCHEMA_VERSION, SchemaError, lock_key, plan

log = logging.getLogger("tubeworks.queue.pgstore")

#: Default PostgreSQL schema (namespace) holding the tables; ``?schema=NAME`` in the URL changes it.
DEFAULT_SCHEMA: Final = "tubeworks"
#: Connections opened at most per server (queries beyond wait for a free one).
POOL_SIZE: Final = 8
#: Seconds to wait for the database to accept a connection.
CONNECT_TIMEOUT: Final = 5
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class DatabaseError(Exception):
    """A query failed (the database went away, or refused the statement)."""


@dataclass(frozen=True)
class Target:
    """Where the data lives: a libpq connection URL and a schema in that database."""

    url: str  # without our ``schema`` and libpq's ``options`` parameters
    schema: str
    options: str = ""  # libpq ``options`` from the URL (e.g. ``-c synchronous_commit=off``)

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel servers on this schema share."""
        return f"tubeworks_{self.schema}"

    def __str__(self) -> str:
        return f"{_redact(self.url)} (schema {self.schema})"


def parse_target(url: str) -> Target:
    """Split ``postgresql://...?schema=NAME`` into a libpq URL and a schema name.

    Raises ValueError for a URL that is not postgresql:// or a schema name that is not a plain
    lowercase identifier.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"--store: expected a postgresql:// URL, got {url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    rest = []
    options = ""
    for key, value in query:
        if key == "schema":
            schema = value
        elif key == "options":
            options = value
        else:
            rest.append((key, value))
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            f"--store: schema must be a lowercase identifier (a-z, 0-9, _), got {schema!r}"
        )
    return Target(urlunsplit(parts._replace(query=urlencode(rest))), schema, options)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


async def connect(target: Target, *, autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
    """Open one connection with ``search_path`` set to the schema. Raises SchemaError."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            target.url,
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT,
            options=f"-c search_path={target.schema} {target.options}".strip(),
            application_name=f"tubeworks-queue {target.schema}"[:63],
        )
    except psycopg.Error as exc:
        raise SchemaError(f"cannot connect to {target}: {_first_line(exc)}") from exc
    return conn


async def migrate(target: Target) -> int:
    """Create or upgrade the schema; returns the version found before (0: new).

    Raises SchemaError when the database is unreachable, read-only, or newer than this code.
    """
    conn = await connect(target, autocommit=False)
    try:
        async with conn.transaction():
            row = await (await conn.execute("SHOW transaction_read_only")).fetchone()
            if row is not None and row[0] == "on":
                raise SchemaError(f"{target} is read-only; point --store at the primary")
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(target.schema),))
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"')
            exists = await (
                await conn.execute(
                    "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'meta'",
                    (target.schema,),
                )
            ).fetchone()
            current = None
            if exists:
                got = await (
                    await conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")
                ).fetchone()
                current = int(got[0]) if got else None
            for version, ddl in plan(current):
                log.warning("migrating %s to schema version %d", target, version)
                await conn.execute(ddl.encode())
            await conn.execute(
                "INSERT INTO meta VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(SCHEMA_VERSION),),
            )
        return current or 0
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise SchemaError(f"{target} is read-only; point --store at the primary") from exc
    except psycopg.Error as exc:
        raise SchemaError(f"cannot prepare {target}: {_first_line(exc)}") from exc
    finally:
        await conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class Pool:
    """Up to :data:`POOL_SIZE` autocommit connections, opened on demand, dropped when broken."""

    def __init__(self, target: Target, size: int = POOL_SIZE) -> None:
        self.target = target
        self.size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._open = 0
        self._freed = asyncio.Condition()
        self.reconnects = 0  # broken connections replaced (for logs and tests)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for one query or transaction. Raises DatabaseError."""
        conn = await self._take()
        ok = False
        try:
            yield conn
            ok = True
        except psycopg.Error as exc:
            if conn.broken or conn.closed or isinstance(exc, psycopg.OperationalError):
                await self._discard(conn)
                conn = None  # type: ignore[assignment]
            raise DatabaseError(_first_line(exc)) from exc
        finally:
            if conn is not None:
                if not ok and (conn.broken or conn.closed):
                    await self._discard(conn)
                else:
                    await self._give(conn)

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        async with self._freed:
            while not self._idle and self._open >= self.size:
                await self._freed.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return await connect(self.target)
        except SchemaError as exc:
            async with self._freed:
                self._open -= 1
                self._freed.notify()
            raise DatabaseError(str(exc)) from exc

    async def _give(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with self._freed:
            self._idle.append(conn)
            self._freed.notify()

    async def _discard(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.reconnects += 1
        log.warning("dropping a broken database connection; the next query reconnects")
        with contextlib.suppress(Exception):
            await conn.close()
        async with self._freed:
            self._open -= 1
            self._freed.notify()

    async def fetch(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        """Run one statement and return its rows (one retry on a fresh connection if the
        connection it ran on was broken before the statement could run)."""
        for attempt in (1, 2):
            try:
                async with self.connection() as conn:
                    cur = await conn.execute(query.encode(), params)
                    return await cur.fetchall() if cur.description else []
            except DatabaseError as exc:
                if attempt == 2 or not _retryable(exc):
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        async with self._freed:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close()


def _retryable(exc: DatabaseError) -> bool:
    """A connection-level failure (the statement never ran or its effect is idempotent)."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.OperationalError) and not isinstance(
        cause, psycopg.errors.QueryCanceled
    )


class Listener:
    """One connection that LISTENs on the schema's channel and reconnects when it breaks."""

    def __init__(self, target: Target, on_payload: Any, on_reconnect: Any) -> None:
        self.target = target
        self.on_payload = on_payload  # callable(str)
        self.on_reconnect = on_reconnect  # callable(): notifications may have been lost
        self.task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        backoff = 0.05
        first = True
        while True:
            try:
                conn = await connect(self.target)
                try:
                    await conn.execute(f'LISTEN "{self.target.channel}"'.encode())
                    self.connected.set()
                    if not first:
                        self.on_reconnect()
                    first = False
                    backoff = 0.05
                    async for note in conn.notifies():
                        self.on_payload(note.payload)
                finally:
                    self.connected.clear()
                    with contextlib.suppress(Exception):
                        await conn.close()
            except asyncio.CancelledError:
                raise
            except (SchemaError, psycopg.Error) as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", _first_line(exc))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

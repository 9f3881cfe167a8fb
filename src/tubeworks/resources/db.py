"""A DB-API connection that comes back after the server drops it, and retries only when safe.

The wrapper owns one driver connection, opened lazily by the ``connect`` callable it is given.
Before each statement it checks, without sending anything, whether the server has already
hung up; after each failure it asks :func:`tubeworks.resources._policy.decide` whether the
statement may run again on a new connection. The rules are in that module's docstring; in
short: retry what cannot have been committed, raise :class:`ConnectionLost` when a
transaction's earlier work is gone, and raise :class:`CommitOutcomeUnknown` when a write may
or may not have been applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tubeworks.resources._classify import Failure
from tubeworks.resources._drivers import Driver, driver_for
from tubeworks.resources._errors import CommitOutcomeUnknown, ConnectionLost
from tubeworks.resources._policy import Attempt, Decision, decide
from tubeworks.resources._statements import StatementKind, statement_kind

__all__ = ["Database", "DatabaseStatistics", "Result"]

T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    """Everything a statement returned; rows are fetched before the wrapper returns."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = -1
    lastrowid: Any = None
    description: Any = None


@dataclass(frozen=True)
class DatabaseStatistics:
    """Counters of one :class:`Database` since it was created."""

    connects: int  # driver connections opened, the first one included
    disconnects_seen: int  # dead connections found, by a check or by a failed statement
    retries: int  # statements that failed in flight and were run again on a new connection
    lost: int  # ConnectionLost raised
    outcome_unknown: int  # CommitOutcomeUnknown raised


class Database:
    """A self-healing wrapper around one DB-API connection (PyMySQL, mysqlclient, psycopg).

    Args:
        connect: returns a new, open driver connection; called lazily and after each loss.
        driver: the rules for the driver; found from the first connection when omitted.
        on_connect: runs on every new connection, e.g. to set session variables (those do not
            survive a reconnect otherwise).
        ping_after: if set, a connection idle for at least this many seconds gets a round-trip
            ping before the first statement of a transaction.
        max_retries: how many times one statement may be re-run on a new connection.
        clock: monotonic seconds, replaceable in tests.

    Not thread-safe: use one per thread or process (see :class:`tubeworks.resources.Resources`).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        driver: Driver | None = None,
        on_connect: Callable[[Any], None] | None = None,
        ping_after: float | None = None,
        max_retries: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._driver = driver
        self._on_connect = on_connect
        self._ping_after = ping_after
        self._max_retries = max_retries
        self._clock = clock
        self._conn: Any = None
        self._last_used = 0.0
        self._explicit_tx = False  # BEGIN was run on an autocommit connection
        self._tx_statements = 0  # statements run in the open transaction
        self._counts = {"connects": 0, "disconnects_seen": 0, "retries": 0, "lost": 0, "unknown": 0}

    # -- public API ------------------------------------------------------------------------

    @property
    def connection(self) -> Any:
        """The live driver connection, opened if needed. Statements run on it directly bypass
        the retry rules and the transaction bookkeeping."""
        return self._ensure()

    def execute(self, sql: str, params: Any = None, *, idempotent: bool | None = None) -> Result:
        """Run one statement, reconnecting and re-running it only when that is safe.

        Args:
            sql: the statement, with the driver's placeholders.
            params: the driver's parameters for it.
            idempotent: ``True`` if running it twice is harmless (e.g. an upsert on a natural
                key), ``False`` to never re-run it once sent; ``None`` judges by the statement.

        Returns:
            The fetched :class:`Result`.

        Raises:
            ConnectionLost: the connection died and the statement's transaction had already
                done work, or reconnecting failed. Nothing was committed: redo the whole unit.
            CommitOutcomeUnknown: a write in autocommit mode (or DDL) was sent and its reply
                lost. It may have been applied.
            Exception: any driver error that is not a lost connection, unchanged.
        """
        return self._run(sql, statement_kind(sql), idempotent, lambda cur: cur.execute(sql, params))

    def executemany(
        self, sql: str, seq_of_params: Sequence[Any], *, idempotent: bool | None = None
    ) -> Result:
        """Like :meth:`execute`, for ``cursor.executemany``."""
        return self._run(
            sql, statement_kind(sql), idempotent, lambda cur: cur.executemany(sql, seq_of_params)
        )

    def commit(self) -> None:
        """Commit the open transaction.

        Raises:
            ConnectionLost: the connection was dead before COMMIT was sent: the server rolled
                the transaction back.
            CommitOutcomeUnknown: COMMIT was sent and its reply lost.
        """
        self._finish(StatementKind.COMMIT)

    def rollback(self) -> None:
        """Roll back the open transaction; a dead connection counts as rolled back."""
        self._finish(StatementKind.ROLLBACK)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """Commit on a clean exit, roll back if the block raises."""
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def run_transaction(self, work: Callable[[Database], T], *, attempts: int = 2) -> T:
        """Run ``work`` in a transaction, re-running all of it after a :class:`ConnectionLost`.

        Only the whole unit is ever re-run, and only when nothing of it was committed. A
        :class:`CommitOutcomeUnknown` is raised, never retried.

        Args:
            work: does the transaction's statements through the given wrapper.
            attempts: how many times ``work`` may run in total.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction():
                    return work(self)
            except ConnectionLost:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the driver connection (a later statement opens a new one)."""
        conn, self._conn = self._conn, None
        self._reset_tx()
        if conn is not None:
            self._rules(conn).close(conn)

    def abandon(self) -> None:
        """Forget the connection without closing it: for a forked child that must not end
        its parent's session. The object is kept alive so it is not closed by the collector."""
        if self._conn is not None:
            _ABANDONED.append(self._conn)
        self._conn = None
        self._reset_tx()

    def statistics(self) -> DatabaseStatistics:
        """A snapshot of the counters."""
        c = self._counts
        return DatabaseStatistics(
            c["connects"], c["disconnects_seen"], c["retries"], c["lost"], c["unknown"]
        )

    # -- internals ---------------------------------------------------------------------------

    def _rules(self, conn: Any) -> Driver:
        if self._driver is None:
            self._driver = driver_for(conn)
        return self._driver

    def _in_transaction(self) -> bool:
        return self._explicit_tx or not self._rules(self._conn).autocommit(self._conn)

    def _reset_tx(self) -> None:
        self._explicit_tx = False
        self._tx_statements = 0

    def _ensure(self) -> Any:
        if self._conn is not None:
            return self._conn
        try:
            conn = self._connect()
        except Exception as exc:
            self._counts["lost"] += 1
            raise ConnectionLost(f"could not connect to the database: {exc}") from exc
        self._rules(conn)  # an unknown driver is a programming error: let ValueError out
        if self._on_connect is not None:
            try:
                self._on_connect(conn)
            except Exception:
                self._rules(conn).close(conn)
                raise
        self._counts["connects"] += 1
        self._conn = conn
        self._last_used = self._clock()
        return conn

    def _drop(self) -> None:
        """The connection is dead: close it quietly and start the next statement afresh."""
        self._counts["disconnects_seen"] += 1
        conn, self._conn = self._conn, None
        if conn is not None:
            self._rules(conn).close(conn)

    def _found_dead(self) -> bool:
        """Check, before sending, whether the open connection has already died."""
        conn = self._conn
        if conn is None:
            return False
        rules = self._rules(conn)
        if rules.is_dead(conn):
            return True
        idle = self._clock() - self._last_used
        if self._ping_after is not None and self._tx_statements == 0 and idle >= self._ping_after:
            try:
                rules.ping(conn)
            except Exception:
                return True
        return False

    def _attempt(
        self, failure: Failure, kind: StatementKind, in_tx: bool, idem: bool | None, retries: int
    ) -> Decision:
        return decide(
            Attempt(
                failure=failure,
                kind=kind,
                in_transaction=in_tx,
                earlier_statements=self._tx_statements,
                idempotent=idem,
                retries=retries,
                max_retries=self._max_retries,
            )
        )

    def _run(
        self, sql: str, kind: StatementKind, idem: bool | None, call: Callable[[Any], Any]
    ) -> Result:
        retries = 0
        while True:
            conn = self._ensure()
            in_tx = self._in_transaction() or kind is StatementKind.BEGIN
            if self._found_dead():
                decision = self._attempt(Failure.DEAD_BEFORE_SEND, kind, in_tx, idem, retries)
                cause: BaseException | None = None
            else:
                try:
                    result = self._call(conn, call)
                except Exception as exc:
                    failure = self._rules(conn).classify(exc)
                    decision = self._attempt(failure, kind, in_tx, idem, retries)
                    if decision is Decision.RAISE:
                        if in_tx:
                            self._tx_statements += 1
                        raise
                    cause = exc
                else:
                    self._after_success(kind, in_tx)
                    return result
            self._drop()
            self._reset_tx_after(decision)
            if decision is Decision.RETRY:
                retries += 1
                self._counts["retries"] += cause is not None
                continue
            if decision is Decision.DONE:
                return Result()
            raise self._error(decision, sql, cause)

    def _call(self, conn: Any, call: Callable[[Any], Any]) -> Result:
        cursor = conn.cursor()
        try:
            call(cursor)
            description = cursor.description
            rows = [tuple(r) for r in cursor.fetchall()] if description is not None else []
            return Result(rows, cursor.rowcount, getattr(cursor, "lastrowid", None), description)
        finally:
            try:
                cursor.close()
            except Exception:
                pass
            self._last_used = self._clock()

    def _after_success(self, kind: StatementKind, in_tx: bool) -> None:
        if kind is StatementKind.BEGIN:
            self._explicit_tx, self._tx_statements = True, 0
        elif kind in (StatementKind.COMMIT, StatementKind.ROLLBACK):
            self._reset_tx()
        elif in_tx:
            self._tx_statements += 1

    def _reset_tx_after(self, decision: Decision) -> None:
        # A dead connection takes its transaction with it; a retry starts a fresh one (the
        # policy only retries the first statement of a transaction).
        explicit = self._explicit_tx
        self._reset_tx()
        if decision is Decision.RETRY:
            self._explicit_tx = explicit

    def _finish(self, kind: StatementKind) -> None:
        conn = self._conn
        if conn is None:  # nothing was ever run, or the connection was already dropped
            self._reset_tx()
            return
        in_tx = self._in_transaction()
        cause: BaseException | None = None
        if self._found_dead():
            decision = self._attempt(Failure.DEAD_BEFORE_SEND, kind, in_tx, None, 0)
        else:
            try:
                if self._explicit_tx:
                    cursor = conn.cursor()
                    cursor.execute("COMMIT" if kind is StatementKind.COMMIT else "ROLLBACK")
                    cursor.close()
                elif kind is StatementKind.COMMIT:
                    conn.commit()
                else:
                    conn.rollback()
            except Exception as exc:
                decision = self._attempt(self._rules(conn).classify(exc), kind, in_tx, None, 0)
                if decision is Decision.RAISE:
                    raise
                cause = exc
            else:
                self._last_used = self._clock()
                self._reset_tx()
                return
        self._drop()
        self._reset_tx()
        if decision is not Decision.DONE:
            raise self._error(decision, kind.value.upper(), cause)

    def _error(self, decision: Decision, what: str, cause: BaseException | None) -> Exception:
        short = " ".join(what.split())
        short = short if len(short) <= 60 else short[:57] + "..."
        when = f"at {short!r}" if cause is not None else f"before {short!r} was sent"
        detail = f": {cause}" if cause is not None else ""
        err: Exception
        if decision is Decision.UNKNOWN:
            self._counts["unknown"] += 1
            err = CommitOutcomeUnknown(
                f"connection lost after {short!r} was sent; it may or may not have been "
                f"committed{detail}"
            )
        else:
            self._counts["lost"] += 1
            err = ConnectionLost(
                f"connection lost {when}; the server rolled back the open transaction{detail}"
            )
        err.__cause__ = cause
        return err


_ABANDONED: list[Any] = []

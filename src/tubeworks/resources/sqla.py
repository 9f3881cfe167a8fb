"""The same safety rules for SQLAlchemy engines.

:func:`watch` teaches an engine our disconnect rules: every connection error we know of
(MySQL 4031 and 1927, psycopg's idle-session timeout...) invalidates the pool, and a pooled
connection the server already closed is replaced at checkout without a round trip.
:func:`run_transaction` runs a unit of work, re-runs all of it when nothing was committed,
and raises :class:`CommitOutcomeUnknown` when the COMMIT's reply was lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine

from tubeworks.resources._classify import Failure
from tubeworks.resources._drivers import MYSQL, POSTGRES, Driver
from tubeworks.resources._errors import CommitOutcomeUnknown, ConnectionLost

__all__ = ["driver_for_engine", "run_transaction", "watch"]

T = TypeVar("T")

_BY_DIALECT = {"mysql": MYSQL, "mariadb": MYSQL, "postgresql": POSTGRES}


def driver_for_engine(engine: Engine) -> Driver:
    """Our rules for the engine's dialect.

    Raises:
        ValueError: the dialect is neither MySQL/MariaDB nor PostgreSQL.
    """
    try:
        return _BY_DIALECT[engine.dialect.name]
    except KeyError:
        raise ValueError(
            f"no connection rules for dialect {engine.dialect.name!r}; "
            "expected mysql, mariadb or postgresql"
        ) from None


def watch(engine: Engine) -> Engine:
    """Install the disconnect rules on ``engine`` (idempotent) and return it."""
    if engine.__dict__.get("_tubeworks_watched"):
        return engine
    driver = driver_for_engine(engine)

    def on_error(context: Any) -> None:
        original = context.original_exception
        if driver.classify(original) is not Failure.NOT_A_CONNECTION_ERROR:
            context.is_disconnect = True

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if driver.is_dead(dbapi_connection):
            # The pool drops this connection and checks out another (or opens a new one).
            raise exc.DisconnectionError("pooled connection was closed by the server")

    event.listen(engine, "handle_error", on_error)
    event.listen(engine.pool, "checkout", on_checkout)
    engine.__dict__["_tubeworks_watched"] = True
    return engine


def run_transaction(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 2) -> T:
    """Run ``work`` in a transaction, re-running all of it while nothing was committed.

    Args:
        engine: a :func:`watch`-ed engine (watched here if it is not).
        work: runs the transaction's statements on the given connection.
        attempts: how many times ``work`` may run in total.

    Returns:
        What ``work`` returned.

    Raises:
        ConnectionLost: every attempt lost its connection before committing.
        CommitOutcomeUnknown: COMMIT was sent and its reply lost; never retried.
        sqlalchemy.exc.DBAPIError: any other database error, unchanged.
    """
    driver = driver_for_engine(watch(engine))
    last: BaseException | None = None
    for _ in range(attempts):
        try:
            return _once(engine, driver, work)
        except ConnectionLost as lost:
            last = lost
    assert last is not None
    raise last


def _once(engine: Engine, driver: Driver, work: Callable[[Connection], T]) -> T:
    committing = False
    try:
        with engine.connect() as conn:
            with conn.begin() as tx:
                result = work(conn)
                committing = True
                dbapi = conn.connection.dbapi_connection
                if dbapi is not None and driver.is_dead(dbapi):
                    conn.invalidate()
                    raise ConnectionLost(
                        "connection lost before 'COMMIT' was sent; "
                        "the server rolled back the open transaction"
                    )
                tx.commit()
            return result
    except exc.DBAPIError as error:
        orig = error.orig
        failure = Failure.NOT_A_CONNECTION_ERROR if orig is None else driver.classify(orig)
        if failure is Failure.NOT_A_CONNECTION_ERROR and not error.connection_invalidated:
            raise
        if committing and failure is not Failure.DEAD_BEFORE_SEND:
            raise CommitOutcomeUnknown(
                "connection lost after 'COMMIT' was sent; it may or may not have been "
                f"committed: {error.orig}"
            ) from error
        raise ConnectionLost(
            f"connection lost; the server rolled back the open transaction: {error.orig}"
        ) from error

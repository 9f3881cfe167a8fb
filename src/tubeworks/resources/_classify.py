"""Which database exceptions mean "the connection died", and whether the server saw the statement.

Pure functions over exception objects: no driver is imported, so the same rules cover every
DB-API driver that raises the standard exception classes. MySQL drivers (PyMySQL, mysqlclient)
put the MySQL error code in ``args[0]``; psycopg 3 errors carry ``sqlstate``; psycopg2's
disconnects carry neither, only a libpq message.

The answer is one of three :class:`Failure` values. ``DEAD_BEFORE_SEND`` is a promise that
the statement in flight cannot have been executed: the driver failed to write it, found the
connection already closed, or the server reported that the session had ended *before* the
statement arrived (an idle timeout). Anything that may have interrupted a running statement
is ``DEAD_OUTCOME_UNKNOWN``. When in doubt, a code is classed as unknown: that can only cost a
retry, never cause a duplicate.
"""

from __future__ import annotations

import enum

__all__ = ["Failure", "classify_mysql", "classify_postgres"]


class Failure(enum.Enum):
    """What an exception says about the connection and the statement in flight."""

    NOT_A_CONNECTION_ERROR = "not a connection error"
    DEAD_BEFORE_SEND = "dead before the statement reached the server"
    DEAD_OUTCOME_UNKNOWN = "dead; the statement may have run"

    def __repr__(self) -> str:
        return f"Failure.{self.name}"


# MySQL/MariaDB error codes. Client-side codes (2xxx) come from the driver, the others are
# sent by the server. Codes not listed here are not connection errors (1213 deadlock, 1205
# lock wait timeout, 1062 duplicate key...), however the driver classes them.
MYSQL_DEAD_BEFORE_SEND: dict[int, str] = {
    2002: "can't connect through the local socket",
    2003: "can't connect to the server",
    # The driver's write failed; a partly written packet is never executed.
    2006: "server has gone away",
    # MySQL >= 8.0.24 says so when it closes an idle session; it is read as the reply to
    # whatever the client sends next, which therefore never ran.
    4031: "disconnected by the server because of inactivity",
}
MYSQL_DEAD_OUTCOME_UNKNOWN: dict[int, str] = {
    1053: "server shutdown in progress",
    1927: "connection was killed",
    2013: "lost connection during query",
    2014: "commands out of sync",
    2045: "can't open shared memory / named pipe",
    2055: "lost connection at a system call",
}

# PostgreSQL SQLSTATEs. Class 08 is "connection exception"; 57P0x are operator interventions.
PG_DEAD_BEFORE_SEND: dict[str, str] = {
    "08001": "client unable to establish the connection",
    "08004": "server rejected the connection",
    "57P03": "cannot connect now",
    # The session was idle when the server ended it, so nothing sent afterwards ran.
    "57P05": "idle session timeout",
    "25P03": "idle in transaction session timeout",
}
PG_DEAD_OUTCOME_UNKNOWN_CLASSES = ("08", "57P01", "57P02")

# libpq/psycopg messages for errors without a SQLSTATE (psycopg2, or psycopg before sending).
PG_MESSAGES_BEFORE_SEND = (
    "the connection is closed",
    "connection already closed",
    "could not send data to server",
    "connection is lost",
)
PG_MESSAGES_UNKNOWN = (
    "server closed the connection",
    "terminating connection",
    "could not receive data from server",
    "consuming input failed",
    "ssl connection has been closed",
    "ssl syscall error",
    "lost synchronization with server",
    "connection not open",
)


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _os_error(exc: BaseException) -> Failure | None:
    """A raw socket error that a driver let through."""
    if isinstance(exc, BrokenPipeError):
        return Failure.DEAD_BEFORE_SEND  # EPIPE is only ever a failed write
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return Failure.DEAD_OUTCOME_UNKNOWN
    return None


def classify_mysql(exc: BaseException) -> Failure:
    """Classify an exception from a MySQL DB-API driver (PyMySQL, mysqlclient).

    Args:
        exc: what the driver raised.

    Returns:
        The :class:`Failure` it implies for the connection and the statement in flight.
    """
    raw = _os_error(exc)
    if raw is not None:
        return raw
    names = _class_names(exc)
    if "Error" not in names and "DatabaseError" not in names:
        return Failure.NOT_A_CONNECTION_ERROR
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code in MYSQL_DEAD_BEFORE_SEND:
        return Failure.DEAD_BEFORE_SEND
    if code in MYSQL_DEAD_OUTCOME_UNKNOWN:
        return Failure.DEAD_OUTCOME_UNKNOWN
    # PyMySQL and mysqlclient raise InterfaceError(0, '') for any call on a connection they
    # already know is closed: they checked before writing a byte.
    if "InterfaceError" in names and code == 0:
        return Failure.DEAD_BEFORE_SEND
    return Failure.NOT_A_CONNECTION_ERROR


def classify_postgres(exc: BaseException) -> Failure:
    """Classify an exception from psycopg 3 or psycopg2.

    Args:
        exc: what the driver raised.

    Returns:
        The :class:`Failure` it implies. psycopg 3 also marks the connection ``broken``;
        callers that hold the connection should treat a broken one as
        ``DEAD_OUTCOME_UNKNOWN`` even when this returns ``NOT_A_CONNECTION_ERROR``.
    """
    raw = _os_error(exc)
    if raw is not None:
        return raw
    names = _class_names(exc)
    if "Error" not in names:
        return Failure.NOT_A_CONNECTION_ERROR
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str) and state:
        if state in PG_DEAD_BEFORE_SEND:
            return Failure.DEAD_BEFORE_SEND
        if state.startswith(PG_DEAD_OUTCOME_UNKNOWN_CLASSES):
            return Failure.DEAD_OUTCOME_UNKNOWN
        return Failure.NOT_A_CONNECTION_ERROR
    if not names & {"OperationalError", "InterfaceError"}:
        return Failure.NOT_A_CONNECTION_ERROR
    message = str(exc).lower()
    if any(m in message for m in PG_MESSAGES_BEFORE_SEND):
        return Failure.DEAD_BEFORE_SEND
    if any(m in message for m in PG_MESSAGES_UNKNOWN):
        return Failure.DEAD_OUTCOME_UNKNOWN
    return Failure.NOT_A_CONNECTION_ERROR

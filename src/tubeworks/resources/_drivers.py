"""Thin adapters over DB-API drivers: the few driver-specific facts the wrapper needs.

Nothing here imports a driver; each adapter duck-types the connection object it is given.
Every method must be safe to call on a dead connection and must never block: the liveness
check looks at the socket with a zero timeout and sends nothing.
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tubeworks.resources._classify import Failure, classify_mysql, classify_postgres

__all__ = ["MYSQL", "POSTGRES", "Driver", "driver_for", "socket_has_news"]


def socket_has_news(fd: int | None) -> bool:
    """True if the peer sent data, closed or reset ``fd``: poll with a zero timeout."""
    if fd is None or fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    try:
        events = poller.poll(0)
    except OSError:
        return True
    return bool(events)


def peek_byte(fd: int) -> bytes | None:
    """The next byte waiting on ``fd`` without consuming it; b"" at EOF, None if none yet."""
    sock = socket.socket(fileno=os.dup(fd))  # a duplicate, so closing it keeps ``fd`` open
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    except OSError:
        return b""
    finally:
        sock.close()


def _mysql_fd(conn: Any) -> int | None:
    sock = getattr(conn, "_sock", None)  # PyMySQL: None once it knows the connection is closed
    if sock is not None:
        return int(sock.fileno())
    fileno = getattr(conn, "fileno", None)  # mysqlclient
    if callable(fileno):
        try:
            return int(fileno())
        except Exception:  # closed connections raise driver-specific errors
            return None
    return None


def _mysql_dead(conn: Any) -> bool:
    if getattr(conn, "open", True) is False:
        return True
    # MySQL never speaks unprompted: anything readable on an idle connection is the error
    # packet of a kill or a timeout, or the close itself.
    return socket_has_news(_mysql_fd(conn))


def _mysql_autocommit(conn: Any) -> bool:
    get = getattr(conn, "get_autocommit", None)
    if callable(get):
        try:
            return bool(get())
        except Exception:
            return False
    return bool(getattr(conn, "autocommit_mode", False))


def _mysql_ping(conn: Any) -> None:
    conn.ping()


def _pg_dead(conn: Any) -> bool:
    if getattr(conn, "closed", False) or getattr(conn, "broken", False):
        return True
    pgconn = getattr(conn, "pgconn", None)
    if pgconn is None:  # psycopg2: only the socket can tell
        fileno = getattr(conn, "fileno", None)
        return callable(fileno) and socket_has_news(int(fileno()))
    fd = int(pgconn.socket)
    if not socket_has_news(fd):
        return False
    # PostgreSQL may speak unprompted: NOTIFY ('A'), notices ('N'), parameter changes ('S').
    # An error ('E') to an idle session is the FATAL of a terminated or timed-out backend,
    # which arrives a moment before the close itself. Anything else: let libpq read it and
    # say whether the connection survived.
    first = peek_byte(fd)
    if first in (b"", b"E"):
        return True
    try:
        pgconn.consume_input()
    except Exception:
        return True
    return int(pgconn.status) != 0  # ConnStatus.OK


def _pg_autocommit(conn: Any) -> bool:
    return bool(getattr(conn, "autocommit", False))


def _pg_ping(conn: Any) -> None:
    pgconn = getattr(conn, "pgconn", None)
    if pgconn is None:
        conn.cursor().execute("SELECT 1")
        return
    result = pgconn.exec_(b"")  # an empty query: a round trip that touches no transaction
    if int(result.status) != 0 or int(pgconn.status) != 0:  # EMPTY_QUERY, ConnStatus.OK
        raise ConnectionError("ping failed: the server did not answer an empty query")


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # closing a dead connection may complain; it is closed either way
        pass


@dataclass(frozen=True)
class Driver:
    """What the wrapper needs to know about one family of drivers."""

    name: str
    classify: Callable[[BaseException], Failure]
    # True if the connection is known dead without sending anything.
    is_dead: Callable[[Any], bool]
    # A round trip that raises the driver's error if the server is gone.
    ping: Callable[[Any], None]
    autocommit: Callable[[Any], bool]
    close: Callable[[Any], None] = _close


MYSQL = Driver("mysql", classify_mysql, _mysql_dead, _mysql_ping, _mysql_autocommit)
POSTGRES = Driver("postgres", classify_postgres, _pg_dead, _pg_ping, _pg_autocommit)

_BY_MODULE = {"pymysql": MYSQL, "MySQLdb": MYSQL, "psycopg": POSTGRES, "psycopg2": POSTGRES}


def driver_for(conn: Any) -> Driver:
    """The adapter for a connection object, chosen by the driver module that made it.

    Raises:
        ValueError: the connection comes from a driver we have no rules for.
    """
    module = type(conn).__module__.split(".")[0]
    try:
        return _BY_MODULE[module]
    except KeyError:
        known = ", ".join(sorted(_BY_MODULE))
        raise ValueError(
            f"no connection rules for driver {module!r}; expected one of {known} (pass driver=)"
        ) from None

"""Exception classification, on the drivers' real exception classes (no server needed)."""

from __future__ import annotations

import psycopg
import psycopg.errors
import pymysql
import pytest

from tubeworks.resources import Failure, classify_mysql, classify_postgres

BEFORE = Failure.DEAD_BEFORE_SEND
UNKNOWN = Failure.DEAD_OUTCOME_UNKNOWN
NOT = Failure.NOT_A_CONNECTION_ERROR


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (pymysql.err.OperationalError(2006, "MySQL server has gone away (BrokenPipe)"), BEFORE),
        (pymysql.err.OperationalError(4031, "disconnected because of inactivity"), BEFORE),
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), BEFORE),
        (pymysql.err.InterfaceError(0, ""), BEFORE),  # PyMySQL after it saw the connection die
        (pymysql.err.OperationalError(2013, "Lost connection during query"), UNKNOWN),
        (pymysql.err.OperationalError(2055, "Lost connection at 'reading'"), UNKNOWN),
        (pymysql.err.OperationalError(1927, "Connection was killed"), UNKNOWN),
        (pymysql.err.OperationalError(1053, "Server shutdown in progress"), UNKNOWN),
        (pymysql.err.OperationalError(1213, "Deadlock found"), NOT),
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), NOT),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), NOT),
        (pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax"), NOT),
        (pymysql.err.InterfaceError("(0, '')"), NOT),  # no integer code: not ours to judge
        (BrokenPipeError(32, "Broken pipe"), BEFORE),
        (ConnectionResetError(104, "Connection reset by peer"), UNKNOWN),
        (ValueError(2013), NOT),  # an integer first argument alone is not a MySQL error
        (KeyError("x"), NOT),
    ],
    ids=repr,
)
def test_mysql(exc: BaseException, expected: Failure) -> None:
    assert classify_mysql(exc) is expected


class MySQLdbStyle:
    """mysqlclient's classes have the PEP 249 names too; build look-alikes by name only."""

    class Error(Exception):
        pass

    class DatabaseError(Error):
        pass

    class OperationalError(DatabaseError):
        pass

    class InterfaceError(Error):
        pass


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (MySQLdbStyle.OperationalError(2006, "Server has gone away"), BEFORE),
        (MySQLdbStyle.OperationalError(2013, "Lost connection to server during query"), UNKNOWN),
        (MySQLdbStyle.InterfaceError(0, ""), BEFORE),
        (MySQLdbStyle.OperationalError(1205, "Lock wait timeout"), NOT),
    ],
    ids=repr,
)
def test_mysql_classification_needs_only_dbapi_names_and_codes(
    exc: BaseException, expected: Failure
) -> None:
    assert classify_mysql(exc) is expected


class Psycopg2Style:
    class Error(Exception):
        pgcode: str | None = None

    class OperationalError(Error):
        pass

    class InterfaceError(Error):
        pass


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
            UNKNOWN,
        ),
        (psycopg.errors.CrashShutdown("crash"), UNKNOWN),
        (
            psycopg.errors.IdleSessionTimeout("terminating connection due to idle-session timeout"),
            BEFORE,
        ),
        (psycopg.errors.IdleInTransactionSessionTimeout("idle in transaction timeout"), BEFORE),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), BEFORE),
        (psycopg.errors.ConnectionFailure("connection failure"), UNKNOWN),
        (psycopg.errors.SqlclientUnableToEstablishSqlconnection("no"), BEFORE),
        (psycopg.OperationalError("the connection is closed"), BEFORE),
        (
            psycopg.OperationalError(
                "consuming input failed: server closed the connection unexpectedly"
            ),
            UNKNOWN,
        ),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), NOT),
        (psycopg.errors.UniqueViolation("duplicate key"), NOT),
        (psycopg.errors.DeadlockDetected("deadlock detected"), NOT),
        (psycopg.OperationalError("some other failure"), NOT),
        (
            Psycopg2Style.OperationalError(
                "server closed the connection unexpectedly\n\tThis probably means the server "
                "terminated abnormally"
            ),
            UNKNOWN,
        ),
        (Psycopg2Style.InterfaceError("connection already closed"), BEFORE),
        (Psycopg2Style.OperationalError("could not send data to server: Broken pipe"), BEFORE),
        (Psycopg2Style.Error("server closed the connection unexpectedly"), NOT),  # not a class
        (RuntimeError("server closed the connection"), NOT),
    ],
    ids=repr,
)
def test_postgres(exc: BaseException, expected: Failure) -> None:
    assert classify_postgres(exc) is expected


def test_failures_have_readable_reprs() -> None:
    assert repr(Failure.DEAD_BEFORE_SEND) == "Failure.DEAD_BEFORE_SEND"

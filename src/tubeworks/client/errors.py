"""Errors raised by the beanstalk clients.

The tree (every class is importable from :mod:`tubeworks.client`)::

    TubeworksError                  (tubeworks.errors)
    └── ClientError
        ├── LocalProtocolError      you asked for something the protocol cannot say
        ├── RemoteProtocolError     the server sent bytes we do not understand
        ├── ClientBusy              two threads/coroutines used one client at once
        ├── BatchFailed             some items of a pipelined batch failed (.results)
        ├── TransportError          the connection cannot carry the command
        │   ├── ConnectFailed       could not open a connection
        │   │   └── TlsHandshakeFailed  the TLS handshake failed (certificate not trusted...)
        │   ├── ClientClosed        closed by you: close() was called
        │   ├── ReplyTimeout        no reply within the configured timeout
        │   └── ConnectionBroken    broken by the peer: EOF or reset mid-command
        │       └── PutNotConfirmed a put was sent but its reply was lost
        └── CommandError            the server answered with an error word (.reply)
            ├── NotFound            NOT_FOUND
            ├── TimedOut            TIMED_OUT (reserve with a timeout found nothing)
            ├── DeadlineSoon        DEADLINE_SOON (a reserved job's TTR is about to end)
            ├── NotIgnored          NOT_IGNORED (cannot ignore the last watched tube)
            ├── Buried              BURIED <id> to put/release: stored, but buried (server OOM)
            ├── JobTooBig           JOB_TOO_BIG (body over the server's -z limit)
            ├── Draining            DRAINING (server refuses new jobs)
            ├── ExpectedCrlf        EXPECTED_CRLF
            ├── BadFormat           BAD_FORMAT
            ├── UnknownCommand      UNKNOWN_COMMAND
            ├── OutOfMemory         OUT_OF_MEMORY
            ├── InternalError       INTERNAL_ERROR
            ├── Unauthorized        UNAUTHORIZED (tubeworks queue: no or wrong token)
            ├── Forbidden           FORBIDDEN (tubeworks queue: identity lacks the right)
            ├── TooManyConnections  TOO_MANY_CONNECTIONS (tubeworks queue --max-connections)
            └── TooManyTubes        TOO_MANY_TUBES (tubeworks queue --max-tubes)

"Closed by you" (:class:`ClientClosed`) and "broken by the peer" (:class:`ConnectionBroken`) are
kept apart on purpose: a worker reconnects after the second, and stops after the first.
"""

from __future__ import annotations

from typing import Any

from tubeworks.errors import TubeworksError

__all__ = [
    "BadFormat",
    "BatchFailed",
    "Buried",
    "ClientBusy",
    "ClientClosed",
    "ClientError",
    "CommandError",
    "ConnectFailed",
    "ConnectionBroken",
    "DeadlineSoon",
    "Draining",
    "ExpectedCrlf",
    "Forbidden",
    "InternalError",
    "JobTooBig",
    "LocalProtocolError",
    "NotFound",
    "NotIgnored",
    "OutOfMemory",
    "PutNotConfirmed",
    "RemoteProtocolError",
    "ReplyTimeout",
    "TimedOut",
    "TlsHandshakeFailed",
    "TooManyConnections",
    "TooManyTubes",
    "TransportError",
    "Unauthorized",
    "UnknownCommand",
]


class ClientError(TubeworksError):
    """Base class of every error the client raises."""


class LocalProtocolError(ClientError, ValueError):
    """An argument cannot be sent: bad tube name, number out of range, body of the wrong type.

    Raised before anything is written, so the connection stays usable. Fix the argument.
    """


class RemoteProtocolError(ClientError):
    """The server sent bytes that are not a beanstalk reply (or not one this command allows).

    The connection is dropped because it can no longer be trusted to be in step; the next call
    reconnects.
    """


class ClientBusy(ClientError):
    """A second thread or coroutine called the client while a call was in flight.

    A client is one connection and replies arrive in order, so it cannot be shared. Give each
    thread or task its own client.
    """


class BatchFailed(ClientError):
    """Some items of a pipelined batch got an error reply.

    ``results`` has one entry per item that was sent: the value, or the :class:`CommandError`
    for that item. Items after the failing chunk were not sent (``None``).
    """

    def __init__(self, message: str, results: list[Any]) -> None:
        super().__init__(message)
        self.results = results

    @property
    def errors(self) -> list[CommandError]:
        return [r for r in self.results if isinstance(r, CommandError)]


class TransportError(ClientError):
    """The connection could not carry the command (see the subclasses)."""


class ConnectFailed(TransportError):
    """Opening a connection failed (refused, unreachable, timed out, no such socket file)."""


class TlsHandshakeFailed(ConnectFailed):
    """The TLS handshake failed: the server's certificate is expired, not signed by a trusted CA
    or not for this host name, the server wants a client certificate, or it does not speak TLS.

    Retrying will not help until the certificates (or ``tls_ca``/``server_hostname``) are fixed.
    """


class ClientClosed(TransportError):
    """The client was closed by its owner (``close()`` or leaving ``with``); it won't reconnect."""


class ReplyTimeout(TransportError):
    """No complete reply arrived within the timeout.

    The connection is dropped (a late reply would desynchronise it). A ``put`` that timed out may
    or may not have been stored.
    """


class ConnectionBroken(TransportError):
    """The server closed or reset the connection while a command was in flight.

    Raised only when the command could not be safely retried on a new connection (``delete``,
    ``release``... of a reservation the old connection held, or reconnecting is off or failed).
    The next call reconnects and restores ``use``/``watch``. ``results`` holds the results of the
    calls of a batch that were answered before the break.
    """

    results: list[Any] = []


class PutNotConfirmed(ConnectionBroken):
    """A ``put`` was sent but the connection broke before its reply arrived.

    The job may or may not be stored. It is not resent, because resending can duplicate the job;
    pass ``retry_puts=True`` to the client if duplicates are acceptable to you.
    """


class CommandError(ClientError):
    """The server replied with an error word. ``reply`` is the raw reply line (without CRLF)."""

    word: bytes = b""

    def __init__(self, reply: bytes, command: str = "") -> None:
        self.reply = reply
        self.command = command
        text = reply.decode("ascii", "replace")
        super().__init__(f"{command}: {text}" if command else text)


class NotFound(CommandError):
    """NOT_FOUND: no such job/tube, or the job is not in a state this connection may act on."""

    word = b"NOT_FOUND"


class TimedOut(CommandError):
    """TIMED_OUT: ``reserve(timeout=...)`` found no ready job in time."""

    word = b"TIMED_OUT"


class DeadlineSoon(CommandError):
    """DEADLINE_SOON: a job this connection reserved has less than a second of TTR left.

    Finish, ``touch`` or ``release`` it; the job is still reserved.
    """

    word = b"DEADLINE_SOON"


class NotIgnored(CommandError):
    """NOT_IGNORED: a connection must watch at least one tube."""

    word = b"NOT_IGNORED"


class Buried(CommandError):
    """BURIED: the job was stored but buried because the server ran out of memory.

    ``job_id`` is the id the job got (``None`` for a ``release``, which names its job itself).
    """

    word = b"BURIED"

    def __init__(self, reply: bytes, command: str = "") -> None:
        super().__init__(reply, command)
        parts = reply.split()
        self.job_id: int | None = int(parts[1]) if len(parts) > 1 else None


class JobTooBig(CommandError):
    """JOB_TOO_BIG: the body is larger than the server's maximum job size (beanstalkd ``-z``)."""

    word = b"JOB_TOO_BIG"


class Draining(CommandError):
    """DRAINING: the server is in drain mode and accepts no new jobs."""

    word = b"DRAINING"


class ExpectedCrlf(CommandError):
    """EXPECTED_CRLF: the body was not followed by CRLF (a client bug if you see it)."""

    word = b"EXPECTED_CRLF"


class BadFormat(CommandError):
    """BAD_FORMAT: the server could not parse the command line."""

    word = b"BAD_FORMAT"


class UnknownCommand(CommandError):
    """UNKNOWN_COMMAND: the server does not know the command (e.g. an old server)."""

    word = b"UNKNOWN_COMMAND"


class OutOfMemory(CommandError):
    """OUT_OF_MEMORY: the server could not store the job (memory or binlog space)."""

    word = b"OUT_OF_MEMORY"


class InternalError(CommandError):
    """INTERNAL_ERROR: the server hit a bug; the command may or may not have taken effect."""

    word = b"INTERNAL_ERROR"


class Unauthorized(CommandError):
    """UNAUTHORIZED: ``tubeworks queue --auth-file`` wants to know who you are, or the token was
    wrong. Pass ``token=`` (``--token``, ``$TUBEWORKS_TOKEN``) or a trusted client certificate.
    """

    word = b"UNAUTHORIZED"


class Forbidden(CommandError):
    """FORBIDDEN: you are authenticated, but your identity lacks the right (put, reserve or
    admin) on that tube. Nothing changed on the server; ask for the right in its rules file.
    """

    word = b"FORBIDDEN"


class TooManyConnections(CommandError):
    """TOO_MANY_CONNECTIONS: the server is at its ``--max-connections`` limit and closed this
    connection; the next call tries again on a new one.
    """

    word = b"TOO_MANY_CONNECTIONS"


class TooManyTubes(CommandError):
    """TOO_MANY_TUBES: ``use``/``watch`` would create a tube beyond the server's ``--max-tubes``."""

    word = b"TOO_MANY_TUBES"


# Reply word -> exception class, for the error words any command may receive.
ERROR_REPLIES: dict[bytes, type[CommandError]] = {
    cls.word: cls
    for cls in (
        NotFound,
        TimedOut,
        DeadlineSoon,
        NotIgnored,
        Buried,
        JobTooBig,
        Draining,
        ExpectedCrlf,
        BadFormat,
        UnknownCommand,
        OutOfMemory,
        InternalError,
        Unauthorized,
        Forbidden,
        TooManyConnections,
        TooManyTubes,
    )
}

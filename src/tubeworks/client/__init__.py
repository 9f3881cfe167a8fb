"""Beanstalk clients: blocking :class:`Client` and asyncio :class:`AsyncClient`.

Both speak the full beanstalkd 1.12 protocol to any beanstalk server (ours or the real one) over
TCP or a unix socket, share one I/O-free core (:mod:`._base`, :mod:`.protocol`), reconnect when
the server went away and restore the used/watched tubes, and never resend a ``put`` whose reply
was lost unless told to (``retry_puts=True``).

    from tubeworks.client import Client

    with Client("127.0.0.1", 11300) as c:
        c.use("emails")
        job_id = c.put(b'{"to": "a@example.com"}', priority=10, ttr=30)
        c.watch("emails")
        job = c.reserve(timeout=5)
        print(job.json())
        c.delete(job)

Also: ``put_many`` / ``delete_many`` / ``reserve_many`` / ``stats_tubes`` pipeline many commands
per round trip; :mod:`tubeworks.client.bulk` clears, moves, exports and imports whole tubes.
Errors are classes under :class:`ClientError` (tree in :mod:`tubeworks.client.errors`): one per
error reply (``NotFound``, ``TimedOut``, ``DeadlineSoon``...), ``ConnectionBroken`` when the peer
broke the connection, ``ClientClosed`` when you closed it. A client is one connection: do not share
it between threads or tasks (that raises ``ClientBusy``); ``Client.abort()`` is the one call
another thread may make, to end a blocked ``reserve()``.

TLS and tokens (``tubeworks queue --tls-cert/--auth-file``): ``Client("tls://host:11300",
tls_ca="ca.pem", token="...")``; see :mod:`tubeworks.client.security` and docs/client.md.
"""

from tubeworks.client._base import DEFAULT_PRIORITY, DEFAULT_TTR, JobSpec
from tubeworks.client.address import Address, default_address, parse_address
from tubeworks.client.aio import AsyncClient
from tubeworks.client.errors import (
    BadFormat,
    BatchFailed,
    Buried,
    ClientBusy,
    ClientClosed,
    ClientError,
    CommandError,
    ConnectFailed,
    ConnectionBroken,
    DeadlineSoon,
    Draining,
    ExpectedCrlf,
    Forbidden,
    InternalError,
    JobTooBig,
    LocalProtocolError,
    NotFound,
    NotIgnored,
    OutOfMemory,
    PutNotConfirmed,
    RemoteProtocolError,
    ReplyTimeout,
    TimedOut,
    TlsHandshakeFailed,
    TooManyConnections,
    TooManyTubes,
    TransportError,
    Unauthorized,
    UnknownCommand,
)
from tubeworks.client.models import Job, JobState, JobStats, ServerStats, TubeStats
from tubeworks.client.security import Security
from tubeworks.client.sync import Client

__all__ = [
    "DEFAULT_PRIORITY",
    "DEFAULT_TTR",
    "Address",
    "AsyncClient",
    "BadFormat",
    "BatchFailed",
    "Buried",
    "Client",
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
    "Job",
    "JobSpec",
    "JobState",
    "JobStats",
    "JobTooBig",
    "LocalProtocolError",
    "NotFound",
    "NotIgnored",
    "OutOfMemory",
    "PutNotConfirmed",
    "RemoteProtocolError",
    "ReplyTimeout",
    "Security",
    "ServerStats",
    "TimedOut",
    "TlsHandshakeFailed",
    "TooManyConnections",
    "TooManyTubes",
    "TransportError",
    "TubeStats",
    "Unauthorized",
    "UnknownCommand",
    "default_address",
    "parse_address",
]

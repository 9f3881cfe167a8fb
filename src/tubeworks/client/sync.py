"""The blocking client: a thin driver that moves the bytes of :mod:`._base` calls over a socket.

A :class:`Client` is one connection and is **not** thread-safe: replies arrive in order, so two
threads sharing it would read each other's replies. Concurrent use is detected and raises
:class:`ClientBusy`; give each thread its own client. After ``fork()`` the child quietly opens a
connection of its own on its first call, leaving the parent's alone.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

from tubeworks.client import protocol as p
from tubeworks.client._base import (
    DEFAULT_PRIORITY,
    DEFAULT_TTR,
    DEFAULT_WINDOW,
    BaseClient,
    Call,
    Flow,
    JobSpec,
)
from tubeworks.client.address import Address, make_address
from tubeworks.client.errors import (
    ClientBusy,
    ClientClosed,
    CommandError,
    ConnectFailed,
    ConnectionBroken,
    RemoteProtocolError,
    ReplyTimeout,
    TlsHandshakeFailed,
)
from tubeworks.client.models import Job, JobStats, ServerStats, TubeStats
from tubeworks.client.security import Security, handshake_failure, refused_session

__all__ = ["Client"]

T = TypeVar("T")
_RECV = 65536


class _Broken(Exception):
    """Internal: the connection broke after ``replies`` complete replies were read."""

    def __init__(self, replies: list[p.Reply], cause: BaseException | None) -> None:
        self.replies = replies
        self.cause = cause


def readable_now(fd: int) -> bool:
    """Is there something (data, EOF, an error) to read on ``fd`` right now? poll(), not select(),
    so descriptors above FD_SETSIZE (1024) work in processes with many files open."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def tune_socket(sock: socket.socket) -> None:
    """TCP_NODELAY (commands are small and latency-bound) and keepalive to notice dead peers."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if sock.family != socket.AF_UNIX and hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)


class Client(BaseClient):
    """A blocking beanstalk client.

    Args:
        host: server host name or address, or ``"unix:/path"``; an :class:`Address` also works.
        port: TCP port (default 11300).
        unix_path: connect to this unix socket instead of TCP.
        timeout: seconds to wait for a reply (``reserve(timeout=t)`` waits ``t`` longer, a plain
            ``reserve()`` forever); ``None`` waits forever. On expiry :class:`ReplyTimeout`.
        connect_timeout: seconds to wait when connecting.
        reconnect: reconnect automatically when the server closed the connection, restoring the
            used and watched tubes. Off: a lost connection raises until :meth:`connect` is called.
        retry_puts: after a connection broke before a ``put``'s reply arrived, resend the put on
            the new connection. Off by default because it may store the job twice.
        encoding: how ``str`` bodies are encoded.
        use, watch: tubes to use and watch right away (``watch`` replaces ``default``).
        lazy: do not connect until the first command.
        tls: ``True`` for TLS with a context built from the ``tls_*`` arguments, an
            :class:`ssl.SSLContext` of your own, or ``False`` for plain TCP. ``None`` (default):
            TLS for a ``tls://host:port`` address or when ``tls_ca``/``tls_cert`` is given.
        tls_ca: CA certificates (PEM file) that signed the server's certificate; default: the
            system's CAs.
        tls_cert, tls_key: a client certificate and its key (PEM files), for servers that ask.
        tls_verify: ``False`` accepts any server certificate (for tests only).
        server_hostname: the name the server's certificate must be for; default: the host.
        token: sent as ``auth <token>`` after every (re)connect, before tubes are restored.

    Raises:
        ConnectFailed: the server cannot be reached (unless ``lazy``).
        TlsHandshakeFailed: the server's certificate is not trusted, or the handshake failed.
        Unauthorized: the server refused the token.
        LocalProtocolError: bad settings (a certificate file that cannot be read...).
    """

    def __init__(
        self,
        host: str | Address = "127.0.0.1",
        port: int | None = None,
        *,
        unix_path: str | None = None,
        timeout: float | None = 30.0,
        connect_timeout: float = 5.0,
        reconnect: bool = True,
        retry_puts: bool = False,
        encoding: str = "utf-8",
        use: str | None = None,
        watch: str | Iterable[str] | None = None,
        lazy: bool = False,
        tls: bool | ssl.SSLContext | None = None,
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_verify: bool = True,
        server_hostname: str | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(encoding=encoding, retry_puts=retry_puts)
        self.address = make_address(host, port, unix_path)
        self._secure(
            self.address,
            Security(tls, tls_ca, tls_cert, tls_key, tls_verify, server_hostname, token),
        )
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.reconnect = reconnect
        self._sock: socket.socket | None = None
        self._pid = os.getpid()  # the process that opened _sock (see _ready_socket)
        self._parser = p.ReplyParser()
        self._closed = False
        self._lost = False  # a connection existed and broke (matters when reconnect is off)
        self._lock = threading.RLock()  # re-entered by _drive -> _execute, never by 2 threads
        if use is not None:
            p.check_tube(use)
            self._using = use
        if watch is not None:
            tubes = [watch] if isinstance(watch, str) else list(watch)
            for tube in tubes:
                p.check_tube(tube)
            self._watching = list(dict.fromkeys(tubes)) or self._watching
        if not lazy:
            self.connect()

    # -- connection -------------------------------------------------------------------------------

    def connect(self) -> None:
        """(Re)connect now, even after close(), and restore the used and watched tubes."""
        with self._guard():
            self._drop()
            self._lost = self._closed = False
            self._open()

    def close(self) -> None:
        """Say ``quit`` and close. Jobs this connection reserved return to ready at once."""
        self._closed = True
        if self._sock is not None:
            try:
                self._sock.sendall(b"quit\r\n")
            except OSError:
                pass
            self._drop()

    def abort(self) -> None:
        """Close the client from any thread: a call blocked in it (say ``reserve()``) raises
        :class:`ClientClosed` at once, and no later call reconnects.

        The one method that may be called while another thread is using the client.
        """
        self._closed = True
        sock = self._sock
        if sock is not None:
            try:
                # The plain socket's shutdown even for TLS: SSLSocket.shutdown would also reset
                # state the blocked thread is using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self._sock else "disconnected"
        if self._ssl is not None and not self.address.tls:
            state += " tls"
        return f"<Client {self.address} {state} using={self._using!r} watching={self._watching!r}>"

    @contextmanager
    def _guard(self) -> Iterator[None]:
        if not self._lock.acquire(blocking=False):
            raise ClientBusy(
                "client is already in use by another thread; give each thread its own Client"
            )
        try:
            yield
        finally:
            self._lock.release()

    def _open(self) -> None:
        addr = self.address
        try:
            if addr.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self.connect_timeout)
                    sock.connect(addr.path)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection((addr.host, addr.port), self.connect_timeout)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {addr}: {exc.strerror or exc}") from exc
        tune_socket(sock)
        if self._ssl is not None:
            sock = self._handshake(sock)
        self._sock = sock
        self._pid = os.getpid()
        self._parser = p.ReplyParser()
        restore = self._restore_calls()
        if restore:
            try:
                replies = self._exchange(restore)
            except _Broken as b:
                self._drop()
                raise self._setup_lost(len(b.replies), b.cause) from None
            for r in self._results(restore, replies):
                if isinstance(r, CommandError):
                    self._drop()
                    raise r

    def _handshake(self, sock: socket.socket) -> ssl.SSLSocket:
        """Wrap a new TCP connection in TLS (within connect_timeout); closes it on failure."""
        assert self._ssl is not None
        try:
            return self._ssl.wrap_socket(sock, server_hostname=self._server_hostname)
        except ssl.SSLError as exc:
            sock.close()
            raise TlsHandshakeFailed(
                f"TLS handshake with {self.address} failed: {handshake_failure(exc)}"
            ) from exc
        except OSError as exc:
            sock.close()
            reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or exc
            raise ConnectFailed(f"TLS handshake with {self.address} failed: {reason}") from exc

    def _gone_while_idle(self, sock: socket.socket) -> bool:
        """Did the server close (or write on) this idle connection? A beanstalk server never
        speaks first. With TLS, readable can also mean a session ticket: not a reason to drop."""
        if self._parser.buffered:
            return False
        if not isinstance(sock, ssl.SSLSocket):
            return readable_now(sock.fileno())
        if not sock.pending() and not readable_now(sock.fileno()):
            return False
        sock.setblocking(False)
        try:
            sock.recv(_RECV)  # EOF, or bytes nobody asked for: either way, done with it
        except ssl.SSLWantReadError:
            return False  # only TLS housekeeping records were waiting
        except OSError:
            pass
        finally:
            sock.settimeout(self.timeout)
        return True

    def _drop(self) -> None:
        if self._sock is not None:
            self._lost = True
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _ready_socket(self) -> socket.socket:
        """A live connection: reconnect if there is none or the server closed it while idle."""
        if self._closed:
            raise ClientClosed("client is closed")
        sock = self._sock
        if sock is not None and self._pid != os.getpid():
            # A forked child must not talk on its parent's connection: both would read replies
            # meant for the other. Let go of the inherited descriptor and open our own.
            sock.close()
            self._sock = sock = None
        # A beanstalk server never speaks first: readable while idle means EOF, reset or garbage.
        if sock is not None and self._gone_while_idle(sock):
            self._drop()
            sock = None
        if sock is None:
            if self._lost and not self.reconnect:
                raise ConnectionBroken("connection lost and reconnect is off; call connect()")
            self._open()
            assert self._sock is not None
            sock = self._sock
        return sock

    # -- drivers ----------------------------------------------------------------------------------

    def _exchange(self, calls: list[Call[Any]]) -> list[p.Reply]:
        """Write all calls at once, read one reply each. Drops the connection on any failure."""
        sock = self._sock
        assert sock is not None
        replies: list[p.Reply] = []
        try:
            try:
                sock.settimeout(self.timeout)
                sock.sendall(b"".join(c.data for c in calls))
                for call in calls:
                    replies.append(self._read_reply(sock, call))
            except TimeoutError as exc:
                raise ReplyTimeout(
                    f"no reply to {calls[len(replies)].name} within {self.timeout}s; "
                    "connection dropped"
                ) from exc
            except OSError as exc:
                if (alert := refused_session(exc)) is not None:
                    raise TlsHandshakeFailed(
                        f"server {self.address} refused the TLS session: {alert}"
                    ) from exc
                raise _Broken(replies, exc) from exc
        except _Broken:
            raise
        except BaseException:
            self._drop()  # an interrupted exchange leaves unread replies: never reuse it
            raise
        return replies

    def _read_reply(self, sock: socket.socket, call: Call[Any]) -> p.Reply:
        if self.timeout is not None and call.blocking != 0.0:
            sock.settimeout(None if call.blocking is None else self.timeout + call.blocking)
        while True:
            reply = self._parser.next()
            if isinstance(reply, p.Reply):
                if call.blocking != 0.0:
                    sock.settimeout(self.timeout)
                return reply
            if reply is p.CLOSED:
                raise OSError("server closed the connection")
            self._parser.feed(sock.recv(_RECV))

    def _execute(self, calls: list[Call[Any]]) -> list[Any]:
        with self._guard():
            done: list[Any] = []
            pending = calls
            resent = False
            while True:
                self._ready_socket()
                try:
                    replies = self._exchange(pending)
                except _Broken as b:
                    self._drop()
                    if self._closed:
                        raise ClientClosed("client was closed while a call was in flight") from None
                    done += self._results(pending[: len(b.replies)], b.replies)
                    pending = pending[len(b.replies) :]
                    if resent or not self.reconnect or not self._may_resend(pending):
                        err = self._broken_error(pending, b.cause or OSError())
                        err.results = done
                        raise err from b.cause
                    resent = True
                    continue
                try:
                    return done + self._results(pending, replies)
                except RemoteProtocolError:
                    self._drop()  # a reply that does not fit the command: out of step
                    raise

    def _run(self, call: Call[T]) -> T:
        result = self._execute([call])[0]
        if isinstance(result, CommandError):
            raise result
        return result  # type: ignore[no-any-return]

    def _drive(self, flow: Flow[T]) -> T:
        with self._guard():  # the whole flow: no other thread slips in between its batches
            try:
                calls = next(flow)
                while True:
                    calls = flow.send(self._execute(calls))
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            finally:
                flow.close()

    def batch(self, calls: list[Call[Any]]) -> list[Any]:
        """Send prepared calls in one write; one result (or CommandError) per call."""
        return self._execute(calls)

    # -- commands ---------------------------------------------------------------------------------

    def put(
        self,
        body: bytes | str,
        priority: int = DEFAULT_PRIORITY,
        delay: float = 0,
        ttr: float = DEFAULT_TTR,
    ) -> int:
        """Put a job into the used tube; returns its id.

        Raises:
            JobTooBig, Draining, OutOfMemory: the server refused the job.
            Buried: stored but buried (server out of memory); ``err.job_id`` is its id.
            PutNotConfirmed: the connection broke before the reply; the job may exist.
        """
        return self._run(self._put_call(body, priority, delay, ttr))

    def put_many(
        self,
        items: Iterable[bytes | str | JobSpec],
        priority: int = DEFAULT_PRIORITY,
        delay: float = 0,
        ttr: float = DEFAULT_TTR,
        *,
        window: int = DEFAULT_WINDOW,
    ) -> list[int]:
        """Put many jobs, ``window`` per round trip; returns their ids in order.

        Raises:
            BatchFailed: some puts got an error reply; ``err.results`` has an id or error per
                job sent (later chunks are not sent).
        """
        return self._drive(self._put_many_flow(items, priority, delay, ttr, window))

    def delete_many(self, jobs: Iterable[int | Job], *, window: int = DEFAULT_WINDOW) -> None:
        """Delete many jobs, ``window`` per round trip.

        Raises:
            BatchFailed: some could not be deleted (``err.results``: None or the error per job).
        """
        self._drive(self._delete_many_flow(jobs, window))

    def reserve_many(self, count: int) -> list[Job]:
        """Reserve up to ``count`` jobs that are ready right now, in one round trip; never waits."""
        return self._drive(self._reserve_many_flow(count))

    def stats_tubes(self) -> list[TubeStats]:
        """Stats of every tube, in two round trips."""
        return self._drive(self._stats_tubes_flow())

    def use(self, tube: str) -> str:
        """Put later jobs into ``tube``; returns the tube name."""
        name = self._run(self._use_call(tube))
        self._after_use(tube)
        return name

    def watch(self, tube: str) -> int:
        """Add ``tube`` to the tubes ``reserve`` takes jobs from; returns how many are watched."""
        count = self._run(self._watch_call(tube))
        self._after_watch(tube)
        return count

    def ignore(self, tube: str) -> int:
        """Stop watching ``tube``; returns how many are watched. NotIgnored for the last one."""
        count = self._run(self._ignore_call(tube))
        self._after_ignore(tube)
        return count

    def reserve(self, timeout: float | None = None) -> Job:
        """Take a ready job from a watched tube, waiting up to ``timeout`` s (None: forever).

        Raises:
            TimedOut: nothing became ready in time.
            DeadlineSoon: a job you hold is within a second of its TTR; deal with it first.
        """
        return self._run(self._reserve_call(timeout))

    def reserve_job(self, job: int | Job) -> Job:
        """Reserve a specific job by id in any state except reserved (beanstalkd >= 1.12)."""
        return self._run(self._reserve_job_call(job))

    def delete(self, job: int | Job) -> None:
        """Delete a job you reserved, or any ready, delayed or buried job. NotFound otherwise."""
        self._run(self._delete_call(job))

    def release(self, job: int | Job, priority: int | None = None, delay: float = 0) -> None:
        """Give a reserved job back (ready, or delayed by ``delay`` seconds).

        ``priority`` None keeps the job's current priority (read with ``stats-job`` first).
        """
        self._drive(
            self._keep_priority_flow(job, priority, lambda pri: self._release_call(job, pri, delay))
        )

    def bury(self, job: int | Job, priority: int | None = None) -> None:
        """Set a reserved job aside until it is kicked; ``priority`` None keeps the current one."""
        self._drive(self._keep_priority_flow(job, priority, lambda pri: self._bury_call(job, pri)))

    def touch(self, job: int | Job) -> None:
        """Restart a reserved job's TTR."""
        self._run(self._touch_call(job))

    def kick(self, bound: int) -> int:
        """Kick up to ``bound`` buried (or, if none are buried, delayed) jobs of the used tube."""
        return self._run(self._kick_call(bound))

    def kick_job(self, job: int | Job) -> None:
        """Make one buried or delayed job ready."""
        self._run(self._kick_job_call(job))

    def peek(self, job: int | Job) -> Job:
        """Look at a job by id without reserving it. NotFound if there is none."""
        return self._run(self._peek_call(job))

    def peek_ready(self) -> Job:
        """The next ready job of the used tube. NotFound if there is none."""
        return self._run(self._peek_state_call("ready"))

    def peek_delayed(self) -> Job:
        """The delayed job of the used tube that becomes ready first. NotFound if none."""
        return self._run(self._peek_state_call("delayed"))

    def peek_buried(self) -> Job:
        """The oldest buried job of the used tube. NotFound if there is none."""
        return self._run(self._peek_state_call("buried"))

    def stats_job(self, job: int | Job) -> JobStats:
        return self._run(self._stats_job_call(job))

    def stats_tube(self, tube: str) -> TubeStats:
        return self._run(self._stats_tube_call(tube))

    def stats(self) -> ServerStats:
        return self._run(self._stats_call())

    def tubes(self) -> list[str]:
        """All tubes on the server."""
        return self._run(self._list_call("list-tubes"))

    def using(self) -> str:
        """The used tube, as the server sees it."""
        return self._run(self._using_call())

    def watching(self) -> list[str]:
        """The watched tubes, as the server sees them."""
        return self._run(self._list_call("list-tubes-watched"))

    def pause_tube(self, tube: str, delay: float) -> None:
        """Stop handing out jobs from ``tube`` for ``delay`` seconds (0 resumes it)."""
        self._run(self._pause_call(tube, delay))

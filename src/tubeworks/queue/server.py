"""The asyncio adapter: sockets, back-pressure, the one timer, signals. No queue rules.

Each connection is an :class:`asyncio.Protocol` (no streams: one callback per read). All replies
produced by one read are written with one ``write``. A client that stops reading its replies is
paused once the transport's buffer passes its high-water mark: we stop reading its commands, so
its output cannot grow without bound, and nobody else waits for it.

The store says when it next needs :meth:`~tubeworks.queue.core.QueueCore.tick`; the server keeps
a single timer armed for that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from tubeworks.queue.access import Guard, Policy
from tubeworks.queue.core import QueueCore
from tubeworks.queue.durable import WalJobLog
from tubeworks.queue.session import Session, Stop
from tubeworks.queue.wal import WalError

log = logging.getLogger("tubeworks.queue")

#: Transport write-buffer limits per connection before we stop reading that client.
WRITE_HIGH_WATER: Final = 1024 * 1024
WRITE_LOW_WATER: Final = 256 * 1024
#: How long a graceful stop waits for clients to take their last replies.
SHUTDOWN_FLUSH_SECONDS: Final = 2.0
#: After EMFILE/ENFILE on accept, wait this long before accepting again.
ACCEPT_RETRY_SECONDS: Final = 0.1


@dataclass(frozen=True)
class ListenAddress:
    """Where to listen: TCP ``host:port`` or a unix socket ``path``."""

    host: str = "127.0.0.1"
    port: int = 11300
    unix_path: str | None = None

    def __str__(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Protections:
    """TLS, access control and the limits that protect the server from misbehaving clients.

    Everything is off by default, as in beanstalkd.
    """

    tls: ssl.SSLContext | None = None  # TLS on the TCP listener
    policy: Policy | None = None  # access rules (``--auth-file``)
    max_connections: int | None = None  # refuse connections beyond this
    max_pending_bytes: int | None = None  # drop a client with more unsent replies than this
    idle_timeout: float | None = None  # close a client silent this long (not while waiting)
    unix_mode: int | None = None  # permission bits of the unix socket file

    @property
    def any_limit(self) -> bool:
        return (
            self.policy is not None
            or self.max_connections is not None
            or self.max_pending_bytes is not None
            or self.idle_timeout is not None
        )


#: Sent before closing a connection beyond ``--max-connections``.
TOO_MANY_CONNECTIONS: Final = b"TOO_MANY_CONNECTIONS\r\n"


class QueueConnection(asyncio.Protocol):
    """One client socket."""

    __slots__ = (
        "_scheduled",
        "closed",
        "eof",
        "last_active",
        "paused",
        "server",
        "session",
        "transport",
    )

    def __init__(self, server: QueueServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.paused = False  # the client is not reading: stop running its commands
        self.eof = False
        self.closed = False
        self._scheduled = False
        self.last_active = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        server = self.server
        limits = server.protections
        if (
            limits.max_connections is not None
            and len(server.connections) >= limits.max_connections
        ):
            server.core.limit_refusals += 1
            transport.write(TOO_MANY_CONNECTIONS)  # type: ignore[attr-defined]
            transport.close()
            return
        guard = None
        if limits.policy is not None:
            names = _tls_names(transport.get_extra_info("peercert"))
            guard = Guard(limits.policy, limits.policy.by_tls_names(names) if names else None)
        self.session = Session(server.core, self._woken, guard)
        self.last_active = server.loop.time()
        server.connections.add(self)
        if self.server.verbose:
            self.server.say(f"accept {_fd(transport)}")

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return  # refused in connection_made
        if self.server.protections.idle_timeout is not None:
            self.last_active = self.server.loop.time()
        session.parser.feed(data)
        self._run()

    def eof_received(self) -> bool | None:
        # The client will send nothing more. Answer what it sent, then close; a client
        # blocked in reserve gets TIMED_OUT first, as beanstalkd does.
        if self.session is None:
            return None
        self.eof = True
        self._run()
        return True

    def _woken(self) -> None:
        """A blocked reserve was answered by some other event: continue soon."""
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self.server.loop.call_soon(self._resume)

    def _resume(self) -> None:
        self._scheduled = False
        self._run()

    def _run(self) -> None:
        session = self.session
        transport = self.transport
        if self.closed or session is None or transport is None:
            return
        now = time.time()
        while not self.paused:
            reason = session.run(now)
            if not self._flush():
                return
            if reason is not Stop.OUTPUT_FULL:
                break
        else:
            return
        if reason is Stop.QUIT:
            self._close()
        elif self.eof:
            if reason is Stop.BLOCKED:
                self.server.core.give_up_waiting(session.conn)
                self._flush()
            if session.conn.waiting:
                # An asynchronous store still owes a reply: close once it has come (the
                # delivery resumes this connection, which lands here again).
                self.server.arm_timer()
                return
            self._close()
        self.server.arm_timer()

    def _flush(self) -> bool:
        """Write the replies produced so far, after making the changes they acknowledge
        durable. If the log cannot be written, drop the connection unanswered instead."""
        session = self.session
        transport = self.transport
        assert session is not None and transport is not None
        if not session.out:
            return True
        server = self.server
        if server.plain:  # no log to commit, no pending-bytes limit: just write
            transport.write(session.take_output())
            return True
        joblog = server.joblog
        if joblog is not None and joblog.dirty and not server.commit_log():
            session.take_output()
            transport.abort()
            return False
        transport.write(session.take_output())
        limit = server.protections.max_pending_bytes
        if limit is not None and transport.get_write_buffer_size() > limit:
            log.warning("dropping a client with more than %d bytes of unread replies", limit)
            server.core.limit_refusals += 1
            transport.abort()
            return False
        return True

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None and not self.eof:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.eof and not self.closed:
            self.transport.resume_reading()
        self._run()

    def _close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.session is not None:
            if self.server.verbose:
                self.server.say(f"close {_fd(self.transport)}")
            self.session.close(time.time())
            self.server.arm_timer()


class QueueServer:
    """Owns the listening sockets, the store, the timer and the signal handlers."""

    def __init__(
        self,
        core: QueueCore,
        address: ListenAddress,
        *,
        verbose: int = 0,
        say: Callable[[str], None] = print,
        protections: Protections = Protections(),
    ) -> None:
        self.core = core
        self.protections = protections
        core.report_limits = protections.any_limit
        self.address = address
        self.verbose = verbose
        self.say = say
        self.connections: set[QueueConnection] = set()
        self.loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._stopping = asyncio.Event()
        self._signals: list[int] = []
        self.joblog: WalJobLog | None = None
        self._wal_timer: asyncio.TimerHandle | None = None
        self._wal_timer_at = 0.0

    # --- the write-ahead log -------------------------------------------------------------------

    def commit_log(self) -> bool:
        """Make logged changes durable before their replies go out. False: the log failed."""
        joblog = self.joblog
        if joblog is None or not joblog.dirty:
            return True
        try:
            delay = joblog.commit()
        except WalError as exc:
            log.error("write-ahead log: %s; dropping the connection unanswered", exc)
            self._arm_wal(1.0)
            return False
        self._arm_wal(delay)
        return True

    def _arm_wal(self, delay: float | None) -> None:
        if delay is None:
            return
        at = self.loop.time() + delay
        if self._wal_timer is not None:
            if self._wal_timer_at <= at:
                return
            self._wal_timer.cancel()
        self._wal_timer_at = at
        self._wal_timer = self.loop.call_at(at, self._on_wal_timer)

    def _on_wal_timer(self) -> None:
        self._wal_timer = None
        if self.joblog is not None:
            self._arm_wal(self.joblog.wal.tick(time.monotonic()))

    # --- the one timer -------------------------------------------------------------------------

    @property
    def plain(self) -> bool:
        """Replies can be written as they are: no log to commit first, no limit to check."""
        return self.joblog is None and self.protections.max_pending_bytes is None

    def arm_timer(self) -> None:
        """(Re)schedule the timer for the store's next wake-up, if that moved."""
        wake = self.core.next_wakeup()
        if wake == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = wake
        if wake is not None:
            delay = max(0.0, wake - time.time())
            self._timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.core.tick(time.time())
        self.arm_timer()

    # --- listening -----------------------------------------------------------------------------

    async def start(self) -> None:
        addr = self.address
        tls = None
        if addr.unix_path:
            sock = _unix_listener(addr.unix_path, self.protections.unix_mode)
        else:
            sock = _tcp_listener(addr.host, addr.port)
            tls = self.protections.tls
        server = await self.loop.create_server(
            lambda: QueueConnection(self), sock=sock, backlog=1024, start_serving=False, ssl=tls
        )
        self._servers.append(server)
        if self.verbose:
            self.say(f"bind {sock.fileno()} {_bound_address(sock)}")

    async def start_serving(self) -> None:
        """Accept clients (after the log has been replayed)."""
        for server in self._servers:
            await server.start_serving()
        if self.joblog is not None:
            self._arm_wal(0.0)
        if self.protections.idle_timeout is not None:
            self.loop.call_later(self.protections.idle_timeout / 4, self._close_idle)

    def _close_idle(self) -> None:
        """Close clients silent for ``idle_timeout`` (a blocked reserve is not idle)."""
        timeout = self.protections.idle_timeout
        assert timeout is not None
        cutoff = self.loop.time() - timeout
        for conn in list(self.connections):
            session = conn.session
            if session is not None and conn.last_active < cutoff and not session.conn.waiting:
                conn._close()
        if not self._stopping.is_set():
            self.loop.call_later(timeout / 4, self._close_idle)

    def reload_tls(self, cert: str, key: str) -> None:
        """SIGHUP: load a renewed certificate; connections already open keep theirs."""
        tls = self.protections.tls
        if tls is None:
            return
        try:
            tls.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            log.error("cannot reload the TLS certificate, keeping the old one: %s", exc)
        else:
            log.warning("reloaded the TLS certificate from %s", cert)

    def request_stop(self) -> None:
        self._stopping.set()

    def enter_drain_mode(self) -> None:
        self.core.draining = True
        log.warning("entering drain mode: put is refused with DRAINING")

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop gracefully, SIGUSR1 drains; done before binding, so a stop
        signal during start-up is graceful too."""
        for sig, handler in (
            (signal.SIGTERM, self.request_stop),
            (signal.SIGINT, self.request_stop),
            (signal.SIGUSR1, self.enter_drain_mode),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(sig, handler)
                self._signals.append(sig)
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    async def serve_until_stopped(self) -> None:
        """Serve until SIGTERM/SIGINT (or :meth:`request_stop`), then stop gracefully."""
        if not self._signals:
            self.install_signal_handlers()
        try:
            await self._stopping.wait()
        finally:
            for sig in self._signals:
                self.loop.remove_signal_handler(sig)
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting, let clients take the replies already written, then close."""
        for server in self._servers:
            server.close()
        if self._timer is not None:
            self._timer.cancel()
        deadline = time.monotonic() + SHUTDOWN_FLUSH_SECONDS
        while time.monotonic() < deadline and any(
            c.transport is not None and c.transport.get_write_buffer_size() > 0
            for c in self.connections
        ):
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        if self._wal_timer is not None:
            self._wal_timer.cancel()
        if self.address.unix_path:
            with contextlib.suppress(OSError):
                os.unlink(self.address.unix_path)


def _tcp_listener(host: str, port: int) -> socket.socket:
    """Bind the first address ``host`` resolves to, like beanstalkd (dual stack for ``::``)."""
    infos = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    last_error: OSError | None = None
    for family, type_, proto, _, sockaddr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
            sock.listen(1024)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            last_error = exc
            sock.close()
    raise last_error or OSError(f"cannot resolve {host!r}")


def _fd(transport: Any) -> int:
    """The socket's file descriptor, for -V lines (as beanstalkd prints them)."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    try:
        return int(sock.fileno()) if sock is not None else -1
    except OSError:
        return -1


def _tls_names(peercert: dict[str, object] | None) -> list[str]:
    """The names a client certificate vouches for: its CN and DNS subject-alt-names."""
    if not peercert:
        return []
    names = []
    for rdn in peercert.get("subject", ()):  # type: ignore[attr-defined]
        for key, value in rdn:
            if key == "commonName":
                names.append(value)
    for kind, value in peercert.get("subjectAltName", ()):  # type: ignore[attr-defined]
        if kind == "DNS":
            names.append(value)
    return names


def tls_context(cert: str, key: str, client_ca: str | None) -> ssl.SSLContext:
    """A server context with modern defaults (TLS 1.2+); client certificates required when a
    client CA is given."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


def _bound_address(sock: socket.socket) -> str:
    """Where ``sock`` really listens (the port chosen for ``-p 0``, the numeric address)."""
    name = sock.getsockname()
    if isinstance(name, str):
        return f"unix:{name}"
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _unix_listener(path: str, mode: int | None = None) -> socket.socket:
    """Bind a unix socket, replacing a stale socket file but never a regular file, nor a
    socket another server is still answering on."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise OSError(f"{path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale: nobody listens there any more
        else:
            raise OSError(f"{path} is in use by another server; refusing to take it over")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock

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
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

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


class QueueConnection(asyncio.Protocol):
    """One client socket."""

    __slots__ = ("_scheduled", "closed", "eof", "paused", "server", "session", "transport")

    def __init__(self, server: QueueServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.paused = False  # the client is not reading: stop running its commands
        self.eof = False
        self.closed = False
        self._scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        self.session = Session(self.server.core, self._woken)
        self.server.connections.add(self)
        if self.server.verbose:
            self.server.say(f"accept {self.session.conn.id}")

    def data_received(self, data: bytes) -> None:
        assert self.session is not None
        self.session.parser.feed(data)
        self._run()

    def eof_received(self) -> bool:
        # The client will send nothing more. Answer what it sent, then close; a client
        # blocked in reserve gets TIMED_OUT first, as beanstalkd does.
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
            self._close()
        self.server.arm_timer()

    def _flush(self) -> bool:
        """Write the replies produced so far, after making the changes they acknowledge
        durable. If the log cannot be written, drop the connection unanswered instead."""
        session = self.session
        assert session is not None and self.transport is not None
        if not session.out:
            return True
        if not self.server.commit_log():
            session.take_output()
            self.transport.abort()
            return False
        self.transport.write(session.take_output())
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
                self.server.say(f"close {self.session.conn.id}")
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
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.core = core
        self.address = address
        self.verbose = verbose
        self.say = say
        self.on_ready = on_ready
        self.connections: set[QueueConnection] = set()
        self.loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._stopping = asyncio.Event()
        self.listening_sockets: list[socket.socket] = []
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
        if addr.unix_path:
            sock = _unix_listener(addr.unix_path)
        else:
            sock = _tcp_listener(addr.host, addr.port)
        self.listening_sockets.append(sock)
        server = await self.loop.create_server(
            lambda: QueueConnection(self), sock=sock, backlog=1024, start_serving=False
        )
        self._servers.append(server)
        if self.verbose:
            self.say(f"bind {sock.fileno()} {addr}")

    async def start_serving(self) -> None:
        """Accept clients (after the log has been replayed)."""
        for server in self._servers:
            await server.start_serving()
        if self.joblog is not None:
            self._arm_wal(0.0)

    def request_stop(self) -> None:
        self._stopping.set()

    def enter_drain_mode(self) -> None:
        self.core.draining = True
        log.warning("entering drain mode: put is refused with DRAINING")

    async def serve_until_stopped(self) -> None:
        """Serve until SIGTERM/SIGINT (or :meth:`request_stop`), then stop gracefully."""
        loop = self.loop
        installed = []
        for sig, handler in (
            (signal.SIGTERM, self.request_stop),
            (signal.SIGINT, self.request_stop),
            (signal.SIGUSR1, self.enter_drain_mode),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        if self.on_ready:
            self.on_ready()
        try:
            await self._stopping.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
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


def _unix_listener(path: str) -> socket.socket:
    """Bind a unix socket, replacing a stale socket file but never a regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise OSError(f"{path} exists and is not a socket; refusing to replace it")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock

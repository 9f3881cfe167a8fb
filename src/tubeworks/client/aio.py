"""The asyncio client: the same calls as :class:`~tubeworks.client.Client`, awaited.

An :class:`AsyncClient` is one connection. If a second task calls it while a call is in flight it
raises :class:`ClientBusy` instead of interleaving replies; give each task its own client. A call
that is cancelled mid-exchange drops the connection (its reply would otherwise be read by the next
call); the next call reconnects.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
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
from tubeworks.client.sync import _RECV, _Broken, readable_now, tune_socket

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(BaseClient):
    """An asyncio beanstalk client; arguments as for :class:`~tubeworks.client.Client`.

    It connects on ``await client.connect()``, on ``async with``, or lazily on the first call.
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
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = p.ReplyParser()
        self._closed = False
        self._lost = False
        self._busy = False
        if use is not None:
            p.check_tube(use)
            self._using = use
        if watch is not None:
            tubes = [watch] if isinstance(watch, str) else list(watch)
            for tube in tubes:
                p.check_tube(tube)
            self._watching = list(dict.fromkeys(tubes)) or self._watching

    # -- connection -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """(Re)connect now, even after close(), and restore the used and watched tubes."""
        self._enter()
        try:
            self._drop()
            self._lost = self._closed = False
            await self._open()
        finally:
            self._busy = False

    async def close(self) -> None:
        """Say ``quit`` and close. Jobs this connection reserved return to ready at once."""
        self._closed = True
        writer = self._writer
        if writer is not None:
            try:
                writer.write(b"quit\r\n")
            except (OSError, RuntimeError):
                pass
            self._drop()
            try:
                await writer.wait_closed()
            except (OSError, RuntimeError):
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def __aenter__(self) -> AsyncClient:
        if self._writer is None:
            await self.connect()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self._writer else "disconnected"
        return f"<AsyncClient {self.address} {state} using={self._using!r}>"

    def _enter(self) -> None:
        if self._busy:
            raise ClientBusy(
                "client is already in use by another task; give each task its own AsyncClient"
            )
        self._busy = True

    async def _open(self) -> None:
        addr = self.address
        try:
            async with asyncio.timeout(self.connect_timeout):
                if addr.path is not None:
                    reader, writer = await asyncio.open_unix_connection(addr.path)
                elif self._ssl is not None:
                    reader, writer = await asyncio.open_connection(
                        addr.host,
                        addr.port,
                        ssl=self._ssl,
                        server_hostname=self._server_hostname,
                        ssl_handshake_timeout=self.connect_timeout,
                    )
                else:
                    reader, writer = await asyncio.open_connection(addr.host, addr.port)
        except ssl.SSLError as exc:
            raise TlsHandshakeFailed(
                f"TLS handshake with {addr} failed: {handshake_failure(exc)}"
            ) from exc
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or exc
            raise ConnectFailed(f"cannot connect to {addr}: {reason}") from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            tune_socket(sock)
        self._reader, self._writer = reader, writer
        self._parser = p.ReplyParser()
        restore = self._restore_calls()
        if restore:
            try:
                replies = await self._exchange(restore)
            except _Broken as b:
                self._drop()
                raise self._setup_lost(len(b.replies), b.cause) from None
            for r in self._results(restore, replies):
                if isinstance(r, CommandError):
                    self._drop()
                    raise r

    def _drop(self) -> None:
        if self._writer is not None:
            self._lost = True
            self._writer.close()
            self._reader = self._writer = None

    async def _ready(self) -> None:
        """A live connection: reconnect if there is none or the server closed it while idle."""
        if self._closed:
            raise ClientClosed("client is closed")
        if self._writer is not None:
            sock = self._writer.get_extra_info("socket")
            # The socket is readable while idle: the server closed it (or sent garbage). Give the
            # event loop a few turns to take that in; the first turn resumes us before its reader.
            for _ in range(4):
                if self._stale():
                    self._drop()
                    break
                if sock is None or not readable_now(sock.fileno()):
                    break
                await asyncio.sleep(0)
        if self._writer is None:
            if self._lost and not self.reconnect:
                raise ConnectionBroken("connection lost and reconnect is off; call connect()")
            await self._open()

    def _stale(self) -> bool:
        reader, writer = self._reader, self._writer
        if reader is None or writer is None:
            return True
        # A beanstalk server never speaks first, so data while idle means the stream is unusable.
        return writer.is_closing() or reader.at_eof() or bool(getattr(reader, "_buffer", b""))

    # -- drivers ----------------------------------------------------------------------------------

    async def _exchange(self, calls: list[Call[Any]]) -> list[p.Reply]:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        replies: list[p.Reply] = []
        try:
            try:
                writer.write(b"".join(c.data for c in calls))
                await writer.drain()
                for call in calls:
                    if self.timeout is None or call.blocking is None:
                        replies.append(await self._read_reply(reader))
                    else:
                        async with asyncio.timeout(self.timeout + call.blocking):
                            replies.append(await self._read_reply(reader))
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
            self._drop()  # cancelled or failed mid-exchange: the stream is out of step
            raise
        return replies

    async def _read_reply(self, reader: asyncio.StreamReader) -> p.Reply:
        while True:
            reply = self._parser.next()
            if isinstance(reply, p.Reply):
                return reply
            if reply is p.CLOSED:
                raise OSError("server closed the connection")
            self._parser.feed(await reader.read(_RECV))

    async def _execute(self, calls: list[Call[Any]]) -> list[Any]:
        self._enter()
        try:
            done: list[Any] = []
            pending = calls
            resent = False
            while True:
                await self._ready()
                try:
                    replies = await self._exchange(pending)
                except _Broken as b:
                    self._drop()
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
        finally:
            self._busy = False

    async def _run(self, call: Call[T]) -> T:
        result = (await self._execute([call]))[0]
        if isinstance(result, CommandError):
            raise result
        return result  # type: ignore[no-any-return]

    async def _drive(self, flow: Flow[T]) -> T:
        try:
            calls = next(flow)
            while True:
                calls = flow.send(await self._execute(calls))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            flow.close()

    async def batch(self, calls: list[Call[Any]]) -> list[Any]:
        """Send prepared calls in one write; one result (or CommandError) per call."""
        return await self._execute(calls)

    # -- commands (see Client for the documentation of each) ---------------------------

    async def put(
        self,
        body: bytes | str,
        priority: int = DEFAULT_PRIORITY,
        delay: float = 0,
        ttr: float = DEFAULT_TTR,
    ) -> int:
        return await self._run(self._put_call(body, priority, delay, ttr))

    async def put_many(
        self,
        items: Iterable[bytes | str | JobSpec],
        priority: int = DEFAULT_PRIORITY,
        delay: float = 0,
        ttr: float = DEFAULT_TTR,
        *,
        window: int = DEFAULT_WINDOW,
    ) -> list[int]:
        return await self._drive(self._put_many_flow(items, priority, delay, ttr, window))

    async def delete_many(self, jobs: Iterable[int | Job], *, window: int = DEFAULT_WINDOW) -> None:
        await self._drive(self._delete_many_flow(jobs, window))

    async def reserve_many(self, count: int) -> list[Job]:
        return await self._drive(self._reserve_many_flow(count))

    async def stats_tubes(self) -> list[TubeStats]:
        return await self._drive(self._stats_tubes_flow())

    async def use(self, tube: str) -> str:
        name = await self._run(self._use_call(tube))
        self._after_use(tube)
        return name

    async def watch(self, tube: str) -> int:
        count = await self._run(self._watch_call(tube))
        self._after_watch(tube)
        return count

    async def ignore(self, tube: str) -> int:
        count = await self._run(self._ignore_call(tube))
        self._after_ignore(tube)
        return count

    async def reserve(self, timeout: float | None = None) -> Job:
        return await self._run(self._reserve_call(timeout))

    async def reserve_job(self, job: int | Job) -> Job:
        return await self._run(self._reserve_job_call(job))

    async def delete(self, job: int | Job) -> None:
        await self._run(self._delete_call(job))

    async def release(self, job: int | Job, priority: int | None = None, delay: float = 0) -> None:
        await self._drive(
            self._keep_priority_flow(job, priority, lambda pri: self._release_call(job, pri, delay))
        )

    async def bury(self, job: int | Job, priority: int | None = None) -> None:
        await self._drive(
            self._keep_priority_flow(job, priority, lambda pri: self._bury_call(job, pri))
        )

    async def touch(self, job: int | Job) -> None:
        await self._run(self._touch_call(job))

    async def kick(self, bound: int) -> int:
        return await self._run(self._kick_call(bound))

    async def kick_job(self, job: int | Job) -> None:
        await self._run(self._kick_job_call(job))

    async def peek(self, job: int | Job) -> Job:
        return await self._run(self._peek_call(job))

    async def peek_ready(self) -> Job:
        return await self._run(self._peek_state_call("ready"))

    async def peek_delayed(self) -> Job:
        return await self._run(self._peek_state_call("delayed"))

    async def peek_buried(self) -> Job:
        return await self._run(self._peek_state_call("buried"))

    async def stats_job(self, job: int | Job) -> JobStats:
        return await self._run(self._stats_job_call(job))

    async def stats_tube(self, tube: str) -> TubeStats:
        return await self._run(self._stats_tube_call(tube))

    async def stats(self) -> ServerStats:
        return await self._run(self._stats_call())

    async def tubes(self) -> list[str]:
        return await self._run(self._list_call("list-tubes"))

    async def using(self) -> str:
        return await self._run(self._using_call())

    async def watching(self) -> list[str]:
        return await self._run(self._list_call("list-tubes-watched"))

    async def pause_tube(self, tube: str, delay: float) -> None:
        await self._run(self._pause_call(tube, delay))

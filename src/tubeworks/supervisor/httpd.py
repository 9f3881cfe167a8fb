"""The HTTP side of supervisord: XML-RPC at /RPC2 and streaming log tails, on a unix socket
and/or TCP, with optional HTTP basic auth.

A deliberately small HTTP/1.1 server on asyncio streams: persistent connections (the
XML-RPC transport of supervisorctl reuses one), Content-Length bodies in, and chunked
responses for ``/logtail/NAME[/stdout|/stderr]`` and ``/mainlogtail``, which follow the file
as the daemon writes it (woken by the writer, not by polling).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import html
import os
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

from tubeworks.supervisor.config import HttpServerConfig
from tubeworks.supervisor.daemon import Supervisor
from tubeworks.supervisor.logs import RotatingFile
from tubeworks.supervisor.rpc import RPCInterface, handle_xmlrpc

MAX_HEADER_LINES = 100
MAX_BODY = 16 * 1024 * 1024  # XML-RPC requests are small; refuse absurd ones
TAIL_HEAD = 1024  # bytes of history sent before following (supervisord sends the same)


def password_ok(expected: str, given: str) -> bool:
    """Plain text, or ``{SHA}`` + hex sha1 as supervisord accepts."""
    if expected.startswith("{SHA}"):
        return hashlib.sha1(given.encode()).hexdigest() == expected[5:]
    return expected == given


class HttpServer:
    """Serves one ``[unix_http_server]`` or ``[inet_http_server]``."""

    def __init__(self, sv: Supervisor, rpc: RPCInterface, config: HttpServerConfig) -> None:
        self.sv = sv
        self.rpc = rpc
        self.config = config
        self.server: asyncio.Server | None = None
        self.streams: set[asyncio.StreamWriter] = set()
        self.followers: set[asyncio.Event] = set()  # wake-ups of streaming log tails
        self.closing = False
        self.web, self.web_handles = _dashboard(sv, rpc)  # dashboard, JSON API, /metrics

    async def start(self) -> None:
        if self.config.path:
            path = self.config.path
            if os.path.exists(path):
                if _someone_listening(path):
                    raise OSError(errno.EADDRINUSE, "another program is listening", path)
                self.sv.log.info(f"Unlinking stale socket {path}")
                with contextlib.suppress(OSError):
                    os.unlink(path)
            self.server = await asyncio.start_unix_server(self._connection, path)
            os.chmod(path, self.config.chmod)
            if not self.config.username:
                self.sv.log.log(
                    "critical",
                    "Server 'unix_http_server' running without any HTTP authentication checking",
                )
            if self.config.chown:
                _chown(path, self.config.chown)
        else:
            self.server = await asyncio.start_server(
                self._connection, self.config.host or None, self.config.port, reuse_address=True
            )
            if not self.config.username:
                self.sv.log.log(
                    "critical",
                    "Server 'inet_http_server' running without any HTTP authentication checking",
                )

    async def close(self) -> None:
        self.closing = True
        for wake in list(self.followers):
            wake.set()
        if self.server is not None:
            self.server.close()
            for writer in list(self.streams):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
        if self.config.path:
            with contextlib.suppress(OSError):
                os.unlink(self.config.path)

    def _authorized(self, headers: dict[str, str]) -> bool:
        if not self.config.username:
            return True
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token).decode().partition(":")
        except ValueError:
            return False
        return user == self.config.username and password_ok(self.config.password or "", password)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.streams.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.streams.discard(writer)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        line = await reader.readline()
        if not line:
            return False
        try:
            method, target, version = line.decode("latin-1").split()
        except ValueError:
            await self._send(writer, 400, b"bad request line\n", close=True)
            return False
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            await self._send(writer, 413, b"request too large\n", close=True)
            return False
        body = await reader.readexactly(length) if length else b""
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if version == "HTTP/1.0" and headers.get("connection", "").lower() == "keep-alive":
            keep = True
        if not self._authorized(headers):
            await self._send(
                writer,
                401,
                b"Unauthorized\n",
                close=not keep,
                extra={"WWW-Authenticate": 'Basic realm="default"'},
            )
            return keep
        path = urllib.parse.urlsplit(target).path
        if method == "POST" and path == "/RPC2":
            response = await handle_xmlrpc(self.rpc, body)
            await self._send(writer, 200, response, "text/xml", close=not keep)
            return keep
        if method == "GET" and path.startswith("/logtail/"):
            await self._logtail(reader, writer, urllib.parse.unquote(path[len("/logtail/") :]))
            return False
        if method == "GET" and path == "/mainlogtail":
            log = self.sv.log.file
            if log is None:
                await self._send(writer, 410, b"no main log\n", close=True)
                return False
            await self._follow(reader, writer, log)
            return False
        if self.web is not None and self.web_handles(path):
            reply = await self.web.respond(method, target, headers, body)
            await self._send(
                writer, reply.status, reply.body, reply.content_type, not keep, reply.headers
            )
            return keep
        if method == "GET" and path in ("/", "/index.html"):
            await self._send(writer, 200, self._status_page(), "text/html", close=not keep)
            return keep
        await self._send(writer, 404, b"not found\n", close=not keep)
        return keep

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "text/plain",
        close: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        reason = {
            200: "OK",
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            410: "Gone",
            413: "Payload Too Large",
        }.get(status, "Error")
        head = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Server: tubeworks supervisord",
        ]
        if close:
            head.append("Connection: close")
        head.extend(f"{k}: {v}" for k, v in (extra or {}).items())
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def _logtail(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, spec: str
    ) -> None:
        name, channel = spec, "stdout"
        if spec.endswith(("/stdout", "/stderr")):
            name, _, channel = spec.rpartition("/")
        _, process = self.sv.find(name)
        log = process.logs.get(channel) if process is not None else None
        if log is None:
            await self._send(writer, 404, b"not found\n", close=True)
            return
        await self._follow(reader, writer, log)

    async def _follow(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: RotatingFile
    ) -> None:
        """Stream the last TAIL_HEAD bytes, then everything written after, until disconnect."""
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=utf-8\r\n"
            "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n"
        )
        writer.write(head.encode())
        wake = asyncio.Event()
        listener: Callable[[], None] = wake.set
        log.listeners.append(listener)
        self.followers.add(wake)
        try:
            f = open(log.path, "rb")  # noqa: SIM115 (reopened on rotation)
            try:
                size = f.seek(0, 2)
                f.seek(max(0, size - TAIL_HEAD))
                # A client that goes away is noticed when a write fails (a half-closed
                # socket looks the same as a closed one until then); server close wakes us.
                while not writer.transport.is_closing() and not self.closing:
                    data = f.read()
                    if data:
                        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                        await writer.drain()
                    elif _rotated(f, log.path):
                        f.close()
                        f = open(log.path, "rb")  # noqa: SIM115
                        continue
                    wake.clear()
                    await wake.wait()
            finally:
                f.close()
        except (ConnectionError, OSError):
            pass
        finally:
            self.followers.discard(wake)
            with contextlib.suppress(ValueError):
                log.listeners.remove(listener)

    def _status_page(self) -> bytes:
        rows = "".join(
            f"<tr><td>{html.escape(p.namespec)}</td><td>{p.state.name}</td>"
            f"<td>{p.proc.pid or ''}</td></tr>"
            for p in self.sv.all_processes()
        )
        page = (
            f"<!DOCTYPE html><html><head><title>tubeworks supervisor</title></head><body>"
            f"<table><tr><th>name</th><th>state</th><th>pid</th></tr>{rows}</table>"
            f"</body></html>"
        )
        return page.encode()


def _rotated(f: object, path: str) -> bool:
    """The followed file was rotated, cleared or truncated under us."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    fst = os.fstat(f.fileno())  # type: ignore[attr-defined]
    return (st.st_ino, st.st_dev) != (fst.st_ino, fst.st_dev) or st.st_size < f.tell()  # type: ignore[attr-defined]


def _chown(path: str, spec: str) -> None:
    """``user`` or ``user:group`` (names or numbers), as [unix_http_server] chown= says."""
    import grp
    import pwd

    user, _, group = spec.partition(":")
    uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
    gid = -1
    if group:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    os.chown(path, uid, gid)


def _someone_listening(path: str) -> bool:
    """A live server on the socket file (then it is not stale and must not be unlinked)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _dashboard(sv: Supervisor, rpc: RPCInterface) -> tuple[Any, Callable[[str], bool]]:
    """The web dashboard (tubeworks.web), or None when its optional packages are missing:
    supervisord and its XML-RPC must keep working without them."""
    try:
        from tubeworks.web.app import handles, web_app
    except ImportError as exc:
        sv.log.warn(f"web dashboard disabled: {exc}")
        return None, lambda path: False
    return web_app(sv, rpc), handles

"""A TCP proxy for tests that breaks a connection at an exact protocol moment.

Real servers can't be told "apply this COMMIT, then lose the reply", so tests put this proxy
between a client and a real server. Subclasses override :meth:`FaultProxy.from_client` /
:meth:`FaultProxy.from_server` to watch the bytes and decide per link what to do; the
defaults just forward. Each link gets two pump threads; :meth:`close` joins them all.
"""

from __future__ import annotations

import socket
import threading
from typing import Any


class Link:
    """One proxied client connection and its upstream connection."""

    def __init__(self, number: int, client: socket.socket, server: socket.socket) -> None:
        self.number = number  # 0 for the first connection through the proxy
        self.client = client
        self.server = server
        self.state: dict[str, Any] = {}  # scratch space for the subclass's rules
        self.cut_done = False

    def to_server(self, data: bytes) -> None:
        self.server.sendall(data)

    def to_client(self, data: bytes) -> None:
        self.client.sendall(data)

    def cut(self) -> None:
        """Drop both sides at once, as a crashed server or a broken network would."""
        self.cut_done = True
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def end_client(self, last: bytes) -> None:
        """Send ``last`` and a FIN to the client in one segment, and drop the upstream.

        TCP_CORK holds ``last`` back until the shutdown, so the client can never read it
        without the close right behind it: there is no window for the client to act in.
        """
        self.cut_done = True
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        self.client.sendall(last)
        self.client.shutdown(socket.SHUT_WR)
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FaultProxy:
    """Listens on 127.0.0.1:<port> and forwards to ``upstream``."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._links: list[Link] = []
        self._lock = threading.Lock()
        self._closed = False
        self._spawn(self._accept_loop)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def from_client(self, link: Link, data: bytes) -> None:
        link.to_server(data)

    def from_server(self, link: Link, data: bytes) -> None:
        link.to_client(data)

    def _spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        number = 0
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            link = Link(number, client, server)
            number += 1
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self._links.append(link)
            self._spawn(self._pump, link, client, self.from_client)
            self._spawn(self._pump, link, server, self.from_server)

    def _pump(self, link: Link, source: socket.socket, handle: Any) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                link.cut()
                return
            if link.cut_done:
                continue  # the link is broken: swallow whatever still arrives
            try:
                handle(link, data)
            except OSError:
                link.cut()
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            links = list(self._links)
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self._listener.close()
        for link in links:
            link.cut()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=5)
        for link in links:
            link.client.close()
            link.server.close()

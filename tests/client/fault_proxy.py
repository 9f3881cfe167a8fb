"""Fault injection for client tests: a TCP proxy in front of a real server that can lose a reply
on purpose, and a scripted one-connection server that answers with fixed bytes (or never).

The proxy forwards bytes both ways. After :meth:`FaultProxy.lose_reply_to` the next client chunk
that contains the marker is forwarded to the server, and when the server's reply comes back both
sides are closed instead: the command took effect, the client never hears about it.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class FaultProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._marker: bytes | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self.lost = threading.Event()  # set once a reply was swallowed
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def lose_reply_to(self, marker: bytes) -> None:
        self._marker = marker

    def close(self) -> None:
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            for s in self._socks:
                with suppress(OSError):
                    s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._socks += [client, server]
            state = {"cut": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict[str, bool]) -> None:
        with suppress(OSError):
            while data := client.recv(65536):
                if self._marker is not None and self._marker in data:
                    self._marker = None
                    state["cut"] = True
                server.sendall(data)
        with suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _down(self, server: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        with suppress(OSError):
            while data := server.recv(65536):
                if state["cut"]:
                    self.lost.set()
                    for s in (client, server):
                        with suppress(OSError):
                            s.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(data)
        with suppress(OSError):
            client.shutdown(socket.SHUT_WR)


def scripted_server(reply: bytes | None) -> tuple[int, threading.Thread, list[socket.socket]]:
    """A one-connection server that answers any command with ``reply`` (None: never answers)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = [listener]

    def serve() -> None:
        conn, _ = listener.accept()
        held.append(conn)
        if conn.recv(1024) and reply is not None:
            conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread, held

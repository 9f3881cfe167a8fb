"""One client's conversation: parsed commands in, the store's replies out. No sockets.

A :class:`Session` owns the connection's :class:`~tubeworks.queue.protocol.Parser` and its
handle in the store, and turns each command tuple into one store call. It stops at a blocked
``reserve`` (later commands wait, as in beanstalkd), at ``quit``, or when enough output has piled
up that the adapter should flush it first. The adapter (``server.py``) only moves bytes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final

from tubeworks.queue import access
from tubeworks.queue import protocol as P
from tubeworks.queue.access import Guard
from tubeworks.queue.core import QueueCore

Op = P.Op
# Enum members as module globals: cheaper than ``Op.X`` in the per-command loop.
_PUT = Op.PUT
_RESERVE = Op.RESERVE
_RESERVE_TIMEOUT = Op.RESERVE_TIMEOUT
_DELETE = Op.DELETE

#: Stop running commands once this much output is queued, so a client that pipelines many
#: large peeks is answered in slices the adapter can apply back-pressure to.
OUTPUT_HIGH_WATER: Final = 256 * 1024


class Stop(enum.Enum):
    """Why :meth:`Session.run` returned."""

    NEED_DATA = "need data"
    BLOCKED = "blocked in reserve"
    QUIT = "quit"
    OUTPUT_FULL = "output full"


class Session:
    """Runs one connection's commands against the store."""

    __slots__ = (
        "conn",
        "core",
        "guard",
        "in_batch",
        "on_wake",
        "out",
        "out_bytes",
        "parser",
        "quit",
    )

    def __init__(
        self, core: QueueCore, on_wake: Callable[[], None], guard: Guard | None = None
    ) -> None:
        self.core = core
        self.parser = P.Parser(core.max_job_size)
        self.conn = core.connect(self._deliver)
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.in_batch = False
        #: Called when a reply arrives outside :meth:`run` (a blocked reserve was answered).
        self.on_wake = on_wake
        self.quit = False
        #: Access control for this connection (None: off, every command allowed).
        self.guard = guard

    def _deliver(self, data: bytes) -> None:
        self.out.append(data)
        self.out_bytes += len(data)
        if not self.in_batch:
            self.on_wake()

    def take_output(self) -> bytes:
        out = self.out
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self.out_bytes = 0
        return data

    def run(self, now: float) -> Stop:
        """Execute buffered commands until one of the :class:`Stop` reasons."""
        if self.quit:
            return Stop.QUIT
        if self.conn.waiting:
            return Stop.BLOCKED
        core = self.core
        conn = self.conn
        parser = self.parser
        out = self.out
        guard = self.guard
        self.in_batch = True
        try:
            while True:
                cmd = parser.next()
                if cmd is None:
                    return Stop.NEED_DATA
                op = cmd[0]
                reply: bytes | None
                if guard is not None and (reply := guard.check(cmd, conn, core)) is not None:
                    core.access_refusals += 1
                elif op == _PUT:
                    reply = core.put(conn, cmd[1], cmd[2], cmd[3], cmd[4], now)
                elif op == _RESERVE_TIMEOUT:
                    reply = core.reserve(conn, cmd[1], now)
                elif op == _DELETE:
                    reply = core.delete(conn, cmd[1])
                elif op == _RESERVE:
                    reply = core.reserve(conn, None, now)
                else:
                    reply = self._dispatch(cmd, now)
                if reply is None:
                    if self.quit:
                        return Stop.QUIT
                    if conn.waiting:
                        return Stop.BLOCKED
                    continue  # answered through _deliver already
                out.append(reply)
                self.out_bytes += len(reply)
                if self.out_bytes >= OUTPUT_HIGH_WATER:
                    return Stop.OUTPUT_FULL
        finally:
            self.in_batch = False

    def _dispatch(self, cmd: tuple, now: float) -> bytes | None:  # type: ignore[type-arg]
        core = self.core
        conn = self.conn
        op = cmd[0]
        if op == Op.REPLY:
            if cmd[2] is not None:
                core.cmd_counts[cmd[2]] += 1
            return cmd[1]  # type: ignore[no-any-return]
        if op == Op.USE:
            return core.use(conn, cmd[1])
        if op == Op.WATCH:
            return core.watch(conn, cmd[1])
        if op == Op.IGNORE:
            return core.ignore(conn, cmd[1])
        if op == Op.RELEASE:
            return core.release(conn, cmd[1], cmd[2], cmd[3], now)
        if op == Op.BURY:
            return core.bury(conn, cmd[1], cmd[2])
        if op == Op.TOUCH:
            return core.touch(conn, cmd[1], now)
        if op == Op.RESERVE_JOB:
            return core.reserve_job(conn, cmd[1], now)
        if op == Op.PEEK:
            return core.peek(conn, cmd[1])
        if op == Op.PEEK_READY:
            return core.peek_ready(conn)
        if op == Op.PEEK_DELAYED:
            return core.peek_delayed(conn)
        if op == Op.PEEK_BURIED:
            return core.peek_buried(conn)
        if op == Op.KICK:
            return core.kick(conn, cmd[1], now)
        if op == Op.KICK_JOB:
            return core.kick_job(conn, cmd[1], now)
        if op == Op.STATS_JOB:
            return core.stats_job(conn, cmd[1], now)
        if op == Op.STATS_TUBE:
            return core.stats_tube(conn, cmd[1], now)
        if op == Op.STATS:
            return core.stats(conn, now)
        if op == Op.LIST_TUBES:
            return core.list_tubes(conn)
        if op == Op.LIST_TUBE_USED:
            return core.list_tube_used(conn)
        if op == Op.LIST_TUBES_WATCHED:
            return core.list_tubes_watched(conn)
        if op == Op.PAUSE_TUBE:
            return core.pause_tube(conn, cmd[1], cmd[2], now)
        if op == Op.PUT_BAD_BODY:
            return core.put_bad_body(conn)
        if op == Op.QUIT:
            self.quit = True
            return None
        if op == Op.AUTH:
            if self.guard is None:
                return P.UNKNOWN_COMMAND
            reply = self.guard.auth(cmd[1])
            if reply is not access.AUTHENTICATED:
                core.access_refusals += 1
            return reply
        raise AssertionError(f"unhandled command {cmd!r}")

    def close(self, now: float) -> None:
        self.core.disconnect(self.conn, now)


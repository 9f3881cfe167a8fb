"""The PostgreSQL store's view of one client connection (all of it lives in the server process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Deliver = Callable[[bytes], None]

#: A blocked reserve is answered DEADLINE_SOON this long before its soonest job's TTR.
SAFETY_MARGIN = 1.0


class PgConn:
    """Per-connection state: tubes used and watched, reservations held, a pending reply."""

    __slots__ = (
        "attempting",  # a reserve query for this connection is in flight
        "blocked",  # waiting in reserve for a job (no query in flight)
        "busy",  # the task answering the current command, awaited before clean-up
        "closed",
        "deliver",  # callable(bytes): the reply of a command that returned None
        "gave_up",  # the client half-closed: a reserve that finds nothing answers TIMED_OUT
        "id",
        "producer",
        "reserved",  # job id -> deadline (unix time) of the jobs this connection holds
        "timeout_at",  # a reserve-with-timeout gives up then (None: never)
        "timer",  # the blocked reserve's wake-up (timeout or DEADLINE_SOON)
        "use",
        "waiting",  # a reply is pending: the session runs no more of this connection's commands
        "watch",  # watched tube names, in list-tubes-watched order
        "worker",
    )

    def __init__(self, conn_id: int, deliver: Deliver) -> None:
        self.id = conn_id
        self.deliver = deliver
        self.use = b"default"
        self.watch: list[bytes] = [b"default"]
        self.reserved: dict[int, float] = {}
        self.waiting = False
        self.blocked = False
        self.attempting = False
        self.closed = False
        self.gave_up = False
        self.busy: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timeout_at: float | None = None
        self.producer = False
        self.worker = False

    def soonest_deadline(self, now: float) -> float | None:
        """The soonest TTR deadline still running (expired reservations are dropped)."""
        for job_id in [j for j, d in self.reserved.items() if d <= now]:
            del self.reserved[job_id]
        return min(self.reserved.values()) if self.reserved else None

    def deadline_soon(self, now: float) -> bool:
        soonest = self.soonest_deadline(now)
        return soonest is not None and now >= soonest - SAFETY_MARGIN

    def wake_time(self, now: float) -> float | None:
        """When a blocked reserve must be answered anyway (timeout or DEADLINE_SOON)."""
        wake = self.timeout_at
        soonest = self.soonest_deadline(now)
        if soonest is not None:
            soon = soonest - SAFETY_MARGIN
            wake = soon if wake is None else min(wake, soon)
        return wake

"""A job and its states, shared by the queue core, the write-ahead log and other stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from tubeworks.queue.core import Conn, Tube

# Job states; the numbers match the write-ahead log's on-disk codes.
READY: Final = 1
RESERVED: Final = 2
BURIED: Final = 3
DELAYED: Final = 4

#: Ready jobs with a priority below this are "urgent" in stats (beanstalkd's URGENT_THRESHOLD).
URGENT_PRIORITY: Final = 1024
#: Ready-heap keys are ``pri << 64 | id``; this recovers the id.
ID_MASK: Final = 2**64 - 1


class Job:
    """One job. ``body`` keeps the trailing ``\\r\\n`` so replies need no extra copy."""

    __slots__ = (
        "body",  # bytes including the trailing b"\r\n"
        "buries",
        "created",  # unix time of the put
        "deadline",  # unix time a RESERVED job's TTR runs out
        "delay",  # the last delay given by put or release, in seconds (stats-job "delay")
        "file",  # write-ahead log file number holding the job (stats-job "file"), 0 without one
        "id",
        "kicks",
        "owner",  # the Conn holding the reservation, or None
        "pri",  # priority: smaller runs first
        "ready_at",  # unix time a DELAYED job becomes ready
        "releases",
        "reserves",
        "state",  # READY, RESERVED, BURIED, DELAYED (0 once deleted)
        "timeouts",
        "ttr",  # time to run, seconds (at least 1)
        "tube",  # the Tube it lives in (never changes)
    )

    def __init__(
        self, job_id: int, tube: Tube, pri: int, delay: int, ttr: int, body: bytes, created: float
    ) -> None:
        self.id = job_id
        self.tube = tube
        self.pri = pri
        self.delay = delay
        self.ttr = ttr
        self.body = body
        self.state = READY
        self.created = created
        self.ready_at = 0.0
        self.deadline = 0.0
        self.owner: Conn | None = None
        self.reserves = self.timeouts = self.releases = self.buries = self.kicks = 0
        self.file = 0

    def __repr__(self) -> str:
        return f"<Job {self.id} tube={self.tube.name!r} state={self.state} pri={self.pri}>"


class JobRecordLike(Protocol):
    """A job as a log or an importer hands it back (``tubeworks.queue.wal.JobRecord``)."""

    id: int
    tube: bytes
    pri: int
    delay: int
    ttr: int
    created_at: float
    ready_at: float
    state: int
    reserves: int
    timeouts: int
    releases: int
    buries: int
    kicks: int
    body: bytes  # without the trailing \r\n


class JobLog(Protocol):
    """What the core asks of a write-ahead log. Each call happens before the reply is sent.

    ``update`` describes a change *before* the core makes it, so a refusal leaves the job as it
    was: the job's fields overridden by ``state``, ``pri``, ``delay``, ``ready_at``, and the
    counter named by ``bump`` (``"releases"``, ``"buries"``, ...) plus one.
    """

    def put(self, job: Job) -> bool:
        """Record a new job; False refuses it (the client gets OUT_OF_MEMORY)."""

    def update(
        self, job: Job, state: int, pri: int, delay: int, ready_at: float, bump: str | None
    ) -> bool:
        """Record a change of state, priority, delay or counters; False refuses it."""

    def delete(self, job: Job) -> bool:
        """Record a deletion; False refuses it (the client gets INTERNAL_ERROR)."""


__all__ = [
    "BURIED",
    "DELAYED",
    "ID_MASK",
    "READY",
    "RESERVED",
    "URGENT_PRIORITY",
    "Job",
    "JobLog",
    "JobRecordLike",
]

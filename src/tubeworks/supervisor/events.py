"""Event notifications for ``[eventlistener:x]`` pools, as pure logic.

Theory of operation
-------------------
The daemon publishes events (process state changes, group added/removed, ticks, log output,
remote communication).  Each listener pool subscribed to an event's type (or an ancestor such
as ``PROCESS_STATE`` or ``EVENT``) queues it in a bounded buffer (``buffer_size``; the oldest
is dropped on overflow, as supervisord does).  A listener process speaks a line protocol on
stdout: it writes ``READY\\n``; it is then sent one event (a header line plus payload) on
stdin; it answers ``RESULT <len>\\n<body>``, ``OK`` accepting the event and anything else
rejecting it (the event goes back to the head of the buffer).  Anything unexpected puts the
listener in UNKNOWN: it gets no more events until it is restarted.

:class:`ListenerParser` turns listener stdout bytes into :class:`Ready` / :class:`Result`
outcomes; :class:`Pool` holds a buffer and serial numbers.  No I/O here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

PROTOCOL_VERSION = "3.0"

# event type -> parent type ("EVENT" is the root; subscribing to a parent gets all children)
EVENT_PARENTS: dict[str, str | None] = {
    "EVENT": None,
    "PROCESS_STATE": "EVENT",
    **{
        f"PROCESS_STATE_{s}": "PROCESS_STATE"
        for s in (
            "STOPPED",
            "STARTING",
            "RUNNING",
            "BACKOFF",
            "STOPPING",
            "EXITED",
            "FATAL",
            "UNKNOWN",
        )
    },
    "REMOTE_COMMUNICATION": "EVENT",
    "PROCESS_LOG": "EVENT",
    "PROCESS_LOG_STDOUT": "PROCESS_LOG",
    "PROCESS_LOG_STDERR": "PROCESS_LOG",
    "PROCESS_COMMUNICATION": "EVENT",
    "PROCESS_COMMUNICATION_STDOUT": "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDERR": "PROCESS_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE": "EVENT",
    "SUPERVISOR_STATE_CHANGE_RUNNING": "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_STOPPING": "SUPERVISOR_STATE_CHANGE",
    "TICK": "EVENT",
    "TICK_5": "TICK",
    "TICK_60": "TICK",
    "TICK_3600": "TICK",
    "PROCESS_GROUP": "EVENT",
    "PROCESS_GROUP_ADDED": "PROCESS_GROUP",
    "PROCESS_GROUP_REMOVED": "PROCESS_GROUP",
}
TICK_PERIODS = {"TICK_5": 5, "TICK_60": 60, "TICK_3600": 3600}


def is_a(event_type: str, subscribed: str) -> bool:
    """``PROCESS_STATE_EXITED`` is a ``PROCESS_STATE`` and an ``EVENT``."""
    current: str | None = event_type
    while current is not None:
        if current == subscribed:
            return True
        current = EVENT_PARENTS.get(current)
    return False


def tokens(pairs: list[tuple[str, str]]) -> str:
    return " ".join(f"{k}:{v}" for k, v in pairs)


def process_state_payload(
    process: str, group: str, from_state: str, extras: tuple[tuple[str, str], ...]
) -> bytes:
    pairs = [("processname", process), ("groupname", group), ("from_state", from_state)]
    return tokens([*pairs, *extras]).encode()


def envelope(
    identifier: str, serial: int, pool: str, poolserial: int, event_type: str, payload: bytes
) -> bytes:
    """The header line and payload written to a listener's stdin."""
    header = tokens(
        [
            ("ver", PROTOCOL_VERSION),
            ("server", identifier),
            ("serial", str(serial)),
            ("pool", pool),
            ("poolserial", str(poolserial)),
            ("eventname", event_type),
            ("len", str(len(payload))),
        ]
    )
    return header.encode() + b"\n" + payload


@dataclass(frozen=True)
class Event:
    serial: int
    type: str
    payload: bytes


class ListenerState(Enum):
    ACKNOWLEDGED = "ACKNOWLEDGED"  # waiting for READY
    READY = "READY"  # may be sent an event
    BUSY = "BUSY"  # has an event, waiting for RESULT
    UNKNOWN = "UNKNOWN"  # broke the protocol; gets nothing until restarted


@dataclass(frozen=True)
class Ready:
    """The listener said READY."""


@dataclass(frozen=True)
class Result:
    accepted: bool
    body: bytes


@dataclass(frozen=True)
class ProtocolViolation:
    reason: str


Outcome = Ready | Result | ProtocolViolation


@dataclass
class ListenerParser:
    """Listener stdout bytes → outcomes; tracks the listener's protocol state."""

    state: ListenerState = ListenerState.ACKNOWLEDGED
    buffer: bytes = b""
    _result_len: int | None = None

    def sent_event(self) -> list[Outcome]:
        """Mark the listener BUSY; returns outcomes of output it had already sent."""
        assert self.state == ListenerState.READY
        self.state = ListenerState.BUSY
        return self.feed(b"")

    def feed(self, data: bytes) -> list[Outcome]:
        if self.state == ListenerState.UNKNOWN:
            return []
        self.buffer += data
        out: list[Outcome] = []
        while True:
            outcome = self._next()
            if outcome is None:
                return out
            out.append(outcome)
            if isinstance(outcome, ProtocolViolation):
                self.state = ListenerState.UNKNOWN
                self.buffer = b""
                return out

    def _next(self) -> Outcome | None:
        if self.state == ListenerState.ACKNOWLEDGED:
            if b"\n" not in self.buffer:
                return None
            line, _, self.buffer = self.buffer.partition(b"\n")
            if line.strip() != b"READY":
                return ProtocolViolation(f"expected READY, got {line!r}")
            self.state = ListenerState.READY
            return Ready()
        if self.state == ListenerState.READY:
            return None  # nothing is expected until an event is sent; keep bytes until then
        if self.state == ListenerState.BUSY:
            if self._result_len is None:
                if b"\n" not in self.buffer:
                    return None
                line, _, self.buffer = self.buffer.partition(b"\n")
                word, _, size = line.strip().partition(b" ")
                if word != b"RESULT" or not size.isdigit():
                    return ProtocolViolation(f"expected 'RESULT <len>', got {line!r}")
                self._result_len = int(size)
            if len(self.buffer) < self._result_len:
                return None
            body = self.buffer[: self._result_len]
            self.buffer = self.buffer[self._result_len :]
            self._result_len = None
            self.state = ListenerState.ACKNOWLEDGED
            return Result(body == b"OK", body)
        return None


@dataclass
class Pool:
    """The event buffer of one ``[eventlistener:x]`` group."""

    name: str
    subscriptions: tuple[str, ...]
    buffer_size: int
    serial: int = 0  # next poolserial
    queue: deque[tuple[Event, int]] = field(default_factory=deque)

    def wants(self, event_type: str) -> bool:
        return any(is_a(event_type, s) for s in self.subscriptions)

    def push(self, event: Event) -> Event | None:
        """Queue ``event``; return the event dropped to make room, if any."""
        dropped = None
        if len(self.queue) >= self.buffer_size:
            dropped = self.queue.popleft()[0]
        self.queue.append((event, self.serial))
        self.serial += 1
        return dropped

    def push_front(self, event: Event, poolserial: int) -> None:
        """A rejected (or unfinished) event goes back first in line."""
        self.queue.appendleft((event, poolserial))

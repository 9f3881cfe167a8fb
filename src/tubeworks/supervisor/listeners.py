"""Delivering events to ``[eventlistener:x]`` processes: the I/O side of :mod:`events`.

Wired into a :class:`Supervisor` through its hooks: state changes and group changes become
events, listener stdout is parsed as the listener protocol instead of being logged, and
events are written to listener stdin without ever blocking the loop.  TICK events come from
one timer per subscribed period, armed only while some pool wants them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.daemon import Process, Supervisor
from tubeworks.supervisor.events import (
    TICK_PERIODS,
    Event,
    ListenerParser,
    ListenerState,
    Outcome,
    Pool,
    ProtocolViolation,
    Ready,
    Result,
    envelope,
    process_state_payload,
)
from tubeworks.supervisor.states import ProcessState


@dataclass
class Listener:
    """Protocol state of one listener process and the event it is working on."""

    parser: ListenerParser = field(default_factory=ListenerParser)
    event: tuple[Event, int] | None = None  # (event, poolserial) while BUSY


class EventBus:
    """Publishes events to listener pools; create once per Supervisor."""

    def __init__(self, sv: Supervisor) -> None:
        self.sv = sv
        self.serial = 0
        self.pools: dict[str, Pool] = {}
        self.listeners: dict[int, Listener] = {}  # id(Process) -> protocol state
        self.tick_handles: dict[str, asyncio.TimerHandle] = {}
        sv.bus = self
        sv.on_state_change.append(self._state_changed)

    # ---- hooks called by the daemon ----

    def group_added(self, name: str) -> None:
        group = self.sv.groups[name]
        if group.config.kind == "eventlistener":
            self.pools[name] = Pool(name, group.config.events, group.config.buffer_size)
            self._arm_ticks()
        self.publish("PROCESS_GROUP_ADDED", f"groupname:{name}\n".encode())

    def group_removed(self, name: str) -> None:
        self.pools.pop(name, None)
        self.publish("PROCESS_GROUP_REMOVED", f"groupname:{name}\n".encode())

    def output(self, process: Process, channel: str, data: bytes) -> bool:
        """Consume listener stdout (True); publish PROCESS_LOG events if enabled."""
        if channel == "stdout" and process.group in self.pools:
            self._listener_output(process, data)
            return True
        log_config = process.config.stdout if channel == "stdout" else process.config.stderr
        if log_config.events_enabled:
            head = (
                f"processname:{process.name} groupname:{process.group} "
                f"pid:{process.proc.pid} channel:{channel}\n"
            )
            self.publish(f"PROCESS_LOG_{channel.upper()}", head.encode() + data)
        return False

    def supervisor_state(self, running: bool) -> None:
        name = "RUNNING" if running else "STOPPING"
        self.publish(f"SUPERVISOR_STATE_CHANGE_{name}", b"")

    # ---- publishing ----

    def publish(self, event_type: str, payload: bytes) -> None:
        event = Event(self.serial, event_type, payload)
        self.serial += 1
        for pool in self.pools.values():
            if pool.wants(event_type):
                dropped = pool.push(event)
                if dropped is not None:
                    self.sv.log.log(
                        "error",
                        f"pool {pool.name} event buffer overflowed, "
                        f"discarding event {dropped.serial}",
                    )
                self._dispatch(pool)

    def _state_changed(self, process: Process, change: m.StateChanged) -> None:
        if process.group in self.pools:
            self._listener_state(process, change)
        payload = process_state_payload(process.name, process.group, change.old.name, change.extras)
        self.publish(f"PROCESS_STATE_{change.new.name}", payload)

    # ---- listeners ----

    def _listener_state(self, process: Process, change: m.StateChanged) -> None:
        if change.new == ProcessState.STARTING:
            self._abandon(process)
            self.listeners[id(process)] = Listener()
        elif change.new in (
            ProcessState.BACKOFF,
            ProcessState.EXITED,
            ProcessState.STOPPED,
            ProcessState.FATAL,
            ProcessState.UNKNOWN,
        ):
            self._abandon(process)

    def _abandon(self, process: Process) -> None:
        """A listener went away: give its unfinished event back to the pool."""
        listener = self.listeners.pop(id(process), None)
        if listener is None or listener.event is None:
            return
        pool = self.pools.get(process.group)
        if pool is not None:
            pool.push_front(*listener.event)
            self._dispatch(pool)

    def _listener_output(self, process: Process, data: bytes) -> None:
        listener = self.listeners.get(id(process))
        if listener is None:
            return
        self._handle(process, listener, listener.parser.feed(data))

    def _handle(self, process: Process, listener: Listener, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, Ready):
                pool = self.pools.get(process.group)
                if pool is not None:
                    self._dispatch(pool)
            elif isinstance(outcome, Result):
                done, listener.event = listener.event, None
                if not outcome.accepted and done is not None:
                    pool = self.pools.get(process.group)
                    if pool is not None:
                        pool.push_front(*done)
                self.sv.log.log(
                    "debug",
                    f"{process.name}: BUSY -> ACKNOWLEDGED "
                    f"({'processed' if outcome.accepted else 'rejected'})",
                )
            elif isinstance(outcome, ProtocolViolation):
                self.sv.log.warn(
                    f"{process.name}: bad result line, {outcome.reason}; "
                    "listener is now in UNKNOWN state"
                )
                done, listener.event = listener.event, None
                pool = self.pools.get(process.group)
                if done is not None and pool is not None:
                    pool.push_front(*done)
                    self._dispatch(pool)

    def _dispatch(self, pool: Pool) -> None:
        group = self.sv.groups.get(pool.name)
        if group is None:
            return
        for process in group.ordered():
            if not pool.queue:
                return
            listener = self.listeners.get(id(process))
            if listener is None or listener.parser.state != ListenerState.READY:
                continue
            event, poolserial = pool.queue.popleft()
            listener.event = (event, poolserial)
            data = envelope(
                self.sv.config.supervisord.identifier,
                event.serial,
                pool.name,
                poolserial,
                event.type,
                event.payload,
            )
            self._write(process, listener, data)
            self._handle(process, listener, listener.parser.sent_event())

    def _write(self, process: Process, listener: Listener, data: bytes) -> None:
        self.sv.write_stdin(process, data)  # if it died, its exit gives the event back

    # ---- ticks ----

    def _arm_ticks(self) -> None:
        for name, period in TICK_PERIODS.items():
            wanted = any(p.wants(name) for p in self.pools.values())
            if wanted and name not in self.tick_handles:
                self._schedule_tick(name, period)

    def _schedule_tick(self, name: str, period: int) -> None:
        now = time.time()
        due = (int(now) // period + 1) * period

        def fire() -> None:
            del self.tick_handles[name]
            if any(p.wants(name) for p in self.pools.values()):
                self.publish(name, f"when:{due}".encode())
                self._schedule_tick(name, period)

        loop = asyncio.get_running_loop()
        self.tick_handles[name] = loop.call_later(max(0.0, due - now), fire)

    def close(self) -> None:
        for handle in self.tick_handles.values():
            handle.cancel()
        self.tick_handles.clear()

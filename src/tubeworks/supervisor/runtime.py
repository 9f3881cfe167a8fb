"""What the daemon holds at run time: a Process (machine snapshot + OS resources), a Group,
and the hook protocol event delivery plugs into.  Kept apart from the loop in daemon.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Protocol

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.capture import CaptureSplitter
from tubeworks.supervisor.config import GroupConfig, ProcessConfig
from tubeworks.supervisor.logs import RotatingFile
from tubeworks.supervisor.stamps import LineStamper
from tubeworks.supervisor.states import ProcessState


@dataclass(eq=False)
class Process:
    """One supervised process: its machine snapshot plus the OS resources it holds."""

    proc: m.Proc
    logs: dict[str, RotatingFile | None]
    log_paths: dict[str, str]  # "" when the channel is not logged
    pid_fd: int | None = None
    popen: object | None = None
    pipes: dict[str, IO[bytes]] = field(default_factory=dict)  # stdin/stdout/stderr, parent ends
    removed: bool = False
    capture: dict[str, CaptureSplitter] = field(default_factory=dict)  # capture mode channels
    stdin_pending: bytes = b""  # written to the child's stdin as it reads
    stampers: dict[str, LineStamper] = field(default_factory=dict)  # log_timestamps channels
    healthy_pid: int = 0  # the pid whose health check last passed (health.py)
    health: str = "pending"  # the last health check result, shown in the description

    @property
    def ready(self) -> bool:
        """RUNNING, and with a healthcheck, passing it (what depends_on waits for)."""
        if self.proc.state != ProcessState.RUNNING:
            return False
        return not self.proc.config.healthcheck or self.healthy_pid == self.proc.pid

    @property
    def config(self) -> ProcessConfig:
        return self.proc.config

    @property
    def name(self) -> str:
        return self.proc.config.name

    @property
    def group(self) -> str:
        return self.proc.config.group

    @property
    def namespec(self) -> str:
        return self.name if self.name == self.group else f"{self.group}:{self.name}"

    @property
    def state(self) -> ProcessState:
        return self.proc.state


class EventSink(Protocol):
    """Where the daemon reports what event listeners may subscribe to (see listeners.py)."""

    def group_added(self, name: str) -> None: ...
    def group_removed(self, name: str) -> None: ...
    def output(self, process: Process, channel: str, data: bytes) -> bool: ...
    def supervisor_state(self, running: bool) -> None: ...
    def publish(self, event_type: str, payload: bytes) -> None: ...
    def close(self) -> None: ...


@dataclass(eq=False)
class Group:
    config: GroupConfig
    processes: dict[str, Process]

    @property
    def name(self) -> str:
        return self.config.name

    def ordered(self) -> list[Process]:
        """By priority; ties keep config order (a stable sort, as supervisord does)."""
        return sorted(self.processes.values(), key=lambda p: p.config.priority)


def diff_groups(
    old: Iterable[GroupConfig], new: Iterable[GroupConfig]
) -> tuple[list[str], list[str], list[str]]:
    """(added, changed, removed) group names between two configs, each sorted."""
    before = {g.name: g for g in old}
    after = {g.name: g for g in new}
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(n for n in set(before) & set(after) if before[n] != after[n])
    return added, changed, removed

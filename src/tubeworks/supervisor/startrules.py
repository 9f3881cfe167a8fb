"""Which autostarts may go ahead, kept apart from the loop in daemon.py: ``depends_on=``
(deps.py) holds a start until its dependencies are ready, and ``remember_manual_stops``
(manualstops.py) skips programs stopped by hand.  A mixin of :class:`daemon.Supervisor`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tubeworks.supervisor import deps
from tubeworks.supervisor import machine as m
from tubeworks.supervisor.config import Config
from tubeworks.supervisor.logs import ActivityLog
from tubeworks.supervisor.manualstops import StopMemory, memory_for
from tubeworks.supervisor.runtime import Process
from tubeworks.supervisor.states import ProcessState


class StartRules:
    """Needs the supervisor's ``config``, ``log``, ``stops``, ``_waiting``, ``feed`` and
    ``all_processes``."""

    config: Config
    log: ActivityLog
    stops: StopMemory | None
    _waiting: list[Process]
    feed: Callable[[Process, m.Event], None]
    all_processes: Callable[[], list[Process]]

    def _autostart(self, process: Process) -> None:
        missing = deps.waiting_for(process.config.depends_on, self._running())
        if not missing:
            self.feed(process, m.Start())
        elif process not in self._waiting:
            self._waiting.append(process)
            self.log.info(f"waiting: {process.namespec} for {', '.join(missing)} (depends_on)")

    def _running(self) -> dict[tuple[str, str], bool]:
        return {(p.group, p.name): p.ready for p in self.all_processes()}

    def _on_dependency_change(self, process: Process, change: m.StateChanged) -> None:
        if change.new == ProcessState.RUNNING:
            self.dependency_ready()

    def dependency_ready(self) -> None:
        """A process became ready: start what waited for it (soon, not inside a step)."""
        if self._waiting:
            asyncio.get_running_loop().call_soon(self._start_waiting)

    def _start_waiting(self) -> None:
        for process in list(self._waiting):
            if process.removed or process.state != ProcessState.STOPPED:
                self._waiting.remove(process)
            elif not deps.waiting_for(process.config.depends_on, self._running()):
                self._waiting.remove(process)
                self.feed(process, m.Start())

    def _load_stops(self) -> None:
        sv = self.config.supervisord
        self.stops = memory_for(sv.remember_manual_stops, sv.pidfile, self.stops)

    def _autostarts(self, process: Process) -> bool:
        return process.config.autostart and not (
            self.stops is not None and process.namespec in self.stops
        )

    def _note_manual(self, process: Process, stopped: bool) -> None:
        error = self.stops.note(process.namespec, stopped) if self.stops else None
        if error:
            self.log.log("error", error)

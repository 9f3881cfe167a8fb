"""Prometheus metrics for the supervisor, served at ``/metrics`` by its HTTP server.

Like the queue's collector, this reads the live daemon at scrape time: a process whose group
is removed simply stops being exported. The only state kept between scrapes is what the
daemon does not remember itself, the start and exit counters, which :class:`ProcessCounters`
collects from the daemon's state-change hook from the moment the HTTP server is created.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.daemon import Process, Supervisor
from tubeworks.supervisor.states import SIGNALLABLE_STATES, ProcessState
from tubeworks.web.procstat import Usage, usage

LABELS = ["group", "name"]


class ProcessCounters:
    """Spawns and exits per process (by namespec), counted from state changes."""

    def __init__(self) -> None:
        self.starts: Counter[str] = Counter()
        self.exits: dict[str, Counter[str]] = {}  # namespec -> exit code text -> count

    def attach(self, sv: Supervisor) -> None:
        sv.on_state_change.append(self.observe)

    def observe(self, process: Process, change: m.StateChanged) -> None:
        if change.new == ProcessState.STARTING:
            self.starts[process.namespec] += 1
        elif change.old in SIGNALLABLE_STATES and change.new not in SIGNALLABLE_STATES:
            status = process.proc.exitstatus
            code = "unknown" if status is None else str(status)
            self.exits.setdefault(process.namespec, Counter())[code] += 1


class SupervisorCollector:
    """Yields every supervisor metric from the live daemon."""

    def __init__(
        self,
        sv: Supervisor,
        counters: ProcessCounters,
        read_usage: Callable[[int], Usage | None] = usage,
    ) -> None:
        self.sv = sv
        self.counters = counters
        self.read_usage = read_usage

    def collect(self) -> Iterator[Any]:
        now = time.time()
        state = GaugeMetricFamily(
            "tubeworks_supervisor_process_state",
            "1 for the state a process is in, 0 for the others.",
            labels=[*LABELS, "state"],
        )
        up = GaugeMetricFamily(
            "tubeworks_supervisor_process_uptime_seconds",
            "Seconds since the process was spawned (0 when it is not running).",
            labels=LABELS,
        )
        started = GaugeMetricFamily(
            "tubeworks_supervisor_process_start_time_seconds",
            "Unix time of the last spawn (0: never started).",
            labels=LABELS,
        )
        pid = GaugeMetricFamily(
            "tubeworks_supervisor_process_pid", "Pid of the process (0: none).", labels=LABELS
        )
        starts = CounterMetricFamily(
            "tubeworks_supervisor_process_starts",
            "Times the process was spawned (restarts are starts after the first).",
            labels=LABELS,
        )
        exits = CounterMetricFamily(
            "tubeworks_supervisor_process_exits",
            "Exits of the process, by exit code ('unknown' when it exited too quickly).",
            labels=[*LABELS, "code"],
        )
        last = GaugeMetricFamily(
            "tubeworks_supervisor_process_last_exit_code",
            "Exit code of the last exit (0 if it never exited).",
            labels=LABELS,
        )
        cpu = CounterMetricFamily(
            "tubeworks_supervisor_process_cpu_seconds",
            "User plus system CPU time of the running process.",
            labels=LABELS,
        )
        rss = GaugeMetricFamily(
            "tubeworks_supervisor_process_resident_memory_bytes",
            "Resident memory of the running process.",
            labels=LABELS,
        )
        processes = self.sv.all_processes()
        for process in processes:
            labels = [process.group, process.name]
            proc = process.proc
            for candidate in ProcessState:
                state.add_metric([*labels, candidate.name], int(proc.state == candidate))
            running = proc.state in SIGNALLABLE_STATES and proc.pid > 0
            up.add_metric(labels, max(0.0, now - proc.laststart) if running else 0.0)
            started.add_metric(labels, proc.laststart)
            pid.add_metric(labels, proc.pid if running else 0)
            starts.add_metric(labels, self.counters.starts[process.namespec])
            for code, count in sorted(self.counters.exits.get(process.namespec, {}).items()):
                exits.add_metric([*labels, code], count)
            last.add_metric(labels, proc.exitstatus or 0)
            used = self.read_usage(proc.pid) if running else None
            if used is not None:
                cpu.add_metric(labels, used.cpu_seconds)
                rss.add_metric(labels, used.rss_bytes)
        yield from (state, up, started, pid, starts, exits, last, cpu, rss)
        yield GaugeMetricFamily(
            "tubeworks_supervisor_state",
            "State code of the daemon (1 running, 0 restarting, -1 shutting down).",
            value=int(self.sv.state),
        )
        yield GaugeMetricFamily(
            "tubeworks_supervisor_processes", "Processes configured.", value=len(processes)
        )


def registry_for(sv: Supervisor, counters: ProcessCounters) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SupervisorCollector(sv, counters))  # type: ignore[arg-type]
    return registry

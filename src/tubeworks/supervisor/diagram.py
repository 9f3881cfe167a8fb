"""Draw the process state diagram from the state machine itself, so the docs cannot drift.

Every (state, event) rule in :data:`machine.TRANSITIONS` is run on a handful of sample
processes (startsecs 0/1, startretries 0/3, each autorestart policy, max_age 0/50, early
and late times, expected and unexpected exits); every state change it announces becomes an edge.
``python -m tubeworks.supervisor.diagram`` prints the Mermaid source used in
docs/supervisor.md, and a test checks the two are identical.
"""

from __future__ import annotations

import dataclasses
import itertools

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.config import ProcessConfig, parse_config
from tubeworks.supervisor.datatypes import Autorestart
from tubeworks.supervisor.states import ProcessState

_SAMPLE_EVENTS: dict[type, list[m.Event]] = {
    m.Start: [m.Start()],
    m.Spawned: [m.Spawned(10)],
    m.SpawnFailed: [m.SpawnFailed("can't find command")],
    m.Exited: [m.Exited(0), m.Exited(1 << 8), m.Exited(0, may_restart=False)],
    m.Stop: [m.Stop()],
    m.SignalFailed: [m.SignalFailed("EPERM")],
    m.GiveUp: [m.GiveUp()],
    m.StartSecsElapsed: [m.StartSecsElapsed()],
    m.BackoffElapsed: [m.BackoffElapsed()],
    m.StopTimeout: [m.StopTimeout()],
    m.RestartDue: [m.RestartDue()],
    m.AgeReached: [m.AgeReached()],
    m.MemoryExceeded: [m.MemoryExceeded(1 << 30)],
    m.Unhealthy: [m.Unhealthy("exit status 1")],
}


def _configs() -> list[ProcessConfig]:
    base = parse_config("[program:p]\ncommand=/bin/x\n", "diagram", {}).groups[0].processes[0]
    return [
        dataclasses.replace(
            base, startsecs=secs, startretries=retries, autorestart=policy, max_age=age
        )
        for secs, retries, policy, age in itertools.product(
            (0, 1), (0, 3), list(Autorestart), (0.0, 50.0)
        )
    ]


def edges() -> dict[tuple[str, str], set[str]]:
    """(from state, to state) → names of the events that cause it."""
    found: dict[tuple[str, str], set[str]] = {}
    for (state, event_type), _rule in m.TRANSITIONS.items():
        for config, event, now, backoff in itertools.product(
            _configs(), _SAMPLE_EVENTS[event_type], (0.5, 100.0), (0, 3)
        ):
            proc = m.Proc(config, state=state, pid=10, laststart=0.0, delay=1.0, backoff=backoff)
            _, effects = m.step(proc, event, now)
            for effect in effects:
                if isinstance(effect, m.StateChanged):
                    key = (effect.old.name, effect.new.name)
                    found.setdefault(key, set()).add(event_type.__name__)
    return found


def mermaid() -> str:
    order = {s.name: i for i, s in enumerate(ProcessState)}
    lines = ["stateDiagram-v2", "    [*] --> STOPPED"]
    for (old, new), names in sorted(
        edges().items(), key=lambda e: (order[e[0][0]], order[e[0][1]])
    ):
        lines.append(f"    {old} --> {new}: {', '.join(sorted(names))}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(mermaid(), end="")

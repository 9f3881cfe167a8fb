"""Properties of the pure parts: any config text parses or fails with ConfigError; any event
sequence keeps the state machine's invariants."""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.config import ConfigError, parse_config
from tubeworks.supervisor.datatypes import Autorestart
from tubeworks.supervisor.states import ProcessState as S

KEYS = [
    "command",
    "numprocs",
    "startsecs",
    "autorestart",
    "environment",
    "process_name",
    "priority",
    "exitcodes",
    "stopsignal",
    "programs",
    "events",
    "socket",
    "%(here)s",
]
LINE = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(max_size=12)),
    st.builds(
        lambda s: f"[{s}]",
        st.sampled_from(
            [
                "program:a",
                "program:b",
                "group:g",
                "eventlistener:e",
                "fcgi-program:f",
                "supervisord",
                "include",
                "x",
            ]
        ),
    ),
    st.text(max_size=20),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(LINE, max_size=12))
def test_any_config_text_parses_or_raises_config_error(lines: list[str]) -> None:
    try:
        cfg = parse_config("\n".join(lines), "f.conf", {"HOME": "/h"}, host_node_name="n")
    except ConfigError as exc:
        assert str(exc)  # and never any other exception type
        return
    for group in cfg.groups:
        assert group.processes or group.kind == "group"


EVENTS = st.sampled_from(
    [
        m.Start(),
        m.Spawned(7),
        m.SpawnFailed("x"),
        m.Exited(0),
        m.Exited(3 << 8),
        m.Exited(9),
        m.Stop(),
        m.GiveUp(),
        m.StartSecsElapsed(),
        m.BackoffElapsed(),
        m.StopTimeout(),
        m.RestartDue(),
    ]
)
NO_PID = {S.STOPPED, S.EXITED, S.FATAL, S.BACKOFF}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(EVENTS, st.floats(0, 5)), max_size=30),
    st.integers(0, 2),
    st.integers(0, 3),
    st.sampled_from(list(Autorestart)),
)
def test_machine_invariants_hold_for_any_event_sequence(
    steps: list[tuple[m.Event, float]], startsecs: int, retries: int, policy: Autorestart
) -> None:
    base = parse_config("[program:p]\ncommand=/x\n", "f", {}).groups[0].processes[0]
    config = dataclasses.replace(
        base, startsecs=startsecs, startretries=retries, autorestart=policy
    )
    proc, now = m.Proc(config), 0.0
    for event, dt in steps:
        now += dt
        try:
            new, effects = m.step(proc, event, now)
        except m.IllegalTransition:
            continue  # the daemon never sends these; the point is nothing else is raised
        changes = [e for e in effects if isinstance(e, m.StateChanged)]
        if changes:
            assert changes[0].old == proc.state and changes[-1].new == new.state
        for a, b in itertools.pairwise(changes):
            assert a.new == b.old  # announced changes form one path
        if new.state in NO_PID:
            assert new.pid == 0
        assert new.backoff <= retries + 1
        if new.state == S.FATAL:
            assert new.backoff == 0
        proc = new

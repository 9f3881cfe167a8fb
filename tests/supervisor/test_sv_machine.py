"""The pure state machine, driven with plain numbers as the clock."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.config import parse_config
from tubeworks.supervisor.states import ProcessState as S


def proc(**overrides: object) -> m.Proc:
    cfg = parse_config("[program:p]\ncommand=/bin/x\n", "s.conf", {}).groups[0].processes[0]
    return m.Proc(dataclasses.replace(cfg, **overrides))  # type: ignore[arg-type]


def exit_status(code: int) -> int:
    return code << 8  # a raw wait status for "exited with code"


def states(fx: list[m.Effect]) -> list[str]:
    return [e.new.name for e in fx if isinstance(e, m.StateChanged)]


def logs(fx: list[m.Effect]) -> list[str]:
    return [f"{e.level} {e.message}" for e in fx if isinstance(e, m.Log)]


def test_start_spawn_and_running_after_startsecs() -> None:
    p, fx = m.step(proc(startsecs=1), m.Start(), 100.0)
    assert p.state == S.STARTING and m.Spawn() in fx
    p, fx = m.step(p, m.Spawned(42), 100.01)
    assert logs(fx) == ["info spawned: 'p' with pid 42"]
    assert m.Timer(101.0, m.StartSecsElapsed()) in fx
    p, fx = m.step(p, m.StartSecsElapsed(), 100.5)  # early timer: re-armed, still STARTING
    assert p.state == S.STARTING and fx == [m.Timer(101.0, m.StartSecsElapsed())]
    p, fx = m.step(p, m.StartSecsElapsed(), 101.0)
    assert p.state == S.RUNNING and p.pid == 42
    assert logs(fx) == [
        "info success: p entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)"  # noqa: E501
    ]


def test_startsecs_zero_is_running_at_once() -> None:
    p, _ = m.step(proc(startsecs=0), m.Start(), 0.0)
    p, fx = m.step(p, m.Spawned(7), 0.0)
    assert p.state == S.RUNNING and states(fx) == ["RUNNING"]


def test_crash_loop_backs_off_1_2_3_seconds_then_fatal() -> None:
    p = proc(startsecs=1, startretries=3)
    now = 0.0
    spawn_times = []
    p, _ = m.step(p, m.Start(), now)
    for attempt in range(4):
        spawn_times.append(now)
        p, _ = m.step(p, m.Spawned(100 + attempt), now)
        p, fx = m.step(p, m.Exited(exit_status(3)), now + 0.1)
        assert logs(fx)[0] == "warn exited: p (exit status 3; not expected)"
        if attempt < 3:
            assert p.state == S.BACKOFF and p.backoff == attempt + 1
            (timer,) = [e for e in fx if isinstance(e, m.Timer)]
            now = timer.at
            p, fx = m.step(p, m.BackoffElapsed(), now)
            assert p.state == S.STARTING
            assert fx[0] == m.StateChanged(S.BACKOFF, S.STARTING, (("tries", str(attempt + 1)),))
    assert spawn_times == pytest.approx([0.0, 1.1, 3.2, 6.3])
    assert p.state == S.FATAL and p.spawnerr == m.TOO_QUICK and p.exitstatus is None
    assert states(fx) == ["BACKOFF", "FATAL"]
    assert logs(fx)[-1] == "info gave up: p entered FATAL state, too many start retries too quickly"
    # a manual start gets the full retry budget again
    p, _ = m.step(p, m.Start(), 10.0)
    assert p.state == S.STARTING and p.backoff == 0


def test_spawn_failure_goes_to_backoff_with_message() -> None:
    p, _ = m.step(proc(startretries=0), m.Start(), 0.0)
    p, fx = m.step(p, m.SpawnFailed("can't find command '/bin/x'"), 0.0)
    assert logs(fx)[0] == "info spawnerr: can't find command '/bin/x'"
    assert p.state == S.FATAL and p.spawnerr == "can't find command '/bin/x'"


def running(**overrides: object) -> m.Proc:
    p, _ = m.step(proc(startsecs=0, **overrides), m.Start(), 0.0)
    p, _ = m.step(p, m.Spawned(9), 0.0)
    assert p.state == S.RUNNING
    return p


@pytest.mark.parametrize(
    ("autorestart", "code", "restarts"),
    [
        ("false", 0, False),
        ("false", 1, False),
        ("unexpected", 0, False),
        ("unexpected", 1, True),
        ("true", 0, True),
    ],
)
def test_autorestart(autorestart: str, code: int, restarts: bool) -> None:
    from tubeworks.supervisor.datatypes import autorestart as parse_autorestart

    p = running(autorestart=parse_autorestart(autorestart))
    p, fx = m.step(p, m.Exited(exit_status(code)), 5.0)
    assert (p.state == S.STARTING) is restarts
    assert (m.Spawn() in fx) is restarts
    assert p.exitstatus == code
    if not restarts:
        assert p.state == S.EXITED
    expected = "expected" if code == 0 else "not expected"
    assert f"exited: p (exit status {code}; {expected})" in logs(fx)[0]


def test_autorestart_is_rate_limited_to_once_a_second() -> None:
    p = running(autorestart=m.Autorestart.ALWAYS)
    p, fx = m.step(p, m.Exited(exit_status(0)), 0.2)
    assert p.state == S.EXITED and fx[-1] == m.Timer(1.0, m.RestartDue())
    p, fx = m.step(p, m.RestartDue(), 1.0)
    assert p.state == S.STARTING and m.Spawn() in fx


def test_exit_not_in_exitcodes_records_bad_exit_code() -> None:
    p = running(autorestart=m.Autorestart.NEVER)
    p, fx = m.step(p, m.Exited(exit_status(5)), 3.0)
    assert (p.state, p.spawnerr, p.exitstatus, p.pid) == (S.EXITED, "Bad exit code 5", 5, 0)
    assert fx[-1] == m.StateChanged(S.RUNNING, S.EXITED, (("expected", "0"), ("pid", "9")))


def test_stop_sends_stopsignal_then_sigkill_after_stopwaitsecs() -> None:
    p = running(stopsignal=signal.SIGINT, stopwaitsecs=3, stopasgroup=True, killasgroup=True)
    p, fx = m.step(p, m.Stop(), 10.0)
    assert p.state == S.STOPPING
    assert fx[0] == m.Kill(signal.SIGINT, True) and m.Timer(13.0, m.StopTimeout()) in fx
    p, fx = m.step(p, m.StopTimeout(), 13.0)
    assert m.Kill(signal.SIGKILL, True) in fx
    assert logs(fx) == ["warn killing 'p' (9) with SIGKILL"]
    p, fx = m.step(p, m.Exited(signal.SIGKILL), 13.1)
    assert p.state == S.STOPPED and p.pid == 0
    assert logs(fx) == ["warn stopped: p (terminated by SIGKILL)"]


def test_stopped_by_expected_exit_logs_info_and_never_restarts() -> None:
    p = running(autorestart=m.Autorestart.ALWAYS)
    p, _ = m.step(p, m.Stop(), 1.0)
    p, fx = m.step(p, m.Exited(exit_status(0)), 1.5)
    assert p.state == S.STOPPED and logs(fx) == ["info stopped: p (exit status 0)"]
    assert m.Spawn() not in fx


def test_stop_in_backoff_is_immediate_and_shutdown_gives_up() -> None:
    p, _ = m.step(proc(), m.Start(), 0.0)
    p, _ = m.step(p, m.SpawnFailed("x"), 0.0)
    assert p.state == S.BACKOFF
    stopped, fx = m.step(p, m.Stop(), 0.5)
    assert stopped.state == S.STOPPED and states(fx) == ["STOPPED"]
    fatal, _ = m.step(p, m.GiveUp(), 0.5)
    assert fatal.state == S.FATAL


def test_stale_timers_are_ignored_and_illegal_events_raise() -> None:
    p = running()
    assert m.step(p, m.BackoffElapsed(), 50.0) == (p, [])
    with pytest.raises(
        m.IllegalTransition, match=r"^process 'p' in state RUNNING cannot handle Start$"
    ):
        m.step(p, m.Start(), 1.0)


def test_exit_during_startsecs_with_expected_code_is_still_a_failed_start() -> None:
    p, _ = m.step(proc(startsecs=5), m.Start(), 0.0)
    p, _ = m.step(p, m.Spawned(3), 0.0)
    p, _ = m.step(p, m.Exited(exit_status(0)), 1.0)
    assert p.state == S.BACKOFF


def test_exit_after_startsecs_before_timer_counts_as_running() -> None:
    p, _ = m.step(proc(startsecs=1), m.Start(), 0.0)
    p, _ = m.step(p, m.Spawned(3), 0.0)
    p, fx = m.step(p, m.Exited(exit_status(0)), 2.0)
    assert states(fx) == ["RUNNING", "EXITED"]


def test_docs_state_diagram_is_generated_from_the_table() -> None:
    from pathlib import Path

    from tubeworks.supervisor.diagram import mermaid

    docs = (Path(__file__).parents[2] / "docs" / "supervisor.md").read_text()
    block = docs.split("<!-- state-diagram:begin -->\n```mermaid\n")[1].split("```")[0]
    assert block == mermaid()
    assert "STARTING --> BACKOFF: Exited, SpawnFailed" in block

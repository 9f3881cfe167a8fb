"""Beyond supervisord, restart policy: exponential back-off, forever, restart_delay, max_age."""

from __future__ import annotations

from pathlib import Path

import pytest
from svharness import running_daemon, wait_for, write_config

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.config import ConfigError, parse_config
from tubeworks.supervisor.restartpolicy import backoff_delay
from tubeworks.supervisor.states import ProcessState as S


def _proc(extra: str = "") -> m.Proc:
    text = f"[program:p]\ncommand=/bin/x\nstartsecs=1\n{extra}"
    return m.Proc(parse_config(text, "s.conf", {}).groups[0].processes[0])


def _fail_quickly(p: m.Proc, now: float) -> tuple[m.Proc, list[m.Effect]]:
    p, _ = m.step(p, m.Spawned(7), now)
    return m.step(p, m.Exited(1 << 8), now + 0.1)


def test_backoff_delays() -> None:
    assert [backoff_delay("linear", n, 0, 0) for n in (1, 2, 3)] == [1, 2, 3]
    assert [backoff_delay("exponential", n, 0, 0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 16]
    assert backoff_delay("exponential", 200, 30, 0) == 30
    jittered = [backoff_delay("exponential", 5, 0, 0.5, "p", t) for t in map(float, range(50))]
    assert all(8 <= d <= 16 for d in jittered) and len(set(jittered)) > 40
    assert backoff_delay("exponential", 5, 0, 0.5, "p", 3.0) == jittered[3]  # repeatable


def test_exponential_forever_never_goes_fatal() -> None:
    p = _proc("restart_backoff=exponential\nbackoff_max=8\nstartretries=forever\n")
    p, _ = m.step(p, m.Start(), 0.0)
    now, waits = 0.0, []
    for _ in range(8):
        p, _ = _fail_quickly(p, now)
        assert p.state == S.BACKOFF
        waits.append(p.delay - (now + 0.1))
        now = p.delay
        p, _ = m.step(p, m.BackoffElapsed(), now)
        assert p.state == S.STARTING
    assert waits == [1, 2, 4, 8, 8, 8, 8, 8]
    assert _proc("retry_forever=true").config.startretries == -1
    # supervisord's default still gives up after startretries
    p = _proc("startretries=1")
    p, _ = m.step(p, m.Start(), 0.0)
    p, _ = _fail_quickly(p, 0.0)
    p, _ = m.step(p, m.BackoffElapsed(), p.delay)
    p, _ = _fail_quickly(p, p.laststart)
    assert p.state == S.FATAL


def test_restart_delay_and_max_age_rules() -> None:
    p = _proc("autorestart=true\nrestart_delay=30\n")
    p, _ = m.step(p, m.Start(), 0.0)
    p, _ = m.step(p, m.Spawned(7), 0.0)
    p, _ = m.step(p, m.StartSecsElapsed(), 1.0)
    p, fx = m.step(p, m.Exited(0), 100.0)
    assert p.state == S.EXITED and m.Timer(130.0, m.RestartDue()) in fx
    p = _proc("max_age=60\n")
    p, _ = m.step(p, m.Start(), 0.0)
    p, _ = m.step(p, m.Spawned(7), 0.0)
    p, fx = m.step(p, m.StartSecsElapsed(), 1.0)
    assert m.Timer(60.0, m.AgeReached()) in fx
    p, fx = m.step(p, m.AgeReached(), 59.0)
    assert p.state == S.RUNNING and fx == [m.Timer(60.0, m.AgeReached())]
    p, fx = m.step(p, m.AgeReached(), 60.0)
    assert p.state == S.STOPPING and p.recycling
    assert "info recycling: p has run for max_age=60s" in [
        f"{e.level} {e.message}" for e in fx if isinstance(e, m.Log)
    ]
    done, fx = m.step(p, m.Exited(15), 60.5)
    assert done.state == S.STARTING and m.Spawn() in fx
    stopped, _ = m.step(p, m.Stop(), 60.2)  # a stop by hand meanwhile: stays stopped
    stopped, _ = m.step(stopped, m.Exited(15), 60.5)
    assert stopped.state == S.STOPPED
    quiet, _ = m.step(p, m.Exited(15, may_restart=False), 60.5)  # shutdown
    assert quiet.state == S.STOPPED


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("restart_backoff=fast", "expected one of linear, exponential, got 'fast'"),
        ("backoff_jitter=2", "expected a fraction between 0 and 1, got '2'"),
        ("max_age=-1", "expected a number of seconds >= 0, got '-1'"),
        ("startretries=always", "expected an integer or 'forever', got 'always'"),
    ],
)
def test_policy_config_errors(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"s.conf:4: .*{message}"):
        parse_config(f"[program:p]\ncommand=/bin/x\nstartsecs=1\n{line}\n", "s.conf", {})


@pytest.mark.timeout(60)
def test_real_processes_retry_forever_and_recycle_by_max_age(tmp_path: Path) -> None:
    programs = (
        "[program:flaky]\ncommand=sh -c 'exit 1'\nstartsecs=1\nstartretries=forever\n"
        "restart_backoff=exponential\nbackoff_max=0.2\n"
        "[program:aging]\ncommand=sleep 1000\nstartsecs=0\nmax_age=0.5\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        first = d.wait_state("aging", "RUNNING")["pid"]
        second = wait_for(
            lambda: (
                (i := d.info()["aging"])["statename"] == "RUNNING"
                and i["pid"] not in (0, first)
                and i["pid"]
            ),
            what="aging recycled with a new pid",
        )
        assert second != first
        d.wait_log("recycling: aging has run for max_age=0.5s")
        # far more failed starts than supervisord's default startretries=3, never FATAL
        wait_for(lambda: d.activity_log().count("exited: flaky") >= 6, what="six failures")
        assert d.info()["flaky"]["statename"] in ("BACKOFF", "STARTING")
        assert "gave up: flaky" not in d.activity_log()


def test_defaults_are_supervisords() -> None:
    c = _proc().config
    assert (c.restart_backoff, c.backoff_max, c.restart_delay, c.max_age) == ("linear", 0, 0, 0)
    assert c.startretries == 3 and c.backoff_jitter == 0

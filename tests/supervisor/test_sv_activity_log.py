"""Differential: the activity log says the same things as supervisord's (people grep it)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from svharness import running_daemon, write_config

PROGRAMS = """
[program:crasher]
command=sh -c "echo crashing; exit 3"
startretries=1

[program:sleeper]
command=sleep 1000
startsecs=0

[program:quick]
command=sh -c "sleep 0.2; exit 0"
startsecs=0
autorestart=false

[program:missing]
command=/nonexistent/x
startretries=0
"""


def activity(kind: str, tmp_path: Path) -> list[str]:
    with running_daemon(kind, write_config(tmp_path, PROGRAMS)) as d:
        d.wait_state("crasher", "FATAL")
        d.wait_state("quick", "EXITED")
        d.wait_state("missing", "FATAL")
        assert d.ctl("stop", "sleeper")[0] == 0
        assert d.ctl("start", "sleeper")[0] == 0
        assert d.ctl("signal", "HUP", "sleeper")[0] == 0
        d.wait_log("exited: sleeper (terminated by SIGHUP; not expected)")
        d.wait_state("sleeper", "RUNNING")
    text = (tmp_path / "supervisord.log").read_text()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]{4} ", text)
    lines = [re.sub(r"pid \d+", "pid N", line[24:]) for line in text.splitlines()]
    # "waiting for ..." repeats every few seconds, so a loaded machine logs it more often
    waiting = sorted({line for line in lines if " waiting for " in line})
    return sorted(line for line in lines if " waiting for " not in line) + waiting


@pytest.mark.timeout(60)
def test_activity_log_lines_match_real_supervisord(tmp_path: Path) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "real").mkdir()
    with ThreadPoolExecutor(2) as pool:
        ours_f = pool.submit(activity, "tubeworks", tmp_path / "ours")
        theirs_f = pool.submit(activity, "supervisord", tmp_path / "real")
        ours, theirs = ours_f.result(), theirs_f.result()
    assert "INFO gave up: crasher entered FATAL state, too many start retries too quickly" in ours
    assert ours == theirs


def shutdown_session(kind: str, tmp_path: Path) -> tuple[object, ...]:
    with running_daemon(kind, write_config(tmp_path, "[program:a]\ncommand=sleep 1000\n")) as d:
        d.wait_state("a", "RUNNING")
        said = d.ctl("shutdown")
        code = d.proc.wait(30)
        after = d.ctl("status")
        return said, code, after[0], after[1].replace(str(tmp_path), "DIR")


@pytest.mark.timeout(60)
def test_shutdown_via_supervisorctl_matches_real_supervisord(tmp_path: Path) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "real").mkdir()
    with ThreadPoolExecutor(2) as pool:
        ours_f = pool.submit(shutdown_session, "tubeworks", tmp_path / "ours")
        theirs_f = pool.submit(shutdown_session, "supervisord", tmp_path / "real")
        ours, theirs = ours_f.result(), theirs_f.result()
    assert ours == ((0, "Shut down\n"), 0, 4, "unix://DIR/sv.sock no such file\n")
    assert ours == theirs


@pytest.mark.timeout(60)
def test_sigint_is_an_exit_request(tmp_path: Path) -> None:
    import signal

    with running_daemon(
        "tubeworks", write_config(tmp_path, "[program:a]\ncommand=sleep 1000\n")
    ) as d:
        d.wait_state("a", "RUNNING")
        d.proc.send_signal(signal.SIGINT)
        assert d.proc.wait(30) == 0
        assert "WARN received SIGINT indicating exit request" in d.activity_log()

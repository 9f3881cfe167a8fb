"""Differential: the real supervisorctl against the real supervisord and against ours.

Same config, same commands; outputs and exit codes must match once pids, uptimes and
dates are masked.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from svharness import normalize, running_daemon, write_config

PROGRAMS = """\
[program:sleeper]
command=sleep 1000
startsecs=0

[program:noauto]
command=sleep 1000
autostart=false
startsecs=0

[program:badexit]
; exits after a moment: an instant exit makes the real supervisord's "start" answer racy
command=sh -c "sleep 0.3; exit 5"
startsecs=0
autorestart=false

[program:missing]
command=/nonexistent/binary
autostart=false

[program:multi]
command=sleep 1000
numprocs=2
process_name=%(program_name)s_%(process_num)02d
startsecs=0

[group:grp]
programs=g1,g2

[program:g1]
command=sleep 1000
startsecs=0

[program:g2]
command=sh -c "echo hello from g2; exec sleep 1000"
startsecs=0
"""

COMMANDS = [
    ("status",),
    ("status", "sleeper", "noauto"),
    ("status", "nosuch"),
    ("start", "noauto"),
    ("start", "noauto"),
    ("stop", "noauto"),
    ("stop", "noauto"),
    ("start", "nosuch"),
    ("start", "missing"),
    ("start",),
    ("stop", "grp:*"),
    ("status", "grp:"),
    ("start", "grp:*"),
    ("start", "grp:*"),
    ("restart", "sleeper"),
    ("signal", "HUP", "nosuch"),
    ("signal", "BOGUS", "sleeper"),
    ("pid", "noauto"),
    ("avail",),
    ("clear", "badexit"),
    ("tail", "grp:g2"),
    ("tail", "grp:g2", "stderr"),
    ("tail", "-5", "grp:g2"),
    ("bogus",),
    ("status", "badexit"),
    ("stop", "all"),
    ("status",),
    ("start", "all"),
]


def transcript(
    kind: str, tmp_path: Path, client: str = "supervisorctl"
) -> list[tuple[tuple[str, ...], int, str]]:
    conf = write_config(tmp_path, PROGRAMS)
    out = []
    with running_daemon(kind, conf, client=client) as d:
        d.wait_state("badexit", "EXITED")
        d.wait_settled()
        d.wait_state("grp:g2", "RUNNING")
        from svharness import wait_for

        wait_for(lambda: (tmp_path / "logs").exists() and d.ctl("tail", "grp:g2")[1].strip())
        for cmd in COMMANDS:
            rc, text = d.ctl(*cmd)
            text = normalize(text)
            if cmd[-1] == "all" or cmd[-1].endswith(":*"):
                # several processes finish at once; the real supervisord reports them in
                # completion order, which varies from run to run
                text = "\n".join(sorted(text.splitlines()))
            out.append((cmd, rc, text))
    return out


@pytest.mark.timeout(90)
def test_supervisorctl_output_matches_real_supervisord(tmp_path: Path) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "real").mkdir()
    with ThreadPoolExecutor(2) as pool:  # both daemons at once: half the wall time
        ours_f = pool.submit(transcript, "tubeworks", tmp_path / "ours")
        theirs_f = pool.submit(transcript, "supervisord", tmp_path / "real")
        ours, theirs = ours_f.result(), theirs_f.result()
    assert ours[0][1] == 3 and "sleeper" in ours[0][2]  # the transcript is not vacuous
    for (cmd, rc, text), (_, rc2, text2) in zip(ours, theirs, strict=True):
        assert (cmd, rc, text) == (cmd, rc2, text2)

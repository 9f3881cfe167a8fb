"""The scripted supervisorctl session used by the differential tests.

The same commands run against the real supervisord and ours (with the real supervisorctl),
and against ours with ``tubeworks ctl``; tests compare the transcripts.
"""

from __future__ import annotations

from pathlib import Path

from svharness import normalize, running_daemon, wait_for, write_config

Transcript = list[tuple[tuple[str, ...], int, str]]

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
    ("signal", "BOGUS", "sleeper"),
    ("pid", "noauto"),
    ("avail",),
    ("clear", "badexit"),
    ("tail", "grp:g2"),
    ("tail", "-5", "grp:g2"),
    ("bogus",),
    ("stop", "all"),
    ("status",),
    ("start", "all"),
]


def transcript(kind: str, tmp_path: Path, client: str = "supervisorctl") -> Transcript:
    conf = write_config(tmp_path, PROGRAMS)
    out = []
    with running_daemon(kind, conf, client=client) as d:
        d.wait_state("badexit", "EXITED")
        d.wait_settled()
        d.wait_state("grp:g2", "RUNNING")
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

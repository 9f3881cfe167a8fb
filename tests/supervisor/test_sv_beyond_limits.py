"""Beyond supervisord: per-program resource limits (``rlimit_nofile=`` etc.)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from svharness import running_daemon, wait_for, write_config

from tubeworks.supervisor.config import ConfigError, parse_config


def _limits(extra: str) -> tuple[tuple[int, int, int], ...]:
    text = f"[program:p]\ncommand=/bin/x\n{extra}"
    return parse_config(text, "s.conf", {}).groups[0].processes[0].rlimits


def test_limit_values() -> None:
    inf = resource.RLIM_INFINITY
    assert _limits("") == ()
    assert _limits("rlimit_nofile=256\nrlimit_as=512MB:unlimited\n") == (
        (resource.RLIMIT_NOFILE, 256, 256),
        (resource.RLIMIT_AS, 512 * 1024 * 1024, inf),
    )
    with pytest.raises(ConfigError, match=r"s.conf:3: \[program:p\] rlimit_core: expected soft"):
        _limits("rlimit_core=2KB:1KB\n")
    with pytest.raises(ConfigError, match="rlimit_nproc: expected an integer, got 'many'"):
        _limits("rlimit_nproc=many\n")


@pytest.mark.timeout(60)
def test_limits_reach_the_child(tmp_path: Path) -> None:
    programs = (
        "[program:limited]\n"
        "command=sh -c 'echo \"n=$(ulimit -n) c=$(ulimit -c)\"; exec sleep 1000'\n"
        "startsecs=0\nrlimit_nofile=256\nrlimit_core=0\nstdout_logfile=%(here)s/out.log\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("limited", "RUNNING")
        wait_for(
            lambda: (tmp_path / "out.log").read_text() == "n=256 c=0\n", what="limits in output"
        )

"""Beyond supervisord, manual state sticks: ``remember_manual_stops=true``."""

from __future__ import annotations

from pathlib import Path

import pytest
from svharness import HEADER, running_daemon, write_config

HEADER_STICKY = HEADER.replace("loglevel=info\n", "loglevel=info\nremember_manual_stops=true\n")


def _programs(a_seconds: int, extra: str = "") -> str:
    return (
        f"[program:a]\ncommand=sleep {a_seconds}\nstartsecs=0\n"
        "[program:b]\ncommand=sleep 1000\nstartsecs=0\n" + extra
    )


@pytest.mark.timeout(90)
def test_manual_stop_survives_update_reload_and_restart_until_started(tmp_path: Path) -> None:
    conf = write_config(tmp_path, _programs(1000), HEADER_STICKY)
    state = tmp_path / "supervisord.pid.stopped"
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("a", "RUNNING")
        b_pid = d.wait_state("b", "RUNNING")["pid"]
        assert d.ctl("stop", "a") == (0, "a: stopped\n")
        assert state.read_text() == "a\n"
        write_config(tmp_path, _programs(1001), HEADER_STICKY)
        assert d.ctl("update")[0] == 0  # a changed: supervisord would start it again
        assert d.info()["a"]["statename"] == "STOPPED"
        write_config(tmp_path, _programs(1002, "[program:c]\ncommand=sleep 1000\n"), HEADER_STICKY)
        assert d.ctl("reload")[0] == 0
        d.wait_state("c", "RUNNING")  # a (earlier in start order) was re-added by then
        assert d.info()["a"]["statename"] == "STOPPED"
        assert d.info()["b"]["pid"] == b_pid
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("b", "RUNNING")
        d.wait_state("c", "RUNNING")
        assert d.info()["a"]["statename"] == "STOPPED"
        assert d.ctl("start", "a") == (0, "a: started\n")
        assert state.read_text() == ""
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("a", "RUNNING")  # started by hand: autostart applies again


@pytest.mark.timeout(60)
def test_without_the_key_nothing_is_remembered(tmp_path: Path) -> None:
    conf = write_config(tmp_path, _programs(1000))
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("a", "RUNNING")
        assert d.ctl("stop", "a") == (0, "a: stopped\n")
    assert not (tmp_path / "supervisord.pid.stopped").exists()
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("a", "RUNNING")

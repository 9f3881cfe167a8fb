"""Beyond supervisord, no orphans: ``pdeathsig=`` children die with a SIGKILLed supervisor."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest
from svharness import running_daemon, wait_for, write_config


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _copies(marker: str) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if marker in (p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p.pid)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is linux-only")
@pytest.mark.timeout(60)
def test_sigkill_of_the_supervisor_leaves_no_orphans_and_restart_no_duplicates(
    tmp_path: Path,
) -> None:
    sleeper = f"{sys.executable} -c 'import time; time.sleep(1000)'"
    kept, plain = f"{tmp_path}/kept", f"{tmp_path}/plain"
    programs = (
        f"[program:kept]\ncommand={sleeper} {kept}\nstartsecs=0\npdeathsig=KILL\n"
        f"[program:plain]\ncommand={sleeper} {plain}\nstartsecs=0\n"
    )
    conf = write_config(tmp_path, programs)
    survivor = None
    try:
        with running_daemon("tubeworks", conf) as d:
            kept_pid = d.wait_state("kept", "RUNNING")["pid"]
            survivor = d.wait_state("plain", "RUNNING")["pid"]
            d.proc.kill()
            d.proc.wait()
            wait_for(lambda: not _alive(kept_pid), what="the pdeathsig child to die")
            # without the key, supervisord's behaviour: the child runs on unsupervised
            assert _alive(survivor)
        os.kill(survivor, signal.SIGKILL)
        wait_for(lambda: not _alive(survivor), what="the orphan to be killed")
        survivor = None
        with running_daemon("tubeworks", conf) as d:
            new_pid = d.wait_state("kept", "RUNNING")["pid"]
            assert new_pid != kept_pid
            assert _copies(kept) == [new_pid]
    finally:
        if survivor is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(survivor, signal.SIGKILL)

"""Command-line flags, daemon mode, signals and the single-instance guard."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from svharness import HEADER, daemon_argv, running_daemon, wait_for, write_config

pytestmark = pytest.mark.timeout(60)


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    """-l -e -i -q -t: activity log path, debug copies of output, AUTO log names, ANSI strip."""
    (tmp_path / "child").mkdir()
    programs = r"""
        [program:colour]
        command=printf '\033[31mred\033[0m plain\n'
        startsecs=0
        autorestart=false
    """
    conf = write_config(tmp_path, programs)
    flags = (
        "-l",
        str(tmp_path / "other.log"),
        "-e",
        "debug",
        "-i",
        "box7",
        "-q",
        str(tmp_path / "child"),
        "-t",
    )
    with running_daemon("tubeworks", conf, *flags) as d:
        info = d.wait_state("colour", "EXITED")
        logfile = Path(info["stdout_logfile"])
        assert logfile.parent == tmp_path / "child"
        assert logfile.name.startswith("colour-stdout---box7-") and logfile.suffix == ".log"
        assert logfile.read_bytes() == b"red plain\n"
        main = (tmp_path / "other.log").read_text()
        assert "DEBG 'colour' stdout output:\nred plain\n" in main
        assert d.rpc().supervisor.getIdentification() == "box7"
        assert not (tmp_path / "supervisord.log").exists()


def test_sigusr2_reopens_logs_for_external_rotation(tmp_path: Path) -> None:
    programs = """
        [program:cat]
        command=cat
        startsecs=0
        stdout_logfile=%(here)s/cat.log
    """
    with running_daemon("tubeworks", write_config(tmp_path, programs)) as d:
        d.wait_state("cat", "RUNNING")
        d.rpc().supervisor.sendProcessStdin("cat", "before\n")
        wait_for(lambda: (tmp_path / "cat.log").read_text() == "before\n")
        os.rename(tmp_path / "cat.log", tmp_path / "cat.log.old")
        os.rename(tmp_path / "supervisord.log", tmp_path / "supervisord.log.old")
        d.proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: (tmp_path / "supervisord.log").exists())
        d.rpc().supervisor.sendProcessStdin("cat", "after\n")
        wait_for(
            lambda: (
                (tmp_path / "cat.log").exists() and (tmp_path / "cat.log").read_text() == "after\n"
            )
        )
        assert (tmp_path / "cat.log.old").read_text() == "before\n"
        assert (
            "received SIGUSR2 indicating log reopen request"
            in (tmp_path / "supervisord.log.old").read_text()
            + (tmp_path / "supervisord.log").read_text()
        )


def test_second_daemon_on_the_same_socket_is_refused(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("a", "RUNNING")
        second = subprocess.run(
            daemon_argv(
                "tubeworks", conf, "-l", str(tmp_path / "2.log"), "-j", str(tmp_path / "2.pid")
            ),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 2
        assert "another program is already listening on" in second.stderr
        assert d.rpc().supervisor.getState()["statename"] == "RUNNING"  # first one unharmed


def test_daemon_mode_detaches_and_writes_pidfile(tmp_path: Path) -> None:
    conf = write_config(
        tmp_path,
        "[program:a]\ncommand=sleep 1000\nstartsecs=0\n",
        HEADER.replace("nodaemon=true", "nodaemon=false"),
    )
    launcher = subprocess.run(
        daemon_argv("tubeworks", conf), capture_output=True, timeout=30, cwd=tmp_path
    )
    assert launcher.returncode == 0
    pidfile = tmp_path / "supervisord.pid"
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip()))
    daemon = psutil.Process(pid)
    try:
        assert daemon.ppid() != os.getpid()  # detached from us
        wait_for(
            lambda: (
                "RUNNING"
                in subprocess.run(
                    [*_ctl(conf), "status", "a"], capture_output=True, text=True
                ).stdout
            )
        )
        child = daemon.children()[0]
        daemon.terminate()
        daemon.wait(15)
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    finally:
        with contextlib.suppress(psutil.Error):
            for c in daemon.children(recursive=True):
                c.kill()
            daemon.kill()


def _ctl(conf: Path) -> list[str]:
    from svharness import SUPERVISORCTL

    return [SUPERVISORCTL, "-c", str(conf)]


def test_logging_to_syslog(tmp_path: Path) -> None:
    header = HEADER.replace("logfile=%(here)s/supervisord.log", "logfile=syslog")
    programs = """
        [program:chat]
        command=sh -c 'echo to syslog; sleep 1000'
        startsecs=0
        stdout_syslog=true
        stdout_logfile=%(here)s/chat.log
    """
    with running_daemon("tubeworks", write_config(tmp_path, programs, header)) as d:
        d.wait_state("chat", "RUNNING")
        wait_for(lambda: (tmp_path / "chat.log").read_text() == "to syslog\n")  # and the file
        assert d.ctl("maintail") == (1, "supervisord: ERROR (no log file)\n")
        assert not (tmp_path / "supervisord.log").exists()


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    import sys

    argv = [sys.executable, "-m", "tubeworks", "supervisord"]
    found = subprocess.run(
        [*argv, "-c", str(tmp_path / "nope.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert found.returncode == 2
    assert found.stderr.startswith(f"Error: could not read config file '{tmp_path}/nope.conf'")
    if not any(
        os.path.exists(p) for p in ("/etc/supervisord.conf", "/etc/supervisor/supervisord.conf")
    ):
        searched = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=tmp_path)
        assert searched.returncode == 2
        assert "No config file found at default paths" in searched.stderr

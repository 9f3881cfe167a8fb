"""``tubeworks ctl`` prints and exits exactly like the real supervisorctl."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from svharness import running_daemon, write_config
from svtranscript import Transcript

from tubeworks.supervisor.client import format_status, result_line, split_namespec


@pytest.mark.timeout(150)
def test_ctl_matches_supervisorctl_command_for_command(
    transcripts: dict[str, Transcript],
) -> None:
    ours, theirs = transcripts["ours_ctl"], transcripts["ours"]
    assert ours[0][1] == 3 and "sleeper" in ours[0][2]
    for mine, real in zip(ours, theirs, strict=True):
        assert mine == real


@pytest.mark.timeout(60)
def test_status_json_and_connection_errors(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    with running_daemon("tubeworks", conf, client="tubeworks") as d:
        d.wait_state("a", "RUNNING")
        rc, out = d.ctl("status", "--json")
        (info,) = json.loads(out)
        assert rc == 0
        assert (info["name"], info["statename"], info["state"]) == ("a", "RUNNING", 20)
        assert info["description"].startswith(f"pid {info['pid']}, uptime ")
    ctl = [sys.executable, "-m", "tubeworks", "ctl", "-c", str(conf)]
    done = subprocess.run([*ctl, "status"], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (4, f"unix://{tmp_path}/sv.sock no such file\n")
    done = subprocess.run([*ctl, "start", "a"], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (7, f"unix://{tmp_path}/sv.sock no such file\n")


def test_formatting_helpers() -> None:
    info = {
        "group": "g",
        "name": "p",
        "statename": "RUNNING",
        "description": "pid 1, uptime 0:00:01",
    }
    assert format_status([info]) == ["g:p".ljust(33) + "RUNNING   pid 1, uptime 0:00:01"]
    assert split_namespec("g:*") == ("g", None) and split_namespec("x") == ("x", "x")
    result = {"group": "x", "name": "x", "status": 60, "description": "ALREADY_STARTED"}
    assert result_line(result, "started", {60: "already started"}) == "x: ERROR (already started)"


@pytest.mark.timeout(60)
def test_ctl_tail_follow_and_http_with_auth(tmp_path: Path) -> None:
    from svharness import HEADER, wait_for

    from servers import free_port

    port = free_port()
    header = HEADER + f"\n[inet_http_server]\nport=127.0.0.1:{port}\nusername=u\npassword=pw\n"
    programs = (
        "[program:talk]\ncommand=sh -c 'echo one; read x; echo two; sleep 1000'\nstartsecs=0\n"
    )
    conf = write_config(tmp_path, programs, header)
    with running_daemon("tubeworks", conf, client="tubeworks") as d:
        d.wait_state("talk", "RUNNING")
        base = [sys.executable, "-m", "tubeworks", "ctl", "-s", f"http://127.0.0.1:{port}"]
        denied = subprocess.run([*base, "pid"], capture_output=True, text=True, timeout=30)
        assert (denied.returncode, denied.stdout) == (1, "Server requires authentication\n")
        follow = subprocess.Popen(
            [*base, "-u", "u", "-p", "pw", "tail", "-f", "talk"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert follow.stdout is not None
            assert follow.stdout.readline() == "==> Press Ctrl-C to exit <==\n"
            assert follow.stdout.readline() == "one\n"
            d.rpc().supervisor.sendProcessStdin("talk", "go\n")
            assert follow.stdout.readline() == "two\n"
        finally:
            follow.kill()
            follow.wait()
        wait_for(lambda: "spawned: 'talk'" in d.ctl("maintail", "-200")[1])


@pytest.mark.timeout(60)
def test_ctl_interactive_reads_commands_from_stdin(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("a", "RUNNING")
        done = subprocess.run(
            [sys.executable, "-m", "tubeworks", "ctl", "-c", str(conf)],
            input="stop a\nnosuch\nquit\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        lines = done.stdout.splitlines()
        assert done.returncode == 0  # always 0 in interactive mode, as supervisorctl
        assert lines[0].startswith("a ") and "RUNNING" in lines[0]  # status first
        assert lines[1:] == ["a: stopped", "*** Unknown syntax: nosuch"]


@pytest.mark.timeout(60)
def test_ctl_fg_relays_stdin_and_output_and_open_switches_server(tmp_path: Path) -> None:
    programs = "[program:cat]\ncommand=cat\nstartsecs=0\n"
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("cat", "RUNNING")
        fg = subprocess.Popen(
            [sys.executable, "-m", "tubeworks", "ctl", "-c", str(conf), "fg", "cat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert fg.stdin is not None and fg.stdout is not None
        try:
            assert fg.stdout.readline() == "==> Press Ctrl-C to exit <==\n"
            fg.stdin.write("hello\n")
            fg.stdin.flush()
            line = fg.stdout.readline()
            while line and line != "hello\n":
                line = fg.stdout.readline()
            assert line == "hello\n"  # typed, sent to cat, came back through its log
            fg.stdin.close()
            assert fg.stdout.read().endswith("Exiting foreground\n")
            assert fg.wait(30) == 0
        finally:
            fg.kill()
            fg.wait()
        session = subprocess.run(
            [sys.executable, "-m", "tubeworks", "ctl", "-s", "unix:///nonexistent.sock"],
            input=f"open unix://{d.socket}\nopen ftp://x\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "cat                              RUNNING" in session.stdout
        assert session.stdout.endswith("ERROR: url must be http:// or unix://\n")


@pytest.mark.timeout(60)
def test_ctl_against_the_real_supervisord(tmp_path: Path) -> None:
    """Our control command also drives the real daemon, printing what supervisorctl prints."""
    from svharness import SUPERVISORCTL, normalize

    programs = (
        "[program:sleeper]\ncommand=sh -c 'echo hi; exec sleep 1000'\nstartsecs=0\n"
        "[program:idle]\ncommand=sleep 1000\nautostart=false\n"
    )
    conf = write_config(tmp_path, programs)
    commands = [
        ("status",),
        ("start", "sleeper"),
        ("stop", "idle"),
        ("avail",),
        ("tail", "sleeper"),
        ("pid", "nosuch"),
        ("status", "nosuch"),
        ("bogus",),
    ]
    with running_daemon("supervisord", conf) as d:
        d.wait_state("sleeper", "RUNNING")
        from svharness import wait_for

        wait_for(lambda: "hi" in d.ctl("tail", "sleeper")[1])
        for cmd in commands:
            ours = subprocess.run(
                [sys.executable, "-m", "tubeworks", "ctl", "-c", str(conf), *cmd],
                capture_output=True,
                text=True,
                timeout=30,
            )
            real = subprocess.run(
                [SUPERVISORCTL, "-c", str(conf), *cmd], capture_output=True, text=True, timeout=30
            )
            assert (cmd, ours.returncode, normalize(ours.stdout)) == (
                cmd,
                real.returncode,
                normalize(real.stdout),
            )

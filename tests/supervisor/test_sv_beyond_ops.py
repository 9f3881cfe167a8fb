"""Beyond supervisord, operability: ``env_file=``, ``ctl wait``, log timestamps, ``ctl reopen``."""

from __future__ import annotations

from pathlib import Path

import pytest
from svharness import running_daemon, wait_for, write_config

from tubeworks.supervisor.config import ConfigError, load_config
from tubeworks.supervisor.dotenv import DotenvError, parse


def test_dotenv_parses_quotes_comments_and_export() -> None:
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value  # trailing comment\n"
        "export EXPORTED=yes\n"
        "SINGLE='raw $x \\n # kept'\n"
        'DOUBLE="a\\nb \\"q\\" # kept"  # gone\n'
        "EMPTY=\n"
        "HASH=a#b\n"
        "  SPACED = padded  \n"
    )
    assert dict(parse(text)) == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SINGLE": "raw $x \\n # kept",
        "DOUBLE": 'a\nb "q" # kept',
        "EMPTY": "",
        "HASH": "a#b",
        "SPACED": "padded",
    }


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("A=1\nnot a pair\n", 2, "expected KEY=VALUE, got 'not a pair'"),
        ("\n\n1BAD=x\n", 3, "expected a variable name before '=', got '1BAD'"),
        ("A='open\n", 1, "expected a closing ' before the end of the line"),
        ('A="open\n', 1, 'expected a closing " before the end of the line'),
        ("A='x' junk\n", 1, "expected only a comment after the quoted value, got 'junk'"),
    ],
)
def test_dotenv_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DotenvError) as err:
        parse(text)
    assert (err.value.line, err.value.message) == (line, message)


def test_env_file_merges_under_environment_and_errors_name_file_line(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("A=from_file\nB='file b'\n")
    conf = write_config(
        tmp_path, "[program:p]\ncommand=/bin/cat\nenv_file=app.env\nenvironment=B=section\n"
    )
    (proc,) = load_config(str(conf)).groups[0].processes
    assert dict(proc.environment) == {"A": "from_file", "B": "section"}
    (tmp_path / "app.env").write_text("A=1\n\nbroken\n")
    with pytest.raises(ConfigError, match=rf"^{tmp_path}/app.env:3: expected KEY=VALUE"):
        load_config(str(conf))
    (tmp_path / "app.env").unlink()
    with pytest.raises(ConfigError, match=r"\[program:p\] env_file: could not read .*app.env"):
        load_config(str(conf))


@pytest.mark.timeout(60)
def test_env_file_reaches_the_child(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text('export GREETING="hello there"\n')
    programs = (
        "[program:p]\ncommand=sh -c 'echo \"got $GREETING\"; exec sleep 1000'\n"
        "env_file=%(here)s/app.env\nstartsecs=0\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("p", "RUNNING")
        log = d.rpc().supervisor.getProcessInfo("p")["stdout_logfile"]
        wait_for(lambda: "got hello there" in Path(log).read_text(), what="env in output")


@pytest.mark.timeout(60)
def test_ctl_wait_blocks_until_running_and_explains_failures(tmp_path: Path) -> None:
    programs = (
        "[program:slow]\ncommand=sleep 1000\nstartsecs=1\n"
        "[program:broken]\ncommand=sh -c 'exit 3'\nstartsecs=1\nstartretries=0\n"
        "[program:idle]\ncommand=sleep 1000\nautostart=false\n"
        "[group:pair]\nprograms=slow\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf, client="tubeworks") as d:
        rc, out = d.ctl("wait", "--timeout", "20", "pair:slow")
        assert (rc, out) == (0, "")
        assert d.rpc().supervisor.getProcessInfo("pair:slow")["statename"] == "RUNNING"
        rc, out = d.ctl("wait", "--timeout=20", "broken")
        assert rc == 7 and out.startswith("wait: broken is FATAL (") and out.count("\n") == 1
        rc, out = d.ctl("wait", "--timeout", "0.3", "pair", "idle")
        assert (rc, out) == (1, "wait: timed out after 0.3s; not running: idle (STOPPED)\n")
        rc, out = d.ctl("wait", "nosuch")
        assert (rc, out) == (7, "wait: no such process: nosuch\n")
        rc, out = d.ctl("wait", "--timeout", "soon", "idle")
        assert rc == 2 and "expected --timeout SECONDS, got 'soon'" in out


@pytest.mark.timeout(60)
def test_ctl_reopen_moves_logging_to_a_fresh_file(tmp_path: Path) -> None:
    programs = (
        "[program:echo]\ncommand=sh -c 'while read x; do echo \"$x\"; done'\nstartsecs=0\n"
        "stdout_logfile=%(here)s/echo.log\n"
    )
    conf = write_config(tmp_path, programs)
    log = tmp_path / "echo.log"
    with running_daemon("tubeworks", conf, client="tubeworks") as d:
        d.wait_state("echo", "RUNNING")
        d.rpc().supervisor.sendProcessStdin("echo", "before\n")
        wait_for(lambda: "before" in log.read_text(), what="first line logged")
        log.rename(tmp_path / "echo.log.1")
        rc, out = d.ctl("reopen")
        assert rc == 0 and out.startswith("reopen: asked pid ")
        d.wait_log("log reopen request")
        d.rpc().supervisor.sendProcessStdin("echo", "after\n")
        wait_for(lambda: log.exists() and "after" in log.read_text(), what="line in new file")
        assert "after" not in (tmp_path / "echo.log.1").read_text()
        assert "before" not in log.read_text()


def test_line_stamper_stamps_each_line_once_across_chunks() -> None:
    from tubeworks.supervisor.stamps import LineStamper, stamp

    s = LineStamper()
    a, b = stamp(0.5).decode(), stamp(90061.25).decode()
    assert s.feed(b"one\ntw", 0.5).decode() == f"{a}one\n{a}tw"
    assert s.feed(b"o\nthree\n", 90061.25).decode() == f"o\n{b}three\n"
    assert s.feed(b"\n", 0.5).decode() == f"{a}\n"
    assert a.endswith(",500 ") and b.endswith(",250 ")


@pytest.mark.timeout(60)
def test_log_timestamps_prefix_captured_lines(tmp_path: Path) -> None:
    import re

    programs = (
        "[program:talk]\ncommand=sh -c 'echo out1; echo out2; echo err1 >&2; exec sleep 1000'\n"
        "startsecs=0\nstdout_logfile=%(here)s/out.log\nstderr_logfile=%(here)s/err.log\n"
        "stdout_log_timestamps=true\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("talk", "RUNNING")
        out = wait_for(
            lambda: (t := (tmp_path / "out.log").read_text()).count("\n") == 2 and t,
            what="two stdout lines",
        )
        stamped = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
        assert re.fullmatch(f"{stamped}out1\n{stamped}out2\n", out), out
        err = wait_for(lambda: (tmp_path / "err.log").read_text(), what="stderr line")
        assert err == "err1\n"

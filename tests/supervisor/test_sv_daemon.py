"""Our daemon with real child processes, real sockets and the real supervisorctl."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import psutil
import pytest
from svharness import (
    HEADER,
    Daemon,
    daemon_argv,
    running_daemon,
    stop_daemon,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.timeout(60)


def run(tmp_path: Path, programs: str, header: str = HEADER):  # type: ignore[no-untyped-def]
    return running_daemon("tubeworks", write_config(tmp_path, programs, header))


def test_crash_loop_reaches_fatal_after_startretries(tmp_path: Path) -> None:
    """startretries=2: three spawns 1 s and 2 s apart, then FATAL; the log says why."""
    programs = """
        [program:crasher]
        command=sh -c "echo crashing; exit 3"
        startretries=2
    """
    with run(tmp_path, programs) as d:
        info = d.wait_state("crasher", "FATAL")
        assert info["description"] == "Exited too quickly (process log may have details)"
        assert info["exitstatus"] == 0  # as supervisord: reset after a too-quick exit
        rc, out = d.ctl("status", "crasher")
        assert rc == 3 and "FATAL     Exited too quickly" in out
        log = d.activity_log()
        assert log.count("spawned: 'crasher'") == 3
        assert log.count("WARN exited: crasher (exit status 3; not expected)") == 3
        assert (
            "INFO gave up: crasher entered FATAL state, too many start retries too quickly" in log
        )
        assert d.ctl("tail", "crasher")[1] == "crashing\ncrashing\ncrashing\n\n"
        rc, out = d.ctl("start", "crasher")  # a manual start gets a fresh budget, then fails
        assert (rc, out) == (7, "crasher: ERROR (spawn error)\n")


def test_stop_escalates_to_sigkill_after_stopwaitsecs(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(1000)\n"
    )
    programs = f"""
        [program:stubborn]
        command={sys.executable} {script}
        startsecs=0
        stopwaitsecs=3
    """
    with run(tmp_path, programs) as d:
        pid = d.wait_state("stubborn", "RUNNING")["pid"]
        wait_for(lambda: "ready" in d.ctl("tail", "stubborn")[1])
        assert d.ctl("stop", "stubborn") == (0, "stubborn: stopped\n")
        log = d.activity_log()
        assert "INFO waiting for stubborn to stop" in log  # every 2 s while stop waits
        assert f"WARN killing 'stubborn' ({pid}) with SIGKILL" in log
        assert "WARN stopped: stubborn (terminated by SIGKILL)" in log
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


@pytest.mark.parametrize("asgroup", [True, False])
def test_stopasgroup_reaches_grandchildren(tmp_path: Path, asgroup: bool) -> None:
    programs = f"""
        [program:tree]
        command=sh -c "sleep 1001 & echo $! > {tmp_path}/grandchild.pid; wait"
        startsecs=0
        stopasgroup={"true" if asgroup else "false"}
    """
    with run(tmp_path, programs) as d:
        d.wait_state("tree", "RUNNING")
        pidfile = tmp_path / "grandchild.pid"
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())
        grandchild = int(pidfile.read_text())
        try:
            assert d.ctl("stop", "tree")[0] == 0

            def gone() -> bool:
                try:
                    return psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
                except psutil.NoSuchProcess:
                    return True

            if asgroup:
                wait_for(gone, what="grandchild to die")
            else:
                assert not gone()  # orphaned, as with supervisord
        finally:
            try:
                os.kill(grandchild, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_rotation_keeps_every_byte_in_order(tmp_path: Path) -> None:
    """10 KB files, 2 backups: the rotated files concatenated are the tail of the output."""
    script = tmp_path / "chatty.py"
    script.write_text(
        "import sys\n"
        "for i in range(3500):\n"  # > a pipe buffer, so several reads and rotations
        "    sys.stdout.write(f'line {i:05d} ' + 'x' * 50 + '\\n')\n"
        "sys.stdout.flush()\n"
    )
    programs = f"""
        [program:chatty]
        command={sys.executable} {script}
        startsecs=0
        autorestart=false
        stdout_logfile=%(here)s/chatty.log
        stdout_logfile_maxbytes=10KB
        stdout_logfile_backups=2
    """
    with run(tmp_path, programs) as d:
        d.wait_state("chatty", "EXITED")
        files = [tmp_path / "chatty.log.2", tmp_path / "chatty.log.1", tmp_path / "chatty.log"]
        assert all(f.exists() for f in files)
        assert all(f.stat().st_size >= 10 * 1024 for f in files[:2])
        kept = b"".join(f.read_bytes() for f in files)
        everything = b"".join(f"line {i:05d} ".encode() + b"x" * 50 + b"\n" for i in range(3500))
        assert everything.endswith(kept) and len(kept) > 20 * 1024
        text, offset, overflow = d.rpc().supervisor.tailProcessStdoutLog("chatty", 0, 100)
        current = files[2].read_bytes()
        assert (offset, overflow) == (len(current), len(current) > 100)
        assert text.encode() == current[-100:]


def test_invalid_utf8_is_kept_as_bytes_and_still_readable(tmp_path: Path) -> None:
    programs = r"""
        [program:binary]
        command=printf 'invalid: \377\376\375 end\n'
        startsecs=0
        autorestart=false
        stdout_logfile=%(here)s/binary.log
    """
    with run(tmp_path, programs) as d:
        d.wait_state("binary", "EXITED")
        assert (tmp_path / "binary.log").read_bytes() == b"invalid: \xff\xfe\xfd end\n"
        assert d.rpc().supervisor.readProcessStdoutLog("binary", 0, 0) == (
            "invalid: \ufffd\ufffd\ufffd end\n"
        )
        rc, out = d.ctl("tail", "binary")
        assert rc == 0 and "end" in out


def test_child_environment_directory_umask_and_redirect(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    header = HEADER.replace(
        "loglevel=info", 'loglevel=info\nenvironment=SHARED="from,supervisord",B=1'
    )
    programs = f"""
        [program:expand]
        command=sh -c 'echo "$SUPERVISOR_ENABLED $SUPERVISOR_PROCESS_NAME $SUPERVISOR_GROUP_NAME $SUPERVISOR_SERVER_URL $SHARED $B $OWN"; pwd; umask; echo oops >&2'
        process_name=%(program_name)s_%(process_num)02d
        numprocs=1
        numprocs_start=5
        environment=B=2,OWN="%(program_name)s"
        directory={workdir}
        umask=027
        redirect_stderr=true
        startsecs=0
        autorestart=false
        stdout_logfile=%(here)s/expand.log
    """  # noqa: E501
    with run(tmp_path, programs, header) as d:
        d.wait_state("expand:expand_05", "EXITED")
        lines = (tmp_path / "expand.log").read_text().splitlines()
        assert lines == [
            f"1 expand_05 expand unix://{d.socket} from,supervisord 2 expand",
            str(workdir),
            "0027",
            "oops",
        ]


def test_spawn_errors(tmp_path: Path) -> None:
    programs = """
        [program:nodir]
        command=/bin/true
        directory=/nonexistent_dir
        autostart=false
        startretries=0

        [program:missing]
        command=/nonexistent/binary
        startretries=0
    """
    with run(tmp_path, programs) as d:
        info = d.wait_state("missing", "FATAL")
        assert info["spawnerr"] == "can't find command '/nonexistent/binary'"
        assert d.ctl("start", "nodir") == (7, "nodir: ERROR (spawn error)\n")
        assert (
            "supervisor: couldn't chdir to /nonexistent_dir: ENOENT"
            in d.ctl("tail", "nodir", "stderr")[1]
        )


def test_send_stdin_signal_and_multicall(tmp_path: Path) -> None:
    programs = """
        [program:cat]
        command=cat
        startsecs=0
        stdout_logfile=%(here)s/cat.log
    """
    with run(tmp_path, programs) as d:
        first = d.wait_state("cat", "RUNNING")["pid"]
        sv = d.rpc().supervisor
        assert sv.sendProcessStdin("cat", "hello\n") is True
        wait_for(lambda: (tmp_path / "cat.log").read_text() == "hello\n")
        results = d.rpc().system.multicall(
            [
                {"methodName": "supervisor.getAPIVersion", "params": []},
                {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]},
            ]
        )
        assert results == ["3.0", {"faultCode": 10, "faultString": "BAD_NAME: nosuch"}]
        with pytest.raises(xmlrpc.client.Fault, match="BAD_SIGNAL: NOPE"):
            sv.signalProcess("cat", "NOPE")
        assert d.ctl("signal", "KILL", "cat") == (0, "cat: signalled\n")
        wait_for(lambda: (lambda i: i["pid"] not in (0, first) and i)(sv.getProcessInfo("cat")))
        assert "exited: cat (terminated by SIGKILL; not expected)" in d.activity_log()


def test_tail_f_and_maintail_stream_new_output(tmp_path: Path) -> None:
    programs = """
        [program:ticker]
        command=sh -c 'echo first; read x; echo "got $x"; sleep 1000'
        startsecs=0
        stdout_logfile=%(here)s/ticker.log
    """
    with run(tmp_path, programs) as d:
        d.wait_state("ticker", "RUNNING")
        wait_for(lambda: (tmp_path / "ticker.log").read_text() == "first\n")
        tail = subprocess.Popen(
            [*ctl_argv(d), "tail", "-f", "ticker"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert tail.stdout is not None
            lines = [tail.stdout.readline()]  # the banner, then the history
            while "first" not in lines[-1] and lines[-1]:
                lines.append(tail.stdout.readline())
            d.rpc().supervisor.sendProcessStdin("ticker", "later\n")
            while "got later" not in lines[-1] and lines[-1]:
                lines.append(tail.stdout.readline())
            assert lines[-1] == "got later\n"  # streamed after it was written
        finally:
            tail.kill()
            tail.wait()
        rc, out = d.ctl("maintail")
        assert rc == 0 and "spawned: 'ticker'" in out


def ctl_argv(d: Daemon) -> list[str]:
    from svharness import SUPERVISORCTL

    return [SUPERVISORCTL, "-c", str(d.config)]


def test_inet_server_with_basic_auth(tmp_path: Path) -> None:
    from servers import free_port

    port = free_port()
    header = (
        HEADER + f"\n[inet_http_server]\nport=127.0.0.1:{port}\nusername=admin\npassword=s3cret\n"
    )
    with run(tmp_path, "[program:a]\ncommand=sleep 1000\nstartsecs=0\n", header) as d:
        good = xmlrpc.client.ServerProxy(f"http://admin:s3cret@127.0.0.1:{port}/RPC2")
        assert good.supervisor.getState() == {"statecode": 1, "statename": "RUNNING"}
        bad = xmlrpc.client.ServerProxy(f"http://admin:wrong@127.0.0.1:{port}/RPC2")
        with pytest.raises(xmlrpc.client.ProtocolError) as info:
            bad.supervisor.getState()
        assert info.value.errcode == 401
        done = subprocess.run(
            [
                *ctl_argv(d),
                "-s",
                f"http://127.0.0.1:{port}",
                "-u",
                "admin",
                "-p",
                "s3cret",
                "status",
                "a",
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0 and "RUNNING" in done.stdout


def test_config_error_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "[program:a]\ncommand=/bin/true\nstartsecs=ten\n")
    done = subprocess.run(
        daemon_argv("tubeworks", conf), capture_output=True, text=True, timeout=30
    )
    line = HEADER.count("\n") + 4
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        f"Error: {conf}:{line}: [program:a] startsecs: expected an integer, got 'ten'"
    )


def test_unknown_key_warning_lands_in_activity_log(tmp_path: Path) -> None:
    with run(tmp_path, "[program:a]\ncommand=sleep 1000\nautorestrat=true\n") as d:
        assert "WARN " in d.activity_log()
        assert "[program:a] unknown key 'autorestrat' (did you mean 'autorestart'?)" in (
            d.activity_log()
        )


def test_sigterm_stops_children_and_exits(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
    with running_daemon("tubeworks", conf) as d:
        pid = d.wait_state("a", "RUNNING")["pid"]
        assert (tmp_path / "supervisord.pid").read_text().strip() == str(d.proc.pid)
        assert stop_daemon(d.proc) == 0
        assert not psutil.pid_exists(pid)
        assert not (tmp_path / "supervisord.pid").exists()
        assert not (tmp_path / "sv.sock").exists()
        log = d.activity_log()
        assert "WARN received SIGTERM indicating exit request" in log
        assert "stopped: a (terminated by SIGTERM)" in log


def test_unexpected_exit_is_reported(tmp_path: Path) -> None:
    """A child that exits while the daemon is otherwise idle is reaped (pidfd) and reported."""
    programs = """
        [program:once]
        command=sh -c 'read x; exit 4'
        startsecs=0
        autorestart=false
    """
    with run(tmp_path, programs) as d:
        d.wait_state("once", "RUNNING")
        d.rpc().supervisor.sendProcessStdin("once", "go\n")
        info = d.wait_state("once", "EXITED")
        assert info["exitstatus"] == 4 and info["spawnerr"] == "Bad exit code 4"
        assert info["description"] == time.strftime("%b %d %I:%M %p", time.localtime(info["stop"]))


FCGI_CHILD = (
    "import os, socket\n"
    "s = socket.socket(fileno=0)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    c.sendall(os.environ['SUPERVISOR_PROCESS_NAME'].encode())\n"
    "    c.close()\n"
)


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_fcgi_program_children_accept_on_the_shared_socket(tmp_path: Path, kind: str) -> None:
    import socket

    from servers import free_port

    script = tmp_path / "fcgi_child.py"
    script.write_text(FCGI_CHILD)
    port = free_port()
    url = f"tcp://127.0.0.1:{port}" if kind == "tcp" else "unix://%(here)s/fcgi.sock"
    extra = "socket_mode=0660\n" if kind == "unix" else ""
    programs = f"""
        [fcgi-program:web]
        command={sys.executable} {script}
        socket={url}
        {extra}
        numprocs=2
        process_name=%(program_name)s_%(process_num)d
        startsecs=0
    """
    with run(tmp_path, programs) as d:
        d.wait_state("web:web_0", "RUNNING")
        d.wait_state("web:web_1", "RUNNING")
        if kind == "unix":
            assert (tmp_path / "fcgi.sock").stat().st_mode & 0o777 == 0o660
        names = set()
        for _ in range(6):
            if kind == "tcp":
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            else:
                conn = socket.socket(socket.AF_UNIX)
                conn.settimeout(10)
                conn.connect(str(tmp_path / "fcgi.sock"))
            with conn:
                names.add(conn.recv(100).decode())
        assert names <= {"web_0", "web_1"} and names
        assert d.ctl("stop", "web:*")[0] == 0
        assert d.ctl("start", "web:*")[0] == 0  # the socket is still there for new children


@pytest.mark.skipif(os.geteuid() != 0, reason="user= needs root")
def test_user_runs_the_child_as_that_user(tmp_path: Path) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    programs = """
        [program:who]
        command=sh -c 'id -u; id -g'
        user=nobody
        startsecs=0
        autorestart=false
        stdout_logfile=%(here)s/who.log
    """
    with run(tmp_path, programs) as d:
        d.wait_state("who", "EXITED")
        assert (tmp_path / "who.log").read_text().split() == [
            str(nobody.pw_uid),
            str(nobody.pw_gid),
        ]


def test_stdin_to_a_child_that_never_reads_does_not_block_the_daemon(tmp_path: Path) -> None:
    programs = """
        [program:deaf]
        command=sleep 1000
        startsecs=0
    """
    with run(tmp_path, programs) as d:
        d.wait_state("deaf", "RUNNING")
        sv = d.rpc().supervisor
        assert sv.sendProcessStdin("deaf", "x" * 1_000_000) is True  # > any pipe buffer
        assert sv.getState()["statename"] == "RUNNING"  # still serving
        assert d.ctl("stop", "deaf") == (0, "deaf: stopped\n")


def test_children_inherit_only_stdin_stdout_stderr(tmp_path: Path) -> None:
    programs = """
        [program:fds]
        command=sh -c 'ls /proc/$$/fd'
        startsecs=0
        autorestart=false
        stdout_logfile=%(here)s/fds.log
    """
    with run(tmp_path, programs) as d:
        d.wait_state("fds", "EXITED")
        fds = sorted(int(fd) for fd in (tmp_path / "fds.log").read_text().split())
        assert fds == [0, 1, 2]  # the daemon's sockets, logs and pidfds are all closed


def test_maintail_follow_streams_the_activity_log(tmp_path: Path) -> None:
    with run(tmp_path, "[program:a]\ncommand=sleep 1000\nstartsecs=0\nautostart=false\n") as d:
        follow = subprocess.Popen(
            [*ctl_argv(d), "maintail", "-f"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert follow.stdout is not None
            assert follow.stdout.readline() == "==> Press Ctrl-C to exit <==\n"
            line = follow.stdout.readline()
            while "supervisord started with pid" not in line and line:
                line = follow.stdout.readline()  # the history comes first
            assert "supervisord started with pid" in line
            d.rpc().supervisor.startProcess("a")
            line = follow.stdout.readline()
            while "spawned: 'a'" not in line and line:
                line = follow.stdout.readline()
            assert "spawned: 'a'" in line  # written after the stream began
        finally:
            follow.kill()
            follow.wait()


def test_exit_detection_without_pidfds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels without pidfd_open: SIGCHLD tells the daemon instead, with the same results."""
    from tubeworks.supervisor.daemon import NO_PIDFD_ENV

    monkeypatch.setenv(NO_PIDFD_ENV, "1")
    programs = """
        [program:crasher]
        command=sh -c "exit 3"
        startretries=1

        [program:once]
        command=sh -c 'read x; exit 4'
        startsecs=0
        autorestart=false

        [program:sleeper]
        command=sleep 1000
        startsecs=0
    """
    with run(tmp_path, programs) as d:
        assert d.wait_state("crasher", "FATAL")["spawnerr"] == m_TOO_QUICK
        d.wait_state("once", "RUNNING")
        d.rpc().supervisor.sendProcessStdin("once", "go\n")
        assert d.wait_state("once", "EXITED")["exitstatus"] == 4
        assert d.ctl("stop", "sleeper") == (0, "sleeper: stopped\n")
        assert d.ctl("start", "sleeper") == (0, "sleeper: started\n")


m_TOO_QUICK = "Exited too quickly (process log may have details)"

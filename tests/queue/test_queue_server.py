"""``tubeworks queue`` as a process: flags, signals, unix sockets, back-pressure, many clients."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest

from servers import free_port, running, tubeworks_argv, wait_listening


def recv_until(sock: socket.socket, suffix: bytes, limit: float = 10.0) -> bytes:
    sock.settimeout(limit)
    data = b""
    while not data.endswith(suffix):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tubeworks_argv(), "queue", *args], capture_output=True, text=True, timeout=20
    )


def test_help_says_the_default_address_differs_from_beanstalkd() -> None:
    out = run_cli("-h")
    assert out.returncode == 0
    assert "default 127.0.0.1" in out.stdout
    assert "-b, --binlog-dir DIR" in out.stdout


def test_version_flag() -> None:
    out = run_cli("-v")
    assert out.returncode == 0
    assert out.stdout.startswith("tubeworks ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-x"], "tubeworks queue: unknown flag: -x"),
        (["foo"], "tubeworks queue: unknown argument: foo"),
        (["-p"], "tubeworks queue: flag -p requires an argument"),
        (["-p", "http"], "tubeworks queue: -p: expected a whole number, got 'http'"),
        (["--port=70000"], "tubeworks queue: -p: 70000 is out of range (0..65535)"),
    ],
)
def test_usage_errors_exit_5_with_a_reason(args: list[str], message: str) -> None:
    out = run_cli(*args)
    assert out.returncode == 5
    assert out.stderr.splitlines()[0] == message


def test_grouped_flags_like_beanstalkd() -> None:
    from tubeworks.queue.cli import parse_args

    opts = parse_args(["-VFVukr", "-p1234", "-llocalhost", "-z1073741825", "-bfoo", "-s", "99"])
    assert opts.verbose == 2
    assert opts.fsync_ms is None
    assert opts.user == "kr"
    assert opts.port == 1234
    assert opts.listen == "localhost"
    assert opts.max_job_size == 1073741824
    assert opts.binlog_dir == "foo"
    assert opts.binlog_size == 99
    assert parse_args(["-f1234"]).fsync_ms == 1234
    assert parse_args(["-f1234", "-F"]).fsync_ms is None


def test_sigterm_stops_gracefully_with_status_0() -> None:
    with running("tubeworks") as srv:
        s = srv.connect()
        s.sendall(b"put 0 0 10 1\r\nx\r\n")
        assert recv_until(s, b"\r\n") == b"INSERTED 1\r\n"
        assert srv.stop(signal.SIGTERM) == 0
        assert s.recv(10) == b""  # connection closed by the server


def test_sigint_stops_gracefully_with_status_0() -> None:
    with running("tubeworks") as srv:
        assert srv.stop(signal.SIGINT) == 0


def test_sigusr1_enters_drain_mode() -> None:
    with running("tubeworks") as srv:
        s = srv.connect()
        srv.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while True:
            s.sendall(b"stats\r\n")
            if b"draining: true" in recv_until(s, b"\n\r\n"):
                break
            assert time.monotonic() < deadline
        s.sendall(b"put 0 0 10 1\r\nb\r\n")
        assert recv_until(s, b"\r\n") == b"DRAINING\r\n"
        s.sendall(b"reserve-with-timeout 0\r\n")
        assert recv_until(s, b"\r\n") == b"TIMED_OUT\r\n"


def test_unix_socket_replaces_a_stale_socket_but_not_a_file(tmp_path) -> None:
    path = str(tmp_path / "q.sock")
    for _ in range(2):  # the second start finds the first one's socket file
        proc = subprocess.Popen([*tubeworks_argv(), "queue", "-l", f"unix:{path}"])
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(path)
                    break
                except OSError:
                    s.close()
                    assert time.monotonic() < deadline, "unix socket never accepted"
                    time.sleep(0.01)
            s.sendall(b"put 0 0 1 1\r\na\r\npeek 1\r\n")
            assert recv_until(s, b"a\r\n") == b"INSERTED 1\r\nFOUND 1 1\r\na\r\n"
            s.close()
        finally:
            proc.kill()
            proc.wait()
    regular = tmp_path / "file"
    regular.write_text("precious")
    out = run_cli("-l", f"unix:{regular}")
    assert out.returncode == 111
    assert "is not a socket; refusing to replace it" in out.stderr
    assert regular.read_text() == "precious"


def test_half_closed_waiting_client_gets_timed_out_then_eof() -> None:
    with running("tubeworks") as srv:
        s = srv.connect()
        s.sendall(b"reserve\r\n")
        s.shutdown(socket.SHUT_WR)
        assert recv_until(s, b"\r\n") == b"TIMED_OUT\r\n"
        assert s.recv(10) == b""


def test_half_closed_client_still_gets_its_replies() -> None:
    with running("tubeworks") as srv:
        s = srv.connect()
        s.sendall(b"put 0 0 1 1\r\na\r\nstats-tube default\r\n")
        s.shutdown(socket.SHUT_WR)
        data = recv_until(s, b"\n\r\n")
        assert data.startswith(b"INSERTED 1\r\nOK ")
        assert s.recv(10) == b""


def test_a_client_that_never_reads_does_not_stall_others_or_grow_memory() -> None:
    with running("tubeworks") as srv:
        setup = srv.connect()
        body = b"z" * 60000
        setup.sendall(b"put 0 0 10 %d\r\n%s\r\n" % (len(body), body))
        assert recv_until(setup, b"\r\n") == b"INSERTED 1\r\n"
        base = rss_kib(srv.proc.pid)
        hog = srv.connect()
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.setblocking(False)
        sent = 0
        chunk = b"peek 1\r\n" * 4096  # each asks for 60 kB: 240 MB of replies per chunk
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sent < 20 * len(chunk):
            try:
                sent += hog.send(chunk)
            except BlockingIOError:
                break  # the server stopped reading us: back-pressure works
        other = srv.connect()
        other.sendall(b"stats-job 1\r\n")
        assert recv_until(other, b"\n\r\n").startswith(b"OK ")
        assert rss_kib(srv.proc.pid) - base < 64 * 1024  # far less than the replies asked for
        hog.close()


def test_thousands_of_connections() -> None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = min(2000, soft // 3)
    with running("tubeworks") as srv:
        socks = [srv.connect() for _ in range(n)]
        for i, s in enumerate(socks):
            s.sendall(b"put 0 0 10 1\r\n%d\r\n" % (i % 10))
        for s in socks:
            assert recv_until(s, b"\r\n").startswith(b"INSERTED ")
        probe = srv.connect()
        probe.sendall(b"stats\r\n")
        stats = recv_until(probe, b"\n\r\n")
        assert b"current-connections: %d\n" % (n + 1) in stats
        assert b"current-jobs-ready: %d\n" % n in stats
        for s in socks:
            s.close()


def test_default_listen_address_is_loopback() -> None:
    port = free_port()
    proc = subprocess.Popen([*tubeworks_argv(), "queue", "-p", str(port)])
    try:
        wait_listening("127.0.0.1", port, proc)
        import psutil

        listening = [
            c.laddr
            for c in psutil.Process(proc.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert [(a.ip, a.port) for a in listening] == [("127.0.0.1", port)]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_runs_as_python_module() -> None:
    out = subprocess.run([sys.executable, "-m", "tubeworks", "queue", "-v"], capture_output=True)
    assert out.returncode == 0
    assert os.fsdecode(out.stdout).startswith("tubeworks ")


def test_verbose_prints_pid_bind_accept_close() -> None:
    with running("tubeworks", "-V") as srv:
        s = srv.connect()
        s.sendall(b"quit\r\n")
        assert s.recv(10) == b""
        assert srv.stop() == 0
        assert srv.proc.stdout is not None
        lines = srv.proc.stdout.read().decode().splitlines()
    assert lines[0] == f"pid {srv.proc.pid}"
    assert lines[1].startswith("bind ") and lines[1].endswith(f"127.0.0.1:{srv.port}")
    # the test harness's own start-up probe connects once too
    words = [w.split()[0] for w in lines[2:]]
    assert words.count("accept") == words.count("close") >= 2
    assert set(words) == {"accept", "close"}


def test_verbose_bind_line_shows_the_port_chosen_for_port_0() -> None:
    proc = subprocess.Popen(
        [*tubeworks_argv(), "queue", "-p", "0", "-V"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("pid ")
        bind = proc.stdout.readline().split()
        host, port = bind[2].rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"list-tube-used\r\n")
            assert recv_until(s, b"\r\n") == b"USING default\r\n"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_unix_socket_in_use_is_not_taken_over(tmp_path) -> None:
    path = str(tmp_path / "q.sock")
    first = subprocess.Popen([*tubeworks_argv(), "queue", "-l", f"unix:{path}"])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(path)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        out = run_cli("-l", f"unix:{path}")
        assert out.returncode == 111
        assert "is in use by another server; refusing to take it over" in out.stderr
        with socket.socket(socket.AF_UNIX) as s:  # the first server still owns it
            s.connect(path)
            s.sendall(b"list-tube-used\r\n")
            assert recv_until(s, b"\r\n") == b"USING default\r\n"
    finally:
        first.terminate()
        first.wait(10)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can become another user")
def test_user_flag_drops_privileges_after_binding() -> None:
    with running("tubeworks", "-u", "nobody") as srv:
        s = srv.connect()
        s.sendall(b"put 0 0 1 1\r\nx\r\n")
        # a reply means the server is serving, which it does only after becoming the user
        assert recv_until(s, b"\r\n") == b"INSERTED 1\r\n"
        with open(f"/proc/{srv.proc.pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        import pwd

        assert {int(u) for u in uids} == {pwd.getpwnam("nobody").pw_uid}
    out = run_cli("-p", str(free_port()), "-u", "no-such-user-here")
    assert out.returncode == 32
    expected = "tubeworks queue: cannot become user no-such-user-here: no such user"
    assert out.stderr.strip() == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can become another user")
def test_user_flag_with_a_log_directory() -> None:
    """The log is opened as the new user, like beanstalkd (pytest's tmp dirs are private to
    root, so this one is made where ``nobody`` can reach it)."""
    import shutil
    import tempfile
    from pathlib import Path

    top = Path(tempfile.mkdtemp(prefix="tubeworks-u-"))
    try:
        os.chmod(top, 0o755)
        wal = top / "wal"
        wal.mkdir()
        os.chown(wal, 65534, 65534)
        with running("tubeworks", "-u", "nobody", "-b", str(wal)) as srv:
            s = srv.connect()
            s.sendall(b"put 0 0 1 1\r\nx\r\n")
            assert recv_until(s, b"\r\n") == b"INSERTED 1\r\n"
        assert any(p.name.startswith("wal.") and p.stat().st_uid == 65534 for p in wal.iterdir())
    finally:
        shutil.rmtree(top)

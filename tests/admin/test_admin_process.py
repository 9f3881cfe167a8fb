"""The admin commands as real processes: exit codes, stderr lines, and Ctrl-C during bulk work."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time

import pytest

from servers import RunningServer, free_port, running
from tubeworks.client import Client, NotFound
from tubeworks.client.bulk import export_jobs

pytestmark = pytest.mark.timeout(60)


def tubeworks(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tubeworks", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,  # type: ignore[call-overload]
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_env_var_names_the_server(any_server: RunningServer) -> None:
    env = {"TUBEWORKS_SERVER": f"{any_server.host}:{any_server.port}"}
    code, out, err = finish(tubeworks("put", "--tube", "envy", "hi", env=env))
    assert (code, err) == (0, "")
    with Client(*any_server.address) as c:
        assert c.peek(int(out)).body == b"hi"


def test_unreachable_server_is_exit_3_with_one_line() -> None:
    port = free_port()
    code, out, err = finish(tubeworks("tubes", "--server", f"127.0.0.1:{port}"))
    assert code == 3 and out == ""
    assert err.startswith(f"tubeworks tubes: cannot connect to 127.0.0.1:{port}: ")
    assert err.count("\n") == 1


def test_bad_server_argument_is_a_usage_error() -> None:
    code, _, err = finish(tubeworks("tubes", "--server", "host:99999"))
    assert code == 2 and "expected a port in 1..65535, got '99999'" in err


def wait_until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def ready(client: Client, tube: str) -> int:
    try:
        return client.stats_tube(tube).current_jobs_ready
    except NotFound:
        return 0


def test_ctrl_c_stops_clear_between_batches(any_server: RunningServer) -> None:
    n = 4000
    with Client(*any_server.address, use="big") as c:
        c.put_many(f"job {i}" for i in range(n))
        # window 1: one job per batch, so the clear is surely still running when we interrupt
        proc = tubeworks("clear", "big", "--server", f"127.0.0.1:{any_server.port}",
                         "--window", "1", "--progress")  # fmt: skip
        wait_until(lambda: ready(c, "big") < n)
        proc.send_signal(signal.SIGINT)
        code, _, err = finish(proc)
        remaining = ready(c, "big")
    assert code == 130, err
    deleted = n - remaining
    assert 0 < deleted < n
    assert (
        f"tubeworks clear: interrupted: deleted {deleted} jobs from big; the rest is untouched"
        in err
    )
    assert "stopping after the batch in flight (Ctrl-C again to abort)" in err
    assert f"deleted {deleted:,} / 4,000 jobs" in err  # the progress line's last state


def test_ctrl_c_during_move_loses_and_duplicates_nothing(any_server: RunningServer) -> None:
    n = 3000
    with Client(*any_server.address, use="src") as c:
        c.put_many(f"job {i}" for i in range(n))
        proc = tubeworks("move", "src", "dst", "--server", f"127.0.0.1:{any_server.port}",
                         "--window", "1")  # fmt: skip
        wait_until(lambda: ready(c, "dst") > 0)
        proc.send_signal(signal.SIGINT)
        code, _, err = finish(proc)
        bodies: list[str] = []
        for tube in ("src", "dst"):
            export_jobs(c, tube, lambda r: bodies.append(r["body"]))
        moved = ready(c, "dst")
    assert code == 130, err
    assert 0 < moved < n
    assert f"interrupted: moved {moved} jobs from src to dst" in err
    assert sorted(bodies) == sorted(f"job {i}" for i in range(n))  # each job exactly once


def test_export_to_file_and_import_from_file(any_server: RunningServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = f"127.0.0.1:{any_server.port}"
    with Client(*any_server.address, use="e") as c:
        c.put_many([b"one", b"two"])
    path = tmp_path / "e.jsonl"
    code, out, err = finish(tubeworks("export", "e", "-o", str(path), "--server", server))
    assert (code, out, err) == (0, "", "exported 2 jobs from e\n")
    assert [json.loads(line)["body"] for line in path.read_text().splitlines()] == ["one", "two"]
    code, out, _ = finish(tubeworks("import", str(path), "--tube", "f", "--server", server))
    assert (code, out) == (0, "imported 2 jobs\n")


def test_top_redraws_in_place_on_a_terminal(beanstalkd: RunningServer) -> None:
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tubeworks", "top", "-i", "2", "-n", "0.05",
         "--server", f"127.0.0.1:{beanstalkd.port}"],
        stdout=child_fd, stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(child_fd)
    screen = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(main_fd)
    assert proc.wait(30) == 0
    assert proc.stderr is not None and proc.stderr.read() == b""
    proc.stderr.close()
    assert screen.count(b"\x1b[H\x1b[2J") == 2  # home + clear before each frame
    assert screen.count(b"tubeworks top") == 2 and b"default" in screen


def test_top_keeps_trying_while_the_server_is_down() -> None:
    port = free_port()
    code, out, err = finish(
        tubeworks("top", "-i", "2", "-n", "0.05", "--server", f"127.0.0.1:{port}")
    )
    frames = out.strip().split("\n\n")
    assert len(frames) == 2
    assert all(f.startswith(f"tubeworks top  127.0.0.1:{port}  unreachable: ") for f in frames)
    assert code == 3 and err.startswith("tubeworks top: cannot connect to ")


def test_top_recovers_when_the_server_comes_back() -> None:
    port = free_port()
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tubeworks", "top", "-n", "0.05", "--server", f"127.0.0.1:{port}"],
        stdout=child_fd, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(child_fd)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 20
        while marker not in seen:
            assert time.monotonic() < deadline, f"no {marker!r} in {seen[-300:]!r}"
            seen += os.read(main_fd, 65536)

    try:
        read_until(b"unreachable: cannot connect")
        with running("beanstalkd", port=port):
            seen = b""
            read_until(b"TUBE")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main_fd)

"""Start real queue servers for tests: the real ``beanstalkd`` (the oracle) and ours.

Both run as child processes on 127.0.0.1 with a free port; :func:`wait_listening` returns as
soon as the port accepts a connection, so no test sleeps for start-up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil

BEANSTALKD = shutil.which("beanstalkd") or "/usr/bin/beanstalkd"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(
    host: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0
) -> None:
    """Return once ``proc`` itself listens on ``port`` and it accepts connections; fail if
    ``proc`` exits first. (Checking the owner matters: :func:`free_port` can race with another
    process that takes the same port, and then a test would talk to a stranger.)"""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            out = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode} before listening: {out}")
        try:
            if _listens(proc.pid, port):
                with socket.create_connection((host, port), timeout=0.5):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.args!r} not listening on {host}:{port} after {timeout}s")
        time.sleep(0.005)


def _listens(pid: int, port: int) -> bool:
    try:
        conns = psutil.Process(pid).net_connections(kind="inet")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)


@dataclass
class RunningServer:
    """A queue server child process and where it listens."""

    kind: str  # "beanstalkd" (the real one) or "tubeworks" (ours)
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    argv: list[str] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        s = socket.create_connection(self.address, timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def tubeworks_argv() -> list[str]:
    """How to run our CLI from the test environment."""
    return [sys.executable, "-m", "tubeworks"]


def start_server(
    kind: str, *extra: str, port: int | None = None, env: dict[str, str] | None = None
) -> RunningServer:
    """Start ``beanstalkd`` or ``tubeworks queue`` with beanstalkd-style flags and wait for it."""
    port = port or free_port()
    if kind == "beanstalkd":
        argv = [BEANSTALKD, "-l", "127.0.0.1", "-p", str(port), *extra]
    elif kind == "tubeworks":
        argv = [*tubeworks_argv(), "queue", "-l", "127.0.0.1", "-p", str(port), *extra]
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_listening("127.0.0.1", port, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return RunningServer(kind, "127.0.0.1", port, proc, argv)


@contextlib.contextmanager
def running(kind: str, *extra: str, **kw: object) -> Iterator[RunningServer]:
    srv = start_server(kind, *extra, **kw)  # type: ignore[arg-type]
    try:
        yield srv
    finally:
        srv.stop()
        for pipe in (srv.proc.stdout, srv.proc.stderr):
            if pipe:
                pipe.close()

"""Start and stop a queue server under test, and read its memory and identity from /proc.

A server is given as a command template (``--server-cmd``/``--ours-cmd``) with ``{host}`` and
``{port}`` placeholders. It may be pinned to one CPU so that it never competes with the load
generator for a core (see docs/benchmarks.md for why that matters on a 2-core machine).
"""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import IO

HOST = "127.0.0.1"
START_TIMEOUT = 15.0  # seconds for a server to start listening
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class BenchError(Exception):
    """The harness cannot go on: a server did not start, or the load generator failed."""


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def expand(template: str, port: int, option: str, tmpdir: str = "") -> list[str]:
    """``template`` split like a shell would, with ``{host}``, ``{port}`` and ``{tmpdir}``
    (an empty directory of this run's own, e.g. for ``-b {tmpdir}``) filled in.

    Raises:
        BenchError: the template has no ``{port}`` placeholder (the server would listen on a
            port we do not know).
    """
    if "{port}" not in template:
        raise BenchError(f"{option}: expected a {{port}} placeholder, got {template!r}")
    return [
        a.replace("{host}", HOST).replace("{port}", str(port)).replace("{tmpdir}", tmpdir)
        for a in shlex.split(template)
    ]


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM this child when the harness dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def child_setup(cpu: int | None) -> dict[str, object]:
    """Popen keyword arguments: the child dies with us and, if ``cpu`` is given, runs on it only.

    So no server or generator outlives an interrupted run (Ctrl-C, a test timeout, SIGKILL).
    """

    def setup() -> None:
        _die_with_parent()
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return {"preexec_fn": setup}


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS in /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def _listen_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                        inodes.add(fields[9])
        except OSError:
            continue
    return inodes


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def listener_pid(port: int, root: int) -> int:
    """The process (``root`` or one of its descendants) that holds the listening socket.

    Lets a server command be a wrapper (``uv run ...``, a shell script) and still have the
    right process's memory and CPU measured. Falls back to ``root``.
    """
    wanted = {f"socket:[{i}]" for i in _listen_inodes(port)}
    for pid in _descendants(root):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return pid
            except OSError:
                continue
    return root


@dataclass
class Server:
    """A running server under test."""

    label: str  # "beanstalkd" or "ours", for messages
    port: int
    proc: subprocess.Popen[bytes]
    pid: int  # the process that listens (may differ from proc.pid for wrapper commands)
    log: IO[bytes]  # the server's stdout+stderr, shown if it fails
    tmpdir: str  # {tmpdir} of this run, removed by stop()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(
                f"{self.label} server exited with {self.proc.returncode}:\n{self.output()}"
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def start(label: str, template: str, option: str, cpu: int | None) -> Server:
    """Start a server from ``template`` on a free port and return once it accepts connections."""
    port = free_port()
    tmpdir = tempfile.mkdtemp(prefix="tubeworks-bench-")
    argv = expand(template, port, option, tmpdir)
    log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the server, closed by stop()
    try:
        proc = subprocess.Popen(  # type: ignore[call-overload]
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **child_setup(cpu)
        )
    except OSError as exc:
        log.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise BenchError(f"{option}: cannot run {argv[0]!r}: {exc.strerror}") from exc
    server = Server(label, port, proc, proc.pid, log, tmpdir)
    try:
        _wait_listening(server)
        server.pid = listener_pid(port, proc.pid)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_listening(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        server.check_alive()
        try:
            with socket.create_connection((HOST, server.port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{server.label} server not listening on {HOST}:{server.port} "
                    f"after {START_TIMEOUT:.0f}s:\n{server.output()}"
                ) from None
            time.sleep(0.01)

"""Worker and server processes, each in a process group of its own, so that stopping one
stops everything it forked (Celery's pool, Dramatiq's worker processes).

A started group also dies with the harness: its leader gets SIGTERM from the kernel when we
exit, however we exit (``PR_SET_PDEATHSIG``), and forwards it to its own children.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for a group


class BenchError(Exception):
    """One measurement cannot go on: a process died, or the jobs never all finished."""


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class Group:
    """A started process and its process group."""

    label: str  # for messages, e.g. "celery worker"
    proc: subprocess.Popen[bytes]
    log: IO[bytes]  # its stdout and stderr, shown when it fails

    def output(self, limit: int = 1500) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-limit:]

    def check_alive(self) -> None:
        """Raises BenchError if the leader has exited."""
        if self.proc.poll() is not None:
            raise BenchError(
                f"{self.label} exited with {self.proc.returncode}: {self.output().strip()}"
            )

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the whole group, SIGKILL whatever is left after ``grace`` seconds."""
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while _group_alive(self.proc) and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()  # reap the leader, so that a dead leader no longer counts
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


def start(label: str, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> Group:
    """Start ``argv`` in a new process group, output to a temporary file."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by Group.stop
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    except OSError as exc:
        log.close()
        raise BenchError(f"cannot run {argv[0]!r}: {exc.strerror}") from exc
    return Group(label, proc, log)


def stop_all(groups: Sequence[Group]) -> None:
    """Stop several groups at once: SIGTERM to all first, so their shutdowns overlap."""
    for g in groups:
        try:
            os.killpg(g.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for g in groups:
        g.stop()


def cpu_seconds(groups: Sequence[Group]) -> float:
    """User+system CPU time of every live process in ``groups``' process groups (Linux /proc).

    Children that already exited are not counted; no framework here forks per job.
    """
    pgids = {g.proc.pid for g in groups}
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids:  # fields: state ppid pgrp ... utime(11) stime(12)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(group: Group, port: int, timeout: float = 15.0) -> None:
    """Return once ``port`` accepts connections; raise if the server exits or is too slow."""
    deadline = time.monotonic() + timeout
    while True:
        group.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{group.label} not listening on 127.0.0.1:{port} after {timeout:.0f}s: "
                    f"{group.output().strip()}"
                ) from None
            time.sleep(0.01)

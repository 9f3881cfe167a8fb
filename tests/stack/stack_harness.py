"""Run ``tubeworks up`` as a real child process for tests, and make sure nothing outlives it.

The child runs in its own session, so teardown can kill the whole process group; every pid
seen below it is remembered so a test can assert they are all gone after a clean stop.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

TUBEWORKS = [sys.executable, "-m", "tubeworks"]
SRC = str(Path(__file__).resolve().parents[2])  # repo root: makes `examples` importable


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH", "")) if p)
    return env


class Up:
    """A running ``tubeworks up`` with its output collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*TUBEWORKS, "up", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env or child_env(),
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self.seen_pids: set[int] = set()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """The first output line (seen so far or coming) containing ``text``."""
        deadline = time.monotonic() + timeout
        for line in list(self.lines):
            if text in line:
                return line
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {text!r} in:\n" + "\n".join(self.lines))
            try:
                line = self._new.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(
                    f"up exited ({self.proc.wait()}) before {text!r}:\n" + "\n".join(self.lines)
                )
            if text in line:
                return line

    def children(self) -> list[psutil.Process]:
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.seen_pids.update(k.pid for k in kids)
        return kids

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        self.children()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def leftovers(self) -> list[int]:
        """Pids once seen under ``up`` that still exist (zombies of other parents count)."""
        alive = []
        for pid in self.seen_pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        return alive

    def kill_all(self) -> None:
        """Teardown: whatever is left of the session goes."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in self.seen_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def eventually(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)

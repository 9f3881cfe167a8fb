"""Start an example's ``tubeworks up`` stack as a child process and stop it cleanly.

The child gets its own session, so whatever happens here (an error, Ctrl-C) the whole
process group can be taken down; nothing outlives the example.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tubeworks.client import Client, NotFound

START_TIMEOUT = 30.0  # seconds for the queue to listen and the pools to start
STOP_TIMEOUT = 60.0  # seconds for workers to finish their jobs and the queue to stop


class ExampleError(Exception):
    """An example could not run, or its results do not add up; the message says which."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """A running ``tubeworks up``: its address and the lines it printed."""

    proc: subprocess.Popen[bytes]
    port: int
    lines: list[str] = field(default_factory=list)
    _new: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, **kw: object) -> Client:
        return Client("127.0.0.1", self.port, **kw)  # type: ignore[arg-type]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ExampleError(f"tubeworks up did not say {text!r} in {timeout:.0f}s") from None
            if line is None:
                tail = "\n".join(self.lines[-15:])
                raise ExampleError(f"tubeworks up exited before saying {text!r}:\n{tail}")
            if text in line:
                return line

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C would: workers finish their jobs, the queue flushes, exit 0.

        Raises:
            ExampleError: it did not stop in time, or a process it started outlived it.
        """
        below = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ExampleError("tubeworks up did not stop in time") from None
        left = sorted(pid for pid in below if alive(pid))
        if left:
            raise ExampleError(f"tubeworks up left processes behind: {left}")
        return status


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # it just exited
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True unless the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextlib.contextmanager
def running_stack(
    config: Path, var_dir: Path, env: dict[str, str] | None = None, expect: str = "Ctrl-C"
) -> Iterator[Stack]:
    """``tubeworks up -c CONFIG`` on a free port, until the block ends (then a clean stop)."""
    port = free_port()
    argv = [sys.executable, "-m", "tubeworks", "up", "-c", str(config), "-p", str(port),
            "--var-dir", str(var_dir)]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=True,
    )
    stack = Stack(proc, port)
    threading.Thread(target=stack._read, daemon=True).start()
    clean = False
    try:
        stack.wait_for(expect)
        yield stack
        status = stack.stop()
        if status != 0:
            tail = "\n".join(stack.lines[-15:])
            raise ExampleError(f"tubeworks up exited with status {status}:\n{tail}")
        clean = True
    finally:
        if not clean:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def tube_counts(client: Client, tube: str) -> dict[str, int]:
    """ready/reserved/delayed/buried counts of a tube (zeros if it does not exist yet)."""
    try:
        s = client.stats_tube(tube)
    except NotFound:
        return {"ready": 0, "reserved": 0, "delayed": 0, "buried": 0}
    return {
        "ready": s.current_jobs_ready,
        "reserved": s.current_jobs_reserved,
        "delayed": s.current_jobs_delayed,
        "buried": s.current_jobs_buried,
    }


def wait_drained(
    client: Client,
    tubes: list[str],
    progress: Callable[[dict[str, int]], None],
    timeout: float,
    every: float = 0.5,
) -> dict[str, int]:
    """Poll until no job of ``tubes`` is ready, reserved or delayed; report each look."""
    deadline = time.monotonic() + timeout
    while True:
        total = {"ready": 0, "reserved": 0, "delayed": 0, "buried": 0}
        for tube in tubes:
            for key, value in tube_counts(client, tube).items():
                total[key] += value
        progress(total)
        if total["ready"] + total["reserved"] + total["delayed"] == 0:
            return total
        if time.monotonic() > deadline:
            raise ExampleError(f"jobs still waiting after {timeout:.0f}s: {total}")
        time.sleep(every)

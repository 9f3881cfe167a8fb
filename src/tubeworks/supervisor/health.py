"""``healthcheck=``: probe RUNNING processes periodically and restart one that keeps failing.

A probe is ``tcp://HOST:PORT`` (a connection is accepted), ``http://HOST:PORT/PATH`` (the
answer's status is 2xx) or ``command:SHELL COMMAND`` (exits 0).  After
``healthcheck_retries`` failures in a row the process is restarted (stop, then start), and
the activity log says why.  Probes run as asyncio tasks so a hanging one never blocks the
daemon; each is bounded by ``healthcheck_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.states import ProcessState

if TYPE_CHECKING:
    from tubeworks.supervisor.daemon import Supervisor
    from tubeworks.supervisor.runtime import Process

TICK = 0.1


async def _tcp(host: str, port: int) -> str | None:
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def _http(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname and parts.port
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        writer.write(
            f"GET {path} HTTP/1.0\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
        )
        status = (await reader.readline()).decode("latin-1").split()
    finally:
        writer.close()
    if len(status) >= 2 and status[1].startswith("2") and len(status[1]) == 3:
        return None
    return f"HTTP status {' '.join(status[1:2]) or 'missing'}"


async def _command(command: str) -> str | None:
    proc = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = await proc.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the shell and its children
        await proc.wait()
        raise
    return None if code == 0 else f"exit status {code}"


async def probe(spec: str, timeout: float) -> str | None:
    """None when healthy, else a short reason."""
    try:
        async with asyncio.timeout(timeout):
            if spec.startswith("command:"):
                return await _command(spec[8:].strip())
            parts = urllib.parse.urlsplit(spec)
            if parts.scheme == "tcp":
                assert parts.hostname and parts.port
                return await _tcp(parts.hostname, parts.port)
            return await _http(spec)
    except TimeoutError:
        return f"no answer in {timeout:g}s"
    except OSError as exc:
        return exc.strerror or str(exc)


@dataclass
class _Track:
    pid: int
    due: float
    failures: int = 0
    task: asyncio.Task[str | None] | None = None
    last: str = field(default="")


async def watch_health(sv: Supervisor) -> None:
    """Probe each RUNNING process with a healthcheck every healthcheck_interval seconds."""
    tracks: dict[int, _Track] = {}  # id(process) -> its probe state
    while True:
        await asyncio.sleep(TICK)
        now = time.monotonic()
        live: set[int] = set()
        for process in sv.all_processes():
            c = process.config
            if not c.healthcheck or process.state != ProcessState.RUNNING:
                continue
            live.add(id(process))
            t = tracks.get(id(process))
            if t is None or t.pid != process.proc.pid:
                t = tracks[id(process)] = _Track(process.proc.pid, now)  # first probe at once
                process.health = "pending"
            _advance(sv, process, t, now)
        for key in set(tracks) - live:
            task = tracks.pop(key).task
            if task is not None:
                task.cancel()


def _advance(sv: Supervisor, process: Process, t: _Track, now: float) -> None:
    c = process.config
    if t.task is None:
        if now >= t.due:
            t.task = asyncio.get_running_loop().create_task(
                probe(c.healthcheck, c.healthcheck_timeout or c.healthcheck_interval)
            )
        return
    if not t.task.done():
        return
    reason = t.task.result()
    t.task, t.due = None, now + c.healthcheck_interval
    if reason is None:
        t.failures = 0
        process.health = "ok"
        if process.healthy_pid != process.proc.pid:
            process.healthy_pid = process.proc.pid
            sv.log.info(f"ready: {process.namespec} passed its health check")
            sv.dependency_ready()
        return
    process.healthy_pid = 0
    t.failures += 1
    t.last = reason
    process.health = f"failing ({reason}, {t.failures} in a row)"
    sv.log.log("warn", f"unhealthy: {process.namespec} ({reason}), {t.failures} in a row")
    if t.failures >= c.healthcheck_retries:
        t.failures = 0
        sv.feed(process, m.Unhealthy(reason))

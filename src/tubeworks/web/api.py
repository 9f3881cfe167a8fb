"""The dashboard's JSON API: what the page polls and the actions its buttons take.

Every handler returns ``(status, json-able value)``; :mod:`tubeworks.web.app` does the HTTP.
Process actions go through the same :class:`RPCInterface` as supervisorctl, so the dashboard
obeys exactly the same rules (and faults). Queue servers are reached with our own
:class:`AsyncClient`, one connection per server shared under a lock (a client is one
connection and refuses to be used by two tasks at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from tubeworks.client import AsyncClient, Client, ClientError, NotFound
from tubeworks.client.address import Address
from tubeworks.client.bulk import clear_tube
from tubeworks.supervisor.daemon import Process, Supervisor
from tubeworks.supervisor.faults import RPCError
from tubeworks.supervisor.reports import process_info
from tubeworks.supervisor.rpc import RPCInterface
from tubeworks.supervisor.states import SIGNALLABLE_STATES
from tubeworks.web.body import render_body
from tubeworks.web.procstat import usage
from tubeworks.web.queues import QueueTarget, RateHistory, known_targets

Reply = tuple[int, Any]

TAIL_START: Final = 4096  # bytes of history a new log view starts with
TAIL_CHUNK: Final = 64 * 1024  # most bytes one poll returns (the page asks again for more)
QUEUE_TIMEOUT: Final = 5.0  # seconds a queue server may take to answer before we say so
SERVER_RATES: Final = {"puts": "cmd_put", "reserves": "cmd_reserve", "deletes": "cmd_delete"}
PROCESS_ACTIONS: Final = ("start", "stop", "restart")
QUEUE_ACTIONS: Final = ("kick", "kick-job", "delete", "pause", "clear")
DEFAULT_TUBE: Final = "default"


class BadRequest(Exception):
    """A request the API cannot act on; ``str()`` is the message shown to the user."""

    status = 400


def read_tail(path: str, offset: int, limit: int = TAIL_CHUNK) -> tuple[bytes, int, bool]:
    """``(data, next offset, reset)`` for a log view that has read up to ``offset``.

    ``offset < 0`` starts a new view with the last :data:`TAIL_START` bytes. An offset past
    the end means the file was rotated or cleared: start again from its beginning (``reset``).
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            reset = offset < 0 or offset > size
            if offset < 0:
                offset = max(0, size - TAIL_START)
            elif offset > size:
                offset = 0
            f.seek(offset)
            data = f.read(limit)
    except OSError:
        return b"", 0, True
    return data, offset + len(data), reset


class QueueConn:
    """One queue server: a lazily connected client, its lock and its rate history."""

    def __init__(self, target: QueueTarget) -> None:
        self.target = target
        self.client = AsyncClient(
            target.address, timeout=QUEUE_TIMEOUT, connect_timeout=QUEUE_TIMEOUT
        )
        self.lock = asyncio.Lock()
        self.server_rates = RateHistory()
        self.tube_rates = RateHistory()

    async def run(self, work: Callable[[AsyncClient], Awaitable[Any]]) -> Any:
        async with self.lock:
            return await work(self.client)


class Dashboard:
    """The API over one supervisor."""

    def __init__(self, sv: Supervisor, rpc: RPCInterface) -> None:
        self.sv = sv
        self.rpc = rpc
        self.queues: dict[str, QueueConn] = {}

    # ---- what there is ----

    def targets(self) -> list[QueueTarget]:
        programs = [(p.namespec, p.config.command) for p in self.sv.all_processes()]
        return known_targets(programs)

    def _queue(self, key: object) -> QueueConn:
        if not isinstance(key, str):
            raise BadRequest(f"expected a queue address, got {key!r}")
        for target in self.targets():
            name = str(target.address)
            if name == key:
                conn = self.queues.get(name)
                if conn is None:
                    conn = self.queues[name] = QueueConn(target)
                conn.target = target  # the program that runs it may have been renamed
                return conn
        raise BadRequest(f"unknown queue server {key!r}")

    def process_view(self, process: Process) -> dict[str, Any]:
        info = process_info(process)
        proc = process.proc
        running = proc.state in SIGNALLABLE_STATES and proc.pid > 0
        used = usage(proc.pid) if running else None
        return {
            "name": process.namespec,
            "group": process.group,
            "state": proc.state.name,
            "pid": proc.pid if running else None,
            "uptime": max(0, int(time.time() - proc.laststart)) if running else None,
            "description": info["description"],
            "exitstatus": info["exitstatus"],
            "cpu": used.cpu_seconds if used else None,
            "rss": used.rss_bytes if used else None,
            "logs": [c for c, path in process.log_paths.items() if path],
        }

    async def state(self) -> Reply:
        """Everything the page shows, polled every second or two."""
        queues = []
        try:
            targets = self.targets()
        except ClientError as exc:
            targets = []
            queues.append({"address": "", "source": "environment", "error": str(exc)})
        # concurrently: one slow or unreachable server must not hold up the others
        conns = [self._queue(str(target.address)) for target in targets]
        queues.extend(await asyncio.gather(*(self._queue_overview(c) for c in conns)))
        return 200, {
            "supervisor": {
                "identification": self.sv.config.supervisord.identifier,
                "state": self.sv.state.name,
                "pid": os.getpid(),
            },
            "processes": [self.process_view(p) for p in self.sv.all_processes()],
            "queues": queues,
        }

    async def _queue_overview(self, conn: QueueConn) -> dict[str, Any]:
        out: dict[str, Any] = {"address": str(conn.target.address), "source": conn.target.source}

        async def read(c: AsyncClient) -> tuple[Any, Any]:
            return await c.stats(), await c.stats_tubes()

        try:
            stats, tubes = await conn.run(read)
        except (ClientError, OSError) as exc:
            return {**out, "error": f"{type(exc).__name__}: {exc}"}
        now = time.time()
        conn.server_rates.add(now, {k: getattr(stats, attr) for k, attr in SERVER_RATES.items()})
        conn.tube_rates.add(now, {t.name: t.total_jobs for t in tubes})
        return {
            **out,
            "error": None,
            "version": stats.version,
            "connections": stats.current_connections,
            "tubes": [
                {
                    "name": t.name,
                    "ready": t.current_jobs_ready,
                    "reserved": t.current_jobs_reserved,
                    "delayed": t.current_jobs_delayed,
                    "buried": t.current_jobs_buried,
                    "urgent": t.current_jobs_urgent,
                    "total": t.total_jobs,
                    "watching": t.current_watching,
                    "waiting": t.current_waiting,
                    "paused": t.pause_time_left,
                }
                for t in tubes
            ],
            "rates": conn.server_rates.rates(),
            "tube_rates": conn.tube_rates.rates(),
        }

    async def tube(self, queue: str, tube: str) -> Reply:
        """One tube: its stats and the next ready, delayed and buried job."""
        conn = self._queue(queue)

        async def read(c: AsyncClient) -> dict[str, Any] | None:
            try:
                stats = await c.stats_tube(tube)
            except NotFound:
                return None
            peeks: dict[str, Any] = {}
            async with _using(c, tube):
                for state, peek in (
                    ("ready", c.peek_ready),
                    ("delayed", c.peek_delayed),
                    ("buried", c.peek_buried),
                ):
                    try:
                        job = await peek()
                        job_stats = await c.stats_job(job.id)
                    except NotFound:
                        peeks[state] = None
                        continue
                    peeks[state] = {
                        "id": job.id,
                        "pri": job_stats.pri,
                        "age": job_stats.age,
                        "time_left": job_stats.time_left,
                        "body": render_body(job.body),
                    }
            return {"name": tube, "stats": stats.as_dict(), "peek": peeks}

        try:
            detail = await conn.run(read)
        except (ClientError, OSError) as exc:
            return 502, {"error": f"{type(exc).__name__}: {exc}"}
        if detail is None:
            return 404, {"error": f"no tube {tube!r} on {queue}"}
        return 200, detail

    # ---- actions ----

    async def queue_action(self, request: dict[str, Any]) -> Reply:
        """kick / kick-job / delete / pause / clear, as the request's ``action`` says."""
        conn = self._queue(request.get("queue"))
        action = request.get("action")
        if action not in QUEUE_ACTIONS:
            raise BadRequest(f"expected an action in {', '.join(QUEUE_ACTIONS)}, got {action!r}")
        tube = request.get("tube")
        if action in ("kick", "pause", "clear") and not isinstance(tube, str):
            raise BadRequest(f"{action} needs a tube name, got {tube!r}")
        address = conn.target.address
        number = {
            "kick": ("bound", 1, 2**31),
            "kick-job": ("job", 1, 2**63),
            "delete": ("job", 1, 2**63),
            "pause": ("seconds", 0, 2**32 - 1),
        }.get(action)
        n = _number(request, *number) if number else 0  # checked before anything is done

        async def act(c: AsyncClient) -> dict[str, Any]:
            if action == "kick":
                async with _using(c, str(tube)):
                    return {"kicked": await c.kick(n)}
            if action == "kick-job":
                await c.kick_job(n)
                return {"kicked": 1}
            if action == "delete":
                await c.delete(n)
                return {"deleted": 1}
            if action == "pause":
                await c.pause_tube(str(tube), n)
                return {"paused": n}
            return {"deleted": await asyncio.to_thread(_clear, address, str(tube))}

        try:
            return 200, await conn.run(act)
        except NotFound as exc:
            return 404, {"error": f"not found: {exc}"}
        except (ClientError, OSError) as exc:
            return 502, {"error": f"{type(exc).__name__}: {exc}"}

    async def process_action(self, request: dict[str, Any]) -> Reply:
        """start / stop / restart one process through the XML-RPC interface's rules."""
        name, action = request.get("name"), request.get("action")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"expected a process name, got {name!r}")
        if action not in PROCESS_ACTIONS:
            raise BadRequest(f"expected an action in {', '.join(PROCESS_ACTIONS)}, got {action!r}")
        try:
            if action in ("stop", "restart"):
                try:
                    await self.rpc.call("supervisor.stopProcess", (name, True))
                except RPCError as exc:
                    if action == "stop" or not exc.text.startswith("NOT_RUNNING"):
                        raise
            if action in ("start", "restart"):
                await self.rpc.call("supervisor.startProcess", (name, False))
        except RPCError as exc:
            return 409, {"error": exc.text}
        return 200, {"ok": True}

    def log(self, name: str, channel: str, offset: int) -> Reply:
        """New output of a process since ``offset`` (see :func:`read_tail`)."""
        _, process = self.sv.find(name)
        if process is None:
            return 404, {"error": f"no process {name!r}"}
        path = process.log_paths.get(channel, "")
        if not path:
            return 404, {"error": f"{name} has no {channel} log"}
        data, end, reset = read_tail(path, offset)
        return 200, {"text": data.decode("utf-8", "replace"), "offset": end, "reset": reset}


def _number(request: dict[str, Any], key: str, low: int, high: int) -> int:
    value = request.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key}: expected an integer in {low}..{high}, got {value!r}")
    return value


@contextlib.asynccontextmanager
async def _using(client: AsyncClient, tube: str) -> AsyncIterator[None]:
    """Use ``tube`` for a moment, then ``default`` again.

    A connection using a tube keeps it alive (and a reconnect would restore the use), so the
    dashboard must not go on using the last tube someone looked at.
    """
    await client.use(tube)
    try:
        yield
    finally:
        await client.use(DEFAULT_TUBE)


def _clear(address: Address, tube: str) -> int:
    with Client(address, timeout=QUEUE_TIMEOUT) as client:
        return clear_tube(client, tube).done

"""The queue store kept in PostgreSQL: many servers, one set of tubes.

Theory of operation
-------------------
Jobs, pauses and id sequences live in the database; connections (what each client uses,
watches and holds) live in the server process. Every command that needs the database answers
asynchronously (see :mod:`tubeworks.queue.store`): the method sets ``conn.waiting``, starts a
task, and the task delivers the reply. One client's commands therefore run strictly in order,
while different clients' queries run concurrently on a small pool.

Reserving is one UPDATE that takes the best ready job of the watched tubes with
``FOR UPDATE SKIP LOCKED`` (``sql.RESERVE``), so two servers never hand out one job and never
wait for each other. A reservation records its server and connection; release, bury, touch and
delete check both in the same statement, so the database, not this process, decides ownership.

Waking blocked reservers: a put, release, kick or promotion on any server is announced with
``pg_notify`` on the schema's channel; each server keeps its blocked clients in arrival order and,
for a tube that got jobs, "pumps": tries the first idle waiter watching it, and on success the
next, until a try finds nothing. A try that finds nothing while the tube was announced again
retries, so no wake-up is lost between the query and the announcement.

Time: each server keeps one timer heap of moments it must "sweep" (``sql.SWEEP``: make due
delayed jobs ready, end expired reservations): the ready time of every delayed job announced by
any server, and the deadline of each reservation it handed out. A housekeeping pass every
:data:`HOUSEKEEPING_SECONDS` also sweeps, which is what returns the jobs of a server that died
(at its TTR, at most that much later). Housekeeping also writes this server's heartbeat, its
clients' tube use and its counters, from which every server's ``stats`` adds up global figures.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import platform
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from tubeworks.queue import protocol as P
from tubeworks.queue.core import _server_id, _yaml_list
from tubeworks.queue.jobs import DELAYED, READY
from tubeworks.queue.pgstore import sql
from tubeworks.queue.pgstore.conn import Deliver, PgConn
from tubeworks.queue.pgstore.db import DatabaseError, Listener, Pool, Target, migrate
from tubeworks.queue.pgstore.stats import DEAD_AFTER_SECONDS, Reports

log = logging.getLogger("tubeworks.queue.pgstore")

#: Heartbeat, counters, tube use and a catch-all sweep run this often.
HOUSEKEEPING_SECONDS: Final = 1.0
#: Job ids taken from the sequence at once.
ID_BLOCK: Final = 32
DEFAULT: Final = b"default"



def _reply_job(word: bytes, job_id: int, body: bytes) -> bytes:
    return b"%s %d %d\r\n%s" % (word, job_id, len(body) - 2, body)


class PgStore(Reports):
    """A :class:`~tubeworks.queue.store.Store` on PostgreSQL. Create with :func:`open_store`."""

    def __init__(self, target: Target, *, max_job_size: int, started_at: float) -> None:
        self.target = target
        self.max_job_size = max_job_size
        self.started_at = started_at
        self.cmd_counts = [0] * len(P.Op)
        self.draining = False
        self.access_refusals = 0
        self.limit_refusals = 0
        self.report_limits = False
        self.max_tubes: int | None = None  # not enforced with a shared store
        self.server_id = _server_id()
        self.pool = Pool(target)
        self.listener = Listener(target, self._on_notify, self._on_listener_reconnect)
        self.loop = asyncio.get_running_loop()
        self.conns: dict[int, PgConn] = {}
        self._next_conn = 1
        self.total_connections = 0
        self.job_timeouts = 0
        self.total_jobs = 0
        self.tube_counts: dict[tuple[bytes, str], int] = {}  # (tube, name) -> this server's count
        self._refs: dict[bytes, list[int]] = {DEFAULT: [0, 0]}  # tube -> [using, watching]
        self._tube_order: list[bytes] = [DEFAULT]  # list-tubes order (beanstalkd's swap removal)
        self._ids: list[int] = []
        self._burn = 0
        self._id_lock = asyncio.Lock()
        self._waiters: dict[PgConn, None] = {}  # blocked (or trying) reservers, arrival order
        self._gen: dict[bytes, int] = {}  # per tube: how often it was announced
        self._pumping: dict[bytes, asyncio.Task[Any]] = {}
        self._repump: set[bytes] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._notify_pending: set[bytes] = set()  # tubes with a "ready" notice not yet sent
        self._due: list[tuple[float, int, Any]] = []  # (when, seq, what) sweep moments
        self._due_seq = 0
        self._due_timer: asyncio.TimerHandle | None = None
        self._due_at: float | None = None
        self._housekeeper: asyncio.Task[None] | None = None
        self._snapshot_dirty = True
        self._saved_counters: dict[tuple[bytes, str], int] = {}
        self._closing = False

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        now = time.time()
        await self.pool.fetch(
            sql.REGISTER,
            {"id": self.server_id, "now": now, "pid": os.getpid(), "host": platform.node()},
        )
        self.listener.start()
        try:
            await asyncio.wait_for(self.listener.connected.wait(), 10)
        except TimeoutError:
            log.warning("LISTEN connection not up yet; blocked reserves poll until it is")
        self._housekeeper = self.loop.create_task(self._housekeeping())

    async def close(self) -> None:
        """Finish in-flight work (closed clients' reservations are released), then leave."""
        self._closing = True
        for conn in list(self.conns.values()):
            self.disconnect(conn, time.time())
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        if self._due_timer is not None:
            self._due_timer.cancel()
        await self.listener.stop()
        try:
            await self._save_counters()
            await self.pool.fetch(sql.UNREGISTER, {"me": self.server_id})
        except DatabaseError as exc:
            log.warning("could not deregister from the database: %s", exc)
        await self.pool.close()

    # --- plumbing ------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = self.loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _answer(self, conn: PgConn, coro: Awaitable[bytes | None]) -> None:
        """Run ``coro`` for ``conn`` and deliver its reply (None: the coroutine will)."""
        conn.waiting = True
        conn.busy = self._spawn(self._run_answer(conn, coro))

    async def _run_answer(self, conn: PgConn, coro: Awaitable[bytes | None]) -> None:
        try:
            reply = await coro
        except DatabaseError as exc:
            log.error("database error, answering INTERNAL_ERROR: %s", exc)
            self._forget_waiter(conn)
            reply = P.INTERNAL_ERROR
        if reply is None:
            return
        conn.waiting = False
        if not conn.closed:
            conn.deliver(reply)

    def _notify(self, kind: str, tube: bytes, at: float = 0.0) -> None:
        """Tell the other servers (fire and forget; they also sweep and poll as a fallback).

        "Tube has ready jobs" notices are coalesced: while one for the tube waits for a database
        connection, later changes ride on it (it is sent after they committed)."""
        if kind == "r":
            if tube in self._notify_pending:
                return
            self._notify_pending.add(tube)
        self._spawn(self._send_notify(self._payload(kind, tube, at), tube if kind == "r" else None))

    def _payload(self, kind: str, tube: bytes, at: float) -> str:
        return f"{self.server_id} {kind} {at!r} {tube.hex()}"

    async def _send_notify(self, payload: str, coalesced: bytes | None) -> None:
        params = {"channel": self.target.channel, "payload": payload}
        try:
            async with self.pool.connection() as db:
                if coalesced is not None:
                    self._notify_pending.discard(coalesced)  # later changes need a new notice
                await db.execute(sql.NOTIFY.encode(), params)
        except DatabaseError as exc:
            if coalesced is not None:
                self._notify_pending.discard(coalesced)
            log.warning("cannot notify other servers: %s", exc)

    def _on_notify(self, payload: str) -> None:
        try:
            sender, kind, at_text, tube_hex = payload.split(" ")
            tube, at = bytes.fromhex(tube_hex), float(at_text)
        except ValueError:
            log.warning("ignoring a malformed notification %r", payload)
            return
        if sender == self.server_id:
            return
        if kind == "r":
            self._ready(tube)
        elif kind in ("d", "p"):
            self._sweep_at(at, tube if kind == "p" else None)

    def _on_listener_reconnect(self) -> None:
        for tube in self._waiting_tubes():
            self._ready(tube)
        self._sweep_at(time.time(), None)

    # --- connections ---------------------------------------------------------------------------

    def connect(self, deliver: Deliver) -> PgConn:
        conn = PgConn(self._next_conn, deliver)
        self._next_conn += 1
        self.conns[conn.id] = conn
        self.total_connections += 1
        self._ref(DEFAULT, 1, 1)
        return conn

    def disconnect(self, conn: PgConn, now: float) -> None:
        if self.conns.pop(conn.id, None) is None:
            return
        conn.closed = True
        self._forget_waiter(conn)
        self._unref(conn.use, 1, 0)
        for tube in conn.watch:
            self._unref(tube, 0, 1)
        self._spawn(self._release_all(conn))

    async def _release_all(self, conn: PgConn) -> None:
        if conn.busy is not None and not conn.busy.done():
            await asyncio.wait([conn.busy])
        if not conn.reserved:
            return
        ids = list(conn.reserved)
        conn.reserved.clear()
        try:
            rows = await self.pool.fetch(
                sql.RELEASE_ALL, {"ids": ids, "owner": self.server_id, "conn": conn.id}
            )
        except DatabaseError as exc:
            log.error("cannot release a closed client's jobs (they return at their TTR): %s", exc)
            return
        for tube in {r[0] for r in rows}:
            self._ready(tube)
            self._notify("r", tube)

    def give_up_waiting(self, conn: PgConn) -> None:
        conn.gave_up = True
        if conn.blocked and not conn.attempting:
            self._forget_waiter(conn)
            conn.waiting = False
            conn.deliver(P.TIMED_OUT)

    def _ref(self, tube: bytes, using: int, watching: int) -> None:
        refs = self._refs.get(tube)
        if refs is None:
            refs = self._refs[tube] = [0, 0]
            if tube not in self._tube_order:
                self._tube_order.append(tube)
        refs[0] += using
        refs[1] += watching
        self._snapshot_dirty = True

    def _unref(self, tube: bytes, using: int, watching: int) -> None:
        refs = self._refs[tube]
        refs[0] -= using
        refs[1] -= watching
        if refs == [0, 0] and tube != DEFAULT:
            del self._refs[tube]
        self._snapshot_dirty = True

    # --- producer commands ---------------------------------------------------------------------

    def put(self, conn: PgConn, pri: int, delay: int, ttr: int, body: bytes, now: float) -> bytes | None:  # noqa: E501
        self.cmd_counts[P.Op.PUT] += 1
        conn.producer = True
        if self._ids and not self._burn:
            job_id: int | None = self._ids.pop()
        else:
            job_id = None  # taken in the task
        if self.draining:
            if job_id is None:
                self._burn += 1
            return P.DRAINING
        self._answer(conn, self._put(conn.use, job_id, pri, delay, max(ttr, 1), body, now))
        return None

    async def _next_id(self) -> int:
        async with self._id_lock:
            while not self._ids or self._burn:
                if not self._ids:
                    rows = await self.pool.fetch(sql.TAKE_IDS, {"n": ID_BLOCK})
                    self._ids = sorted((r[0] for r in rows), reverse=True)
                while self._burn and self._ids:
                    self._ids.pop()
                    self._burn -= 1
            return self._ids.pop()

    async def _put(
        self, tube: bytes, job_id: int | None, pri: int, delay: int, ttr: int, body: bytes,
        now: float,
    ) -> bytes:
        if job_id is None:
            job_id = await self._next_id()
        ready_at = now + delay if delay else 0.0
        await self.pool.fetch(
            sql.PUT,
            {
                "id": job_id, "tube": tube, "state": DELAYED if delay else READY, "pri": pri,
                "delay": delay, "ttr": ttr, "body": body, "now": now, "ready_at": ready_at,
            },
        )
        self.total_jobs += 1
        self._count(tube, "total-jobs")
        if delay:
            self._sweep_at(ready_at, None)
            self._notify("d", tube, ready_at)
        else:
            await self._handed(tube)
            self._notify("r", tube)
        return b"INSERTED %d\r\n" % job_id

    def put_bad_body(self, conn: PgConn) -> bytes | None:
        self.cmd_counts[P.Op.PUT] += 1
        conn.producer = True
        if self._ids and not self._burn:
            self._ids.pop()
        else:
            self._burn += 1
        return P.EXPECTED_CRLF

    def use(self, conn: PgConn, name: bytes) -> bytes | None:
        self.cmd_counts[P.Op.USE] += 1
        self._ref(name, 1, 0)
        self._unref(conn.use, 1, 0)
        conn.use = name
        return b"USING %s\r\n" % name

    # --- worker commands -----------------------------------------------------------------------

    def reserve(self, conn: PgConn, timeout: int | None, now: float) -> bytes | None:
        self.cmd_counts[P.Op.RESERVE if timeout is None else P.Op.RESERVE_TIMEOUT] += 1
        conn.worker = True
        conn.timeout_at = None if timeout is None else now + timeout
        self._waiters[conn] = None
        self._answer(conn, self._reserve(conn))
        return None

    async def _reserve(self, conn: PgConn) -> bytes | None:
        reply = await self._attempt(conn)
        if reply is not None:
            return reply
        now = time.time()
        if conn.deadline_soon(now):
            self._forget_waiter(conn)
            return P.DEADLINE_SOON
        if conn.gave_up:
            self._forget_waiter(conn)
            return P.TIMED_OUT
        if conn.timeout_at is not None and conn.timeout_at <= now:
            self._forget_waiter(conn)
            return P.TIMED_OUT
        conn.blocked = True
        self._arm_wait(conn, now)
        return None

    async def _attempt(self, conn: PgConn) -> bytes | None:
        """Try to reserve for a waiting ``conn``; retry while its tubes are announced meanwhile."""
        conn.attempting = True
        try:
            while True:
                gens = [self._gen.get(t, 0) for t in conn.watch]
                now = time.time()
                rows = await self.pool.fetch(
                    sql.RESERVE,
                    {"owner": self.server_id, "conn": conn.id, "tubes": conn.watch, "now": now},
                )
                if rows:
                    job_id, deadline, body = rows[0]
                    self._took(conn, job_id, deadline)
                    self._forget_waiter(conn)
                    return _reply_job(b"RESERVED", job_id, body)
                if gens == [self._gen.get(t, 0) for t in conn.watch]:
                    return None
        finally:
            conn.attempting = False

    def _took(self, conn: PgConn, job_id: int, deadline: float) -> None:
        conn.reserved[job_id] = deadline
        self._sweep_at(deadline, (conn, job_id))

    def _forget_waiter(self, conn: PgConn) -> None:
        self._waiters.pop(conn, None)
        conn.blocked = False
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None

    def _arm_wait(self, conn: PgConn, now: float) -> None:
        wake = conn.wake_time(now)
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        if wake is not None:
            conn.timer = self.loop.call_later(max(0.0, wake - now), self._wait_timer, conn)

    def _wait_timer(self, conn: PgConn) -> None:
        conn.timer = None
        if not conn.blocked or conn.attempting:
            return  # an attempt in flight calls this again when it finds nothing
        now = time.time()
        soon = conn.deadline_soon(now)
        if not soon and (conn.timeout_at is None or conn.timeout_at > now):
            self._arm_wait(conn, now)
            return
        self._forget_waiter(conn)
        conn.waiting = False
        conn.deliver(P.DEADLINE_SOON if soon else P.TIMED_OUT)

    def _waiting_tubes(self) -> set[bytes]:
        return {t for c in self._waiters for t in c.watch}

    def _ready(self, tube: bytes) -> asyncio.Task[Any] | None:
        """``tube`` may have ready jobs now: hand them to blocked reservers (the task doing
        that, if any)."""
        self._gen[tube] = self._gen.get(tube, 0) + 1
        if not self._waiters:
            return None
        task = self._pumping.get(tube)
        if task is not None:
            self._repump.add(tube)
        elif any(tube in c.watch for c in self._waiters):
            task = self._pumping[tube] = self._spawn(self._pump(tube))
        return task

    async def _handed(self, tube: bytes) -> None:
        """Hand ``tube``'s new jobs to this server's waiting clients before replying, so the
        client that made them ready sees them taken, as with beanstalkd."""
        task = self._ready(tube)
        if task is not None:
            await asyncio.wait([task])

    async def _pump(self, tube: bytes) -> None:
        try:
            while True:
                self._repump.discard(tube)
                conn = next(
                    (c for c in self._waiters
                     if c.blocked and not c.attempting and tube in c.watch),
                    None,
                )
                if conn is not None:
                    task = self._spawn(self._serve_blocked(conn))
                    conn.busy = task
                    if await task:
                        continue
                if tube not in self._repump:
                    return
        finally:
            self._pumping.pop(tube, None)

    async def _serve_blocked(self, conn: PgConn) -> bool:
        try:
            reply = await self._attempt(conn)
        except DatabaseError as exc:
            log.error("reserve failed, the client keeps waiting: %s", exc)
            return False
        if reply is None:
            if conn.gave_up and conn.blocked:
                self.give_up_waiting(conn)
            elif conn.blocked and conn.timer is None:
                self._wait_timer(conn)  # its timer fired during the attempt
            return False
        conn.waiting = False
        if not conn.closed:
            conn.deliver(reply)
        return True

    def reserve_job(self, conn: PgConn, job_id: int, now: float) -> bytes | None:
        self._answer(conn, self._reserve_job(conn, job_id, now))
        return None

    async def _reserve_job(self, conn: PgConn, job_id: int, now: float) -> bytes:
        rows = await self.pool.fetch(
            sql.RESERVE_JOB, {"owner": self.server_id, "conn": conn.id, "id": job_id, "now": now}
        )
        if not rows:
            return P.NOT_FOUND
        job_id, deadline, body = rows[0]
        conn.worker = True
        self._took(conn, job_id, deadline)
        return _reply_job(b"RESERVED", job_id, body)

    def _mine(self, conn: PgConn, job_id: int, now: float) -> dict[str, Any]:
        return {"id": job_id, "owner": self.server_id, "conn": conn.id, "now": now}

    def delete(self, conn: PgConn, job_id: int) -> bytes | None:
        self.cmd_counts[P.Op.DELETE] += 1
        self._answer(conn, self._delete(conn, job_id))
        return None

    async def _delete(self, conn: PgConn, job_id: int) -> bytes:
        rows = await self.pool.fetch(sql.DELETE, self._mine(conn, job_id, time.time()))
        if not rows:
            return P.NOT_FOUND
        conn.reserved.pop(job_id, None)
        self._count(rows[0][0], "cmd-delete")
        return P.DELETED

    def release(self, conn: PgConn, job_id: int, pri: int, delay: int, now: float) -> bytes | None:
        self.cmd_counts[P.Op.RELEASE] += 1
        if job_id not in conn.reserved:
            return P.NOT_FOUND
        self._answer(conn, self._release(conn, job_id, pri, delay, now))
        return None

    async def _release(self, conn: PgConn, job_id: int, pri: int, delay: int, now: float) -> bytes:
        rows = await self.pool.fetch(
            sql.RELEASE, {**self._mine(conn, job_id, now), "pri": pri, "delay": delay}
        )
        conn.reserved.pop(job_id, None)
        if not rows:
            return P.NOT_FOUND
        tube, ready_at = rows[0]
        if delay:
            self._sweep_at(ready_at, None)
            self._notify("d", tube, ready_at)
        else:
            await self._handed(tube)
            self._notify("r", tube)
        return P.RELEASED

    def bury(self, conn: PgConn, job_id: int, pri: int) -> bytes | None:
        self.cmd_counts[P.Op.BURY] += 1
        if job_id not in conn.reserved:
            return P.NOT_FOUND
        self._answer(conn, self._bury(conn, job_id, pri))
        return None

    async def _bury(self, conn: PgConn, job_id: int, pri: int) -> bytes:
        params = {**self._mine(conn, job_id, time.time()), "pri": pri}
        rows = await self.pool.fetch(sql.BURY, params)
        conn.reserved.pop(job_id, None)
        return P.BURIED if rows else P.NOT_FOUND

    def touch(self, conn: PgConn, job_id: int, now: float) -> bytes | None:
        self.cmd_counts[P.Op.TOUCH] += 1
        if job_id not in conn.reserved:
            return P.NOT_FOUND
        self._answer(conn, self._touch(conn, job_id, now))
        return None

    async def _touch(self, conn: PgConn, job_id: int, now: float) -> bytes:
        rows = await self.pool.fetch(sql.TOUCH, self._mine(conn, job_id, now))
        if not rows:
            conn.reserved.pop(job_id, None)
            return P.NOT_FOUND
        self._took(conn, job_id, rows[0][0])
        return P.TOUCHED

    def watch(self, conn: PgConn, name: bytes) -> bytes | None:
        self.cmd_counts[P.Op.WATCH] += 1
        if name not in conn.watch:
            conn.watch.append(name)
            self._ref(name, 0, 1)
        return b"WATCHING %d\r\n" % len(conn.watch)

    def ignore(self, conn: PgConn, name: bytes) -> bytes | None:
        self.cmd_counts[P.Op.IGNORE] += 1
        if name not in conn.watch:
            return b"WATCHING %d\r\n" % len(conn.watch)
        if len(conn.watch) == 1:
            return P.NOT_IGNORED
        index = conn.watch.index(name)
        last = conn.watch.pop()
        if index < len(conn.watch):
            conn.watch[index] = last  # beanstalkd's swap removal
        self._unref(name, 0, 1)
        return b"WATCHING %d\r\n" % len(conn.watch)

    # --- inspection and admin ------------------------------------------------------------------

    def _peek(self, conn: PgConn, op: P.Op, query: str, params: dict[str, Any]) -> None:
        self.cmd_counts[op] += 1
        self._answer(conn, self._found(query, params))

    async def _found(self, query: str, params: dict[str, Any]) -> bytes:
        rows = await self.pool.fetch(query, params)
        return _reply_job(b"FOUND", rows[0][0], rows[0][1]) if rows else P.NOT_FOUND

    def peek(self, conn: PgConn, job_id: int) -> bytes | None:
        self._peek(conn, P.Op.PEEK, sql.PEEK, {"id": job_id})
        return None

    def peek_ready(self, conn: PgConn) -> bytes | None:
        self._peek(conn, P.Op.PEEK_READY, sql.PEEK_READY, {"tube": conn.use})
        return None

    def peek_delayed(self, conn: PgConn) -> bytes | None:
        self._peek(conn, P.Op.PEEK_DELAYED, sql.PEEK_DELAYED, {"tube": conn.use})
        return None

    def peek_buried(self, conn: PgConn) -> bytes | None:
        self._peek(conn, P.Op.PEEK_BURIED, sql.PEEK_BURIED, {"tube": conn.use})
        return None

    def kick(self, conn: PgConn, bound: int, now: float) -> bytes | None:
        self.cmd_counts[P.Op.KICK] += 1
        self._answer(conn, self._kick(conn.use, bound))
        return None

    async def _kick(self, tube: bytes, bound: int) -> bytes:
        params = {"tube": tube, "n": bound}
        rows = await self.pool.fetch(sql.KICK_BURIED, params) if bound else []
        if not rows and not await self.pool.fetch(sql.HAS_BURIED, params):
            rows = await self.pool.fetch(sql.KICK_DELAYED, params) if bound else []
        if rows:
            await self._handed(tube)
            self._notify("r", tube)
        return b"KICKED %d\r\n" % len(rows)

    def kick_job(self, conn: PgConn, job_id: int, now: float) -> bytes | None:
        self._answer(conn, self._kick_job(job_id))
        return None

    async def _kick_job(self, job_id: int) -> bytes:
        rows = await self.pool.fetch(sql.KICK_JOB, {"id": job_id})
        if not rows:
            return P.NOT_FOUND
        await self._handed(rows[0][0])
        self._notify("r", rows[0][0])
        return P.KICKED

    def pause_tube(self, conn: PgConn, name: bytes, delay: int, now: float) -> bytes | None:
        self.cmd_counts[P.Op.PAUSE_TUBE] += 1
        self._answer(conn, self._pause_tube(name, delay, now))
        return None

    async def _pause_tube(self, name: bytes, delay: int, now: float) -> bytes:
        if not await self._tube_exists(name):
            return P.NOT_FOUND
        at = now + delay if delay else now
        await self.pool.fetch(sql.PAUSE, {"tube": name, "pause": delay, "at": at})
        if delay:
            self._sweep_at(at, name)
            self._notify("p", name, at)
        else:
            await self._handed(name)
            self._notify("r", name)
        return P.PAUSED

    def list_tube_used(self, conn: PgConn) -> bytes | None:
        self.cmd_counts[P.Op.LIST_TUBE_USED] += 1
        return b"USING %s\r\n" % conn.use

    def list_tubes_watched(self, conn: PgConn) -> bytes | None:
        self.cmd_counts[P.Op.LIST_TUBES_WATCHED] += 1
        return _yaml_list(conn.watch)

    # --- counters ------------------------------------------------------------------------------

    # --- time ----------------------------------------------------------------------------------

    def next_wakeup(self) -> float | None:
        return None  # this store keeps its own timers

    def tick(self, now: float) -> None:
        pass

    def _sweep_at(self, when: float, what: Any) -> None:
        """Sweep at ``when``: ``what`` is None (a delay ends), a tube name (a pause ends) or
        ``(conn, job_id)`` (a reservation of ours may expire)."""
        self._due_seq += 1
        heapq.heappush(self._due, (when, self._due_seq, what))
        if self._due_at is None or when < self._due_at:
            if self._due_timer is not None:
                self._due_timer.cancel()
            self._due_at = when
            self._due_timer = self.loop.call_later(max(0.0, when - time.time()), self._on_due)

    def _on_due(self) -> None:
        self._due_timer = None
        self._due_at = None
        now = time.time()
        sweep = False
        while self._due and self._due[0][0] <= now:
            when, _, what = heapq.heappop(self._due)
            if what is None:
                sweep = True
            elif isinstance(what, bytes):
                self._ready(what)  # its pause ended
            else:
                conn, job_id = what
                if conn.reserved.get(job_id) == when:
                    sweep = True
        if sweep:
            self._spawn(self._sweep())
        if self._due:
            when = self._due[0][0]
            self._due_at = when
            self._due_timer = self.loop.call_later(max(0.0, when - now), self._on_due)

    async def _sweep(self) -> None:
        try:
            rows = await self.pool.fetch(sql.SWEEP, {"now": time.time()})
        except DatabaseError as exc:
            log.warning("sweep failed (retried in %.0fs): %s", HOUSEKEEPING_SECONDS, exc)
            return
        for kind, tube, count in rows:
            if kind == "t":
                self.job_timeouts += int(count)
            self._ready(tube)
            self._notify("r", tube)

    async def _housekeeping(self) -> None:
        beat = 0
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            beat += 1
            now = time.time()
            try:
                await self.pool.fetch(sql.HEARTBEAT, {"id": self.server_id, "now": now})
                await self._save_tubes()
                await self._save_counters()
                if beat % 10 == 0:
                    dead_before = now - 6 * DEAD_AFTER_SECONDS
                    await self.pool.fetch(sql.FORGET_DEAD, {"dead_before": dead_before})
            except DatabaseError as exc:
                self._snapshot_dirty = True
                log.warning("housekeeping failed: %s", exc)
            await self._sweep()
            if not self.listener.connected.is_set():
                for tube in self._waiting_tubes():
                    self._ready(tube)




async def open_store(url: str, *, max_job_size: int, started_at: float) -> PgStore:
    """Check and migrate the database, register this server, start listening.

    Raises ValueError for a bad URL and SchemaError when the database cannot be used.
    """
    from tubeworks.queue.pgstore.db import parse_target

    target = parse_target(url)
    await migrate(target)
    store = PgStore(target, max_job_size=max_job_size, started_at=started_at)
    try:
        await store.start()
    except DatabaseError as exc:
        from tubeworks.queue.pgstore.schema import SchemaError

        raise SchemaError(f"cannot register with {target}: {exc}") from exc
    return store


Callback = Callable[[], None]

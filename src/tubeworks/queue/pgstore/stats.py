"""What the PostgreSQL store reports: list-tubes, stats-job, stats-tube, stats, and the
per-server counters and tube-use snapshots other servers add into their figures.

A mixin of :class:`~tubeworks.queue.pgstore.store.PgStore` (split out to keep each module to one
concern); the attributes it reads are declared below and set by the store.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Awaitable
from typing import Any, Final

from tubeworks.queue import protocol as P
from tubeworks.queue.core import PROTOCOL_VERSION, _format_stats, _yaml_list
from tubeworks.queue.jobs import BURIED, DELAYED, READY, RESERVED
from tubeworks.queue.pgstore import sql
from tubeworks.queue.pgstore.conn import PgConn
from tubeworks.queue.pgstore.db import Pool

#: A server silent this long is dead: its clients' tube use no longer counts.
DEAD_AFTER_SECONDS: Final = 10.0

_STATE_NAMES: Final = {
    READY: b"ready", RESERVED: b"reserved", BURIED: b"buried", DELAYED: b"delayed"
}
_STATS_OPS: Final = (
    P.Op.PUT, P.Op.PEEK, P.Op.PEEK_READY, P.Op.PEEK_DELAYED, P.Op.PEEK_BURIED, P.Op.RESERVE,
    P.Op.RESERVE_TIMEOUT, P.Op.DELETE, P.Op.RELEASE, P.Op.USE, P.Op.WATCH, P.Op.IGNORE,
    P.Op.BURY, P.Op.KICK, P.Op.TOUCH, P.Op.STATS, P.Op.STATS_JOB, P.Op.STATS_TUBE,
    P.Op.LIST_TUBES, P.Op.LIST_TUBE_USED, P.Op.LIST_TUBES_WATCHED, P.Op.PAUSE_TUBE,
)
_STATS_ORDER: Final = (
    "current-jobs-urgent", "current-jobs-ready", "current-jobs-reserved", "current-jobs-delayed",
    "current-jobs-buried", "cmd-put", "cmd-peek", "cmd-peek-ready", "cmd-peek-delayed",
    "cmd-peek-buried", "cmd-reserve", "cmd-reserve-with-timeout", "cmd-delete", "cmd-release",
    "cmd-use", "cmd-watch", "cmd-ignore", "cmd-bury", "cmd-kick", "cmd-touch", "cmd-stats",
    "cmd-stats-job", "cmd-stats-tube", "cmd-list-tubes", "cmd-list-tube-used",
    "cmd-list-tubes-watched", "cmd-pause-tube",
)


def _op_key(op: P.Op) -> str:
    return "cmd-" + op.name.lower().replace("_", "-")


class Reports:
    """The reporting commands and counters of the PostgreSQL store."""

    pool: Pool
    server_id: str
    max_job_size: int
    started_at: float
    draining: bool
    report_limits: bool
    access_refusals: int
    limit_refusals: int
    cmd_counts: list[int]
    job_timeouts: int
    total_jobs: int
    total_connections: int
    tube_counts: dict[tuple[bytes, str], int]  # (tube, name) -> this server's count
    conns: dict[int, PgConn]
    _refs: dict[bytes, list[int]]
    _tube_order: list[bytes]
    _waiters: dict[PgConn, None]
    _saved_counters: dict[tuple[bytes, str], int]
    _snapshot_dirty: bool

    def _answer(self, conn: PgConn, coro: Awaitable[bytes | None]) -> None:
        raise NotImplementedError  # the store's

    def list_tubes(self, conn: PgConn) -> bytes | None:
        self.cmd_counts[P.Op.LIST_TUBES] += 1
        self._answer(conn, self._list_tubes())
        return None

    async def _list_tubes(self) -> bytes:
        return _yaml_list(await self._tube_names())

    async def _tube_names(self) -> list[bytes]:
        """Every tube that exists on any server, in this server's list-tubes order."""
        alive = {r[0] for r in await self.pool.fetch(sql.TUBES_WITH_JOBS)}
        alive.update(r[0] for r in await self._others_tubes())
        alive.update(self._refs)
        order = self._tube_order
        i = 0
        while i < len(order):
            if order[i] in alive:
                i += 1
                continue
            last = order.pop()
            if i < len(order):
                order[i] = last
        known = set(order)
        order.extend(sorted(alive - known))
        return list(order)

    async def _tube_exists(self, name: bytes) -> bool:
        if name in self._refs:
            return True
        if await self.pool.fetch(sql.TUBE_HAS_JOBS, {"tube": name}):
            return True
        return any(r[0] == name for r in await self._others_tubes())

    async def _others_tubes(self) -> list[Any]:
        return await self.pool.fetch(
            sql.OTHERS_TUBES,
            {"me": self.server_id, "alive_after": time.time() - DEAD_AFTER_SECONDS},
        )

    def stats_job(self, conn: PgConn, job_id: int, now: float) -> bytes | None:
        self.cmd_counts[P.Op.STATS_JOB] += 1
        self._answer(conn, self._stats_job(job_id, now))
        return None

    async def _stats_job(self, job_id: int, now: float) -> bytes:
        rows = await self.pool.fetch(sql.STATS_JOB, {"id": job_id})
        if not rows:
            return P.NOT_FOUND
        (job_id, tube, state, pri, created, delay, ttr, ready_at, deadline,
         reserves, timeouts, releases, buries, kicks) = rows[0]
        if state == RESERVED:
            time_left = int(deadline - now)
        elif state == DELAYED:
            time_left = int(ready_at - now)
        else:
            time_left = 0
        body = (
            b"---\nid: %d\ntube: \"%s\"\nstate: %s\npri: %d\nage: %d\ndelay: %d\nttr: %d\n"
            b"time-left: %d\nfile: 0\nreserves: %d\ntimeouts: %d\nreleases: %d\nburies: %d\n"
            b"kicks: %d\n"
            % (job_id, tube, _STATE_NAMES[state], pri, int(now - created), delay, ttr,
               time_left, reserves, timeouts, releases, buries, kicks)
        )
        return b"OK %d\r\n%s\r\n" % (len(body), body)

    def stats_tube(self, conn: PgConn, name: bytes, now: float) -> bytes | None:
        self.cmd_counts[P.Op.STATS_TUBE] += 1
        self._answer(conn, self._stats_tube(name, now))
        return None

    async def _stats_tube(self, name: bytes, now: float) -> bytes:
        rows = await self.pool.fetch(sql.TUBE_COUNTS, {"tube": name})
        counts = {r[0]: (r[1], r[2]) for r in rows}
        others = [r for r in await self._others_tubes() if r[0] == name]
        if not counts and not others and name not in self._refs:
            return P.NOT_FOUND
        using, watching = self._refs.get(name, (0, 0))
        waiting = sum(1 for c in self._waiters if c.blocked and name in c.watch)
        for _, o_using, o_watching, o_waiting in others:
            using, watching, waiting = using + o_using, watching + o_watching, waiting + o_waiting
        totals = await self._global_counters()
        pause_rows = await self.pool.fetch(sql.TUBE_PAUSE, {"tube": name})
        pause, unpause_at, cmd_pause = pause_rows[0] if pause_rows else (0, 0.0, 0)
        paused = pause and unpause_at > now
        body = (
            b"---\nname: \"%s\"\ncurrent-jobs-urgent: %d\ncurrent-jobs-ready: %d\n"
            b"current-jobs-reserved: %d\ncurrent-jobs-delayed: %d\ncurrent-jobs-buried: %d\n"
            b"total-jobs: %d\ncurrent-using: %d\ncurrent-watching: %d\ncurrent-waiting: %d\n"
            b"cmd-delete: %d\ncmd-pause-tube: %d\npause: %d\npause-time-left: %d\n"
            % (
                name, counts.get(READY, (0, 0))[1], counts.get(READY, (0, 0))[0],
                counts.get(RESERVED, (0, 0))[0], counts.get(DELAYED, (0, 0))[0],
                counts.get(BURIED, (0, 0))[0], totals.get((name, "total-jobs"), 0),
                using, watching, waiting, totals.get((name, "cmd-delete"), 0), cmd_pause,
                pause if paused else 0, int(unpause_at - now) if paused else 0,
            )
        )
        return b"OK %d\r\n%s\r\n" % (len(body), body)

    def stats(self, conn: PgConn, now: float) -> bytes | None:
        self.cmd_counts[P.Op.STATS] += 1
        self._answer(conn, self._stats(now))
        return None

    async def _stats(self, now: float) -> bytes:
        return _format_stats(None, await self.statistics(now))  # type: ignore[arg-type]

    async def statistics(self, now: float) -> dict[str, object]:
        """Every ``stats`` field in beanstalkd's order: job counts and counters are global
        (other servers' counters as of their last housekeeping), connections are this server's."""
        counts = {r[0]: (r[1], r[2]) for r in await self.pool.fetch(sql.ALL_COUNTS)}
        totals = await self._global_counters()
        tubes = await self._tube_names()
        usage = resource.getrusage(resource.RUSAGE_SELF)

        def total(name: str) -> int:
            return totals.get((b"", name), 0)

        stats: dict[str, object] = {
            "current-jobs-urgent": counts.get(READY, (0, 0))[1],
            "current-jobs-ready": counts.get(READY, (0, 0))[0],
            "current-jobs-reserved": counts.get(RESERVED, (0, 0))[0],
            "current-jobs-delayed": counts.get(DELAYED, (0, 0))[0],
            "current-jobs-buried": counts.get(BURIED, (0, 0))[0],
        }
        for op in _STATS_OPS:
            stats[f"cmd-{op.name.lower().replace('_', '-')}"] = total(_op_key(op))
        stats["cmd-reserve-with-timeout"] = stats.pop("cmd-reserve-timeout")
        ordered = {k: stats[k] for k in _STATS_ORDER}
        ordered.update({
            "job-timeouts": total("job-timeouts"),
            "total-jobs": total("total-jobs"),
            "max-job-size": self.max_job_size,
            "current-tubes": len(tubes),
            "current-connections": total("current-connections"),
            "current-producers": total("current-producers"),
            "current-workers": total("current-workers"),
            "current-waiting": total("current-waiting"),
            "total-connections": total("total-connections"),
            "pid": os.getpid(),
            "version": PROTOCOL_VERSION,
            "rusage-utime": usage.ru_utime,
            "rusage-stime": usage.ru_stime,
            "uptime": int(now - self.started_at),
            "binlog-oldest-index": 0,
            "binlog-current-index": 0,
            "binlog-records-migrated": 0,
            "binlog-records-written": 0,
            "binlog-max-size": 10485760,
            "draining": self.draining,
            "id": self.server_id,
            "hostname": platform.node(),
            "os": os.uname().version,
            "platform": os.uname().machine,
        })
        if self.report_limits:
            ordered["access-refusals"] = self.access_refusals
            ordered["limit-refusals"] = self.limit_refusals
        return ordered

    def _count(self, tube: bytes, name: str) -> None:
        key = (tube, name)
        self.tube_counts[key] = self.tube_counts.get(key, 0) + 1

    def _my_counters(self) -> dict[tuple[bytes, str], int]:
        mine = dict(self.tube_counts)
        for op in _STATS_OPS:
            mine[(b"", _op_key(op))] = self.cmd_counts[op]
        mine[(b"", "job-timeouts")] = self.job_timeouts
        mine[(b"", "total-jobs")] = self.total_jobs
        mine[(b"", "total-connections")] = self.total_connections
        # gauges (names start "current-"): other servers' count only while they are alive
        conns = self.conns.values()
        mine[(b"", "current-connections")] = len(self.conns)
        mine[(b"", "current-producers")] = sum(1 for c in conns if c.producer)
        mine[(b"", "current-workers")] = sum(1 for c in conns if c.worker)
        mine[(b"", "current-waiting")] = sum(1 for c in conns if c.blocked)
        return mine

    async def _global_counters(self) -> dict[tuple[bytes, str], int]:
        totals = self._my_counters()
        params = {"me": self.server_id, "alive_after": time.time() - DEAD_AFTER_SECONDS}
        for tube, name, value in await self.pool.fetch(sql.OTHERS_COUNTERS, params):
            totals[(tube, name)] = totals.get((tube, name), 0) + int(value)
        return totals

    async def _save_counters(self) -> None:
        mine = self._my_counters()
        changed = {k: v for k, v in mine.items() if self._saved_counters.get(k) != v}
        if not changed:
            return
        async with self.pool.connection() as db, db.transaction():
            for (tube, name), value in changed.items():
                await db.execute(
                    sql.SAVE_COUNTER.encode(),
                    {"me": self.server_id, "tube": tube, "name": name, "value": value},
                )
        self._saved_counters.update(changed)

    async def _save_tubes(self) -> None:
        if not self._snapshot_dirty:
            return
        self._snapshot_dirty = False
        waiting: dict[bytes, int] = {}
        for c in self._waiters:
            for t in c.watch:
                waiting[t] = waiting.get(t, 0) + 1
        async with self.pool.connection() as db, db.transaction():
            await db.execute(sql.CLEAR_MY_TUBES.encode(), {"me": self.server_id})
            for tube, (using, watching) in self._refs.items():
                await db.execute(
                    sql.SAVE_MY_TUBE.encode(),
                    {"me": self.server_id, "tube": tube, "using": using, "watching": watching,
                     "waiting": waiting.get(tube, 0)},
                )

"""The queue's state: tubes, jobs, reservations and waiting clients. No sockets, no clock.

Theory of operation
-------------------
:class:`QueueCore` is fed commands by the protocol layer, one method per command, each taking
the current time ``now`` (unix seconds, float) and returning the reply bytes. A client blocked in
``reserve`` gets ``None`` back; its reply arrives later through the ``deliver`` callable it
registered with :meth:`QueueCore.connect` — whenever a job becomes ready for it, or its timeout
or the DEADLINE_SOON margin arrives. ``deliver`` is the core's only output besides return values.

Time-driven work (delays ending, TTRs expiring, pauses ending, reserve timeouts) happens in
:meth:`QueueCore.tick`; :meth:`QueueCore.next_wakeup` says when that is next needed, so the
server keeps one timer rather than polling. A reserved job's TTR is tracked in a global heap, so
its expiry is never missed, whatever its connection is doing (a beanstalkd bug we do not copy).

Heaps use lazy removal: an entry whose job has since changed state is skipped when it reaches
the top, and a heap that has gathered more stale entries than live ones is rebuilt. That keeps
removal O(1) (amortised O(log n) overall) and lets the hot path use :mod:`heapq`'s C code.

Ordering rules follow beanstalkd: ready jobs by (priority, id) across all watched, unpaused
tubes; buried jobs first in, first out; delayed jobs by (ready time, id); waiting clients are
taken with beanstalkd's rotating "take" position (the 1,2,3,6,5,4 order of its ``ms`` set).
"""

from __future__ import annotations

import heapq
import os
import platform
import resource
import secrets
from collections.abc import Callable, Iterable
from typing import Final

from tubeworks.queue import protocol as P
from tubeworks.queue.jobs import (
    BURIED,
    DELAYED,
    ID_MASK,
    READY,
    RESERVED,
    URGENT_PRIORITY,
    Job,
    JobLog,
    JobRecordLike,
)

#: A blocked reserve is answered DEADLINE_SOON this long before its soonest reserved job's TTR.
SAFETY_MARGIN: Final = 1.0
#: The version we report in ``stats``: the protocol we speak.
PROTOCOL_VERSION: Final = "1.13"
#: Ours: ``use``/``watch`` would create a tube beyond ``--max-tubes``.
TOO_MANY_TUBES: Final = b"TOO_MANY_TUBES\r\n"

Deliver = Callable[[bytes], None]


class EventCounts:
    """What happened since start (each a monotonic counter), for metrics."""

    __slots__ = ("buries", "deletes", "kicks", "releases", "reserves")

    def __init__(self) -> None:
        self.reserves = 0  # jobs handed out by any reserve command
        self.deletes = 0  # jobs deleted
        self.releases = 0  # jobs released by their worker
        self.buries = 0  # jobs buried
        self.kicks = 0  # jobs kicked (kick or kick-job)


class Conn:
    """The core's view of one client connection."""

    __slots__ = (
        "deliver",  # callable(bytes): send a reply that was not returned (wake-ups)
        "id",
        "producer",  # sent a valid put (stats current-producers)
        "reserved",  # id -> Job reserved by this connection
        "use",  # the Tube that put/peek-*/kick act on
        "wait_seq",  # identifies the current wait's timer entry
        "wait_timeout_at",  # when a reserve-with-timeout gives up (None: never)
        "waiting",  # blocked in reserve
        "watch",  # watched Tubes, in list-tubes-watched order
        "worker",  # issued a reserve of any kind (stats current-workers)
    )

    def __init__(self, conn_id: int, deliver: Deliver, default: Tube) -> None:
        self.id = conn_id
        self.deliver = deliver
        self.use = default
        self.watch: list[Tube] = [default]
        self.reserved: dict[int, Job] = {}
        self.waiting = False
        self.wait_seq = 0
        self.wait_timeout_at: float | None = None
        self.producer = False
        self.worker = False


class Tube:
    """One named queue: ready heap, delayed heap, buried FIFO, waiting clients, counters."""

    __slots__ = (
        "buried",  # id -> Job in burial order (FIFO)
        "cmd_delete",
        "cmd_pause",
        "delayed",  # heap of (ready_at, id), lazily pruned
        "n_delayed",
        "n_ready",
        "n_reserved",
        "n_urgent",
        "name",
        "pause",  # requested pause in seconds (0: not paused)
        "ready",  # heap of (pri << 64 | id) keys, lazily pruned
        "refs",  # users + watchers + jobs; the tube vanishes at 0 (default never does)
        "take_pos",  # rotating take position into ``waiting``
        "total_jobs",
        "unpause_at",  # when the pause ends
        "using",
        "waiting",  # Conns blocked in reserve watching this tube (beanstalkd "ms" order)
        "watching",
    )

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.ready: list[int] = []
        self.delayed: list[tuple[float, int]] = []
        self.buried: dict[int, Job] = {}
        self.waiting: list[Conn] = []
        self.take_pos = 0
        self.refs = 0
        self.n_ready = self.n_urgent = self.n_reserved = self.n_delayed = 0
        self.using = self.watching = 0
        self.total_jobs = self.cmd_delete = self.cmd_pause = 0
        self.pause = 0
        self.unpause_at = 0.0


def _reply_job(word: bytes, job: Job) -> bytes:
    return b"%s %d %d\r\n%s" % (word, job.id, len(job.body) - 2, job.body)


class QueueCore:
    """All queue state and the rules of every command. See the module docstring."""

    def __init__(
        self,
        *,
        max_job_size: int = P.DEFAULT_MAX_JOB_SIZE,
        started_at: float = 0.0,
        log: JobLog | None = None,
    ) -> None:
        self.max_job_size = max_job_size
        self.started_at = started_at
        self.log = log
        self.jobs: dict[int, Job] = {}
        self.next_id = 1
        self.tubes: dict[bytes, Tube] = {}
        self.tube_list: list[Tube] = []  # creation order, perturbed by swap-removal like beanstalkd
        self.conns: dict[int, Conn] = {}
        self._next_conn_id = 1
        self.draining = False
        #: Refuse to create more tubes than this (None: no limit; ``--max-tubes``).
        self.max_tubes: int | None = None
        #: Commands refused by access control, connections refused by limits. Reported in
        #: ``stats`` only when access control or limits are on (``report_limits``).
        self.access_refusals = 0
        self.limit_refusals = 0
        self.report_limits = False
        self.cmd_counts = [0] * len(P.Op)
        self.job_timeouts = 0
        #: Successful operations since start, for metrics (``cmd-*`` in stats counts
        #: commands, NOT_FOUND included; these count what happened).
        self.events = EventCounts()
        self.total_jobs = 0
        self.total_connections = 0
        self.server_id = _server_id()
        self.default = self._tube(b"default")
        self.default.refs += 1  # held by the server for ever
        # Timers (lazy heaps): see tick().
        self._delay_heap: list[tuple[float, int]] = []
        self._ttr_heap: list[tuple[float, int]] = []
        self._wait_heap: list[tuple[float, int, Conn]] = []
        self._pause_heap: list[tuple[float, bytes]] = []
        self._wait_seq = 0
        self._waiting_tubes: dict[Tube, None] = {}  # tubes with at least one waiting Conn
        #: Facts about the write-ahead log for ``stats`` (set when ``-b`` is used).
        self.binlog_stats: Callable[[], dict[str, object]] | None = None

    # --- connections ---------------------------------------------------------------------------

    def connect(self, deliver: Deliver) -> Conn:
        conn = Conn(self._next_conn_id, deliver, self.default)
        self._next_conn_id += 1
        self.conns[conn.id] = conn
        self.total_connections += 1
        self.default.refs += 2  # used and watched
        self.default.using += 1
        self.default.watching += 1
        return conn

    def disconnect(self, conn: Conn, now: float) -> None:
        """A connection closed: its reserved jobs are ready again at once."""
        if self.conns.pop(conn.id, None) is None:
            return
        if conn.waiting:
            self._stop_waiting(conn)
        for job in list(conn.reserved.values()):
            self._unreserve(conn, job)
            self._make_ready(job)
        self._unuse(conn.use)
        for tube in conn.watch:
            tube.watching -= 1
            self._unref(tube)
        conn.watch = []
        self._process_queue(now)

    # --- producer commands ---------------------------------------------------------------------

    def put(self, conn: Conn, pri: int, delay: int, ttr: int, body: bytes, now: float) -> bytes:
        """``body`` includes its trailing ``\\r\\n``."""
        self.cmd_counts[P.Op.PUT] += 1
        conn.producer = True
        job_id = self.next_id
        self.next_id += 1
        if self.draining:
            return P.DRAINING
        tube = conn.use
        job = Job(job_id, tube, pri, delay, ttr if ttr > 0 else 1, body, now)
        if delay:
            job.state = DELAYED
            job.ready_at = now + delay
        if self.log is not None and not self.log.put(job):
            return P.OUT_OF_MEMORY
        self.jobs[job_id] = job
        tube.refs += 1
        tube.total_jobs += 1
        self.total_jobs += 1
        if delay:
            self._push_delayed(job)
        else:
            self._make_ready(job)
            if self._waiting_tubes:
                self._process_queue(now)
        return b"INSERTED %d\r\n" % job_id

    def put_bad_body(self, conn: Conn) -> bytes:
        """A put whose body did not end in CRLF: beanstalkd burns an id and counts the put."""
        self.cmd_counts[P.Op.PUT] += 1
        conn.producer = True
        self.next_id += 1
        return P.EXPECTED_CRLF

    def use(self, conn: Conn, name: bytes) -> bytes:
        self.cmd_counts[P.Op.USE] += 1
        if self._tube_limit_reached(name):
            return TOO_MANY_TUBES
        tube = self._tube(name)
        tube.refs += 1
        tube.using += 1
        self._unuse(conn.use)
        conn.use = tube
        return b"USING %s\r\n" % name

    # --- worker commands -----------------------------------------------------------------------

    def reserve(self, conn: Conn, timeout: int | None, now: float) -> bytes | None:
        """Reserve a job; ``None`` means the reply will come through ``conn.deliver``."""
        self.cmd_counts[P.Op.RESERVE if timeout is None else P.Op.RESERVE_TIMEOUT] += 1
        conn.worker = True
        if conn.reserved and self._deadline_soon(conn, now) and not self._has_ready(conn):
            return P.DEADLINE_SOON
        # Fast path: nobody else is waiting, so the best ready job among our watched tubes is ours.
        if not self._waiting_tubes:
            job = self._best_ready(conn.watch, now)
            if job is not None:
                # As if this client had waited alone in the job's tube and been taken: the
                # tube's rotating take position moves on (beanstalkd's ms_take), which decides
                # who among later waiters gets the next job.
                job.tube.take_pos = 1
                self._take_ready(job)
                self._reserve_job(conn, job, now)
                return _reply_job(b"RESERVED", job)
        self._start_waiting(conn, timeout, now)
        self._process_queue(now)
        if conn.waiting:
            wake = self._wake_time(conn)
            if wake is not None and wake <= now:
                self._wake(conn, now)
        return None

    def give_up_waiting(self, conn: Conn) -> None:
        """The client half-closed while blocked in reserve: answer TIMED_OUT."""
        if conn.waiting:
            self._stop_waiting(conn)
            conn.deliver(P.TIMED_OUT)

    def reserve_job(self, conn: Conn, job_id: int, now: float) -> bytes:
        job = self.jobs.get(job_id)
        if job is None or job.state == RESERVED:
            return P.NOT_FOUND
        conn.worker = True
        self._leave_state(job)
        self._reserve_job(conn, job, now)
        return _reply_job(b"RESERVED", job)

    def delete(self, conn: Conn, job_id: int) -> bytes:
        self.cmd_counts[P.Op.DELETE] += 1
        job = self.jobs.get(job_id)
        if job is None or (job.state == RESERVED and job.owner is not conn):
            return P.NOT_FOUND
        if self.log is not None and not self.log.delete(job):
            return P.INTERNAL_ERROR
        if job.state == RESERVED:
            self._unreserve(conn, job)
        else:
            self._leave_state(job)
        del self.jobs[job_id]
        job.state = 0
        tube = job.tube
        tube.cmd_delete += 1
        self.events.deletes += 1
        self._unref(tube)
        return P.DELETED

    def release(self, conn: Conn, job_id: int, pri: int, delay: int, now: float) -> bytes:
        self.cmd_counts[P.Op.RELEASE] += 1
        job = conn.reserved.get(job_id)
        if job is None:
            return P.NOT_FOUND
        ready_at = now + delay if delay else 0.0
        state = DELAYED if delay else READY
        if self.log is not None and not self.log.update(
            job, state, pri, delay, ready_at, "releases"
        ):
            return P.INTERNAL_ERROR
        self._unreserve(conn, job)
        job.pri = pri
        job.delay = delay
        job.releases += 1
        self.events.releases += 1
        if delay:
            job.state = DELAYED
            job.ready_at = ready_at
            self._push_delayed(job)
        else:
            self._make_ready(job)
        self._process_queue(now)
        return P.RELEASED

    def bury(self, conn: Conn, job_id: int, pri: int) -> bytes:
        self.cmd_counts[P.Op.BURY] += 1
        job = conn.reserved.get(job_id)
        if job is None:
            return P.NOT_FOUND
        if self.log is not None and not self.log.update(
            job, BURIED, pri, job.delay, 0.0, "buries"
        ):
            return P.INTERNAL_ERROR
        self._unreserve(conn, job)
        job.pri = pri
        job.buries += 1
        self.events.buries += 1
        self._make_buried(job)
        return P.BURIED

    def touch(self, conn: Conn, job_id: int, now: float) -> bytes:
        self.cmd_counts[P.Op.TOUCH] += 1
        job = conn.reserved.get(job_id)
        if job is None:
            return P.NOT_FOUND
        job.deadline = now + job.ttr
        heapq.heappush(self._ttr_heap, (job.deadline, job.id))
        return P.TOUCHED

    def watch(self, conn: Conn, name: bytes) -> bytes:
        self.cmd_counts[P.Op.WATCH] += 1
        if self._tube_limit_reached(name):
            return TOO_MANY_TUBES
        tube = self._tube(name)
        if tube not in conn.watch:
            conn.watch.append(tube)
            tube.refs += 1
            tube.watching += 1
        return b"WATCHING %d\r\n" % len(conn.watch)

    def ignore(self, conn: Conn, name: bytes) -> bytes:
        self.cmd_counts[P.Op.IGNORE] += 1
        tube = self.tubes.get(name)
        if tube is None or tube not in conn.watch:
            return b"WATCHING %d\r\n" % len(conn.watch)
        if len(conn.watch) == 1:
            return P.NOT_IGNORED
        _swap_remove(conn.watch, conn.watch.index(tube))
        tube.watching -= 1
        self._unref(tube)
        return b"WATCHING %d\r\n" % len(conn.watch)

    # --- inspection and admin ------------------------------------------------------------------

    def peek(self, conn: Conn, job_id: int) -> bytes:
        self.cmd_counts[P.Op.PEEK] += 1
        job = self.jobs.get(job_id)
        return P.NOT_FOUND if job is None else _reply_job(b"FOUND", job)

    def peek_ready(self, conn: Conn) -> bytes:
        self.cmd_counts[P.Op.PEEK_READY] += 1
        job = self._ready_top(conn.use)
        return P.NOT_FOUND if job is None else _reply_job(b"FOUND", job)

    def peek_delayed(self, conn: Conn) -> bytes:
        self.cmd_counts[P.Op.PEEK_DELAYED] += 1
        job = self._delayed_top(conn.use)
        return P.NOT_FOUND if job is None else _reply_job(b"FOUND", job)

    def peek_buried(self, conn: Conn) -> bytes:
        self.cmd_counts[P.Op.PEEK_BURIED] += 1
        job = next(iter(conn.use.buried.values()), None)
        return P.NOT_FOUND if job is None else _reply_job(b"FOUND", job)

    def kick(self, conn: Conn, bound: int, now: float) -> bytes:
        """Kick up to ``bound`` buried jobs, or if there are none, delayed jobs."""
        self.cmd_counts[P.Op.KICK] += 1
        tube = conn.use
        count = 0
        if tube.buried:
            while count < bound and tube.buried:
                if not self._kick(next(iter(tube.buried.values())), now):
                    break
                count += 1
        else:
            while count < bound:
                job = self._delayed_top(tube)
                if job is None or not self._kick(job, now):
                    break
                count += 1
        return b"KICKED %d\r\n" % count

    def kick_job(self, conn: Conn, job_id: int, now: float) -> bytes:
        job = self.jobs.get(job_id)
        if job is None or job.state not in (BURIED, DELAYED):
            return P.NOT_FOUND
        return P.KICKED if self._kick(job, now) else P.INTERNAL_ERROR

    def pause_tube(self, conn: Conn, name: bytes, delay: int, now: float) -> bytes:
        self.cmd_counts[P.Op.PAUSE_TUBE] += 1
        tube = self.tubes.get(name)
        if tube is None:
            return P.NOT_FOUND
        tube.cmd_pause += 1
        if delay == 0:  # "unpause now": wakes blocked reservers at once
            tube.pause = 0
            tube.unpause_at = now
            self._process_queue(now)
        else:
            tube.pause = delay
            tube.unpause_at = now + delay
            heapq.heappush(self._pause_heap, (tube.unpause_at, tube.name))
        return P.PAUSED

    def list_tubes(self, conn: Conn) -> bytes:
        self.cmd_counts[P.Op.LIST_TUBES] += 1
        return _yaml_list(t.name for t in self.tube_list)

    def list_tube_used(self, conn: Conn) -> bytes:
        self.cmd_counts[P.Op.LIST_TUBE_USED] += 1
        return b"USING %s\r\n" % conn.use.name

    def list_tubes_watched(self, conn: Conn) -> bytes:
        self.cmd_counts[P.Op.LIST_TUBES_WATCHED] += 1
        return _yaml_list(t.name for t in conn.watch)

    def stats_job(self, conn: Conn, job_id: int, now: float) -> bytes:
        self.cmd_counts[P.Op.STATS_JOB] += 1
        job = self.jobs.get(job_id)
        if job is None:
            return P.NOT_FOUND
        if job.state == RESERVED:
            time_left = int(job.deadline - now)
        elif job.state == DELAYED:
            time_left = int(job.ready_at - now)
        else:
            time_left = 0
        body = (
            b"---\nid: %d\ntube: \"%s\"\nstate: %s\npri: %d\nage: %d\ndelay: %d\nttr: %d\n"
            b"time-left: %d\nfile: %d\nreserves: %d\ntimeouts: %d\nreleases: %d\nburies: %d\n"
            b"kicks: %d\n"
            % (
                job.id,
                job.tube.name,
                _STATE_NAMES[job.state],
                job.pri,
                int(now - job.created),
                job.delay,
                job.ttr,
                time_left,
                job.file,
                job.reserves,
                job.timeouts,
                job.releases,
                job.buries,
                job.kicks,
            )
        )
        return b"OK %d\r\n%s\r\n" % (len(body), body)

    def stats_tube(self, conn: Conn, name: bytes, now: float) -> bytes:
        self.cmd_counts[P.Op.STATS_TUBE] += 1
        tube = self.tubes.get(name)
        if tube is None:
            return P.NOT_FOUND
        paused = tube.pause and tube.unpause_at > now
        body = (
            b"---\nname: \"%s\"\ncurrent-jobs-urgent: %d\ncurrent-jobs-ready: %d\n"
            b"current-jobs-reserved: %d\ncurrent-jobs-delayed: %d\ncurrent-jobs-buried: %d\n"
            b"total-jobs: %d\ncurrent-using: %d\ncurrent-watching: %d\ncurrent-waiting: %d\n"
            b"cmd-delete: %d\ncmd-pause-tube: %d\npause: %d\npause-time-left: %d\n"
            % (
                tube.name,
                tube.n_urgent,
                tube.n_ready,
                tube.n_reserved,
                tube.n_delayed,
                len(tube.buried),
                tube.total_jobs,
                tube.using,
                tube.watching,
                len(tube.waiting),
                tube.cmd_delete,
                tube.cmd_pause,
                tube.pause if paused else 0,
                int(tube.unpause_at - now) if paused else 0,
            )
        )
        return b"OK %d\r\n%s\r\n" % (len(body), body)

    def stats(self, conn: Conn, now: float) -> bytes:
        self.cmd_counts[P.Op.STATS] += 1
        return _format_stats(self, self.statistics(now))

    def statistics(self, now: float) -> dict[str, object]:
        """Every ``stats`` field, in order, as Python values (shared with metrics)."""
        c = self.cmd_counts
        Op = P.Op
        tubes = self.tube_list
        usage = resource.getrusage(resource.RUSAGE_SELF)
        binlog = self.binlog_stats() if self.binlog_stats else {}
        stats: dict[str, object] = {
            "current-jobs-urgent": sum(t.n_urgent for t in tubes),
            "current-jobs-ready": sum(t.n_ready for t in tubes),
            "current-jobs-reserved": sum(t.n_reserved for t in tubes),
            "current-jobs-delayed": sum(t.n_delayed for t in tubes),
            "current-jobs-buried": sum(len(t.buried) for t in tubes),
            "cmd-put": c[Op.PUT],
            "cmd-peek": c[Op.PEEK],
            "cmd-peek-ready": c[Op.PEEK_READY],
            "cmd-peek-delayed": c[Op.PEEK_DELAYED],
            "cmd-peek-buried": c[Op.PEEK_BURIED],
            "cmd-reserve": c[Op.RESERVE],
            "cmd-reserve-with-timeout": c[Op.RESERVE_TIMEOUT],
            "cmd-delete": c[Op.DELETE],
            "cmd-release": c[Op.RELEASE],
            "cmd-use": c[Op.USE],
            "cmd-watch": c[Op.WATCH],
            "cmd-ignore": c[Op.IGNORE],
            "cmd-bury": c[Op.BURY],
            "cmd-kick": c[Op.KICK],
            "cmd-touch": c[Op.TOUCH],
            "cmd-stats": c[Op.STATS],
            "cmd-stats-job": c[Op.STATS_JOB],
            "cmd-stats-tube": c[Op.STATS_TUBE],
            "cmd-list-tubes": c[Op.LIST_TUBES],
            "cmd-list-tube-used": c[Op.LIST_TUBE_USED],
            "cmd-list-tubes-watched": c[Op.LIST_TUBES_WATCHED],
            "cmd-pause-tube": c[Op.PAUSE_TUBE],
            "job-timeouts": self.job_timeouts,
            "total-jobs": self.total_jobs,
            "max-job-size": self.max_job_size,
            "current-tubes": len(self.tubes),
            "current-connections": len(self.conns),
            "current-producers": sum(1 for x in self.conns.values() if x.producer),
            "current-workers": sum(1 for x in self.conns.values() if x.worker),
            "current-waiting": sum(1 for x in self.conns.values() if x.waiting),
            "total-connections": self.total_connections,
            "pid": os.getpid(),
            "version": PROTOCOL_VERSION,
            "rusage-utime": usage.ru_utime,
            "rusage-stime": usage.ru_stime,
            "uptime": int(now - self.started_at),
            "binlog-oldest-index": binlog.get("oldest-index", 0),
            "binlog-current-index": binlog.get("current-index", 0),
            "binlog-records-migrated": binlog.get("records-migrated", 0),
            "binlog-records-written": binlog.get("records-written", 0),
            "binlog-max-size": binlog.get("max-size", 10485760),
            "draining": self.draining,
            "id": self.server_id,
            "hostname": platform.node(),
            "os": os.uname().version,
            "platform": os.uname().machine,
        }
        if self.report_limits:
            # Ours, after beanstalkd's fields, only with access control or limits on.
            stats["access-refusals"] = self.access_refusals
            stats["limit-refusals"] = self.limit_refusals
        if binlog:
            # Ours, after beanstalkd's fields and only with -b: the log's health.
            stats["binlog-files"] = binlog["files"]
            stats["binlog-bytes"] = binlog["bytes"]
            stats["binlog-failing"] = binlog["failing"]
            stats["binlog-last-error"] = binlog["last-error"]
        return stats

    # --- restart -------------------------------------------------------------------------------

    def restore(self, records: Iterable[JobRecordLike], next_id: int) -> None:
        """Load jobs recovered from a log: reserved ones come back ready, delayed ones keep
        their absolute ready time, counters are kept exactly.

        Start-up time matters here (a million jobs), so ready heaps are built once with
        ``heapify`` instead of one push per job.
        """
        jobs = self.jobs
        seen: dict[bytes, Tube] = {}
        touched: set[Tube] = set()
        max_id = self.next_id - 1
        for r in records:
            tube = seen.get(r.tube)
            if tube is None:
                tube = seen[r.tube] = self._tube(r.tube)
            job = Job(r.id, tube, r.pri, r.delay, r.ttr, bytes(r.body) + b"\r\n", r.created_at)
            job.reserves, job.timeouts, job.releases = r.reserves, r.timeouts, r.releases
            job.buries, job.kicks = r.buries, r.kicks
            jobs[job.id] = job
            tube.refs += 1
            state = r.state
            if state == BURIED:
                self._make_buried(job)
            elif state == DELAYED:
                job.state = DELAYED
                job.ready_at = r.ready_at
                self._push_delayed(job)
            else:
                tube.n_ready += 1
                if job.pri < URGENT_PRIORITY:
                    tube.n_urgent += 1
                tube.ready.append(job.pri << 64 | job.id)
                touched.add(tube)
            if job.id > max_id:
                max_id = job.id
        for tube in touched:
            heapq.heapify(tube.ready)
        self.next_id = max(max_id + 1, next_id)

    # --- time ----------------------------------------------------------------------------------

    def next_wakeup(self) -> float | None:
        """The earliest time :meth:`tick` has work to do (may be early, never late)."""
        best: float | None = None
        if self._delay_heap:
            best = self._delay_heap[0][0]
        if self._ttr_heap and (best is None or self._ttr_heap[0][0] < best):
            best = self._ttr_heap[0][0]
        if self._wait_heap and (best is None or self._wait_heap[0][0] < best):
            best = self._wait_heap[0][0]
        if self._pause_heap and (best is None or self._pause_heap[0][0] < best):
            best = self._pause_heap[0][0]
        return best

    def tick(self, now: float) -> None:
        """Do everything that is due: delays end, pauses end, TTRs expire, waits time out."""
        jobs = self.jobs
        heap = self._delay_heap
        while heap and heap[0][0] <= now:
            ready_at, job_id = heapq.heappop(heap)
            job = jobs.get(job_id)
            if job is not None and job.state == DELAYED and job.ready_at == ready_at:
                job.tube.n_delayed -= 1
                self._make_ready(job)
                self._process_queue(now)
        pauses = self._pause_heap
        while pauses and pauses[0][0] <= now:
            at, name = heapq.heappop(pauses)
            tube = self.tubes.get(name)
            if tube is not None and tube.pause and tube.unpause_at == at:
                tube.pause = 0
                self._process_queue(now)
        ttrs = self._ttr_heap
        while ttrs and ttrs[0][0] <= now:
            deadline, job_id = heapq.heappop(ttrs)
            job = jobs.get(job_id)
            if job is None or job.state != RESERVED or job.deadline != deadline:
                continue
            owner = job.owner
            assert owner is not None
            self._unreserve(owner, job)
            job.timeouts += 1
            self.job_timeouts += 1
            self._make_ready(job)
            self._logged(job)
            self._process_queue(now)
        waits = self._wait_heap
        while waits and waits[0][0] <= now:
            _, seq, conn = heapq.heappop(waits)
            if conn.waiting and conn.wait_seq == seq:
                self._wake(conn, now)

    # --- internals: tubes ----------------------------------------------------------------------

    def _tube(self, name: bytes) -> Tube:
        tube = self.tubes.get(name)
        if tube is None:
            tube = self.tubes[name] = Tube(name)
            self.tube_list.append(tube)
        return tube

    def _tube_limit_reached(self, name: bytes) -> bool:
        if self.max_tubes is None or name in self.tubes or len(self.tubes) < self.max_tubes:
            return False
        self.limit_refusals += 1
        return True

    def _unuse(self, tube: Tube) -> None:
        tube.using -= 1
        self._unref(tube)

    def _unref(self, tube: Tube) -> None:
        tube.refs -= 1
        if tube.refs <= 0:
            del self.tubes[tube.name]
            _swap_remove(self.tube_list, self.tube_list.index(tube))
            self._waiting_tubes.pop(tube, None)

    # --- internals: job states -----------------------------------------------------------------

    def _make_ready(self, job: Job) -> None:
        job.state = READY
        tube = job.tube
        tube.n_ready += 1
        if job.pri < URGENT_PRIORITY:
            tube.n_urgent += 1
        heapq.heappush(tube.ready, job.pri << 64 | job.id)

    def _push_delayed(self, job: Job) -> None:
        job.tube.n_delayed += 1
        entry = (job.ready_at, job.id)
        heapq.heappush(job.tube.delayed, entry)
        heapq.heappush(self._delay_heap, entry)

    def _make_buried(self, job: Job) -> None:
        job.state = BURIED
        job.tube.buried[job.id] = job

    def _leave_state(self, job: Job) -> None:
        """Take a ready, delayed or buried job out of its tube's structures (counts only for
        the lazy heaps)."""
        tube = job.tube
        state = job.state
        if state == READY:
            tube.n_ready -= 1
            if job.pri < URGENT_PRIORITY:
                tube.n_urgent -= 1
            if len(tube.ready) > 2 * tube.n_ready + 64:
                self._rebuild_ready(tube)
        elif state == DELAYED:
            tube.n_delayed -= 1
            if len(tube.delayed) > 2 * tube.n_delayed + 64:
                tube.delayed = [
                    e for e in tube.delayed if _delayed_entry_live(self.jobs.get(e[1]), e[0])
                ]
                heapq.heapify(tube.delayed)
        elif state == BURIED:
            del tube.buried[job.id]

    def _take_ready(self, job: Job) -> None:
        """Pop ``job`` (the top of its tube's ready heap) for a reservation."""
        tube = job.tube
        heapq.heappop(tube.ready)
        tube.n_ready -= 1
        if job.pri < URGENT_PRIORITY:
            tube.n_urgent -= 1

    def _rebuild_ready(self, tube: Tube) -> None:
        jobs = self.jobs
        live: dict[int, None] = {}
        for key in tube.ready:
            job = jobs.get(key & ID_MASK)
            if job is not None and job.state == READY and job.tube is tube and job.pri == key >> 64:
                live[key] = None
        tube.ready = list(live)
        heapq.heapify(tube.ready)

    def _ready_top(self, tube: Tube) -> Job | None:
        heap = tube.ready
        jobs = self.jobs
        while heap:
            key = heap[0]
            job = jobs.get(key & ID_MASK)
            if job is not None and job.state == READY and job.tube is tube and job.pri == key >> 64:
                return job
            heapq.heappop(heap)
        return None

    def _delayed_top(self, tube: Tube) -> Job | None:
        heap = tube.delayed
        while heap:
            ready_at, job_id = heap[0]
            job = self.jobs.get(job_id)
            if _delayed_entry_live(job, ready_at) and job.tube is tube:  # type: ignore[union-attr]
                return job
            heapq.heappop(heap)
        return None

    def _kick(self, job: Job, now: float) -> bool:
        """Make a buried or delayed job ready; False if the log refused the change."""
        if self.log is not None and not self.log.update(
            job, READY, job.pri, job.delay, 0.0, "kicks"
        ):
            return False
        self._leave_state(job)
        job.kicks += 1
        self.events.kicks += 1
        self._make_ready(job)
        self._process_queue(now)
        return True

    def _reserve_job(self, conn: Conn, job: Job, now: float) -> None:
        self.events.reserves += 1
        job.state = RESERVED
        job.owner = conn
        job.reserves += 1
        job.deadline = now + job.ttr
        job.tube.n_reserved += 1
        conn.reserved[job.id] = job
        heapq.heappush(self._ttr_heap, (job.deadline, job.id))
        if self.log is not None:  # the reserves counter survives a restart (best effort)
            self.log.update(job, RESERVED, job.pri, job.delay, 0.0, None)

    def _unreserve(self, conn: Conn, job: Job) -> None:
        del conn.reserved[job.id]
        job.owner = None
        job.tube.n_reserved -= 1

    def _logged(self, job: Job) -> None:
        """Log a change already made that cannot be refused (a TTR expiry), best effort."""
        if self.log is not None:
            self.log.update(job, job.state, job.pri, job.delay, job.ready_at, None)

    # --- internals: waiting clients ------------------------------------------------------------

    def _best_ready(self, tubes: Iterable[Tube], now: float) -> Job | None:
        best: Job | None = None
        best_key = 0
        for tube in tubes:
            if tube.pause and tube.unpause_at > now:
                continue
            job = self._ready_top(tube) if tube.n_ready else None
            if job is not None:
                key = job.pri << 64 | job.id
                if best is None or key < best_key:
                    best, best_key = job, key
        return best

    def _has_ready(self, conn: Conn) -> bool:
        return any(t.n_ready for t in conn.watch)

    def _deadline_soon(self, conn: Conn, now: float) -> bool:
        soonest = min(j.deadline for j in conn.reserved.values())
        return now >= soonest - SAFETY_MARGIN

    def _start_waiting(self, conn: Conn, timeout: int | None, now: float) -> None:
        conn.waiting = True
        self._wait_seq += 1
        conn.wait_seq = self._wait_seq
        conn.wait_timeout_at = None if timeout is None else now + timeout
        for tube in conn.watch:
            tube.waiting.append(conn)
            self._waiting_tubes[tube] = None
        wake = self._wake_time(conn)
        if wake is not None:
            heapq.heappush(self._wait_heap, (wake, conn.wait_seq, conn))

    def _wake_time(self, conn: Conn) -> float | None:
        wake = conn.wait_timeout_at
        if conn.reserved:
            soon = min(j.deadline for j in conn.reserved.values()) - SAFETY_MARGIN
            wake = soon if wake is None else min(wake, soon)
        return wake

    def _stop_waiting(self, conn: Conn) -> None:
        conn.waiting = False
        for tube in conn.watch:
            waiting = tube.waiting
            try:
                _swap_remove(waiting, waiting.index(conn))
            except ValueError:
                pass
            if not waiting:
                self._waiting_tubes.pop(tube, None)

    def _wake(self, conn: Conn, now: float) -> None:
        """A waiting connection's timer fired: DEADLINE_SOON or TIMED_OUT."""
        soon = bool(conn.reserved) and self._deadline_soon(conn, now)
        if not soon and (conn.wait_timeout_at is None or conn.wait_timeout_at > now):
            wake = self._wake_time(conn)  # woken early (its reservations changed): wait on
            if wake is not None:
                heapq.heappush(self._wait_heap, (wake, conn.wait_seq, conn))
            return
        self._stop_waiting(conn)
        conn.deliver(P.DEADLINE_SOON if soon else P.TIMED_OUT)

    def _process_queue(self, now: float) -> None:
        """Hand the best ready jobs to waiting clients, one at a time, as beanstalkd does."""
        waiting_tubes = self._waiting_tubes
        while waiting_tubes:
            job = self._best_ready(waiting_tubes, now)
            if job is None:
                return
            tube = job.tube
            waiting = tube.waiting
            tube.take_pos %= len(waiting)
            conn = waiting[tube.take_pos]
            _swap_remove(waiting, tube.take_pos)
            tube.take_pos += 1
            self._stop_waiting(conn)
            self._take_ready(job)
            self._reserve_job(conn, job, now)
            conn.deliver(_reply_job(b"RESERVED", job))


def _delayed_entry_live(job: Job | None, ready_at: float) -> bool:
    return job is not None and job.state == DELAYED and job.ready_at == ready_at


def _swap_remove(items: list, index: int) -> None:  # type: ignore[type-arg]
    """Remove ``items[index]`` by moving the last item into its place (beanstalkd's order)."""
    last = items.pop()
    if index < len(items):
        items[index] = last


def _yaml_list(names: Iterable[bytes]) -> bytes:
    body = b"---\n" + b"".join(b"- %s\n" % n for n in names)
    return b"OK %d\r\n%s\r\n" % (len(body), body)


_STATE_NAMES: Final = {
    READY: b"ready",
    RESERVED: b"reserved",
    BURIED: b"buried",
    DELAYED: b"delayed",
}

# stats fields whose values 1.13 prints in double quotes
_QUOTED: Final = frozenset({"version", "hostname", "os", "platform", "binlog-last-error"})


def _format_stats(core: QueueCore, stats: dict[str, object]) -> bytes:
    lines = ["---\n"]
    for key, value in stats.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            micros = round(value * 1e6)
            text = f"{micros // 1000000}.{micros % 1000000:06d}"
        elif key in _QUOTED:
            text = f'"{value}"'
        else:
            text = str(value)
        lines.append(f"{key}: {text}\n")
    body = "".join(lines).encode()
    return b"OK %d\r\n%s\r\n" % (len(body), body)


def _server_id() -> str:
    """16 random hex digits with at least one letter: some clients reject an all-digit id."""
    while True:
        ident = secrets.token_hex(8)
        if not ident.isdigit():
            return ident

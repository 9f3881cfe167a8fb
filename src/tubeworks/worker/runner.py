"""The worker loop: reserve, decode, call the handler, delete; and everything around it.

Theory of operation. ``concurrency`` slot threads each own one queue connection and handle
one job at a time: reserve, decode, run the handler on the slot thread itself, then delete
(or release/bury). One shared "toucher" thread per worker watches the handlers that are
running and touches their jobs every half TTR (or when a handler asks), on the slot's own
connection, which the slot leaves to it while its handler runs (``_Slot.conn``).

What the happy path skips, because each round trip and thread start costs the worker about
as much CPU as a no-op job: no thread per job, and no ``stats-job`` unless something needs
it. The tube is known when the worker watches just one; the TTR only matters to a handler
still running after ``TTR_PROBE`` seconds (the toucher fetches it then); the priority and
attempt number only on failure. Handlers that take a :class:`JobContext`, and workers that
watch several tubes, fetch ``stats-job`` up front as before. The verdict comes from
:func:`tubeworks.worker.policy.decide`.

Stopping. ``stop()`` (first SIGTERM/SIGINT, or recycling) makes slots stop reserving: a slot
blocked in ``reserve`` has its connection shut down, which makes the server release anything
it was about to hand over; a slot holding a job finishes it. After ``grace`` seconds, or at a
second signal, the toucher releases the jobs still running and the worker returns without
waiting for their handlers. Slot threads are daemons, so an abandoned handler cannot keep the
process alive.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from tubeworks.client import Client as QueueClient
from tubeworks.client import (
    ClientError,
    ConnectionBroken,
    DeadlineSoon,
    Forbidden,
    Job,
    JobStats,
    TimedOut,
    TransportError,
    Unauthorized,
)
from tubeworks.resources import resource_scope
from tubeworks.worker.app import App, Handler
from tubeworks.worker.control import Bury, JobContext, Retry
from tubeworks.worker.policy import Action, Ended, Verdict, decide, touch_interval
from tubeworks.worker.serializers import DecodeError
from tubeworks.worker.stats import Counters, WorkerStatistics

__all__ = ["Worker", "WorkerConfig"]

log = logging.getLogger("tubeworks.worker")

# A handler still running this long after its reserve has its TTR fetched, to schedule
# touches. Below half of beanstalkd's smallest TTR (1 s), so the first touch is never late.
TTR_PROBE = 0.25


@dataclass(frozen=True)
class WorkerConfig:
    tubes: tuple[str, ...] = ()  # tubes to watch; empty: every tube with a handler
    concurrency: int = 1  # jobs handled at once (one thread and one connection each)
    max_jobs: int | None = None  # recycle: stop after this many jobs
    max_memory: int | None = None  # recycle: stop once resident memory exceeds this (bytes)
    grace: float = 30.0  # seconds to finish jobs in hand after a stop
    reserve_timeout: float = 5.0  # bounds how long a missed wake-up can delay a stop
    reconnect_cap: float = 5.0  # longest wait between attempts to reach the queue server


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Running:
    """A handler running on a slot thread, as the toucher sees it (guarded by Worker.cond)."""

    def __init__(self, slot: _Slot, job: Job, reserved_at: float, ttr: float | None) -> None:
        self.slot = slot
        self.job = job
        self.ttr = ttr
        self.reserved_at = reserved_at
        first = TTR_PROBE if ttr is None else touch_interval(ttr)
        self.next_touch = reserved_at + first  # or, while ttr is None, when to fetch it
        self.touch_asked = False
        self.finished = False  # the handler returned: the slot has its connection back
        self.busy = False  # the toucher is using the slot's connection
        self.abandoned = False  # released at shutdown: the slot must not apply a verdict


class _Slot:
    """One thread, one queue connection, one job at a time."""

    STARTING, RESERVING, WORKING, DONE = "starting", "reserving", "working", "done"

    def __init__(self, worker: Worker, number: int) -> None:
        self.worker = worker
        self.number = number
        self.state = self.STARTING
        self.client: QueueClient | None = None
        self.settled = threading.Event()  # the thread ended, or its job was abandoned
        self.thread = threading.Thread(
            target=self.run_scoped, name=f"tubeworks-slot-{number}", daemon=True
        )

    def interrupt(self) -> None:
        """Wake a slot blocked in reserve by aborting its connection (it never reconnects)."""
        client = self.client
        if client is not None:
            client.abort()

    def run_scoped(self) -> None:
        try:
            with resource_scope(("slot", self.number)):  # one set of connections per slot
                self.run()
        finally:
            self.settled.set()

    def run(self) -> None:
        w = self.worker
        wait = 0.1
        job: Job | None = None  # reserved along with the last delete, if one was ready
        try:
            while True:
                if job is None:
                    try:
                        if self.client is None:
                            self.client = w.app.new_client(watch=w.tubes, lazy=True)
                        if not self.client.connected:
                            self.client.connect()
                        with w.lock:  # from here on stop() can see us and interrupt the reserve
                            if w.stopping.is_set():
                                break
                            self.state = self.RESERVING
                        job = self.client.reserve(timeout=w.config.reserve_timeout)
                    except (TimedOut, DeadlineSoon):
                        continue
                    except (Unauthorized, Forbidden) as exc:
                        # Wrong token or missing rights: retrying cannot help, so stop for good.
                        w.refused(exc)
                        break
                    except TransportError as exc:
                        if w.stopping.is_set():
                            break
                        w.counters.add("queue_errors")
                        log.warning(
                            "queue %s unreachable (%s); retrying in %.1fs",
                            w.app.address,
                            exc,
                            wait,
                        )
                        w.stopping.wait(wait)
                        wait = min(wait * 2, w.config.reconnect_cap)
                        continue
                    wait = 0.1
                assert self.client is not None
                with w.lock:
                    starting = not w.stopping.is_set()
                    self.state = self.WORKING
                if not starting:
                    w.release_unstarted(self.client, job)
                    break
                w.counters.add("reserved")
                going_on, job = w.process(self, self.client, job)
                if not going_on:
                    break  # abandoned at shutdown
                w.after_job()
        finally:
            with w.lock:
                self.state = self.DONE
            if self.client is not None:
                self.client.close()


class _JobInfo:
    """``stats-job`` for one job, fetched at most once and only when something needs it."""

    def __init__(self, client: QueueClient, job: Job, tube: str | None) -> None:
        self.client = client
        self.job = job
        self.known_tube = tube
        self.stats: JobStats | None = None

    def get(self) -> JobStats:
        if self.stats is None:
            self.stats = self.client.stats_job(self.job)
        return self.stats

    @property
    def tube(self) -> str:
        return self.known_tube if self.known_tube is not None else self.get().tube


class Worker:
    """Runs an :class:`App`'s handlers until stopped.

    Args:
        app: the handlers and the queue address.
        config: concurrency, recycling and shutdown settings.
        rng: randomness for back-off jitter (pass a seeded one in tests).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        app: App,
        config: WorkerConfig | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.config = config or WorkerConfig()
        self.tubes = list(self.config.tubes or app.handlers)
        missing = [t for t in self.tubes if t not in app.handlers]
        if missing or not self.tubes:
            known = ", ".join(sorted(app.handlers)) or "none"
            raise ValueError(f"no handler for tubes {missing or '(none given)'}; handlers: {known}")
        # With one watched tube every reserved job is from it: no stats-job to learn the tube.
        self.only_tube = self.tubes[0] if len(self.tubes) == 1 else None
        self.rng = rng or random.Random()
        self.clock = clock
        self.counters = Counters()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.abandon = threading.Event()
        self.stop_reason = ""
        self.refusal: str | None = None  # why the queue refused us (bad token, no rights)
        self._jobs_done = 0
        self._signals = 0
        self._slots = [_Slot(self, n) for n in range(self.config.concurrency)]
        self.cond = threading.Condition()  # guards _running and _toucher_exit
        self._running: dict[int, _Running] = {}  # by slot number
        self._toucher_exit = False
        self._toucher = threading.Thread(target=self._touch_loop, name="tubeworks-toucher")
        self._toucher.daemon = True

    # -- control ---------------------------------------------------------------------------

    def stop(self, reason: str = "stop requested") -> None:
        """Stop reserving; jobs in hand get ``grace`` seconds to finish. Thread-safe."""
        with self.lock:
            if self.stopping.is_set():
                return
            self.stop_reason = reason
            self.stopping.set()
            idle = [s for s in self._slots if s.state == _Slot.RESERVING]
        log.info("stopping (%s): finishing jobs in hand", reason)
        for slot in idle:
            slot.interrupt()

    def refused(self, exc: ClientError) -> None:
        """The queue refused our token or rights: log it and stop; ``run`` returns 1."""
        with self.lock:
            first = self.refusal is None
            self.refusal = str(exc)
        if first:
            log.error("queue %s refused this worker: %s", self.app.address, exc)
        self.stop(f"refused by the queue: {exc}")

    def stop_now(self) -> None:
        """Stop and release the jobs in hand without waiting for their handlers."""
        self.stop("stop now")
        self.abandon.set()
        with self.cond:
            self.cond.notify_all()

    def statistics(self) -> WorkerStatistics:
        return self.counters.snapshot()

    def run(self, *, install_signals: bool = True) -> int:
        """Run until stopped. Returns the exit status: 0 after a graceful stop or a recycle,
        1 when jobs had to be abandoned (second signal or grace exceeded) or the queue refused
        the worker's token or rights."""
        if install_signals and threading.current_thread() is threading.main_thread():
            previous = {
                sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
            }
        else:
            previous = {}
        log.info(
            "worker started: tubes=%s concurrency=%d queue=%s",
            ",".join(self.tubes),
            len(self._slots),
            self.app.address,
        )
        try:
            self._toucher.start()
            for slot in self._slots:
                slot.thread.start()
            self.stopping.wait()
            deadline = self.clock() + self.config.grace
            for slot in self._slots:
                slot.settled.wait(max(0.0, deadline - self.clock()))
            if not all(s.settled.is_set() for s in self._slots):
                log.warning(
                    "grace of %.1fs exceeded: releasing the jobs still running", self.config.grace
                )
                self.stop_now()
            for slot in self._slots:
                slot.settled.wait()
            with self.cond:
                self._toucher_exit = True
                self.cond.notify_all()
            self._toucher.join()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.app.close()
        counts = " ".join(f"{k}={v}" for k, v in vars(self.statistics()).items())
        log.info("worker stopped (%s): %s", self.stop_reason, counts)
        return 1 if self.abandon.is_set() or self.refusal is not None else 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            self.stop(f"{name}")
        else:
            self.stop_now()

    # -- per job (called from slot threads) --------------------------------------------------

    def after_job(self) -> None:
        with self.lock:
            self._jobs_done += 1
            done = self._jobs_done
        if self.config.max_jobs is not None and done >= self.config.max_jobs:
            self.stop(f"recycling after {done} jobs (max_jobs)")
        elif self.config.max_memory is not None and rss_bytes() > self.config.max_memory:
            self.stop(f"recycling at {rss_bytes() // 2**20} MiB resident (max_memory)")

    def release_unstarted(self, client: QueueClient, job: Job) -> None:
        try:
            pri = client.stats_job(job).pri
            client.release(job, priority=pri)
            self.counters.add("released")
            log.info(
                "job=%d outcome=released reason=%r", job.id, "worker stopping before it started"
            )
        except ClientError:
            pass  # the connection is gone, and with it the reservation

    def process(self, slot: _Slot, client: QueueClient, job: Job) -> tuple[bool, Job | None]:
        """Handle one reserved job on the slot's thread. Returns whether to go on (False: it
        was abandoned at shutdown, released by the toucher, and the slot must leave) and the
        next job, when one was reserved in the same write as this one's delete."""
        started = self.clock()
        info = _JobInfo(client, job, self.only_tube)
        try:
            tube = info.tube
            handler = self.app.handlers.get(tube)
            if handler is not None and handler.wants_context:
                info.get()  # the context carries the attempt number and the TTR
        except ClientError as exc:
            self._log_outcome(job.id, "?", None, "lost", started, error=exc)
            self.counters.add("lost")
            return True, None
        if handler is None:  # watched through another client's config: put it back untouched
            self._apply(info, Action(Verdict.RELEASE, 0, "no handler"), started, None)
            return True, None
        outcome = self._run_handler(slot, client, job, handler, info, started)
        if outcome is None:  # abandoned at shutdown: released already
            return False, None
        ended, error, retry_delay = outcome
        if ended is Ended.OK:
            action = Action(Verdict.DELETE)
        else:
            try:
                attempt = info.get().reserves
            except ClientError as exc:
                self._log_outcome(job.id, tube, None, "lost", started, error=exc)
                self.counters.add("lost")
                return True, None
            action = decide(ended, attempt, handler.backoff, self.rng, retry_delay)
        if ended is Ended.FAILED:
            self.counters.add("failed")
        return True, self._apply(info, action, started, error, prefetch=self._may_prefetch())

    def _may_prefetch(self) -> bool:
        """Whether to reserve the next job along with this one's delete: not when stopping,
        nor when this job is the last one before a max_jobs recycle."""
        if self.stopping.is_set():
            return False
        return self.config.max_jobs is None or self._jobs_done + 1 < self.config.max_jobs

    def _run_handler(
        self,
        slot: _Slot,
        client: QueueClient,
        job: Job,
        handler: Handler,
        info: _JobInfo,
        started: float,
    ) -> tuple[Ended, BaseException | None, float | None] | None:
        try:
            payload = handler.serializer.loads(job.body)
        except (DecodeError, ValueError, TypeError) as exc:
            return Ended.UNDECODABLE, exc, None
        st = info.stats
        running = _Running(slot, job, started, None if st is None else st.ttr)

        def request_touch() -> None:
            with self.cond:
                running.touch_asked = True
                self.cond.notify_all()

        ctx = None
        if handler.wants_context and st is not None:
            ctx = JobContext(job.id, info.tube, st.reserves, st.ttr, job.body, request_touch)
        with self.cond:  # from here on the toucher may use the connection
            self._running[slot.number] = running
            self.cond.notify_all()
        try:
            outcome = contextvars.copy_context().run(self._call, handler, payload, ctx)
        finally:
            with self.cond:  # take the connection back, once a touch in flight is over
                running.finished = True
                self._running.pop(slot.number, None)
                while running.busy:
                    self.cond.wait()
        if running.abandoned:
            return None
        return outcome

    @staticmethod
    def _call(
        handler: Handler, payload: object, ctx: JobContext | None
    ) -> tuple[Ended, BaseException | None, float | None]:
        try:
            args = (payload, ctx) if handler.wants_context else (payload,)
            value = handler.func(*args)
            if handler.is_async:
                asyncio.run(value)
            return Ended.OK, None, None
        except Retry as r:
            return Ended.RETRY, None, r.delay
        except Bury as b:
            return Ended.BURY, b, None
        except BaseException as exc:  # the handler's failure is data for the policy
            return Ended.FAILED, exc, None

    # -- the toucher thread ------------------------------------------------------------------

    def _touch_loop(self) -> None:
        """Touch long-running jobs before their TTR runs out; release them all at stop_now."""
        while True:
            with self.cond:
                while True:
                    if self._toucher_exit:
                        return
                    now = self.clock()
                    abandon = self.abandon.is_set()
                    live = [r for r in self._running.values() if not r.abandoned]
                    due = [r for r in live if abandon or r.touch_asked or r.next_touch <= now]
                    if due:
                        break
                    # Once abandoned, a handler left running needs nothing more from us.
                    soonest = None if abandon else min((r.next_touch for r in live), default=None)
                    self.cond.wait(None if soonest is None else max(0.0, soonest - now))
            for r in due:
                try:
                    self._attend(r, abandon)
                except Exception:  # a bug here must not end the touches of every other slot
                    log.exception("job=%d: touching failed unexpectedly", r.job.id)
                    with self.cond:
                        r.next_touch = self.clock() + TTR_PROBE

    def _attend(self, r: _Running, abandon: bool) -> None:
        """Touch, fetch the TTR for, or release one running job, on its slot's connection."""
        slot = r.slot
        with self.cond:
            if r.finished or r.abandoned:
                return
            asked, r.touch_asked = r.touch_asked, False
            r.busy = True  # the slot waits for this before it uses its connection again
        try:
            client = slot.client
            assert client is not None
            if abandon:
                self._release_abandoned(client, r.job)
                r.abandoned = True
                slot.settled.set()
                return
            try:
                if r.ttr is None:
                    r.ttr = client.stats_job(r.job).ttr
                    r.next_touch = r.reserved_at + touch_interval(r.ttr)
                if asked or self.clock() >= r.next_touch:
                    client.touch(r.job)
                    self.counters.add("touched")
                    r.next_touch = self.clock() + touch_interval(r.ttr)
            except ClientError as exc:
                log.warning("job=%d touch failed: %s", r.job.id, exc)
                r.next_touch = self.clock() + touch_interval(r.ttr or 1.0)
        finally:
            with self.cond:
                r.busy = False
                self.cond.notify_all()

    def _release_abandoned(self, client: QueueClient, job: Job) -> None:
        try:
            client.release(job, priority=client.stats_job(job).pri)
            self.counters.add("released")
            log.warning("job=%d outcome=released reason=%r", job.id, "abandoned at shutdown")
        except ClientError:
            pass

    def _apply(
        self,
        info: _JobInfo,
        action: Action,
        started: float,
        error: BaseException | None,
        *,
        prefetch: bool = False,
    ) -> Job | None:
        """Carry out the verdict. With ``prefetch``, a delete goes in one write with a
        ``reserve-with-timeout 0`` (never blocks, so stop() need not interrupt it): a ready
        job comes back with the delete's reply and is returned, saving a round trip."""
        client, job = info.client, info.job
        following: Job | None = None
        try:
            tube = info.tube
            if action.verdict is Verdict.DELETE and prefetch:
                following = self._delete_and_reserve(client, job)
            elif action.verdict is Verdict.DELETE:
                client.delete(job)
            elif action.verdict is Verdict.RELEASE:
                client.release(job, priority=info.get().pri, delay=action.delay)
            else:
                client.bury(job, priority=info.get().pri)
        except ClientError as exc:
            self.counters.add("lost")
            attempt = None if info.stats is None else info.stats.reserves
            self._log_outcome(
                job.id,
                info.known_tube or "?",
                attempt,
                "lost",
                started,
                reason=action.reason,
                error=exc,
            )
            return None
        self.counters.add(action.verdict.value)
        extra = f" delay={action.delay:.1f}s" if action.verdict is Verdict.RELEASE else ""
        self._log_outcome(
            job.id,
            tube,
            None if info.stats is None else info.stats.reserves,
            action.verdict.value + extra,
            started,
            reason=action.reason,
            error=error,
        )
        return following

    @staticmethod
    def _delete_and_reserve(client: QueueClient, job: Job) -> Job | None:
        # The client's own call builders, as its batch helpers use them: one write, two
        # replies read in order. A broken connection after the delete's reply still counts
        # as deleted; the reserve is then simply not answered.
        try:
            deleted, following = client.batch([client._delete_call(job), client._reserve_call(0)])
        except ConnectionBroken as exc:
            if exc.results and exc.results[0] is None:
                return None
            raise
        if isinstance(deleted, ClientError):
            raise deleted
        return following if isinstance(following, Job) else None  # TimedOut: none ready

    def _log_outcome(
        self,
        job_id: int,
        tube: str,
        attempt: int | None,
        outcome: str,
        started: float,
        *,
        reason: str = "",
        error: BaseException | None = None,
    ) -> None:
        level = logging.INFO if outcome == "deleted" else logging.WARNING
        if not log.isEnabledFor(level):
            return
        took = self.clock() - started
        # The attempt number is known only when stats-job was needed (see the module doc).
        seen = "" if attempt is None else f" attempt={attempt}"
        line = f"job={job_id} tube={tube}{seen} outcome={outcome} duration={took:.3f}s"
        if reason:
            line += f" reason={reason!r}"
        if error is not None:
            line += f" error={error!r}"
        log.log(level, line)

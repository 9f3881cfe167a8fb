"""The worker loop: reserve, decode, call the handler, delete; and everything around it.

Theory of operation. ``concurrency`` slot threads each own one queue connection and handle
one job at a time: reserve, ``stats-job`` (tube, TTR, attempt number), decode, run the
handler on a short-lived daemon thread, and meanwhile touch the job every half TTR (or when
the handler asks). The verdict comes from :func:`tubeworks.worker.policy.decide`.

Stopping. ``stop()`` (first SIGTERM/SIGINT, or recycling) makes slots stop reserving: a slot
blocked in ``reserve`` has its connection shut down, which makes the server release anything
it was about to hand over; a slot holding a job finishes it. After ``grace`` seconds, or at a
second signal, slots release the jobs still running and exit. Handler threads are daemons,
so an abandoned handler cannot keep the process alive.
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
from typing import Any

from tubeworks.client import Client as QueueClient
from tubeworks.client import (
    ClientError,
    DeadlineSoon,
    Forbidden,
    Job,
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


class _Slot:
    """One thread, one queue connection, one job at a time."""

    STARTING, RESERVING, WORKING, DONE = "starting", "reserving", "working", "done"

    def __init__(self, worker: Worker, number: int) -> None:
        self.worker = worker
        self.number = number
        self.state = self.STARTING
        self.client: QueueClient | None = None
        self.wake = threading.Event()  # handler finished, touch asked for, or abandon
        self.thread = threading.Thread(target=self.run_scoped, name=f"tubeworks-slot-{number}")

    def interrupt(self) -> None:
        """Wake a slot blocked in reserve by aborting its connection (it never reconnects)."""
        client = self.client
        if client is not None:
            client.abort()

    def run_scoped(self) -> None:
        with resource_scope(("slot", self.number)):  # one set of connections per slot
            self.run()

    def run(self) -> None:
        w = self.worker
        wait = 0.1
        try:
            while True:
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
                        "queue %s unreachable (%s); retrying in %.1fs", w.app.address, exc, wait
                    )
                    w.stopping.wait(wait)
                    wait = min(wait * 2, w.config.reconnect_cap)
                    continue
                wait = 0.1
                with w.lock:
                    starting = not w.stopping.is_set()
                    self.state = self.WORKING
                if not starting:
                    w.release_unstarted(self.client, job)
                    break
                w.counters.add("reserved")
                w.process(self, self.client, job)
                w.after_job()
        finally:
            with w.lock:
                self.state = self.DONE
            if self.client is not None:
                self.client.close()


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
        for slot in self._slots:
            slot.wake.set()

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
            for slot in self._slots:
                slot.thread.start()
            self.stopping.wait()
            deadline = self.clock() + self.config.grace
            for slot in self._slots:
                slot.thread.join(max(0.0, deadline - self.clock()))
            if any(s.thread.is_alive() for s in self._slots):
                log.warning(
                    "grace of %.1fs exceeded: releasing the jobs still running", self.config.grace
                )
                self.stop_now()
            for slot in self._slots:
                slot.thread.join()
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

    def process(self, slot: _Slot, client: QueueClient, job: Job) -> None:
        started = self.clock()
        try:
            st = client.stats_job(job)
        except ClientError as exc:
            self._log_outcome(job.id, "?", 0, "lost", started, error=exc)
            self.counters.add("lost")
            return
        handler = self.app.handlers.get(st.tube)
        if handler is None:  # watched through another client's config: put it back untouched
            self._apply(
                client,
                job,
                st.tube,
                st.pri,
                st.reserves,
                Action(Verdict.RELEASE, 0, "no handler"),
                started,
                None,
            )
            return
        ended, error, retry_delay = self._run_handler(
            slot, client, job, handler, st.tube, st.ttr, st.reserves
        )
        if ended is None:  # abandoned at shutdown: released already
            return
        action = decide(ended, st.reserves, handler.backoff, self.rng, retry_delay)
        if ended is Ended.FAILED:
            self.counters.add("failed")
        self._apply(client, job, st.tube, st.pri, st.reserves, action, started, error)

    def _run_handler(
        self,
        slot: _Slot,
        client: QueueClient,
        job: Job,
        handler: Handler,
        tube: str,
        ttr: float,
        attempt: int,
    ) -> tuple[Ended | None, BaseException | None, float | None]:
        touch = threading.Event()

        def request_touch() -> None:
            touch.set()
            slot.wake.set()

        ctx = JobContext(job.id, tube, attempt, ttr, job.body, request_touch)
        try:
            payload = handler.serializer.loads(job.body)
        except (DecodeError, ValueError, TypeError) as exc:
            return Ended.UNDECODABLE, exc, None
        result: dict[str, Any] = {}
        slot.wake.clear()

        def call() -> None:
            try:
                args = (payload, ctx) if handler.wants_context else (payload,)
                value = handler.func(*args)
                if handler.is_async:
                    asyncio.run(value)
                result["ended"] = Ended.OK
            except Retry as r:
                result["ended"], result["delay"] = Ended.RETRY, r.delay
            except Bury as b:
                result["ended"], result["error"] = Ended.BURY, b
            except BaseException as exc:  # the handler's failure is data for the policy
                result["ended"], result["error"] = Ended.FAILED, exc
            finally:
                slot.wake.set()

        context = contextvars.copy_context()  # the handler sees the slot's resource scope
        thread = threading.Thread(
            target=context.run, args=(call,), name=f"tubeworks-job-{job.id}", daemon=True
        )
        thread.start()
        interval = touch_interval(ttr)
        next_touch = self.clock() + interval
        while "ended" not in result:
            slot.wake.wait(max(0.0, next_touch - self.clock()))
            slot.wake.clear()
            if "ended" in result:
                break
            if self.abandon.is_set():
                self._release_abandoned(client, job)
                return None, None, None
            if touch.is_set() or self.clock() >= next_touch:
                touch.clear()
                try:
                    client.touch(job)
                    self.counters.add("touched")
                except ClientError as exc:
                    log.warning("job=%d touch failed: %s", job.id, exc)
                next_touch = self.clock() + interval
        return result["ended"], result.get("error"), result.get("delay")

    def _release_abandoned(self, client: QueueClient, job: Job) -> None:
        try:
            client.release(job, priority=client.stats_job(job).pri)
            self.counters.add("released")
            log.warning("job=%d outcome=released reason=%r", job.id, "abandoned at shutdown")
        except ClientError:
            pass

    def _apply(
        self,
        client: QueueClient,
        job: Job,
        tube: str,
        pri: int,
        attempt: int,
        action: Action,
        started: float,
        error: BaseException | None,
    ) -> None:
        try:
            if action.verdict is Verdict.DELETE:
                client.delete(job)
            elif action.verdict is Verdict.RELEASE:
                client.release(job, priority=pri, delay=action.delay)
            else:
                client.bury(job, priority=pri)
        except ClientError as exc:
            self.counters.add("lost")
            self._log_outcome(
                job.id, tube, attempt, "lost", started, reason=action.reason, error=exc
            )
            return
        self.counters.add(action.verdict.value)
        extra = f" delay={action.delay:.1f}s" if action.verdict is Verdict.RELEASE else ""
        self._log_outcome(
            job.id,
            tube,
            attempt,
            action.verdict.value + extra,
            started,
            reason=action.reason,
            error=error,
        )

    def _log_outcome(
        self,
        job_id: int,
        tube: str,
        attempt: int,
        outcome: str,
        started: float,
        *,
        reason: str = "",
        error: BaseException | None = None,
    ) -> None:
        took = self.clock() - started
        line = f"job={job_id} tube={tube} attempt={attempt} outcome={outcome} duration={took:.3f}s"
        if reason:
            line += f" reason={reason!r}"
        if error is not None:
            line += f" error={error!r}"
        level = logging.INFO if outcome == "deleted" else logging.WARNING
        log.log(level, line)

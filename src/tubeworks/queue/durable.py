"""Wires the write-ahead log (:mod:`tubeworks.queue.wal`) to the queue core.

:class:`WalJobLog` is the core's :class:`~tubeworks.queue.jobs.JobLog`: it turns a job and the
change the core is about to make into a log record, and turns the log's errors into refusals
(``False``) the core answers with ``OUT_OF_MEMORY`` (put) or ``INTERNAL_ERROR``. Nothing is on
disk until :meth:`WalJobLog.commit`, which the server calls once per batch *before* sending the
replies of that batch, so a reply never acknowledges a change the log could not write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tubeworks.queue.jobs import Job
from tubeworks.queue.wal import JobRecord, JobState, WalError, WriteAheadLog

log = logging.getLogger("tubeworks.queue.wal")


class WalJobLog:
    """The core's log, backed by a :class:`WriteAheadLog`."""

    def __init__(self, wal: WriteAheadLog, jobs: Callable[[int], Job | None]) -> None:
        self.wal = wal
        self._jobs = jobs
        self.dirty = False  # something was logged since the last commit
        self.refusals = 0  # changes refused because the log could not take them
        wal.attach(self._lookup)

    def put(self, job: Job) -> bool:
        try:
            self.wal.log_put(_record(job, job.state, job.pri, job.delay, job.ready_at, None, True))
        except WalError as exc:
            return self._refused(exc)
        self.dirty = True
        return True

    def update(
        self, job: Job, state: int, pri: int, delay: int, ready_at: float, bump: str | None
    ) -> bool:
        try:
            self.wal.log_update(_record(job, state, pri, delay, ready_at, bump, False))
        except WalError as exc:
            return self._refused(exc)
        self.dirty = True
        return True

    def delete(self, job: Job) -> bool:
        try:
            self.wal.log_delete(job.id)
        except WalError as exc:
            return self._refused(exc)
        self.dirty = True
        return True

    def commit(self) -> float | None:
        """Write (and, per ``-f``, sync) what was logged. Raises ``WalError`` on failure."""
        self.dirty = False
        return self.wal.commit()

    def _refused(self, exc: WalError) -> bool:
        self.refusals += 1
        log.warning("write-ahead log refused a change: %s", exc)
        return False

    def _lookup(self, job_id: int) -> JobRecord | None:
        """The current full record of a live job, for compaction."""
        job = self._jobs(job_id)
        if job is None:
            return None
        return _record(job, job.state, job.pri, job.delay, job.ready_at, None, True)


def _record(
    job: Job, state: int, pri: int, delay: int, ready_at: float, bump: str | None, body: bool
) -> JobRecord:
    counters = {
        "reserves": job.reserves,
        "timeouts": job.timeouts,
        "releases": job.releases,
        "buries": job.buries,
        "kicks": job.kicks,
    }
    if bump is not None:
        counters[bump] += 1
    return JobRecord(
        id=job.id,
        tube=job.tube.name,
        pri=pri,
        delay=delay,
        ttr=job.ttr,
        created_at=job.created,
        ready_at=ready_at if state == JobState.DELAYED else 0.0,
        state=JobState(state),
        body=job.body[:-2] if body else b"",
        **counters,
    )

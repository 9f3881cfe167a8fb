"""From counter samples to a throughput: which stretch of the run is timed, and the rate in it.

The harness enqueues M jobs, starts N worker processes, and samples two numbers until all M
are done: jobs finished, and worker processes that have finished at least one job. Start-up
costs differ a lot between frameworks (Celery's pool, Dramatiq's forks), and they are not what
"jobs per second" asks about, so the timed stretch starts at the first sample where all N
processes are consuming and ends at the first sample that shows all M done. If the queue ran
dry before the last process got going (small ``--quick`` runs), it starts at the first
completion instead, and :attr:`Window.all_started` says so.

The worker processes' CPU time is read at the samples that can open or close the window; CPU
per job is less sensitive than jobs/s to what else the machine is doing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One reading of the counters."""

    t: float  # seconds since the worker processes were started
    done: int  # jobs finished so far
    seen: int  # worker processes that have finished at least one job
    cpu: float | None = None  # CPU seconds used by the worker processes so far (read rarely)


@dataclass(frozen=True)
class Window:
    """The timed stretch of one run."""

    jobs: int  # jobs finished inside the window
    seconds: float  # its length
    startup: float  # seconds from starting the processes to the window's start
    total: float  # seconds from starting the processes to the last job done
    all_started: bool  # every worker process was consuming when the window started
    cpu_per_job: float | None = None  # worker CPU seconds per job inside the window

    @property
    def rate(self) -> float:
        """Jobs per second inside the window."""
        return self.jobs / self.seconds


class NoWindow(ValueError):
    """The samples do not contain a stretch that can be timed."""


def window(samples: Sequence[Sample], workers: int, jobs: int) -> Window:
    """The timed stretch of a run of ``jobs`` jobs on ``workers`` processes.

    Raises:
        NoWindow: the samples never reach ``jobs`` done, or the window would be empty
            (everything finished between two samples).
    """
    end = next((s for s in samples if s.done >= jobs), None)
    if end is None:
        last = samples[-1].done if samples else 0
        raise NoWindow(f"expected {jobs} jobs done, the last sample shows {last}")
    start = next((s for s in samples if s.seen >= workers and s.done < jobs), None)
    all_started = start is not None
    if start is None:
        start = next((s for s in samples if s.done > 0), end)
    if end.t <= start.t or end.done <= start.done:
        raise NoWindow(f"all {jobs} jobs finished between two samples: expected more jobs (--jobs)")
    jobs_in = end.done - start.done
    cpu = None if start.cpu is None or end.cpu is None else (end.cpu - start.cpu) / jobs_in
    return Window(
        jobs=jobs_in,
        seconds=end.t - start.t,
        startup=start.t,
        total=end.t,
        all_started=all_started,
        cpu_per_job=cpu,
    )

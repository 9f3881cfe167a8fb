"""The RQ side: the function ``rq worker`` runs (enqueued by its dotted name)."""

from __future__ import annotations

from benchmarks.workers.apps.counter import job_done


def noop(i: int) -> None:
    job_done()

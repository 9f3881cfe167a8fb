"""Counters of a running worker, read as one frozen snapshot."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

__all__ = ["Counters", "WorkerStatistics"]


@dataclass(frozen=True)
class WorkerStatistics:
    reserved: int = 0  # jobs reserved
    deleted: int = 0  # handler succeeded, job deleted
    released: int = 0  # released for a retry (or unstarted at shutdown)
    buried: int = 0  # buried: asked for, undecodable, or out of attempts
    failed: int = 0  # handler raised an unexpected exception
    touched: int = 0  # touches sent (automatic or asked for)
    lost: int = 0  # the reservation was lost (connection broke, TTR expired) before the verdict
    queue_errors: int = 0  # failed reserves (server down, connection broken)


class Counters:
    """Thread-safe counters behind :class:`WorkerStatistics`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {f.name: 0 for f in fields(WorkerStatistics)}

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] += n

    def snapshot(self) -> WorkerStatistics:
        with self._lock:
            return WorkerStatistics(**self._values)

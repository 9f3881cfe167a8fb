"""The log's statistics record, read by ``stats``, metrics and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WalStats"]


@dataclass(frozen=True, slots=True)
class WalStats:
    """The log's state, for ``stats`` and metrics."""

    files: int
    """Log files on disk, spares included."""
    bytes: int
    """Bytes the log files take on disk (preallocated room included)."""
    oldest_index: int
    """N of the oldest ``wal.N`` (beanstalkd's ``binlog-oldest-index``)."""
    current_index: int
    """N of the file being written (``binlog-current-index``)."""
    live_jobs: int
    """Jobs the log holds."""
    live_bytes: int
    """Bytes of those jobs' full records: what compaction keeps disk use proportional to."""
    records_written: int
    """Records appended since open (``binlog-records-written``)."""
    records_migrated: int
    """Full records rewritten by compaction since open (``binlog-records-migrated``)."""
    file_size: int
    """Target size of one file (``-s``; ``binlog-max-size``)."""
    failing: bool
    """True while a failed write is being retried: changes are refused."""
    last_error: str
    """The most recent write, sync or allocation error, '' if none since open."""

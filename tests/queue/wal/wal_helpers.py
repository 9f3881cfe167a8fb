"""Shared helpers for the WAL tests: a job factory and a file layer that fails on demand."""

from __future__ import annotations

import errno
import os
from typing import Any

from tubeworks.queue.wal import FileOps, JobRecord, JobState


def job(job_id: int, **changes: Any) -> JobRecord:
    """A ready job with plausible fields; override any with keywords."""
    rec = JobRecord(
        id=job_id, tube=b"default", pri=1024, delay=0, ttr=60, created_at=1_700_000_000.25,
        ready_at=0.0, state=JobState.READY, reserves=0, timeouts=0, releases=0, buries=0,
        kicks=0, body=b"body-%d" % job_id,
    )  # fmt: skip
    for name, value in changes.items():
        setattr(rec, name, value)
    return rec


class FaultyOps(FileOps):
    """Real file operations, except that chosen ones fail with a chosen errno while armed."""

    def __init__(self) -> None:
        self.fail: dict[str, int] = {}  # method name -> errno to raise
        self.syncs = 0
        self.dir_syncs = 0

    def _check(self, name: str) -> None:
        code = self.fail.get(name)
        if code is not None:
            raise OSError(code, os.strerror(code))

    def create(self, path: str) -> int:
        self._check("create")
        return super().create(path)

    def allocate(self, fd: int, size: int) -> None:
        self._check("allocate")
        super().allocate(fd, size)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        self._check("pwrite")
        return super().pwrite(fd, data, offset)

    def sync(self, fd: int) -> None:
        self._check("sync")
        self.syncs += 1
        super().sync(fd)

    def unlink(self, path: str) -> None:
        self._check("unlink")
        super().unlink(path)

    def sync_dir(self, path: str) -> None:
        self._check("sync_dir")
        self.dir_syncs += 1
        super().sync_dir(path)


ENOSPC = errno.ENOSPC
EACCES = errno.EACCES
EIO = errno.EIO


def dir_bytes(path: str) -> int:
    """Bytes the files of a directory take (their lengths). A file the log's background
    remover deletes while we look counts as gone."""
    total = 0
    for entry in os.scandir(path):
        try:
            total += entry.stat().st_size
        except FileNotFoundError:
            pass
    return total

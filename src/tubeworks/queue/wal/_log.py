"""The write-ahead log: append job changes, replay them on start, keep disk use bounded.

Theory of operation
-------------------
Files ``wal.N`` are written in turn; each is preallocated (``FileOps.allocate``) so that writes
inside it cannot fail for lack of space. Records are appended to an in-memory buffer by
``log_*`` and written by ``commit`` (the server calls it once per batch, before replying).

Space. Deleting a job must never fail, so the log keeps room for one delete record per live job:
the free space of the current file plus any preallocated spare files always holds
``live jobs`` delete records. ``log_put``/``log_update`` first reserve their bytes under that
rule, preallocating another spare file when needed; if that fails (disk full, quota, file size
limit) they raise ``WalFullError`` and nothing changes. The next change simply tries again, so
the log recovers by itself when space is back.

Collection. Each file counts the live jobs whose *latest full record* it holds. Files are
removed only from the oldest end and only when that count is zero (removing a newer file first
could drop a delete record and bring a job back), as soon as a commit or tick sees that. Updates
never pin a file: on replay an update whose full record is gone is ignored.

Compaction (fixes beanstalkd issue #622). When the bytes in files exceed ``live bytes`` by more
than ``max(live bytes, file size)``, ``tick`` rewrites the live jobs of the oldest file (their
current record, asked from the core through ``attach``) into the current file, a few per call,
which empties the oldest file so it can be removed. A job buried and kicked forever therefore
pins nothing: disk stays within about twice the live bytes plus two files. A file emptied by
compaction is removed only once the rewritten records are written (and synced, unless fsync is
off).

Errors. A failed write or sync keeps the buffer and puts the log in a failing state: every
``log_*`` raises ``WalWriteError`` and ``commit``/``tick`` retry the write until it works.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ._errors import WalError, WalFullError, WalOpenError, WalWriteError
from ._files import BackgroundRemover, FileOps
from ._lock import _reason, acquire_lock, release_lock
from ._records import (
    DELETE_SIZE,
    FILE_HEADER_SIZE,
    JobRecord,
    Recovery,
    encode_delete,
    encode_file_header,
    encode_put,
    encode_update,
)
from ._replay import FileScan, replay, scan_file
from ._stats import WalStats

__all__ = ["WalStats", "WriteAheadLog"]

_FILE_NAME = re.compile(r"wal\.([0-9]+)")
#: Jobs and bytes rewritten per ``tick`` at most: keeps one tick short so clients never stall.
COMPACT_BATCH: Final = 64
COMPACT_BYTES: Final = 256 * 1024
#: Timers may fire this early (asyncio rounds to its clock resolution); count that as on time.
_EARLY: Final = 1e-6
#: Seconds between retries of a failed write.
RETRY_INTERVAL: Final = 0.5


@dataclass(slots=True)
class _File:
    """One ``wal.N`` file, open or not."""

    index: int
    path: str
    alloc: int  # bytes it takes on disk (preallocated size, or its length once finished)
    used: int  # bytes of header and records in it, including records still in the buffer
    fd: int | None = None  # open only for the current file and the spares
    ids: set[int] = field(default_factory=set)  # live jobs whose latest full record is here

    def slots(self) -> int:
        """Delete records that fit in its free room."""
        return (self.alloc - self.used) // DELETE_SIZE


class WriteAheadLog:
    """An open log directory. Create with :meth:`open`; single-threaded."""

    def __init__(self, directory: str, fsync_interval: float | None, file_size: int,
                 lock_fd: int, ops: FileOps, clock: Callable[[], float]) -> None:  # fmt: skip
        self._dir = directory
        self._fsync = fsync_interval
        self._file_size = max(file_size, FILE_HEADER_SIZE + 4096)
        self._requested_size = file_size
        self._lock_fd: int | None = lock_fd
        self._ops = ops
        self._clock = clock
        self._files: dict[int, _File] = {}  # finished files and the current one, oldest first
        self._spares: deque[_File] = deque()  # preallocated, empty, next after the current
        self._spare_slots = 0
        self._cur: _File
        self._buf = bytearray()  # records not yet written to the current file
        self._dirty = False  # written but not synced
        self._last_sync = clock()
        self._failing = False
        self._last_error = ""
        self._loc: dict[int, _File] = {}  # job id -> file holding its latest full record
        self._size: dict[int, int] = {}  # job id -> size of its full record
        self._live_bytes = 0
        self._max_id = 0
        self._written = 0
        self._migrated = 0
        self._lookup: Callable[[int], JobRecord | None] | None = None
        self._remover = BackgroundRemover(ops)
        self._compact_at = 0.0  # no compaction before this time (after a failure)
        self._moved = False  # rewritten records are not yet written (and synced, per fsync)

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        fsync_interval: float | None = 0.05,
        file_size: int = 10 * 1024 * 1024,
        max_job_size: int = 65535,
        file_ops: FileOps | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> tuple[WriteAheadLog, Recovery]:
        """Lock ``directory`` (created if missing), replay it and start a new file.

        Args:
            fsync_interval: seconds between fsyncs (``-f`` / 1000); 0 syncs in every ``commit``;
                None never syncs (``-F``).
            file_size: bytes per file (``-s``); at least 4 KiB plus a header is used.
            max_job_size: jobs with bigger bodies are dropped on replay with a warning (``-z``).
            file_ops: the file layer; tests pass one with failing methods.
            clock: the clock ``tick(now)`` is given (for fsync timing only).

        Returns:
            The open log and what it held. Print ``recovery.warnings``.

        Raises:
            WalLockedError: another process uses the directory; exit non-zero.
            WalFormatError: a file is not ours or from another format version.
            WalOpenError: the directory or a file cannot be read, created or written.
        """
        ops = file_ops or FileOps()
        path = os.fspath(directory)
        try:
            if not os.path.isdir(path):
                os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise WalOpenError(f"wal dir {path}: cannot create: {_reason(exc)}") from exc
        if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
            raise WalOpenError(f"wal dir {path}: permission denied (need read and write access)")
        lock_fd = acquire_lock(path)
        wal = cls(path, fsync_interval, file_size, lock_fd, ops, clock)
        try:
            recovery = wal._load(max_job_size)
        except BaseException:
            wal._remover.close()
            release_lock(lock_fd)
            raise
        return wal, recovery

    def _load(self, max_job_size: int) -> Recovery:
        found: list[tuple[int, str]] = []
        for name in os.listdir(self._dir):
            m = _FILE_NAME.fullmatch(name)
            if m:
                found.append((int(m.group(1)), os.path.join(self._dir, name)))
        found.sort()
        scans: list[tuple[int, str, FileScan]] = []
        for index, path in found:
            try:
                data = self._ops.read(path)
            except OSError as exc:
                raise WalOpenError(f"{path}: cannot read: {_reason(exc)}") from exc
            scans.append((index, path, scan_file(data, path)))
            self._files[index] = _File(index, path, len(data), scans[-1][2].end)
        state = replay(scans, max_job_size)
        self._max_id = state.max_id
        for job_id, index in state.location.items():
            f = self._files[index]
            f.ids.add(job_id)
            self._loc[job_id] = f
        self._size = state.sizes
        self._live_bytes = sum(state.sizes.values())
        # Files without a single record hold no deletes, so dropping them cannot revive a job.
        for index, count in state.records.items():
            if count == 0:
                self._remove(self._files.pop(index))
        next_index = found[-1][0] + 1 if found else 1
        try:
            self._cur = self._new_file(next_index, self._file_size)
        except WalFullError as exc:
            raise WalOpenError(str(exc)) from exc
        self._files[next_index] = self._cur
        self._collect()
        try:  # room for deleting every replayed job, so deletes keep working on a full disk
            self._reserve(0, 0)
        except WalError as exc:
            state.recovery.warnings.append(f"no room reserved for deletes yet: {exc}")
        return state.recovery

    # ---- the interface the queue core uses ---------------------------------------------------

    def attach(self, lookup: Callable[[int], JobRecord | None]) -> None:
        """Give compaction a way to read a live job's current record from the core."""
        self._lookup = lookup

    def log_put(self, rec: JobRecord) -> None:
        """Record a new job (its full record).

        Raises:
            WalFullError: no disk space; reply ``OUT_OF_MEMORY`` and do not store the job.
            WalWriteError: the log is failing; reply ``OUT_OF_MEMORY`` and do not store the job.
            ValueError: the id is already live in the log (a bug in the caller).
        """
        if self._failing:
            raise self._failing_error()
        if rec.id in self._loc:
            raise ValueError(f"job {rec.id} is already in the wal")
        data = encode_put(rec)
        n = len(data)
        cur = self._cur
        free = cur.alloc - cur.used - n
        if free < 0 or free // DELETE_SIZE + self._spare_slots <= len(self._loc):
            self._reserve(n, 1)
            cur = self._cur
        self._buf += data
        cur.used += n
        cur.ids.add(rec.id)
        self._loc[rec.id] = cur
        self._size[rec.id] = n
        self._live_bytes += n
        self._written += 1
        if rec.id > self._max_id:
            self._max_id = rec.id

    def log_update(self, rec: JobRecord) -> None:
        """Record that a live job's state, priority, delay, ready time or counters changed.

        Raises:
            WalFullError, WalWriteError: as for :meth:`log_put`; refuse the change.
            ValueError: the job is not in the log.
        """
        if self._failing:
            raise self._failing_error()
        if rec.id not in self._loc:
            raise ValueError(f"job {rec.id} is not in the wal")
        data = encode_update(rec)
        self._append(data, 0)

    def log_delete(self, job_id: int) -> None:
        """Record that a job is gone. Never fails for lack of space (room was kept at put).

        Raises:
            WalWriteError: the log is failing; refuse the delete (the job stays).
            WalFullError: only if the room could not be reserved when the log was opened
                (see the recovery warnings); refuse the delete.
            ValueError: the job is not in the log.
        """
        if self._failing:
            raise self._failing_error()
        if job_id not in self._loc:
            raise ValueError(f"job {job_id} is not in the wal")
        self._append(encode_delete(job_id), -1)
        f = self._loc.pop(job_id)
        f.ids.discard(job_id)
        self._live_bytes -= self._size.pop(job_id)

    def commit(self) -> float | None:
        """Write buffered records; fsync too when ``fsync_interval`` is 0 or its time has come.

        Call once per batch of replies, before sending them.

        Returns:
            Seconds until :meth:`tick` wants to run (None: no need).

        Raises:
            WalWriteError: the write or sync failed; the records stay buffered and are retried
                by later calls. Until then changes are refused.
        """
        self._flush()
        now = self._clock()
        if self._sync_due(now):
            self._sync(now)
        self._collect()
        return self._next_tick(now)

    def tick(self, now: float) -> float | None:
        """Do periodic work: retry a failed write, timed fsync, compaction and file removal.

        ``now`` comes from the ``clock`` given to :meth:`open`. Each call does a bounded amount
        of work.

        Returns:
            Seconds until it wants to run again, or None.
        """
        if self._failing:
            try:
                self._flush()
            except WalWriteError:
                return RETRY_INTERVAL
        if self._sync_due(now):
            try:
                self._sync(now)
            except WalWriteError:
                return RETRY_INTERVAL
        self._collect()
        if self._compactable() and now >= self._compact_at:
            try:
                self._compact()
                self._flush()
                if self._fsync == 0:
                    self._sync(now)
            except WalError:  # no room or a failed write: try again later, not in a busy loop
                self._compact_at = now + RETRY_INTERVAL
                return RETRY_INTERVAL
            self._collect()
        return self._next_tick(now)

    def stats(self) -> WalStats:
        """A snapshot of the log's state."""
        files = [*self._files.values(), *self._spares]
        return WalStats(
            files=len(files),
            bytes=sum(f.alloc for f in files),
            oldest_index=next(iter(self._files)),
            current_index=self._cur.index,
            live_jobs=len(self._loc),
            live_bytes=self._live_bytes,
            records_written=self._written,
            records_migrated=self._migrated,
            file_size=self._requested_size,
            failing=self._failing,
            last_error=self._last_error or self._remover.last_error,
        )

    def close(self) -> None:
        """Write and sync everything, trim the current file, drop spares, release the lock.

        Raises:
            WalWriteError: the final write failed (the lock is released anyway).
        """
        if self._lock_fd is None:
            return
        try:
            self._flush()
            cur = self._cur
            if cur.fd is not None:
                if self._fsync is not None:
                    self._sync(self._clock())
                self._finish(cur)
        finally:
            for spare in self._spares:
                self._remove(spare)
            self._spares.clear()
            self._remover.close()
            release_lock(self._lock_fd)
            self._lock_fd = None

    # ---- space -------------------------------------------------------------------------------

    def _append(self, data: bytes, new_jobs: int) -> None:
        n = len(data)
        cur = self._cur
        free = cur.alloc - cur.used - n
        if free < 0 or free // DELETE_SIZE + self._spare_slots < len(self._loc) + new_jobs:
            self._reserve(n, new_jobs)
            cur = self._cur
        self._buf += data
        cur.used += n
        self._written += 1

    def _reserve(self, n: int, new_jobs: int) -> None:
        """Make room for an ``n``-byte record in the current file, keeping a delete's room for
        every live job afterwards (``new_jobs`` more or fewer). Preallocates spares as needed.

        Raises WalFullError (nothing changed but maybe an extra spare) or WalWriteError.
        """
        need = len(self._loc) + new_jobs
        while True:
            cur = self._cur
            free = cur.alloc - cur.used
            if free >= n:
                if (free - n) // DELETE_SIZE + self._spare_slots >= need:
                    return
                self._add_spare(self._file_size)
                continue
            if not self._spares:
                self._add_spare(max(self._file_size, FILE_HEADER_SIZE + n + DELETE_SIZE))
                continue
            first = self._spares[0]
            if first.alloc - first.used < n:
                self._grow(first, first.used + n + DELETE_SIZE)
                continue
            after = (first.alloc - first.used - n) // DELETE_SIZE
            if after + self._spare_slots - first.slots() >= need:
                self._switch()
                return
            self._add_spare(self._file_size)

    def _new_file(self, index: int, size: int) -> _File:
        path = os.path.join(self._dir, f"wal.{index}")
        header = encode_file_header(index, self._max_id)
        try:
            fd = self._ops.create(path)
        except OSError as exc:
            self._last_error = f"cannot create wal file {path}: {_reason(exc)}"
            raise WalFullError(self._last_error) from exc
        try:
            self._ops.allocate(fd, size)
            self._write_all(fd, header, 0)
        except OSError as exc:
            self._last_error = f"cannot allocate {size} bytes for wal file {path}: {_reason(exc)}"
            self._ops.close(fd)
            try:
                self._ops.unlink(path)
            except OSError:
                pass
            raise WalFullError(self._last_error) from exc
        if self._fsync is not None:
            try:
                self._ops.sync_dir(self._dir)
            except OSError as exc:  # the file works; only its survival of a power cut is at risk
                self._last_error = f"cannot sync wal dir {self._dir}: {_reason(exc)}"
        return _File(index, path, size, FILE_HEADER_SIZE, fd)

    def _add_spare(self, size: int) -> None:
        last = self._spares[-1].index if self._spares else self._cur.index
        spare = self._new_file(last + 1, size)
        self._spares.append(spare)
        self._spare_slots += spare.slots()

    def _grow(self, f: _File, size: int) -> None:
        assert f.fd is not None
        try:
            self._ops.allocate(f.fd, size)
        except OSError as exc:
            self._last_error = f"cannot allocate {size} bytes for wal file {f.path}: {_reason(exc)}"
            raise WalFullError(self._last_error) from exc
        self._spare_slots -= f.slots()
        f.alloc = size
        self._spare_slots += f.slots()

    def _switch(self) -> None:
        """Finish the current file and continue in the first spare."""
        self._flush()
        old = self._cur
        if self._fsync is not None and self._dirty:
            self._sync(self._clock())
        self._finish(old)
        new = self._spares.popleft()
        self._spare_slots -= new.slots()
        self._files[new.index] = new
        self._cur = new

    def _finish(self, f: _File) -> None:
        """Trim a file to its records and close it: its preallocated tail is no longer needed."""
        assert f.fd is not None
        try:
            self._ops.truncate(f.fd, f.used)
            f.alloc = f.used
        except OSError as exc:
            self._last_error = f"cannot trim wal file {f.path}: {_reason(exc)}"
        self._ops.close(f.fd)
        f.fd = None

    # ---- writing -----------------------------------------------------------------------------

    def _write_all(self, fd: int, data: bytes | bytearray, offset: int) -> None:
        view = memoryview(data)
        while view:
            n = self._ops.pwrite(fd, view, offset)
            view = view[n:]
            offset += n

    def _flush(self) -> None:
        if not self._buf:
            return
        cur = self._cur
        assert cur.fd is not None
        try:
            self._write_all(cur.fd, self._buf, cur.used - len(self._buf))
        except OSError as exc:
            self._failing = True
            self._last_error = f"cannot write wal file {cur.path}: {_reason(exc)}"
            raise WalWriteError(self._last_error) from exc
        self._buf.clear()
        self._dirty = True
        self._failing = False
        if self._fsync is None:
            self._moved = False

    def _sync(self, now: float) -> None:
        fd = self._cur.fd
        assert fd is not None
        try:
            self._ops.sync(fd)
        except OSError as exc:
            self._failing = True
            self._last_error = f"cannot sync wal file {self._cur.path}: {_reason(exc)}"
            raise WalWriteError(self._last_error) from exc
        self._dirty = False
        self._failing = False
        self._last_sync = now
        if not self._buf:
            self._moved = False

    def _sync_due(self, now: float) -> bool:
        if not self._dirty or self._fsync is None:
            return False
        return now + _EARLY - self._last_sync >= self._fsync

    def _failing_error(self) -> WalWriteError:
        return WalWriteError(f"wal is failing, change refused: {self._last_error}")

    # ---- collection and compaction ----------------------------------------------------------

    def _collect(self) -> None:
        """Remove files from the oldest end while no live job's full record is in them.

        Not while rewritten records are still unwritten or unsynced: the old file may hold the
        only durable copy of those jobs. Deleted jobs need no such care: losing the file and the
        unwritten delete record together still leaves the job deleted.
        """
        if self._moved:
            return
        while True:
            oldest = next(iter(self._files.values()))
            if oldest is self._cur or oldest.ids:
                return
            del self._files[oldest.index]
            self._remove(oldest)

    def _remove(self, f: _File) -> None:
        if f.fd is not None:
            self._ops.close(f.fd)
            f.fd = None
        self._remover.remove(f.path)

    def _wasteful(self) -> bool:
        used = sum(f.used for f in self._files.values())
        return used - self._live_bytes > max(self._live_bytes, self._file_size)

    def _compactable(self) -> bool:
        if self._lookup is None or self._failing or len(self._files) < 2:
            return False
        if not next(iter(self._files.values())).ids:
            return False  # nothing left to move out: it only waits to be collected
        return self._wasteful()

    def _compact(self) -> None:
        """Rewrite up to ``COMPACT_BATCH`` live jobs out of the oldest file."""
        assert self._lookup is not None
        oldest = next(iter(self._files.values()))
        budget = COMPACT_BYTES
        for job_id in list(oldest.ids)[:COMPACT_BATCH]:
            if budget <= 0:
                break
            rec = self._lookup(job_id)
            if rec is None:  # the core forgot it without logging a delete: log one now
                self.log_delete(job_id)
                continue
            data = encode_put(rec)
            self._append(data, 0)
            budget -= len(data)
            oldest.ids.discard(job_id)
            self._cur.ids.add(job_id)
            self._loc[job_id] = self._cur
            self._migrated += 1
            self._moved = True

    def _next_tick(self, now: float) -> float | None:
        if self._failing:
            return RETRY_INTERVAL
        if self._compactable():
            return max(0.0, self._compact_at - now)
        if self._dirty and self._fsync is not None:
            return max(0.0, self._last_sync + self._fsync - now)
        oldest = next(iter(self._files.values()))
        if oldest is not self._cur and not oldest.ids:
            return 0.0
        return None

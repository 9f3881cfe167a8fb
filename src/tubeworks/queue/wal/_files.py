"""The file layer: every system call the log makes on its files goes through :class:`FileOps`.

It exists so tests can make the disk fail on purpose (a full disk, an I/O error) by swapping
one method on a real object, the way beanstalkd's tests swap its ``falloc`` function, instead
of mocking the log itself. Methods raise ``OSError``; the log turns those into ``WalError``.
"""

from __future__ import annotations

import os
import queue
import threading

__all__ = ["BackgroundRemover", "FileOps"]


class FileOps:
    """Real file operations. Subclass or replace single methods on an instance to inject faults."""

    def create(self, path: str) -> int:
        """Create a new file (it must not exist) and return its descriptor."""
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def allocate(self, fd: int, size: int) -> None:
        """Reserve ``size`` bytes of disk, so later writes below that cannot hit ENOSPC."""
        os.posix_fallocate(fd, 0, size)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        return os.pwrite(fd, data, offset)

    def sync(self, fd: int) -> None:
        os.fdatasync(fd)

    def sync_dir(self, path: str) -> None:
        """Make a new file's directory entry durable, not only its contents."""
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def close(self, fd: int) -> None:
        os.close(fd)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()


class BackgroundRemover:
    """Unlinks finished log files on a helper thread, oldest first.

    Removing a large preallocated file can take milliseconds (the filesystem frees or discards
    every block), which must not stall the event loop. Order matters for crash safety: a newer
    file may hold the delete records for jobs put in an older one, so files go strictly in the
    order given, and after a failure nothing more is removed. When more than ``MAX_PENDING``
    files wait, ``remove`` first lets the thread catch up, so disk use stays bounded even if
    the thread cannot keep pace.
    """

    MAX_PENDING = 4

    def __init__(self, ops: FileOps) -> None:
        self._ops = ops
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.last_error = ""  # the failure that stopped removals, for the log's stats

    def remove(self, path: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-remover", daemon=True)
            self._thread.start()
        elif self._queue.unfinished_tasks >= self.MAX_PENDING:
            self._queue.join()
        self._queue.put(path)

    def wait(self) -> None:
        """Return once every queued path has been removed (or skipped after a failure)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            path = self._queue.get()
            try:
                if path is None:
                    return
                if not self.last_error:
                    self._ops.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                self.last_error = f"cannot remove wal file {path}: {reason}; no more files removed"
            finally:
                self._queue.task_done()

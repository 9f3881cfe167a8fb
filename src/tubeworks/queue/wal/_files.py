"""The file layer: every system call the log makes on its files goes through :class:`FileOps`.

It exists so tests can make the disk fail on purpose (a full disk, an I/O error) by swapping
one method on a real object, the way beanstalkd's tests swap its ``falloc`` function, instead
of mocking the log itself. Methods raise ``OSError``; the log turns those into ``WalError``.
"""

from __future__ import annotations

import os

__all__ = ["FileOps"]


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

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def close(self, fd: int) -> None:
        os.close(fd)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

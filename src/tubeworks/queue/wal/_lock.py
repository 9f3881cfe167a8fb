"""The directory lock: one process per log directory.

``DIR/lock`` is locked with ``flock`` (per open file, so a second open in the same process is
refused too) and holds the owner's pid, which goes into the refusal message.
"""

from __future__ import annotations

import fcntl
import os

from ._errors import WalLockedError, WalOpenError

__all__ = ["acquire_lock", "release_lock"]


def acquire_lock(directory: str) -> int:
    """Lock ``directory`` for this process and return the lock file's descriptor.

    Raises:
        WalLockedError: another process (or another log in this process) holds the lock.
        WalOpenError: the lock file cannot be created or opened.
    """
    path = os.path.join(directory, "lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise WalOpenError(f"{path}: cannot open lock file: {_reason(exc)}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if owner == str(os.getpid()):
            raise WalLockedError(f"wal dir {directory} is already open in this process") from None
        raise WalLockedError(
            f"wal dir {directory} is locked by another process (pid {owner})"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_lock(fd: int) -> None:
    os.close(fd)  # closing the descriptor drops the flock


def _reason(exc: OSError) -> str:
    """``OSError`` as a short lowercase phrase: 'permission denied'."""
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)

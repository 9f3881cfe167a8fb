"""Errors raised by the write-ahead log.

Tree (all under :class:`tubeworks.errors.TubeworksError`)::

    WalError                   anything the log refuses or cannot do
    ├── WalOpenError           the log cannot start: the server must exit with this message
    │   ├── WalLockedError     another process holds the directory lock
    │   └── WalFormatError     a file is not ours, or from a newer format version
    ├── WalFullError           no disk space for a change: refuse it (``OUT_OF_MEMORY`` for put)
    └── WalWriteError          a write or fsync failed: refuse the change; the log retries by itself
"""

from __future__ import annotations

from tubeworks.errors import TubeworksError

__all__ = [
    "WalError",
    "WalFormatError",
    "WalFullError",
    "WalLockedError",
    "WalOpenError",
    "WalWriteError",
]


class WalError(TubeworksError):
    """Base class for write-ahead-log errors."""


class WalOpenError(WalError):
    """Raised by ``WriteAheadLog.open`` when the log cannot be used at all.

    The message says exactly why (permission, unreadable file, lock). The server should print
    it and exit non-zero rather than run without its log.
    """


class WalLockedError(WalOpenError):
    """Raised by ``open`` when another process already uses the directory."""


class WalFormatError(WalOpenError):
    """Raised by ``open`` when a log file has an unknown magic, version or a broken file header.

    Such a file may hold acknowledged jobs, so it is never skipped silently: move it away to
    start without it.
    """


class WalFullError(WalError):
    """Raised by ``log_put``/``log_update`` when no disk space can be reserved for the record.

    Nothing was written and the log is unchanged: refuse the change to the client
    (``OUT_OF_MEMORY`` for ``put``). Space is retried on the next change, so the log recovers
    by itself once the disk has room again.
    """


class WalWriteError(WalError):
    """Raised when writing or syncing a log file failed (``EIO``, ``EFBIG``, ...).

    From ``log_*``: the change was refused and not recorded. From ``commit``: the buffered records
    are kept and retried by every later ``commit``/``tick``; until a retry succeeds, new changes
    are refused with this error.
    """

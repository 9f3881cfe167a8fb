"""Log files: child output capture with size rotation, and the daemon's activity log.

Child output is written exactly as read (bytes, no decoding, no line splitting), so nothing
is lost, reordered or mangled, invalid UTF-8 included.  Rotation follows supervisord: after
a write, if the file reached ``maxbytes``, shift ``.1``→``.2``…, rename the file to ``.1``
and start a new one (``backups=0`` truncates in place).  A file can therefore exceed
``maxbytes`` by one chunk.
"""

from __future__ import annotations

import glob
import os
import sys
import syslog
import tempfile
import time
from collections.abc import Callable
from typing import BinaryIO

LEVELS = {
    "critical": (50, "CRIT"),
    "error": (40, "ERRO"),
    "warn": (30, "WARN"),
    "info": (20, "INFO"),
    "debug": (10, "DEBG"),
    "trace": (5, "TRAC"),
    "blather": (3, "BLAT"),
}


SYSLOG_PRIORITIES = {
    "critical": syslog.LOG_CRIT,
    "error": syslog.LOG_ERR,
    "warn": syslog.LOG_WARNING,
    "info": syslog.LOG_INFO,
    "debug": syslog.LOG_DEBUG,
    "trace": syslog.LOG_DEBUG,
    "blather": syslog.LOG_DEBUG,
}


class RotatingFile:
    """An append-only file that rotates at ``maxbytes`` (0 = never) keeping ``backups`` copies."""

    def __init__(self, path: str, maxbytes: int = 0, backups: int = 0) -> None:
        self.path = path
        self.maxbytes = maxbytes
        self.backups = backups
        self.listeners: list[Callable[[], None]] = []  # called after every write (tail -f)
        self._file: BinaryIO = self._open()

    def _open(self) -> BinaryIO:
        return open(self.path, "ab", buffering=0)

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._file.write(data)
        if self.maxbytes and self._seekable() and self._file.tell() >= self.maxbytes:
            self.rotate()
        for listener in list(self.listeners):
            listener()

    def _seekable(self) -> bool:
        try:
            return self._file.seekable()
        except OSError:
            return False

    def rotate(self) -> None:
        self._file.close()
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                src = f"{self.path}.{i}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i + 1}")
            if os.path.exists(self.path):
                os.replace(self.path, f"{self.path}.1")
            self._file = self._open()
        else:
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115

    def reopen(self) -> None:
        """For external log rotation (SIGUSR2): reopen the path, appending."""
        self._file.close()
        self._file = self._open()

    def clear(self) -> None:
        """Delete the file and its backups, then start an empty one."""
        self._file.close()
        for path in [self.path, *glob.glob(glob.escape(self.path) + ".*")]:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._file = self._open()
        for listener in list(self.listeners):
            listener()

    def close(self) -> None:
        self._file.close()


def syslog_lines(prefix: str, data: bytes) -> list[str]:
    """Child output → syslog messages: one per line, prefixed with the process name."""
    text = data.decode("utf-8", "replace").rstrip("\n")
    return [f"{prefix} {line}" for line in text.split("\n")]


def send_to_syslog(messages: list[str], priority: int = syslog.LOG_INFO) -> None:
    for message in messages:
        syslog.syslog(priority, message)


def auto_log_path(childlogdir: str, name: str, channel: str, identifier: str) -> str:
    """A fresh ``NAME-stdout---IDENT-XXXXXX.log`` in childlogdir, as supervisord names them."""
    fd, path = tempfile.mkstemp(
        prefix=f"{name}-{channel}---{identifier}-", suffix=".log", dir=childlogdir
    )
    os.close(fd)
    return path


def clear_auto_logs(childlogdir: str, identifier: str) -> None:
    """Delete AUTO child logs left by an earlier run (unless nocleanup)."""
    for channel in ("stdout", "stderr"):
        pattern = os.path.join(glob.escape(childlogdir), f"*-{channel}---{identifier}-*.log*")
        for path in glob.glob(pattern):
            try:
                os.unlink(path)
            except OSError:
                pass


def format_line(level: str, message: str, now: float) -> str:
    """``2026-12-03 15:31:45,052 INFO message`` in local time, as supervisord writes it."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    millis = int((now % 1) * 1000)
    return f"{stamp},{millis:03d} {LEVELS[level][1]} {message}\n"


class ActivityLog:
    """The daemon's own log: file (rotating) and, in the foreground, a copy on stdout."""

    def __init__(
        self,
        path: str | None,
        level: str = "info",
        maxbytes: int = 0,
        backups: int = 0,
        echo: bool = False,
    ) -> None:
        self.threshold = LEVELS[level][0]
        self.to_syslog = path == "syslog"  # logfile=syslog: the activity log goes to syslog
        self.file = RotatingFile(path, maxbytes, backups) if path and not self.to_syslog else None
        self.echo = echo

    def reconfigure(self, path: str | None, level: str, maxbytes: int, backups: int) -> None:
        """Apply changed [supervisord] log settings (reload); tail -f followers stay."""
        self.threshold = LEVELS[level][0]
        old = self.file
        same = old is not None and (old.path, old.maxbytes, old.backups) == (
            path,
            maxbytes,
            backups,
        )
        if same or (old is None and path == "syslog"):
            return
        self.to_syslog = path == "syslog"
        self.file = RotatingFile(path, maxbytes, backups) if path and not self.to_syslog else None
        if old is not None:
            if self.file is not None:
                self.file.listeners = old.listeners
            old.close()

    def enabled(self, level: str) -> bool:
        return LEVELS[level][0] >= self.threshold

    def log(self, level: str, message: str) -> None:
        if not self.enabled(level):
            return
        line = format_line(level, message, time.time())
        data = line.encode("utf-8", "surrogateescape")
        if self.to_syslog:
            send_to_syslog([f"{LEVELS[level][1]} {message}"], SYSLOG_PRIORITIES[level])
        if self.file is not None:
            try:
                self.file.write(data)
            except OSError as exc:
                sys.stderr.write(f"could not write activity log: {exc}\n")
        if self.echo:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (OSError, ValueError):
                self.echo = False

    def info(self, message: str) -> None:
        self.log("info", message)

    def warn(self, message: str) -> None:
        self.log("warn", message)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

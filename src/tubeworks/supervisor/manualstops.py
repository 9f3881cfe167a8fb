"""``remember_manual_stops=true``: a program stopped by hand stays stopped.

supervisord forgets a manual ``stop`` on ``update`` (a changed program comes back), on
``reload`` and on a restart of the supervisor, so a program taken out of service for a
reason silently returns.  With this on, the names stopped through ``stop`` (ctl or
XML-RPC) are kept in a small file next to the pid file, ``<pidfile>.stopped``, one
namespec a line, until they are started by hand again; autostart skips them.
"""

from __future__ import annotations

import contextlib
import os


def state_path(pidfile: str) -> str:
    return f"{pidfile}.stopped"


def memory_for(enabled: bool, pidfile: str, current: StopMemory | None) -> StopMemory | None:
    """The memory to use after (re)loading the config: kept if the file is the same."""
    if not enabled:
        return None
    if current is not None and current.path == state_path(pidfile):
        return current
    return StopMemory(state_path(pidfile))


class StopMemory:
    """The set of manually stopped namespecs, saved on every change (small, rare writes)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.names: set[str] = set()
        with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8") as f:
            self.names = {line.strip() for line in f if line.strip()}

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def note(self, name: str, stopped: bool) -> str | None:
        """Record a manual stop (or start); an error message if the file can't be written."""
        try:
            if stopped:
                self.remember(name)
            else:
                self.forget(name)
        except OSError as exc:
            return f"could not save manual stops to {self.path}: {exc}"
        return None

    def remember(self, name: str) -> None:
        if name not in self.names:
            self.names.add(name)
            self._save()

    def forget(self, name: str) -> None:
        if name in self.names:
            self.names.discard(name)
            self._save()

    def _save(self) -> None:
        """Write a temp file and rename it over the old one, so a crash never leaves half."""
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(f"{name}\n" for name in sorted(self.names)))
        os.replace(tmp, self.path)

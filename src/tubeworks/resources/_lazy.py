"""Resources a worker process opens on first use and closes when it shuts down.

A registry of named factories. Nothing is opened until a job asks for it, each process opens
its own (a forked child never uses, or closes, its parent's connections), and ``close``
closes what was opened, newest first, even if some closes fail.

Connections are not thread-safe, so by default each *scope* gets its own instance: a worker
slot (the runner sets the scope with :func:`resource_scope`, and handler threads inherit it
through :mod:`contextvars`), or else the calling thread. ``shared=True`` gives one instance
per process, for thread-safe objects.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

__all__ = ["Resources", "resource_scope"]

_SCOPE: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "tubeworks_resource_scope", default=None
)


@contextmanager
def resource_scope(key: object) -> Iterator[None]:
    """Within this block (and threads started from a copy of its context), per-scope
    resources are keyed by ``key`` instead of by thread."""
    token = _SCOPE.set(key)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _scope() -> object:
    key = _SCOPE.get()
    return ("thread", threading.get_ident()) if key is None else key


log = logging.getLogger("tubeworks.resources")

# Connections inherited through fork() are kept referenced here, never closed: closing one
# would end the parent's session (PyMySQL sends QUIT, libpq sends Terminate).
_INHERITED: list[Any] = []


def _default_close(resource: Any) -> None:
    close = getattr(resource, "close", None)
    if callable(close):
        close()


class Resources:
    """Named resources opened lazily, once per process.

    Example::

        resources = Resources()
        resources.add("db", lambda: Database(lambda: pymysql.connect(...)))
        resources.add("mail", lambda: Mailer("smtp.example.com", 587))
        ...
        resources["db"].execute("SELECT 1")   # opened here, in this process
        ...
        resources.close()                      # at worker shutdown
    """

    def __init__(self) -> None:
        self._factories: dict[str, tuple[Callable[[], Any], Callable[[Any], None], bool]] = {}
        self._open: dict[tuple[str, object], Any] = {}  # (name, scope) -> resource, by age
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def add(
        self,
        name: str,
        factory: Callable[[], Any],
        *,
        close: Callable[[Any], None] = _default_close,
        shared: bool = False,
    ) -> None:
        """Register ``factory``; it runs on the first ``resources[name]`` in each scope.

        Args:
            name: the key handlers use.
            factory: makes the resource.
            close: closes it (default: its ``close()`` method, if any).
            shared: one instance per process instead of one per worker slot or thread; only
                for thread-safe resources.

        Raises:
            ValueError: ``name`` is already registered.
        """
        if name in self._factories:
            raise ValueError(f"resource {name!r} is already registered")
        self._factories[name] = (factory, close, shared)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __getitem__(self, name: str) -> Any:
        """The resource, opened now if this process has not opened it yet.

        Raises:
            KeyError: no resource of that name was registered.
        """
        self._forget_if_forked()
        try:
            factory, _, shared = self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise KeyError(f"no resource named {name!r}; registered: {known}") from None
        key = (name, "process" if shared else _scope())
        with self._lock:
            if key in self._open:
                return self._open[key]
        resource = factory()  # outside the lock: opening a connection may take a while
        with self._lock:
            existing = self._open.setdefault(key, resource)
        if existing is not resource:  # another thread of the same scope won the race
            self._factories[name][1](resource)
        return existing

    def opened(self) -> list[str]:
        """Names of the resources this process has opened, oldest first (one per instance)."""
        self._forget_if_forked()
        with self._lock:
            return [name for name, _ in self._open]

    def close(self) -> list[BaseException]:
        """Close everything this process opened, newest first.

        A failing close is logged and does not stop the others.

        Returns:
            The exceptions raised by closes, in the order they happened.
        """
        self._forget_if_forked()
        errors: list[BaseException] = []
        with self._lock:
            opened = list(self._open.items())
            self._open.clear()
        for (name, _), resource in reversed(opened):
            close = self._factories[name][1]
            try:
                close(resource)
            except Exception as exc:
                log.warning("closing resource %r failed: %s", name, exc)
                errors.append(exc)
        return errors

    def __enter__(self) -> Resources:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _forget_if_forked(self) -> None:
        pid = os.getpid()
        if pid == self._pid:
            return
        for resource in self._open.values():
            abandon = getattr(resource, "abandon", None)
            if callable(abandon):
                abandon()
            _INHERITED.append(resource)
        self._open.clear()
        self._pid = pid

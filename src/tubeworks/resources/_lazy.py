"""Resources a worker process opens on first use and closes when it shuts down.

A registry of named factories. Nothing is opened until a job asks for it, each process opens
its own (a forked child never uses, or closes, its parent's connections), and ``close``
closes what was opened, newest first, even if some closes fail.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["Resources"]

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
        self._factories: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}
        self._open: dict[str, Any] = {}  # in opening order
        self._pid = os.getpid()

    def add(
        self,
        name: str,
        factory: Callable[[], Any],
        *,
        close: Callable[[Any], None] = _default_close,
    ) -> None:
        """Register ``factory``; it runs on the first ``resources[name]`` in each process.

        Raises:
            ValueError: ``name`` is already registered.
        """
        if name in self._factories:
            raise ValueError(f"resource {name!r} is already registered")
        self._factories[name] = (factory, close)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __getitem__(self, name: str) -> Any:
        """The resource, opened now if this process has not opened it yet.

        Raises:
            KeyError: no resource of that name was registered.
        """
        self._forget_if_forked()
        if name in self._open:
            return self._open[name]
        try:
            factory, _ = self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise KeyError(f"no resource named {name!r}; registered: {known}") from None
        resource = factory()
        self._open[name] = resource
        return resource

    def opened(self) -> list[str]:
        """Names of the resources this process has opened, oldest first."""
        self._forget_if_forked()
        return list(self._open)

    def close(self) -> list[BaseException]:
        """Close everything this process opened, newest first.

        A failing close is logged and does not stop the others.

        Returns:
            The exceptions raised by closes, in the order they happened.
        """
        self._forget_if_forked()
        errors: list[BaseException] = []
        for name in reversed(list(self._open)):
            resource = self._open.pop(name)
            _, close = self._factories[name]
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

"""What a handler can ask of the runner: retry later, bury, touch; and what it is told."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Bury", "JobContext", "Retry"]


class Retry(Exception):
    """Raise from a handler to release the job and try again later.

    Args:
        delay: seconds before it is ready again; ``None`` uses the handler's back-off.
    """

    def __init__(self, delay: float | None = None) -> None:
        super().__init__(f"retry requested (delay={delay!r})")
        self.delay = delay


class Bury(Exception):
    """Raise from a handler to bury the job (kept for inspection, never retried by itself)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or "bury requested")
        self.reason = reason


@dataclass
class JobContext:
    """Given to handlers that take a second argument."""

    id: int  # the job id on the queue server
    tube: str
    attempt: int  # 1 on the first reservation; counts reserves across workers and restarts
    ttr: float  # seconds the server gives the job before taking it back
    body: bytes  # the raw body, whatever the serializer made of it
    _request_touch: Callable[[], None] = field(default=lambda: None, repr=False)

    def touch(self) -> None:
        """Ask for more time (another TTR). Returns at once; the runner sends the touch."""
        self._request_touch()

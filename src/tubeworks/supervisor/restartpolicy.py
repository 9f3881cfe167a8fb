"""Restart policy beyond supervisord's: exponential back-off with a cap and jitter, retrying
forever, a delay before an autorestart and periodic recycling (``max_age``).

supervisord waits 1 s, 2 s, 3 s ... between failed starts and gives up (FATAL) after
``startretries``; a service whose database is down for ten minutes stays dead until someone
notices.  Pure: the machine asks for a delay, nothing here reads a clock or draws random
numbers (jitter is a hash of the process, the attempt and the time, so runs are repeatable).
"""

from __future__ import annotations

import hashlib

BACKOFF_KINDS = ("linear", "exponential")


def seconds(text: str) -> float:
    """A non-negative number of seconds (fractions allowed)."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    value = seconds(text)
    if value > 1:
        raise ValueError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def backoff_kind(text: str) -> str:
    low = text.strip().lower()
    if low not in BACKOFF_KINDS:
        raise ValueError(f"expected one of {', '.join(BACKOFF_KINDS)}, got {text!r}")
    return low


def retries(text: str) -> int:
    """``startretries``: an integer >= 0, or ``forever`` (-1)."""
    if text.strip().lower() == "forever":
        return -1
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer or 'forever', got {text!r}") from None
    if value < 0:
        raise ValueError(f"expected an integer >= 0 or 'forever', got {text!r}")
    return value


def _unit(name: str, attempt: int, now: float) -> float:
    """A repeatable number in [0, 1) for this process, attempt and moment."""
    digest = hashlib.blake2b(f"{name}:{attempt}:{now!r}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def backoff_delay(
    kind: str, attempt: int, cap: float, jitter: float, name: str = "", now: float = 0.0
) -> float:
    """Seconds to wait before start attempt ``attempt + 1`` (``attempt`` failures so far).

    linear: 1, 2, 3 ... (supervisord); exponential: 1, 2, 4, 8 ...; both capped at ``cap``
    when it is > 0; ``jitter`` (0..1) takes up to that fraction off, spreading restarts of
    many processes that failed together."""
    base = float(attempt) if kind == "linear" else 2.0 ** min(attempt - 1, 62)
    if cap > 0:
        base = min(base, cap)
    if jitter > 0:
        base *= 1 - jitter * _unit(name, attempt, now)
    return base

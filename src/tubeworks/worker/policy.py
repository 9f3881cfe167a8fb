"""What to do with a job after its handler ran: pure rules, no queue and no clock.

The runner reports how a handler ended (:class:`Ended`) and how many times the job has been
reserved (beanstalkd's ``reserves`` counter, so attempts survive worker restarts); these
functions answer with one :class:`Action`. Randomness is passed in so tests can pin it.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

__all__ = ["Action", "Backoff", "Ended", "Verdict", "decide", "touch_interval"]


class Ended(enum.Enum):
    """How a handler ended."""

    OK = "ok"
    FAILED = "failed"  # raised an exception
    RETRY = "retry"  # raised Retry: release, with its delay or the back-off
    BURY = "bury"  # raised Bury
    UNDECODABLE = "undecodable"  # the body could not be decoded; the handler never ran


class Verdict(enum.Enum):
    DELETE = "deleted"
    RELEASE = "released"
    BURY = "buried"


@dataclass(frozen=True)
class Action:
    verdict: Verdict
    delay: float = 0.0  # seconds, for RELEASE
    reason: str = ""  # for logs: why this verdict


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with jitter: attempt n waits base * 2**(n-1), capped, times a
    random factor in [1 - jitter, 1] so that a burst of failures does not come back at once."""

    base: float = 1.0  # seconds before the second attempt
    cap: float = 3600.0  # longest wait
    jitter: float = 0.5  # fraction of the wait that is random
    max_attempts: int = 5  # bury when the job failed this many times

    def delay(self, attempt: int, rng: random.Random) -> float:
        raw = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        return raw * (1.0 - self.jitter * rng.random())


def decide(
    ended: Ended,
    attempt: int,
    backoff: Backoff,
    rng: random.Random,
    retry_delay: float | None = None,
) -> Action:
    """The action for a job that ``ended`` so on its ``attempt``-th reservation (1-based)."""
    if ended is Ended.OK:
        return Action(Verdict.DELETE)
    if ended is Ended.UNDECODABLE:
        return Action(Verdict.BURY, reason="undecodable body")
    if ended is Ended.BURY:
        return Action(Verdict.BURY, reason="handler asked to bury")
    if ended is Ended.RETRY:
        delay = backoff.delay(attempt, rng) if retry_delay is None else retry_delay
        return Action(Verdict.RELEASE, delay, "handler asked to retry")
    if attempt >= backoff.max_attempts:
        return Action(Verdict.BURY, reason=f"failed {attempt} times (max_attempts)")
    return Action(Verdict.RELEASE, backoff.delay(attempt, rng), f"failed attempt {attempt}")


def touch_interval(ttr: float) -> float:
    """How long a handler may run before its job is touched: half the TTR, so that one late
    wake-up or a slow round trip still lands before the server takes the job back."""
    return max(0.05, ttr / 2)

"""Queue-aware autoscaling decisions: backlog in, wanted process count out.

Pure: the caller measures the backlog (ready + delayed jobs of the pool's tubes), passes the
time, and carries out the answer.  Theory of operation:

* wanted = ceil(backlog / target), clamped to [min, max].
* Growing is allowed as soon as ``cooldown`` has passed since the last change: a backlog
  should be met quickly, and the cool-down alone stops a burst from stepping the pool up
  once per look.
* Shrinking needs the backlog to have asked for fewer processes *continuously* for
  ``cooldown`` seconds (and the last change to be that old), so a pool that just emptied the
  queue is not stopped between two bursts.  It then goes straight to the wanted count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Decision", "ScaleState", "decide", "wanted"]


@dataclass(frozen=True)
class ScaleState:
    """What the scaler remembers between two looks at the queue."""

    current: int  # processes the pool runs (or is starting)
    changed_at: float | None = None  # when the last change was made; None: never
    low_since: float | None = None  # since when fewer processes were wanted; None: not now


@dataclass(frozen=True)
class Decision:
    """A change to make: run ``to`` processes instead of ``before``, and why."""

    before: int
    to: int
    reason: str

    @property
    def direction(self) -> str:
        return "up" if self.to > self.before else "down"


def wanted(backlog: int, target: int, low: int, high: int) -> int:
    """Processes a backlog calls for, within [low, high]."""
    return max(low, min(high, math.ceil(backlog / target)))


def decide(
    state: ScaleState,
    backlog: int,
    *,
    target: int,
    low: int,
    high: int,
    cooldown: float,
    now: float,
) -> tuple[ScaleState, Decision | None]:
    """The next state and, if the pool should change size now, the change."""
    want = wanted(backlog, target, low, high)
    cooled = state.changed_at is None or now - state.changed_at >= cooldown
    if want > state.current:
        if not cooled:
            return ScaleState(state.current, state.changed_at, None), None
        reason = f"backlog {backlog} > {state.current}x{target}"
        return ScaleState(want, now, None), Decision(state.current, want, reason)
    if want == state.current:
        return ScaleState(state.current, state.changed_at, None), None
    low_since = now if state.low_since is None else state.low_since
    if not cooled or now - low_since < cooldown:
        return ScaleState(state.current, state.changed_at, low_since), None
    reason = f"backlog {backlog} <= {want}x{target} for {now - low_since:.0f}s"
    return ScaleState(want, now, None), Decision(state.current, want, reason)

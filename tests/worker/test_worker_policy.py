"""Worker verdicts and back-off, with pinned randomness."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tubeworks.worker.policy import Action, Backoff, Ended, Verdict, decide, touch_interval


class Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


B = Backoff(base=2.0, cap=60.0, jitter=0.5, max_attempts=3)


@pytest.mark.parametrize(
    ("ended", "attempt", "delay", "expected"),
    [
        (Ended.OK, 1, None, Action(Verdict.DELETE)),
        (Ended.UNDECODABLE, 1, None, Action(Verdict.BURY, reason="undecodable body")),
        (Ended.BURY, 1, None, Action(Verdict.BURY, reason="handler asked to bury")),
        (Ended.RETRY, 1, 7.0, Action(Verdict.RELEASE, 7.0, "handler asked to retry")),
        (Ended.RETRY, 2, None, Action(Verdict.RELEASE, 4.0, "handler asked to retry")),
        (Ended.FAILED, 1, None, Action(Verdict.RELEASE, 2.0, "failed attempt 1")),
        (Ended.FAILED, 2, None, Action(Verdict.RELEASE, 4.0, "failed attempt 2")),
        (Ended.FAILED, 3, None, Action(Verdict.BURY, reason="failed 3 times (max_attempts)")),
        (Ended.FAILED, 9, None, Action(Verdict.BURY, reason="failed 9 times (max_attempts)")),
    ],
)
def test_decide(ended: Ended, attempt: int, delay: float | None, expected: Action) -> None:
    assert decide(ended, attempt, B, Fixed(0.0), delay) == expected


@given(st.integers(1, 100), st.floats(0, 1, exclude_max=True))
def test_backoff_grows_is_capped_and_jitter_only_shortens(attempt: int, r: float) -> None:
    b = Backoff(base=1.0, cap=100.0, jitter=0.5)
    d = b.delay(attempt, Fixed(r))
    full = min(100.0, 2.0 ** (attempt - 1))
    assert full * 0.5 <= d <= full


def test_touch_interval_is_half_the_ttr() -> None:
    assert touch_interval(60) == 30
    assert touch_interval(1) == 0.5

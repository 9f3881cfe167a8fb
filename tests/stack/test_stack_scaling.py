"""Autoscaling decisions (pure): backlog and time in, a size change or nothing out."""

from __future__ import annotations

from tubeworks.stack.scaling import Decision, ScaleState, decide, wanted

POLICY = {"target": 10, "low": 1, "high": 5, "cooldown": 10.0}


def test_wanted_is_one_process_per_target_jobs_within_min_and_max() -> None:
    backlogs = (0, 1, 10, 11, 49, 50, 51, 500)
    assert [wanted(n, 10, 1, 5) for n in backlogs] == [1, 1, 1, 2, 5, 5, 5, 5]
    assert wanted(0, 10, 0, 5) == 0


def test_a_backlog_grows_the_pool_at_once_to_what_it_needs() -> None:
    state, decision = decide(ScaleState(1), 35, now=100.0, **POLICY)  # type: ignore[arg-type]
    assert decision == Decision(1, 4, "backlog 35 > 1x10")
    assert state == ScaleState(4, 100.0, None)


def test_no_second_change_within_the_cooldown() -> None:
    state = ScaleState(2, changed_at=100.0)
    state, decision = decide(state, 45, now=105.0, **POLICY)  # type: ignore[arg-type]
    assert decision is None and state.current == 2
    state, decision = decide(state, 45, now=110.0, **POLICY)  # type: ignore[arg-type]
    assert decision == Decision(2, 5, "backlog 45 > 2x10")


def test_shrinking_waits_for_cooldown_seconds_of_low_backlog() -> None:
    state = ScaleState(4, changed_at=0.0)
    state, decision = decide(state, 0, now=100.0, **POLICY)  # type: ignore[arg-type]
    assert decision is None and state.low_since == 100.0
    state, decision = decide(state, 0, now=109.0, **POLICY)  # type: ignore[arg-type]
    assert decision is None
    state, decision = decide(state, 0, now=110.0, **POLICY)  # type: ignore[arg-type]
    assert decision == Decision(4, 1, "backlog 0 <= 1x10 for 10s")
    assert decision.direction == "down"
    assert state == ScaleState(1, 110.0, None)


def test_a_burst_in_between_restarts_the_low_period() -> None:
    state = ScaleState(3, changed_at=0.0)
    state, _ = decide(state, 0, now=100.0, **POLICY)  # type: ignore[arg-type]
    state, decision = decide(state, 30, now=105.0, **POLICY)  # type: ignore[arg-type]
    assert decision is None and state.low_since is None
    state, _ = decide(state, 0, now=106.0, **POLICY)  # type: ignore[arg-type]
    state, decision = decide(state, 0, now=115.0, **POLICY)  # type: ignore[arg-type]
    assert decision is None
    state, decision = decide(state, 0, now=116.0, **POLICY)  # type: ignore[arg-type]
    assert decision is not None and decision.to == 1


def test_below_min_grows_even_without_backlog() -> None:
    _, decision = decide(ScaleState(0), 0, now=1.0, **POLICY)  # type: ignore[arg-type]
    assert decision == Decision(0, 1, "backlog 0 > 0x10")

"""The retry decision table, with its safety invariants checked over every input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tubeworks.resources import Failure, StatementKind
from tubeworks.resources._policy import Attempt, Decision, decide

BEFORE = Failure.DEAD_BEFORE_SEND
UNKNOWN = Failure.DEAD_OUTCOME_UNKNOWN
K = StatementKind


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        # autocommit: reads and unsent statements come back, sent writes never do
        (Attempt(UNKNOWN, K.READ, in_transaction=False), Decision.RETRY),
        (Attempt(BEFORE, K.WRITE, in_transaction=False), Decision.RETRY),
        (Attempt(UNKNOWN, K.WRITE, in_transaction=False), Decision.UNKNOWN),
        (Attempt(UNKNOWN, K.WRITE, in_transaction=False, idempotent=True), Decision.RETRY),
        (Attempt(UNKNOWN, K.READ, in_transaction=False, idempotent=False), Decision.UNKNOWN),
        # in a transaction: only its first statement is retried
        (Attempt(UNKNOWN, K.WRITE, in_transaction=True), Decision.RETRY),
        (Attempt(UNKNOWN, K.WRITE, in_transaction=True, earlier_statements=1), Decision.LOST),
        (Attempt(BEFORE, K.READ, in_transaction=True, earlier_statements=3), Decision.LOST),
        (Attempt(UNKNOWN, K.READ, True, earlier_statements=1, idempotent=True), Decision.LOST),
        # COMMIT: lost before sending means rolled back; lost after means unknown
        (Attempt(BEFORE, K.COMMIT, in_transaction=True, earlier_statements=2), Decision.LOST),
        (Attempt(UNKNOWN, K.COMMIT, in_transaction=True, earlier_statements=2), Decision.UNKNOWN),
        (Attempt(UNKNOWN, K.COMMIT, in_transaction=True, earlier_statements=0), Decision.DONE),
        (Attempt(UNKNOWN, K.COMMIT, in_transaction=False), Decision.UNKNOWN),
        (Attempt(UNKNOWN, K.ROLLBACK, in_transaction=True, earlier_statements=5), Decision.DONE),
        (Attempt(UNKNOWN, K.BEGIN, in_transaction=True), Decision.RETRY),
        # DDL commits by itself in MySQL
        (Attempt(UNKNOWN, K.SCHEMA, in_transaction=True), Decision.UNKNOWN),
        (Attempt(BEFORE, K.SCHEMA, in_transaction=True), Decision.RETRY),
        (Attempt(BEFORE, K.SCHEMA, in_transaction=True, earlier_statements=1), Decision.LOST),
        # the retry budget
        (Attempt(BEFORE, K.READ, in_transaction=False, retries=1), Decision.LOST),
        (Attempt(BEFORE, K.READ, False, retries=1, max_retries=2), Decision.RETRY),
        (Attempt(Failure.NOT_A_CONNECTION_ERROR, K.READ, in_transaction=False), Decision.RAISE),
    ],
    ids=repr,
)
def test_table(attempt: Attempt, expected: Decision) -> None:
    assert decide(attempt) is expected


attempts = st.builds(
    Attempt,
    failure=st.sampled_from(Failure),
    kind=st.sampled_from(StatementKind),
    in_transaction=st.booleans(),
    earlier_statements=st.integers(0, 3),
    idempotent=st.sampled_from([None, True, False]),
    retries=st.integers(0, 2),
    max_retries=st.integers(0, 2),
)


@given(attempts)
def test_nothing_that_may_have_committed_is_ever_retried(a: Attempt) -> None:
    d = decide(a)
    if a.kind in (K.COMMIT, K.SCHEMA) and a.failure is UNKNOWN:
        assert d in (Decision.UNKNOWN, Decision.DONE)
    if not a.in_transaction and a.failure is UNKNOWN and a.kind is K.WRITE and not a.idempotent:
        assert d is Decision.UNKNOWN
    if a.in_transaction and a.earlier_statements > 0 and a.kind is not K.ROLLBACK:
        assert d is not Decision.RETRY  # the earlier statements are gone with the connection


@given(attempts)
def test_retries_stay_within_budget(a: Attempt) -> None:
    if a.retries >= a.max_retries:
        assert decide(a) is not Decision.RETRY


@given(attempts)
def test_only_connection_errors_change_the_outcome(a: Attempt) -> None:
    assert (decide(a) is Decision.RAISE) == (a.failure is Failure.NOT_A_CONNECTION_ERROR)

"""When a dead connection may be retried: the decision table, with no I/O.

Theory of operation. A database server rolls back whatever transaction was open on a
connection when that connection dies. So after a disconnect the only question is whether
something could have been *committed* that we don't know about:

* Work inside a transaction is uncommitted until COMMIT. If the failed statement was the
  first of its transaction, nothing is lost: reconnect and run it again. If earlier
  statements had run, they are gone; re-running only the last one would be wrong, so the
  caller gets :class:`ConnectionLost` and must redo the whole unit.
* A COMMIT whose reply is lost may or may not have committed (:class:`CommitOutcomeUnknown`),
  unless the connection provably died before the COMMIT was sent (then: ``ConnectionLost``).
* In autocommit mode each statement is its own commit. A read can be re-run, as can any
  statement that never reached the server; a write with a lost reply cannot.
* DDL is treated like an autocommit write everywhere, because MySQL commits around it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tubeworks.resources._classify import Failure
from tubeworks.resources._statements import StatementKind

__all__ = ["Attempt", "Decision", "decide"]


class Decision(enum.Enum):
    """What the wrapper does after a statement failed."""

    RAISE = "raise"  # not a connection error: the caller gets the driver's exception
    RETRY = "retry"  # reconnect and run the statement again
    LOST = "lost"  # raise ConnectionLost: nothing was committed
    UNKNOWN = "unknown"  # raise CommitOutcomeUnknown
    DONE = "done"  # the dead connection already did what was asked (a rollback)

    def __repr__(self) -> str:
        return f"Decision.{self.name}"


@dataclass(frozen=True)
class Attempt:
    """The facts about one failed statement that the decision depends on."""

    failure: Failure
    kind: StatementKind
    # True when the statement ran inside a transaction (autocommit off, or after BEGIN).
    in_transaction: bool
    # Statements the current transaction had already run before this one.
    earlier_statements: int = 0
    # The caller's word on re-running a write: True = safe, False = never, None = judge by kind.
    idempotent: bool | None = None
    # How many times this statement was already retried, and the most allowed.
    retries: int = 0
    max_retries: int = 1


def decide(a: Attempt) -> Decision:
    """Choose what to do about a failed statement; see the module docstring for the rules."""
    if a.failure is Failure.NOT_A_CONNECTION_ERROR:
        return Decision.RAISE
    decision = _decide_dead(a)
    if decision is Decision.RETRY and a.retries >= a.max_retries:
        return Decision.LOST
    return decision


def _decide_dead(a: Attempt) -> Decision:
    never_ran = a.failure is Failure.DEAD_BEFORE_SEND
    if a.kind is StatementKind.ROLLBACK:
        return Decision.DONE
    if a.kind is StatementKind.COMMIT:
        if a.in_transaction and a.earlier_statements == 0:
            return Decision.DONE  # an empty transaction has nothing to commit
        return Decision.LOST if never_ran else Decision.UNKNOWN
    if a.kind is StatementKind.BEGIN:
        return Decision.RETRY if a.earlier_statements == 0 else Decision.LOST
    if a.kind is StatementKind.SCHEMA:
        if never_ran:
            return Decision.RETRY if a.earlier_statements == 0 else Decision.LOST
        return Decision.UNKNOWN
    if a.in_transaction:
        return Decision.RETRY if a.earlier_statements == 0 else Decision.LOST
    if never_ran:
        return Decision.RETRY
    if a.idempotent is False:
        return Decision.UNKNOWN
    if a.idempotent or a.kind is StatementKind.READ:
        return Decision.RETRY
    return Decision.UNKNOWN

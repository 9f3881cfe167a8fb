"""What kind of SQL statement a string is, as far as retrying it is concerned.

Deliberately conservative: a statement counts as a ``READ`` only if running it twice cannot
change data, take locks the caller relies on, or consume anything (``SELECT ... FOR UPDATE``,
``SELECT ... INTO``, ``nextval()`` and data-modifying CTEs are all ``WRITE``). A wrong
``WRITE`` costs one retry; a wrong ``READ`` could duplicate a write. Callers who know better
pass ``idempotent=True`` to the wrapper.
"""

from __future__ import annotations

import enum
import re

__all__ = ["StatementKind", "statement_kind"]


class StatementKind(enum.Enum):
    """The part of a statement's meaning the retry policy needs."""

    READ = "read"  # cannot change anything; safe to run again
    WRITE = "write"  # anything else, including unknown statements
    BEGIN = "begin"  # opens an explicit transaction
    COMMIT = "commit"
    ROLLBACK = "rollback"
    SCHEMA = "schema"  # DDL: MySQL commits the open transaction before and after it

    def __repr__(self) -> str:
        return f"StatementKind.{self.name}"


_READ_HEADS = frozenset(
    {"SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "VALUES", "TABLE", "WITH"}
)
_SCHEMA_HEADS = frozenset({"CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME", "GRANT", "REVOKE"})
_WRITE_WORDS = frozenset(
    {
        "INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "INTO", "CALL", "ANALYZE", "COPY",
        "LOCK", "NEXTVAL", "SETVAL", "GET_LOCK", "RELEASE_LOCK", "SLEEP", "PG_SLEEP",
    }
)  # fmt: skip
_LOCKING = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b|\bLOCK\s+IN\s+SHARE")
_ADVISORY = re.compile(r"\bPG_(TRY_)?ADVISORY")
# Literals, quoted identifiers and comments, so that words inside them are not read as SQL.
# MySQL's "#" comments and backslash escapes are not stripped: in PostgreSQL "#" is an operator
# and a backslash is an ordinary character, and leaving text in can only make a READ a WRITE.
_NOISE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|--[^\n]*|/\*.*?\*/", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def statement_kind(sql: str | bytes) -> StatementKind:
    """Classify one SQL statement for the retry policy.

    Args:
        sql: the statement text, as passed to ``cursor.execute``.

    Returns:
        ``BEGIN``/``COMMIT``/``ROLLBACK`` for transaction control, ``READ`` for statements
        that are safe to run twice, ``WRITE`` for everything else.
    """
    text = sql.decode("utf-8", "replace") if isinstance(sql, bytes) else sql
    bare = _NOISE.sub(" ", text).upper()
    words = _WORD.findall(bare)
    if not words:
        return StatementKind.WRITE
    head = words[0]
    if head in {"BEGIN", "START"}:
        return StatementKind.BEGIN
    if head in {"COMMIT", "END"}:
        return StatementKind.COMMIT
    if head == "ROLLBACK" and "TO" not in words:  # ROLLBACK TO SAVEPOINT keeps the transaction
        return StatementKind.ROLLBACK
    if head == "ABORT":
        return StatementKind.ROLLBACK
    if head in _SCHEMA_HEADS:
        return StatementKind.SCHEMA
    if head not in _READ_HEADS:
        return StatementKind.WRITE
    if ";" in bare.rstrip().rstrip(";"):  # several statements: judge none of them
        return StatementKind.WRITE
    if _WRITE_WORDS.intersection(words) or _LOCKING.search(bare) or _ADVISORY.search(bare):
        return StatementKind.WRITE
    return StatementKind.READ

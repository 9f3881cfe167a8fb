"""Statement kinds for the retry policy: conservative by construction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tubeworks.resources import StatementKind, statement_kind

R, W = StatementKind.READ, StatementKind.WRITE


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", R),
        ("  select * from jobs where id = %s", R),
        ("/* hi */ SELECT a FROM t", R),
        ("-- note\nSELECT a FROM t", R),
        ("SHOW TABLES", R),
        ("EXPLAIN SELECT 1", R),
        ("WITH x AS (SELECT 1) SELECT * FROM x", R),
        ("SELECT 'insert into t' AS s", R),  # words inside literals don't count
        ('SELECT "update" FROM t', R),
        ("SELECT 1;", R),
        (b"SELECT 1", R),
        ("INSERT INTO t VALUES (1)", W),
        ("UPDATE t SET a = 1", W),
        ("DELETE FROM t", W),
        ("REPLACE INTO t VALUES (1)", W),
        ("SELECT * FROM t FOR UPDATE", W),
        ("SELECT * FROM t FOR NO KEY UPDATE", W),
        ("SELECT * FROM t LOCK IN SHARE MODE", W),
        ("SELECT a INTO @x FROM t", W),
        ("SELECT nextval('s')", W),
        ("SELECT GET_LOCK('x', 1)", W),
        ("SELECT pg_advisory_lock(1)", W),
        ("EXPLAIN ANALYZE DELETE FROM t", W),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", W),
        ("SELECT 1; DELETE FROM t", W),
        ("SELECT 1 # DELETE FROM t", W),  # MySQL comment or PostgreSQL operator: keep it
        ("CALL proc()", W),
        ("SET SESSION x = 1", W),
        ("", W),
        ("BEGIN", StatementKind.BEGIN),
        ("START TRANSACTION", StatementKind.BEGIN),
        ("commit", StatementKind.COMMIT),
        ("END", StatementKind.COMMIT),
        ("ROLLBACK", StatementKind.ROLLBACK),
        ("ROLLBACK TO SAVEPOINT a", W),
        ("CREATE TABLE t (a INT)", StatementKind.SCHEMA),
        ("drop table t", StatementKind.SCHEMA),
        ("TRUNCATE t", StatementKind.SCHEMA),
    ],
)
def test_kinds(sql: str, kind: StatementKind) -> None:
    assert statement_kind(sql) is kind


WRITES = ["INSERT", "UPDATE", "DELETE", "FOR UPDATE", "INTO", "nextval("]


@given(
    prefix=st.text(alphabet=" abcxyz,()*=1", max_size=20),
    suffix=st.text(alphabet=" abcxyz,()*=1", max_size=20),
    word=st.sampled_from(WRITES),
)
def test_a_write_word_outside_literals_is_never_read(prefix: str, suffix: str, word: str) -> None:
    assert statement_kind(f"SELECT {prefix} {word} {suffix}") is not StatementKind.READ

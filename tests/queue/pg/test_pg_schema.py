"""Schema creation and migration by the server itself, and its refusals: unreachable,
read-only, newer schema version, bad URL, flags that do not go with --store."""

from __future__ import annotations

import secrets
import subprocess
import threading

import psycopg
import pytest
from pg_helpers import PG_DSN, needs_pg, pg_schema, pg_server, sql, store_url

from servers import free_port, tubeworks_argv
from tubeworks.queue.pgstore.db import parse_target
from tubeworks.queue.pgstore.schema import SCHEMA_VERSION, SchemaError, plan

pytestmark = pytest.mark.timeout(30)


def start(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a server that is expected to refuse to start."""
    argv = [*tubeworks_argv(), "queue", "-l", "127.0.0.1", "-p", str(free_port()), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=20)


def test_plan_steps() -> None:
    assert [v for v, _ in plan(None)] == list(range(1, SCHEMA_VERSION + 1))
    assert plan(SCHEMA_VERSION) == []
    with pytest.raises(SchemaError, match=r"^database schema version 99 is newer than this "
                       r"server's \(1\); upgrade tubeworks$"):
        plan(99)


def test_parse_target() -> None:
    t = parse_target("postgresql://u:secret@db:5433/jobs?schema=q1&sslmode=require")
    assert (t.url, t.schema) == ("postgresql://u:secret@db:5433/jobs?sslmode=require", "q1")
    assert "secret" not in str(t)
    assert parse_target("postgres://db/jobs").schema == "tubeworks"
    with pytest.raises(ValueError, match=r"^--store: expected a postgresql:// URL, got 'mysql://x'$"):
        parse_target("mysql://x")
    with pytest.raises(ValueError, match=r"^--store: schema must be a lowercase identifier"):
        parse_target("postgresql://db/jobs?schema=Bad-Name")


def test_bad_url_and_flag_clash_are_usage_errors() -> None:
    done = start("--store", "mysql://localhost/x")
    assert done.returncode == 5
    assert "expected a postgresql:// URL" in done.stderr
    done = start("--store", store_url("unused"), "-b", "/tmp/nowhere")
    assert done.returncode == 5
    assert "--store cannot be combined with -b" in done.stderr
    done = start("--store", store_url("unused"), "--auth-file", "/tmp/nowhere")
    assert done.returncode == 5
    assert "--store cannot be combined with --auth-file" in done.stderr


def test_unreachable_database() -> None:
    done = start("--store", "postgresql://postgres@127.0.0.1:1/test")
    assert done.returncode == 1
    assert done.stderr.startswith("tubeworks queue: cannot connect to postgresql://")


@needs_pg
def test_creates_schema_then_reuses_it() -> None:
    with pg_schema() as schema:
        with pg_server(schema) as srv:
            assert srv.proc.poll() is None
        assert sql(schema, "SELECT value FROM meta WHERE key = 'schema_version'") == [
            (str(SCHEMA_VERSION),)]
        sql(schema, "INSERT INTO jobs (id, tube, state, pri, delay, ttr, body, created) "
                    "VALUES (7, 'default', 1, 0, 0, 60, 'kept\r\n', 0)")
        with pg_server(schema) as srv, srv.connect() as s:
            s.sendall(b"peek 7\r\n")
            assert s.recv(100) == b"FOUND 7 4\r\nkept\r\n"


@needs_pg
def test_two_servers_creating_one_schema_at_once() -> None:
    with pg_schema() as schema:
        results: list[object] = []

        def one() -> None:
            try:
                with pg_server(schema):
                    results.append("ok")
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == ["ok", "ok"]


@needs_pg
def test_newer_schema_version_is_refused() -> None:
    with pg_schema() as schema:
        with pg_server(schema):
            pass
        sql(schema, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        done = start("--store", store_url(schema))
        assert done.returncode == 1
        assert done.stderr.strip() == (
            f"tubeworks queue: database schema version 99 is newer than this server's "
            f"({SCHEMA_VERSION}); upgrade tubeworks")


@needs_pg
def test_read_only_database_is_refused() -> None:
    role = "tubeworks_test_ro_" + secrets.token_hex(4)
    with psycopg.connect(PG_DSN, autocommit=True) as db:
        db.execute(f"CREATE ROLE {role} LOGIN".encode())
        db.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on".encode())
    try:
        url = PG_DSN.replace("postgresql://postgres@", f"postgresql://{role}@")
        done = start("--store", url + "?schema=tubeworks_test_ro")
        assert done.returncode == 1
        assert "is read-only; point --store at the primary" in done.stderr
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as db:
            db.execute(f"DROP ROLE {role}".encode())

"""Moving jobs: a log directory (``queue -b``) into PostgreSQL and back, states and counters
kept, with the real command (``tubeworks pg-store import|export``)."""

from __future__ import annotations

import subprocess
import tempfile

import pytest
from pg_helpers import Client, needs_pg, pg_schema, pg_server, store_url

from servers import running, tubeworks_argv

pytestmark = [needs_pg, pytest.mark.timeout(60)]


def pg_store(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tubeworks_argv(), "pg-store", *args], capture_output=True, text=True, timeout=30
    )


def fill(client: Client) -> dict[str, int]:
    """One job in each state, in two tubes; returns their ids by name."""
    ids = {"ready": client.put(b"ready job", pri=7)}
    ids["delayed"] = client.put(b"later", delay=600)
    ids["buried"] = client.put(b"buried job")
    assert client.call(b"reserve-job %d\r\n" % ids["buried"]).startswith(b"RESERVED")
    assert client.call(b"bury %d 3\r\n" % ids["buried"]) == b"BURIED\r\n"
    client.call(b"use other\r\n")
    ids["reserved"] = client.put(b"held\x00\r\nbytes")
    assert client.call(b"reserve-job %d\r\n" % ids["reserved"]).startswith(b"RESERVED")
    return ids


def check(client: Client, ids: dict[str, int]) -> None:
    """The jobs ``fill`` made, after a move (the reserved one is ready again)."""
    expect = {"ready": ("ready", "default", "7", b"ready job"),
              "delayed": ("delayed", "default", "0", b"later"),
              "buried": ("buried", "default", "3", b"buried job"),
              "reserved": ("ready", "other", "0", b"held\x00\r\nbytes")}
    for name, (state, tube, pri, body) in expect.items():
        stats = client.yaml(b"stats-job %d\r\n" % ids[name])
        assert (stats["state"], stats["tube"].strip('"'), stats["pri"]) == (state, tube, pri)
        assert client.call(b"peek %d\r\n" % ids[name]) == b"FOUND %d %d\r\n%s\r\n" % (
            ids[name], len(body), body)
    assert int(client.yaml(b"stats-job %d\r\n" % ids["delayed"])["time-left"]) > 500
    assert client.yaml(b"stats-job %d\r\n" % ids["buried"])["buries"] == "1"
    assert client.yaml(b"stats-job %d\r\n" % ids["reserved"])["reserves"] == "1"
    assert client.put(b"new") > max(ids.values())


def test_log_to_postgresql_and_back() -> None:
    with tempfile.TemporaryDirectory() as tmp, pg_schema() as schema:
        source, back = f"{tmp}/source", f"{tmp}/back"
        with running("tubeworks", "-b", source) as mem, Client(mem) as c:
            ids = fill(c)
        done = pg_store("import", "--store", store_url(schema), "--from", source)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"imported 4 jobs from {source}"
        with pg_server(schema) as srv, Client(srv) as c:
            check(c, ids)
        done = pg_store("export", "--store", store_url(schema), "--to", back)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"exported 5 jobs to {back}"
        with running("tubeworks", "-b", back) as mem, Client(mem) as c:
            check(c, ids)


def test_import_refuses_existing_ids_and_export_a_used_directory() -> None:
    with tempfile.TemporaryDirectory() as tmp, pg_schema() as schema:
        with running("tubeworks", "-b", f"{tmp}/log") as mem, Client(mem) as c:
            c.put(b"x")
        assert pg_store("import", "--store", store_url(schema), "--from", f"{tmp}/log"
                        ).returncode == 0
        again = pg_store("import", "--store", store_url(schema), "--from", f"{tmp}/log")
        assert again.returncode == 1
        assert "job ids already exist there (import into an empty store)" in again.stderr
        out = pg_store("export", "--store", store_url(schema), "--to", f"{tmp}/log")
        assert out.returncode == 1
        assert out.stderr.strip() == (
            f"tubeworks pg-store: {tmp}/log already holds 1 jobs; export into an empty directory")

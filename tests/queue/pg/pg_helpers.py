"""Helpers for the PostgreSQL store's tests: a fresh schema per use, servers on it, a client.

Every test works in its own schema (``tubeworks_test_<random>``) of the database named by
``TUBEWORKS_TEST_PG`` (default: the local server CI starts), dropped afterwards, so tests never
see each other's jobs. Tests skip when no PostgreSQL answers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))  # tests/queue: difftool

from difftool import READ_TIMEOUT, Conn, parse_yaml

from servers import RunningServer, free_port, tubeworks_argv, wait_listening

PG_DSN = os.environ.get("TUBEWORKS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


needs_pg = pytest.mark.skipif(not pg_available(), reason=f"no PostgreSQL at {PG_DSN}")


def store_url(schema: str) -> str:
    sep = "&" if "?" in PG_DSN else "?"
    return f"{PG_DSN}{sep}schema={schema}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A new schema name, dropped (with everything in it) afterwards."""
    schema = "tubeworks_test_" + secrets.token_hex(5)
    try:
        yield schema
    finally:
        drop_schema(schema)


#: Seconds a server may take to listen: importing psycopg and migrating is slow on a busy
#: two-core machine, more so with two servers starting at once.
START_TIMEOUT = 30.0


@contextlib.contextmanager
def pg_server(schema: str, *flags: str) -> Iterator[RunningServer]:
    """``tubeworks queue --store`` on ``schema``, stopped afterwards."""
    port = free_port()
    argv = [*tubeworks_argv(), "queue", "-l", "127.0.0.1", "-p", str(port),
            "--store", store_url(schema), *flags]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    srv = RunningServer("tubeworks", "127.0.0.1", port, proc, argv)
    try:
        wait_listening("127.0.0.1", port, proc, timeout=START_TIMEOUT)
        yield srv
    finally:
        srv.stop()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()


def sql(schema: str, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one statement in ``schema`` and return its rows."""
    with psycopg.connect(PG_DSN, autocommit=True, options=f"-c search_path={schema}") as db:
        cur = db.execute(query.encode(), params)
        return cur.fetchall() if cur.description else []


class Client:
    """A blocking beanstalk client that speaks raw bytes: send, then read whole replies."""

    def __init__(self, server: RunningServer) -> None:
        self.sock = socket.create_connection(server.address, timeout=READ_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = Conn(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self, timeout: float = READ_TIMEOUT) -> bytes:
        return self.conn.read_reply(time.monotonic() + timeout)

    def call(self, data: bytes) -> bytes:
        self.send(data)
        return self.reply()

    def yaml(self, data: bytes) -> dict[str, str]:
        reply = self.call(data)
        assert reply.startswith(b"OK "), reply
        return dict(parse_yaml(reply.split(b"\r\n", 1)[1][:-2]))

    def put(self, body: bytes, pri: int = 0, delay: int = 0, ttr: int = 60) -> int:
        reply = self.call(b"put %d %d %d %d\r\n%s\r\n" % (pri, delay, ttr, len(body), body))
        assert reply.startswith(b"INSERTED "), reply
        return int(reply.split()[1])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

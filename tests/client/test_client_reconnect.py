"""Connections that break: server restarts, lost replies, garbage, silence, unix sockets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from fault_proxy import FaultProxy, scripted_server

from servers import BEANSTALKD, RunningServer, free_port, running
from tubeworks.client import (
    AsyncClient,
    Client,
    ConnectFailed,
    ConnectionBroken,
    PutNotConfirmed,
    RemoteProtocolError,
    ReplyTimeout,
)

pytestmark = pytest.mark.timeout(45)  # generous: server start/stop is slow on a loaded CI box


@pytest.fixture
def proxy(any_server: RunningServer) -> Iterator[FaultProxy]:
    p = FaultProxy(any_server.address)
    yield p
    p.close()


def test_reconnect_after_restart_restores_use_and_watch(any_server: RunningServer) -> None:
    port = any_server.port
    c = Client("127.0.0.1", port, use="out", watch=["in", "other"])
    c.put(b"before")
    any_server.stop()
    with running(any_server.kind, port=port) as again, Client(*again.address) as check:
        job_id = c.put(b"after")  # silently reconnected: nothing had been sent yet
        assert check.peek(job_id).body == b"after"
        assert check.stats_job(job_id).tube == "out"
        assert c.using() == "out"
        assert sorted(c.watching()) == ["in", "other"]
        check.use("in")
        check.put(b"for you")
        assert c.reserve(timeout=5).body == b"for you"
    c.close()


def test_lost_put_reply_is_not_resent(any_server: RunningServer, proxy: FaultProxy) -> None:
    with Client("127.0.0.1", proxy.port, use="t") as c, Client(*any_server.address) as check:
        proxy.lose_reply_to(b"put ")
        with pytest.raises(PutNotConfirmed, match=r"^connection lost before the reply to put; "):
            c.put(b"once")
        assert proxy.lost.is_set()
        assert check.stats_tube("t").current_jobs_ready == 1  # stored exactly once
        assert c.put(b"next") > 0  # and the client reconnected for the next call
        assert check.stats_tube("t").current_jobs_ready == 2


def test_lost_put_reply_resent_when_opted_in(any_server: RunningServer, proxy: FaultProxy) -> None:
    with (
        Client("127.0.0.1", proxy.port, use="t", retry_puts=True) as c,
        Client(*any_server.address) as check,
    ):
        proxy.lose_reply_to(b"put ")
        c.put(b"maybe twice")
        assert check.stats_tube("t").current_jobs_ready == 2  # the documented price


def test_lost_reply_in_a_batch_keeps_the_answered_part(
    any_server: RunningServer, proxy: FaultProxy
) -> None:
    with Client("127.0.0.1", proxy.port) as c, Client(*any_server.address) as check:
        c.put_many([b"a", b"b"])
        proxy.lose_reply_to(b"put ")
        with pytest.raises(PutNotConfirmed) as e:
            c.put_many([b"c", b"d", b"e"])
        assert len(e.value.results) < 3
        stored = check.stats_tube("default").current_jobs_ready
        assert 3 <= stored <= 5  # the server got some or all of c, d, e, and none twice


def test_lost_reserve_reply_is_retried(any_server: RunningServer, proxy: FaultProxy) -> None:
    with Client("127.0.0.1", proxy.port) as c:
        job_id = c.put(b"x", ttr=100)
        proxy.lose_reply_to(b"reserve")
        # The server released the job when the old connection closed; the resent reserve gets it.
        assert c.reserve(timeout=5).id == job_id


def test_lost_delete_reply_is_not_resent(any_server: RunningServer, proxy: FaultProxy) -> None:
    with Client("127.0.0.1", proxy.port) as c:
        job = c.reserve(timeout=0) if c.put(b"x") else None
        assert job is not None
        proxy.lose_reply_to(b"delete")
        with pytest.raises(ConnectionBroken, match=r"^connection lost before the reply to delete"):
            c.delete(job)


def test_reconnect_off(any_server: RunningServer) -> None:
    port = any_server.port
    c = Client("127.0.0.1", port, reconnect=False)
    any_server.stop()
    with running(any_server.kind, port=port):
        with pytest.raises(ConnectionBroken, match=r"^connection lost and reconnect is off"):
            c.put(b"x")
        c.connect()
        assert c.put(b"x") == 1
    c.close()


def test_connect_failed() -> None:
    port = free_port()
    with pytest.raises(ConnectFailed, match=rf"^cannot connect to 127\.0\.0\.1:{port}: "):
        Client("127.0.0.1", port)
    c = Client("127.0.0.1", port, lazy=True)
    assert not c.connected
    with pytest.raises(ConnectFailed):
        c.stats()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HELLO\r\n", r"^expected a beanstalk reply, got b'HELLO'$"),
        (b"DELETED\r\n", r"^put: expected INSERTED, got 'DELETED'$"),
        (b"INSERTED -1\r\n", r"^malformed INSERTED reply: b'INSERTED -1'$"),
    ],
)
def test_garbage_from_server(reply: bytes, message: str) -> None:
    port, thread, held = scripted_server(reply)
    c = Client("127.0.0.1", port)
    with pytest.raises(RemoteProtocolError, match=message):
        c.put(b"x")
    assert not c.connected  # never trusted again
    thread.join(5)
    for s in held:
        s.close()


def test_silent_server_times_out() -> None:
    port, thread, held = scripted_server(None)
    c = Client("127.0.0.1", port, timeout=0.2)
    with pytest.raises(ReplyTimeout, match=r"^no reply to stats within 0\.2s; connection dropped$"):
        c.stats()
    assert not c.connected
    thread.join(5)
    for s in held:
        s.close()


@pytest.mark.parametrize("kind", ["beanstalkd", "tubeworks"])
def test_unix_socket(kind: str, tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "q.sock")
    if kind == "beanstalkd":
        argv = [BEANSTALKD, "-l", f"unix:{path}"]
    else:
        argv = [sys.executable, "-m", "tubeworks", "queue", "-l", f"unix:{path}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                c = Client(f"unix:{path}")
                break
            except ConnectFailed:
                assert proc.poll() is None, f"{kind} exited with {proc.returncode}"
                assert time.monotonic() < deadline
                time.sleep(0.01)
        with c:
            job_id = c.put(b"over unix")
            assert c.reserve(0).id == job_id
            assert str(c.address) == f"unix:{path}"

        async def via_asyncio() -> bytes:
            async with AsyncClient(unix_path=path) as a:
                return (await a.peek(await a.put(b"async over unix"))).body

        assert asyncio.run(via_asyncio()) == b"async over unix"
    finally:
        proc.terminate()
        proc.wait(10)

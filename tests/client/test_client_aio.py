"""The AsyncClient against real servers (``any_server``); each test runs its own event loop."""

from __future__ import annotations

import asyncio
import socket

import pytest
from fault_proxy import FaultProxy, scripted_server

from servers import RunningServer, running
from tubeworks.client import (
    AsyncClient,
    BatchFailed,
    Client,
    ClientBusy,
    ClientClosed,
    Job,
    JobState,
    JobTooBig,
    NotFound,
    PutNotConfirmed,
    RemoteProtocolError,
    ReplyTimeout,
    TimedOut,
)

pytestmark = pytest.mark.timeout(45)  # generous: server start/stop is slow on a loaded CI box


def test_every_command(any_server: RunningServer) -> None:
    async def main() -> None:
        async with AsyncClient(*any_server.address) as c:
            assert c._writer is not None
            sock = c._writer.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert await c.use("a") == "a"
            assert await c.watch("a") == 2
            assert await c.ignore("default") == 1
            assert await c.using() == "a" and await c.watching() == ["a"]
            first = await c.put("one", priority=4, ttr=20)
            second = await c.put(b"two")
            assert (await c.peek(first)).text == "one"
            assert (await c.peek_ready()).id == first
            job = await c.reserve(timeout=1)
            assert job == Job(first, b"one")
            await c.touch(job)
            await c.release(job, priority=4, delay=50)
            assert (await c.peek_delayed()).id == first
            assert (await c.stats_job(first)).state is JobState.DELAYED
            await c.bury(await c.reserve_job(second))
            assert (await c.peek_buried()).id == second
            assert await c.kick(5) == 1
            await c.kick_job(first)
            assert (await c.stats_tube("a")).current_jobs_ready == 2
            assert (await c.stats()).cmd_put == 2
            assert "a" in await c.tubes()
            await c.pause_tube("a", 0)
            await c.delete(first)
            await c.delete(second)
            with pytest.raises(NotFound, match=r"^delete: NOT_FOUND$"):
                await c.delete(second)
            with pytest.raises(TimedOut):
                await c.reserve(0)
            with pytest.raises(JobTooBig):
                await c.put(b"x" * 70_000)
            ids = await c.put_many([b"m"] * 3000)
            assert len(set(ids)) == 3000
            with pytest.raises(BatchFailed):
                await c.put_many([b"ok", b"y" * 70_000])
            got = await c.reserve_many(10)
            assert len(got) == 10
            assert {s.name for s in await c.stats_tubes()} >= {"a", "default"}
            await c.delete_many(got)
        assert c.closed
        with pytest.raises(ClientClosed):
            await c.stats()

    asyncio.run(main())


def test_two_tasks_on_one_client_is_busy(any_server: RunningServer) -> None:
    async def main() -> None:
        async with AsyncClient(*any_server.address) as c:
            waiting = asyncio.create_task(c.reserve(timeout=10))
            await asyncio.sleep(0)  # let the reserve get in flight
            with pytest.raises(ClientBusy, match=r"^client is already in use by another task"):
                await c.put(b"x")
            async with AsyncClient(*any_server.address) as other:
                await other.put(b"wake")
            assert (await waiting).body == b"wake"

    asyncio.run(main())


def test_cancelled_call_drops_the_connection(any_server: RunningServer) -> None:
    async def main() -> None:
        async with AsyncClient(*any_server.address) as c:
            task = asyncio.create_task(c.reserve())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not c.connected
            job_id = await c.put(b"x")  # reconnects; no stale reply mixed in
            assert (await c.reserve(0)).id == job_id

    asyncio.run(main())


def test_reconnect_after_restart(any_server: RunningServer) -> None:
    port = any_server.port

    async def main() -> None:
        c = AsyncClient("127.0.0.1", port, use="out", watch="in")
        await c.connect()
        any_server.stop()
        with running(any_server.kind, port=port) as again:
            job_id = await c.put(b"after")
            with Client(*again.address) as check:
                assert check.stats_job(job_id).tube == "out"
            assert await c.watching() == ["in"]
        await c.close()

    asyncio.run(main())


def test_lost_put_reply_is_not_resent(any_server: RunningServer) -> None:
    proxy = FaultProxy(any_server.address)

    async def main() -> None:
        async with AsyncClient("127.0.0.1", proxy.port) as c:
            proxy.lose_reply_to(b"put ")
            with pytest.raises(PutNotConfirmed):
                await c.put(b"once")
            with Client(*any_server.address) as check:
                assert check.stats_tube("default").current_jobs_ready == 1

    try:
        asyncio.run(main())
    finally:
        proxy.close()


def test_garbage_and_silence_from_the_server() -> None:
    async def main() -> None:
        port, thread, held = scripted_server(b"WHAT\r\n")
        c = AsyncClient("127.0.0.1", port)
        with pytest.raises(RemoteProtocolError, match=r"^expected a beanstalk reply, got b'WHAT'$"):
            await c.stats()
        assert not c.connected
        thread.join(5)
        port, thread, held2 = scripted_server(None)
        c = AsyncClient("127.0.0.1", port, timeout=0.2)
        with pytest.raises(
            ReplyTimeout, match=r"^no reply to peek within 0\.2s; connection dropped$"
        ):
            await c.peek(1)
        assert not c.connected
        thread.join(5)
        for s in held + held2:
            s.close()

    asyncio.run(main())

"""Bulk operations when the tube's jobs are interleaved with other tubes' (ids not contiguous)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from servers import RunningServer
from tubeworks.client import Client, JobState, LocalProtocolError
from tubeworks.client.bulk import clear_tube, export_jobs, move_jobs

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def client(any_server: RunningServer) -> Iterator[Client]:
    with Client(*any_server.address) as c:
        yield c


def scatter(client: Client, seed: int, n: int = 600) -> dict[str, list[tuple[str, bytes]]]:
    """Put ``n`` jobs into tubes a/b/c in random order and random states; return what went where."""
    rng = random.Random(seed)
    placed: dict[str, list[tuple[str, bytes]]] = {"a": [], "b": [], "c": []}
    client.watch("a")
    client.watch("b")
    client.watch("c")
    for i in range(n):
        tube, state = rng.choice("abc"), rng.choice(["ready", "delayed", "buried"])
        body = f"{tube}-{state}-{i}".encode()
        client.use(tube)
        job_id = client.put(
            body, priority=rng.randrange(10), delay=500 if state == "delayed" else 0
        )
        if state == "buried":
            client.bury(client.reserve_job(job_id), priority=3)
        placed[tube].append((state, body))
    return placed


def bodies(client: Client, tube: str) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    export_jobs(client, tube, lambda r: out.append((r["state"], r["body"].encode())))
    return sorted(out)


@pytest.mark.parametrize("seed", [1, 2])
def test_clear_interleaved_states_exactly(client: Client, seed: int) -> None:
    placed = scatter(client, seed)
    result = clear_tube(client, "a", ["buried", "ready"], window=50)
    expected_gone = [x for x in placed["a"] if x[0] in ("buried", "ready")]
    assert (result.done, result.interrupted) == (len(expected_gone), False)
    assert bodies(client, "a") == sorted(x for x in placed["a"] if x[0] == "delayed")
    assert bodies(client, "b") == sorted(placed["b"])
    assert bodies(client, "c") == sorted(placed["c"])


def test_move_interleaved_all_states_exactly(client: Client) -> None:
    placed = scatter(client, 3)
    result = move_jobs(client, "b", "moved", ["ready", "delayed", "buried"], window=64)
    assert result.done == len(placed["b"])
    assert bodies(client, "moved") == sorted(placed["b"])
    assert client.stats_tube("b").current_jobs == 0  # still watched by us, so it exists
    assert bodies(client, "a") == sorted(placed["a"])


def test_stop_is_honoured_between_batches(client: Client) -> None:
    client.use("s")
    client.put_many([b"x"] * 500)
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2

    result = clear_tube(client, "s", ["ready"], window=100, stop=stop)
    assert (result.done, result.interrupted) == (200, True)
    assert client.stats_tube("s").current_jobs_ready == 300
    assert client.stats_tube("s").current_jobs_reserved == 0  # nothing left held


def test_bad_arguments(client: Client) -> None:
    with pytest.raises(LocalProtocolError, match=r"^states must be some of ready, delayed, buried"):
        clear_tube(client, "a", ["reserved"])
    with pytest.raises(LocalProtocolError, match=r"^limit must be >= 0, got -1$"):
        move_jobs(client, "a", "b", limit=-1)
    assert JobState.READY.value == "ready"

"""Differential tests with short real times: delays, TTR, DEADLINE_SOON, pauses, timeouts.

Same harness as ``test_differential`` (see its docstring for our deliberate differences). Every
wait here is a blocked command whose reply is the event (a ``reserve-with-timeout`` returning),
never a sleep; clock readings in YAML may differ by one second between the two servers. A job
whose TTR expires while its reserver is idle is not compared, because 1.12 sometimes misses that
expiry (difference 4, checked against ours only in ``test_differential``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from difftool import Read, Send, Step, differential, discard_spare, waiting

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True, scope="module")
def _no_spare_server_left() -> Iterator[None]:
    """difftool pre-starts the next candidate server; stop it when this module is done."""
    yield
    discard_spare()


def a(*datas: bytes) -> list[Step]:
    return [Send("a", d) for d in datas]


def test_delayed_job_becomes_ready() -> None:
    """Catalog #33/#34: a delay-1 job is delayed, then a blocked reserve gets it."""
    steps = a(b"put 0 1 10 1\r\nd\r\n", b"stats-job 1\r\n", b"stats-tube default\r\n",
              b"peek-delayed\r\n", b"reserve-with-timeout 5\r\n", b"release 1 0 0\r\n",
              b"stats-tube default\r\n", b"stats-job 1\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[4][1] == [b"RESERVED 1 1\r\nd\r\n"]


def test_release_with_delay() -> None:
    """release with delay 1 makes the job delayed; it comes back by itself."""
    steps = a(b"put 9 0 10 2\r\nrd\r\n", b"reserve\r\n", b"release 1 3 1\r\n",
              b"stats-job 1\r\n", b"reserve-with-timeout 0\r\n", b"reserve-with-timeout 5\r\n",
              b"stats-job 1\r\n", b"delete 1\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[4][1] == [b"TIMED_OUT\r\n"]
    assert oracle.transcript[5][1] == [b"RESERVED 1 2\r\nrd\r\n"]


def test_deadline_soon_immediately_with_ttr_1() -> None:
    """§9 #10, catalog #41: with ttr 1 the connection is inside the safety margin at once."""
    steps = a(b"put 0 0 1 1\r\na\r\n", b"reserve\r\n", b"reserve\r\n",
              b"reserve-with-timeout 0\r\n", b"reserve-with-timeout 1\r\n", b"stats-job 1\r\n",
              b"release 1 0 0\r\n", b"stats-job 1\r\n")
    oracle, _ = differential(steps)
    assert [rs for _, rs in oracle.transcript[2:5]] == [[b"DEADLINE_SOON\r\n"]] * 3


def test_deadline_soon_prefers_ready_job() -> None:
    """§9 #11 (issue #646): inside the margin, a ready job is reserved instead of DEADLINE_SOON."""
    steps = a(b"put 0 0 1 1\r\na\r\n", b"reserve\r\n", b"put 0 0 100 1\r\nb\r\n",
              b"reserve\r\n", b"reserve-with-timeout 0\r\n", b"release 1 0 0\r\n",
              b"release 2 0 0\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[3][1] == [b"RESERVED 2 1\r\nb\r\n"]


def test_blocked_reserve_gets_deadline_soon() -> None:
    """§4 DEADLINE_SOON (b): a client already blocked when the margin starts gets
    DEADLINE_SOON at deadline-1 s; the job stays reserved."""
    steps = a(b"put 0 0 2 1\r\na\r\n", b"reserve\r\n", b"reserve-with-timeout 5\r\n",
              b"stats-job 1\r\n", b"release 1 0 0\r\n", b"stats-job 1\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[2][1] == [b"DEADLINE_SOON\r\n"]


def test_reserve_job_of_delayed_then_deadline_soon() -> None:
    """Catalog #42: a delayed job taken by reserve-job (ttr 1) puts the connection in the
    margin; released, it is ready, not delayed."""
    steps = a(b"put 0 100 1 1\r\na\r\n", b"reserve-job 1\r\n", b"reserve-with-timeout 1\r\n",
              b"stats-job 1\r\n", b"release 1 0 0\r\n", b"stats-job 1\r\n", b"stats\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[2][1] == [b"DEADLINE_SOON\r\n"]


def test_pause_one_second() -> None:
    """Catalog #17: a tube paused for 1 s hands out its job only after the pause."""
    steps = a(b"put 0 0 10 1\r\np\r\n", b"pause-tube default 1\r\n", b"stats-tube default\r\n",
              b"reserve-with-timeout 0\r\n", b"reserve-with-timeout 5\r\n",
              b"stats-tube default\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[3][1] == [b"TIMED_OUT\r\n"]
    assert oracle.transcript[4][1] == [b"RESERVED 1 1\r\np\r\n"]


def test_unpause_wakes_blocked_reserver() -> None:
    """Catalog #51: `pause-tube default 0` hands the job to a client blocked on the paused tube."""
    steps: list[Step] = [
        Send("a", b"put 0 0 10 1\r\nu\r\npause-tube default 86400\r\n"),
        Send("b", b"reserve\r\n", read=False), waiting(1),
        Send("a", b"stats-tube default\r\npause-tube default 0\r\n"),
        Read("b"), Send("a", b"stats-tube default\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[4][1] == [b"RESERVED 1 1\r\nu\r\n"]


def test_reserve_with_timeout_times_out() -> None:
    """reserve-with-timeout 1 with nothing ready answers TIMED_OUT; the conn is a worker."""
    steps = a(b"reserve-with-timeout 1\r\n", b"stats\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[0][1] == [b"TIMED_OUT\r\n"]


def test_reserve_with_timeout_two_connections() -> None:
    """Catalog #40: a second connection watching the same tube does not disturb the timeout."""
    steps: list[Step] = [
        Send("a", b"watch foo\r\nreserve-with-timeout 1\r\n", read=False), waiting(1),
        Send("b", b"watch foo\r\n"), Read("a"), Send("b", b"stats-tube foo\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[3][1] == [b"WATCHING 2\r\n", b"TIMED_OUT\r\n"]


def test_touch_restarts_ttr() -> None:
    """touch restarts the full TTR: two seconds into a ttr of 10, time-left is back near 10."""
    steps = a(b"put 0 0 10 1\r\nt\r\n", b"reserve\r\n", b"reserve-with-timeout 2\r\n",
              b"stats-job 1\r\n", b"touch 1\r\n", b"stats-job 1\r\n", b"delete 1\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[2][1] == [b"TIMED_OUT\r\n"]
    before, after = (int(oracle.transcript[i][1][0].split(b"time-left: ")[1].split(b"\n")[0])
                     for i in (3, 5))
    assert before <= 8 and after >= 9, (before, after)


def test_waiting_worker_gets_jobs_in_ready_order() -> None:
    """§4 dispatch (issue #400): with a worker already waiting, delayed jobs are handed out in
    the order they become ready, not by priority (pri 20 put first wins over pri 10)."""
    steps: list[Step] = [
        Send("a", b"reserve\r\n", read=False), waiting(1),
        Send("b", b"put 20 1 10 1\r\nA\r\nput 10 1 10 1\r\nB\r\n"), Read("a"),
        Send("a", b"reserve-with-timeout 0\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[3][1] == [b"RESERVED 1 1\r\nA\r\n"]


def test_deadline_soon_uses_soonest_deadline() -> None:
    """DEADLINE_SOON follows the soonest deadline among the connection's jobs (ttr 2 and 9)."""
    steps = a(b"put 0 0 9 1\r\nl\r\n", b"put 0 0 2 1\r\ns\r\n", b"reserve\r\n",
              b"reserve\r\n", b"reserve-with-timeout 5\r\n", b"stats-job 2\r\n",
              b"delete 2\r\n", b"reserve-with-timeout 0\r\n", b"delete 1\r\n")
    oracle, _ = differential(steps)
    assert oracle.transcript[4][1] == [b"DEADLINE_SOON\r\n"]
    assert oracle.transcript[7][1] == [b"TIMED_OUT\r\n"]

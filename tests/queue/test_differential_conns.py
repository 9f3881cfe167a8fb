"""Differential tests with several connections: blocking, hand-over, closes, drain mode.

Same harness and rules as ``test_differential`` (its docstring lists our deliberate
differences). Facts that no reply announces, such as "this reserve is now blocked" or "the
server saw that close", are awaited by polling ``stats`` on a monitor connection
(``difftool.WaitStat``, ``Close``), never by sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from difftool import (
    Block,
    Close,
    Drain,
    Read,
    Send,
    ShutdownWrite,
    Step,
    WaitStat,
    differential,
    discard_spare,
    known_difference,
    waiting,
)


@pytest.fixture(autouse=True, scope="module")
def _no_spare_server_left() -> Iterator[None]:
    """difftool pre-starts the next candidate server; stop it when this module is done."""
    yield
    discard_spare()


BODY = b"put 0 0 10 5\r\nhello\r\n"


def test_blocked_reserve_gets_put_from_other_connection() -> None:
    """§9 #26: a blocked reserve answers only when another connection puts; pipelined
    commands behind it wait too."""
    steps: list[Step] = [
        Send("a", b"reserve\r\nlist-tube-used\r\n", read=False, usings=1),
        waiting(1),
        Send("b", b"put 0 0 10 1\r\nj\r\n"),
        Read("a"),
        Send("b", b"stats-job 1\r\nstats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[3][1] == [b"RESERVED 1 1\r\nj\r\n", b"USING default\r\n"]


def test_delete_reserved_by_other() -> None:
    """Catalog #24 and §3: jobs reserved by another connection cannot be deleted, released,
    buried or touched; peek and stats-job still see them."""
    steps: list[Step] = [
        Send("a", BODY), Send("b", b"reserve\r\n"),
        Send("a", b"delete 1\r\nrelease 1 0 0\r\nbury 1 0\r\ntouch 1\r\npeek 1\r\nreserve-job 1\r\n"
                  b"kick-job 1\r\nstats-job 1\r\n"),
        Send("b", b"delete 1\r\n"), Send("a", b"stats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[2][1][0] == b"NOT_FOUND\r\n"


def test_close_releases_job() -> None:
    """Catalog #49/§9 #22: closing the socket puts the reserved job back at once, timeouts 0."""
    steps: list[Step] = [
        Send("a", b"put 0 0 100 1\r\nq\r\n"), Send("b", b"reserve\r\n"),
        Send("c", b"reserve\r\n", read=False), waiting(1),
        Close("b"), Read("c"), Send("c", b"stats-job 1\r\nstats-tube default\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[5][1] == [b"RESERVED 1 1\r\nq\r\n"]


def test_quit_releases_job() -> None:
    """Catalog #50: quit, like a close, releases the reserved job to a waiting reserver."""
    steps: list[Step] = [
        Send("a", b"put 0 0 100 1\r\nq\r\n"), Send("b", b"reserve\r\n"),
        Send("c", b"reserve-with-timeout 5\r\n", read=False), waiting(1),
        Send("b", b"quit\r\n"), Read("c"), Send("a", b"stats-job 1\r\nstats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[4][1] == [b"<EOF>"]
    assert oracle.transcript[5][1] == [b"RESERVED 1 1\r\nq\r\n"]


def test_waiting_reservers_take_order() -> None:
    """§9 #27: six blocked reservers and six puts in one packet get ids 1,2,3,6,5,4."""
    steps: list[Step] = []
    for i in range(6):
        steps += [Send(f"w{i}", b"reserve\r\n", read=False), waiting(i + 1)]
    steps.append(Send("p", b"put 0 0 10 1\r\nx\r\n" * 6))
    steps += [Read(f"w{i}") for i in range(6)]
    oracle, _ = differential(steps)
    got = [rs[0].split()[1] for label, rs in oracle.transcript if label.startswith("read")]
    assert got == [b"1", b"2", b"3", b"6", b"5", b"4"]


def test_reserve_watch_sets_of_two_connections() -> None:
    """A put goes to the waiting connection that watches its tube, not to the other one."""
    steps: list[Step] = [
        Send("a", b"watch x\r\nignore default\r\n"),
        Send("a", b"reserve\r\n", read=False), waiting(1),
        Send("b", b"reserve\r\n", read=False), waiting(2),
        Send("p", b"use x\r\nput 3 0 10 1\r\nX\r\nuse default\r\nput 4 0 10 1\r\nD\r\n"),
        Read("a"), Read("b"), Send("p", b"stats-tube x\r\nstats-tube default\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[6][1] == [b"RESERVED 1 1\r\nX\r\n"]


def test_delete_buried_and_delayed_of_other_connection() -> None:
    """§3 delete: any ready, delayed or buried job may be deleted from any connection."""
    steps: list[Step] = [
        Send("a", BODY + b"put 0 100 10 1\r\nd\r\nreserve\r\nbury 1 0\r\n" + BODY),
        Send("b", b"delete 1\r\ndelete 2\r\ndelete 3\r\ndelete 3\r\nstats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[1][1][:4] == [b"DELETED\r\n"] * 3 + [b"NOT_FOUND\r\n"]


def test_waiting_counts_per_tube() -> None:
    """stats-tube current-waiting/watching while two connections wait on one tube."""
    steps: list[Step] = [
        Send("a", b"watch x\r\nreserve\r\n", read=False), waiting(1),
        Send("b", b"watch x\r\nignore default\r\nreserve\r\n", read=False), waiting(2),
        Send("c", b"stats-tube x\r\nstats-tube default\r\nuse x\r\nput 0 0 10 1\r\n1\r\n"
                  b"put 0 0 10 1\r\n2\r\nstats-tube x\r\n"),
        Read("a"), Read("b"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[5][1] == [b"WATCHING 2\r\n", b"RESERVED 1 1\r\n1\r\n"]
    assert oracle.transcript[6][1] == [b"WATCHING 2\r\n", b"WATCHING 1\r\n",
                                       b"RESERVED 2 1\r\n2\r\n"]


def test_producer_and_worker_counts() -> None:
    """§3 stats: which connections count as producers and workers, and closing them."""
    steps: list[Step] = [
        Send("bad", b"put 0 0 1 x\r\n"), Send("big", b"put 0 0 1 70000\r\n" + b"b" * 70002),
        Send("crlf", b"put 0 0 1 1\r\nabc\r\n"),
        Send("ok", BODY), Send("rj", b"reserve-job 2\r\n"),
        Send("rwt", b"reserve-with-timeout 0\r\n"), Send("rjx", b"reserve-job 99\r\n"),
        Send("bad", b"stats\r\n"), Close("ok"), Close("rj"),
        WaitStat("current-connections", "6"),  # 7 clients + the monitor - 2 closed
        Send("rwt", b"stats-job 2\r\nstats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[2][1] == [b"EXPECTED_CRLF\r\n", b"UNKNOWN_COMMAND\r\n"]
    assert oracle.transcript[4][1] == [b"RESERVED 2 5\r\nhello\r\n"]


def test_waiting_client_closes() -> None:
    """A waiting client that goes away stops waiting; the next job goes to the other waiter."""
    steps: list[Step] = [
        Send("a", b"reserve\r\n", read=False), waiting(1),
        Send("b", b"reserve\r\n", read=False), waiting(2),
        Close("a"), waiting(1),
        Send("p", b"stats-tube default\r\nput 0 0 10 1\r\nx\r\n"), Read("b"),
        Send("p", b"stats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[7][1] == [b"RESERVED 1 1\r\nx\r\n"]


def test_waiters_on_paused_and_open_tubes() -> None:
    """Waiting clients get jobs from their own watched, unpaused tubes only; a kick by another
    connection and an unpause hand jobs to waiters too."""
    steps: list[Step] = [
        Send("p", b"use x\r\nput 0 0 10 1\r\n1\r\npause-tube x 86400\r\n"),
        Send("a", b"watch x\r\nignore default\r\nreserve\r\n", read=False), waiting(1),
        Send("b", b"watch y\r\nignore default\r\nreserve\r\n", read=False), waiting(2),
        Send("p", b"use y\r\nput 0 0 10 1\r\n2\r\nstats-tube x\r\n"), Read("b"),
        Send("b", b"release 2 0 0\r\nreserve\r\n"),
        Send("c", b"watch y\r\nreserve\r\n", read=False), waiting(2),
        Send("b", b"bury 2 0\r\n"), Send("p", b"kick 1\r\n"), Read("c"),
        Send("p", b"pause-tube x 0\r\n"), Read("a"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[6][1][-1] == b"RESERVED 2 1\r\n2\r\n"
    assert oracle.transcript[7][1] == [b"RELEASED\r\n", b"RESERVED 2 1\r\n2\r\n"]
    assert oracle.transcript[12][1][-1] == b"RESERVED 2 1\r\n2\r\n"
    assert oracle.transcript[14][1][-1] == b"RESERVED 1 1\r\n1\r\n"


def test_half_close_while_waiting() -> None:
    """§9 #23: a waiting client that shuts down its write side gets TIMED_OUT, then EOF."""
    steps: list[Step] = [Send("a", b"reserve\r\n", read=False), waiting(1), ShutdownWrite("a"),
                         Send("b", b"stats\r\n")]
    oracle, _ = differential(steps)
    assert oracle.transcript[2][1][0] == b"TIMED_OUT\r\n"


def test_half_close_with_pipelined_commands() -> None:
    """§5: a client that half-closes while not waiting still gets every pending reply."""
    steps: list[Step] = [
        Send("a", BODY + b"peek 1\r\nstats-job 1\r\nreserve\r\nlist-tubes\r\n", read=False),
        ShutdownWrite("a"), Send("b", b"stats-job 1\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[1][1][-1] == b"<EOF>"
    assert len(oracle.transcript[1][1]) == 6


@known_difference(
    "1.12 counts a put in cmd-put and current-producers as soon as its line is read; ours only "
    "once the whole body has arrived"
)
def test_body_arriving_in_pieces_between_other_commands() -> None:
    """A put whose body is still arriving is no job yet, but its valid line already counts in
    cmd-put and current-producers; other connections go on meanwhile."""
    steps: list[Step] = [
        Send("a", b"put 0 0 10 5\r\nhe", sentinel=False),
        WaitStat("cmd-put", "1", timeout=1.5),  # the put line was read (1.12 counts it at once)
        Send("b", b"stats\r\npeek-ready\r\n"),
        Send("a", b"ll", sentinel=False),
        Send("b", b"stats-tube default\r\n"),
        Send("a", b"o\r\n"),
        Send("b", b"peek-ready\r\nstats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[5][1] == [b"INSERTED 1\r\n"]


@known_difference(
    "1.12 gives a put its id when the line is read, so a put cut off by a close uses one up "
    "(next put: INSERTED 2); ours: INSERTED 1"
)
def test_put_cut_off_by_close_burns_an_id() -> None:
    """A put whose connection closes mid-body stores nothing, but in 1.12 its id is used up."""
    steps: list[Step] = [Send("a", b"put 0 0 10 5\r\nhe", sentinel=False), Close("a"),
                         Send("b", b"put 0 0 1 0\r\n\r\nstats\r\n")]
    oracle, _ = differential(steps)
    assert oracle.transcript[2][1][0] == b"INSERTED 2\r\n"


def test_draining() -> None:
    """§9 #25: after SIGUSR1 a put is read whole and refused (an id is burnt); reserve and
    delete still work; stats says draining: true."""
    steps: list[Step] = [
        Send("a", BODY), Drain(),
        Send("a", b"put 0 0 10 1\r\nb\r\nreserve\r\ndelete 1\r\nput 0 0 10 1\r\nc\r\n"),
        Send("a", b"stats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[2][1] == [b"DRAINING\r\n", b"RESERVED 1 5\r\nhello\r\n",
                                       b"DELETED\r\n", b"DRAINING\r\n"]


def test_draining_keeps_waiters() -> None:
    """Drain mode refuses puts but leaves a blocked reserver waiting; existing jobs still go."""
    steps: list[Step] = [
        Send("a", b"put 0 100 10 1\r\nd\r\n"),
        Send("b", b"reserve\r\n", read=False), waiting(1), Drain(),
        Send("a", b"put 0 0 10 1\r\nx\r\nstats-tube default\r\nkick-job 1\r\n"), Read("b"),
        Send("a", b"stats\r\n"),
    ]
    oracle, _ = differential(steps)
    assert oracle.transcript[4][1][0] == b"DRAINING\r\n"
    assert oracle.transcript[5][1] == [b"RESERVED 1 1\r\nd\r\n"]


def test_many_connections() -> None:
    """Sixty connections each using their own tube: counts and list-tubes agree."""
    steps: list[Step] = [Send(f"c{i}", b"use t%d\r\nwatch t%d\r\n" % (i, i)) for i in range(60)]
    steps += [Close(f"c{i}") for i in range(0, 60, 7)]
    steps.append(Send("c1", b"list-tubes\r\nstats-tube t1\r\nstats\r\n"))
    oracle, _ = differential(steps)
    assert oracle.transcript[-1][1][2].startswith(b"OK ")


def test_take_position_survives_an_immediate_reserve() -> None:
    """§4 "which waiting client gets it": a reserve answered at once still moves 1.12's take
    position, so the next two waiters are served second-first."""
    steps: list[Step] = [
        Send("p", b"put 0 0 99 1\r\nx\r\n"), Block("a"), Block("b"), Block("c"),
        Send("p", b"put 0 0 99 1\r\ny\r\n" * 2), Read("a"), Read("b"), Read("c"),
    ]
    oracle, _ = differential(steps)
    assert [rs for _, rs in oracle.transcript[5:]] == [
        [b"RESERVED 1 1\r\nx\r\n"], [b"RESERVED 3 1\r\ny\r\n"], [b"RESERVED 2 1\r\ny\r\n"]]

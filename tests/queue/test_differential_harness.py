"""Tests of the differential harness itself: a comparison that cannot fail proves nothing.

Pure checks of normalising and comparing, plus the reply reader on a real socket pair.
"""

from __future__ import annotations

import socket
import time

import pytest
from difftool import EOF, Conn, Run, Yaml, count_usings, differences, normalise

from servers import RunningServer


def yaml_reply(body: str) -> bytes:
    data = body.encode()
    return b"OK %d\r\n%s\r\n" % (len(data), data)


def run(kind: str, *replies: bytes) -> Run:
    """A Run with one step, as if ``kind`` had said ``replies``."""
    server = RunningServer(kind, "127.0.0.1", 0, None)  # type: ignore[arg-type]
    return Run(server, [("a> step", list(replies))])


def test_equal_transcripts_have_no_differences() -> None:
    same = b"INSERTED 1\r\n"
    assert differences(run("beanstalkd", same), run("tubeworks", same)) == []


@pytest.mark.parametrize(
    "ours",
    [[b"INSERTED 2\r\n"], [b"INSERTED 1\r\n"] * 2, [], [b"INSERTED 1 \r\n"]],
    ids=["other-id", "extra-reply", "missing-reply", "trailing-space"],
)
def test_any_byte_difference_is_reported(ours: list[bytes]) -> None:
    problems = differences(run("beanstalkd", b"INSERTED 1\r\n"), run("tubeworks", *ours))
    assert len(problems) == 1
    assert problems[0].startswith("a> step\n    expected (1.12): [b'INSERTED 1\\r\\n']")


def test_clock_keys_may_differ_by_one_second_only() -> None:
    oracle = run("beanstalkd", yaml_reply("---\nid: 1\nage: 9\ntime-left: 0\n"))
    close = yaml_reply("---\nid: 1\nage: 10\ntime-left: 1\n")
    assert differences(oracle, run("tubeworks", close)) == []
    far = yaml_reply("---\nid: 1\nage: 11\ntime-left: 0\n")
    problems = differences(oracle, run("tubeworks", far))
    assert "age: 9 vs 11" in "\n".join(problems)


def test_other_keys_must_match_exactly() -> None:
    oracle = run("beanstalkd", yaml_reply("---\nid: 1\npri: 9\n"))
    problems = differences(oracle, run("tubeworks", yaml_reply("---\nid: 1\npri: 10\n")))
    assert "pri: 9 vs 10" in "\n".join(problems)


def test_key_order_matters() -> None:
    oracle = run("beanstalkd", yaml_reply("---\nid: 1\npri: 9\n"))
    problems = differences(oracle, run("tubeworks", yaml_reply("---\npri: 9\nid: 1\n")))
    assert "key order differs" in "\n".join(problems)


def test_process_facts_are_not_compared() -> None:
    oracle = run("beanstalkd", yaml_reply("---\npid: 1\nversion: \"1.12\"\nid: 0a\nuptime: 5\n"))
    ours = run("tubeworks", yaml_reply("---\npid: 2\nversion: \"1.13\"\nid: zz\nuptime: 9\n"))
    assert differences(oracle, ours) == []


def test_job_id_in_stats_job_is_compared() -> None:
    """`id` is a process fact only in `stats` (which has a pid); in stats-job it is the job."""
    oracle = run("beanstalkd", yaml_reply("---\nid: 1\ntube: t\n"))
    problems = differences(oracle, run("tubeworks", yaml_reply('---\nid: 2\ntube: "t"\n')))
    assert "id: 1 vs 2" in "\n".join(problems)


def test_ours_must_quote_strings_and_oracle_must_not() -> None:
    """Deliberate difference 1: the comparison strips our quotes only after checking them."""
    assert normalise(yaml_reply('---\nname: "t"\n'), quoted=True) == Yaml((("name", "t"),))
    assert normalise(yaml_reply("---\nname: t\n"), quoted=False) == Yaml((("name", "t"),))
    with pytest.raises(AssertionError, match="must be double-quoted"):
        normalise(yaml_reply("---\nname: t\n"), quoted=True)


def test_ok_byte_count_is_checked() -> None:
    with pytest.raises(AssertionError, match="OK length mismatch"):
        normalise(b"OK 99\r\n---\nid: 1\n\r\n", quoted=False)


def test_count_usings() -> None:
    assert count_usings(b"use a\r\nlist-tube-used\r\nuse -x\r\nuse a b\r\nput 0 0 1 1\r\n") == 2


def test_reply_reader_on_a_socket_pair() -> None:
    """Replies split anywhere are reassembled by the grammar: line, then <bytes>+2 of body."""
    left, right = socket.socketpair()
    with left, right:
        conn = Conn(left)
        wire = b"RESERVED 1 4\r\na\r\nb\r\nOK 3\r\nxyz\r\nDELETED\r\n"
        for i in range(0, len(wire), 5):
            right.sendall(wire[i:i + 5])
        right.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 5
        got = [conn.read_reply(deadline) for _ in range(4)]
    assert got == [b"RESERVED 1 4\r\na\r\nb\r\n", b"OK 3\r\nxyz\r\n", b"DELETED\r\n", EOF]


def test_reply_reader_times_out_instead_of_hanging() -> None:
    left, right = socket.socketpair()
    with left, right:
        right.sendall(b"FOUND 1 10\r\nshort")
        with pytest.raises(TimeoutError, match="no complete reply"):
            Conn(left).read_reply(time.monotonic() + 0.05)

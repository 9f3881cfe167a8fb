"""The wire format alone: bytes in, command tuples out (no sockets, no store)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tubeworks.queue import protocol as P
from tubeworks.queue.protocol import Op, Parser, parse_line

BAD = (Op.REPLY, P.BAD_FORMAT, None)
UNKNOWN = (Op.REPLY, P.UNKNOWN_COMMAND, None)


def commands(data: bytes, max_job_size: int = 65535) -> list[tuple]:
    parser = Parser(max_job_size)
    parser.feed(data)
    out = []
    while (cmd := parser.next()) is not None:
        out.append(cmd)
    return out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"put 1 2 3 4", (Op.PUT, 1, 2, 3, 4, True)),
        (b"put   5   0   0   1", (Op.PUT, 5, 0, 0, 1, True)),
        (b"put 010 0 0 1", (Op.PUT, 10, 0, 0, 1, True)),
        (b"put 0 0 1 1 extra", (Op.PUT, 0, 0, 1, 1, False)),
        (b"put 4294967295 0 0 1", (Op.PUT, 4294967295, 0, 0, 1, True)),
        (b"put 4294967296 0 0 1", BAD),
        (b"put -1 0 100 1", BAD),
        (b"put 512 -1 100 0", BAD),
        (b"put", UNKNOWN),
        (b"PUT 0 0 1 1", UNKNOWN),
        (b"", UNKNOWN),
        (b"reserve", (Op.RESERVE,)),
        (b"reservex", BAD),
        (b"reserve-with-timeout 5", (Op.RESERVE_TIMEOUT, 5)),
        (b"reserve-with-timeout 5x", (Op.RESERVE_TIMEOUT, 5)),
        (b"reserve-with-timeout 2147483648", BAD),
        (b"reserve-with-timeout -1", BAD),
        (b"reserve-with-timeout abc", BAD),
        (b"reserve-with-timeout", BAD),
        (b"reserve-job 3", (Op.RESERVE_JOB, 3)),
        (b"delete 18446744073709551615", (Op.DELETE, 2**64 - 1)),
        (b"delete 18446744073709551616", BAD),
        (b"delete ", BAD),
        (b"delete", UNKNOWN),
        (b"peek 1 ", BAD),
        (b"peek +1", BAD),
        (b"peek 111foo", BAD),
        (b"release 1 2 3", (Op.RELEASE, 1, 2, 3)),
        (b"release 1 abc 3", BAD),
        (b"bury 111 222abc", BAD),
        (b"bury 111", BAD),
        (b"kick -1", (Op.KICK, 2**32 - 1)),
        (b"kick 1abc", (Op.KICK, 1)),
        (b"kick 4294967296", (Op.KICK, 0)),
        (b"kick 99999999999999999999", BAD),
        (b"kick", UNKNOWN),
        (b"kick-job 5", (Op.KICK_JOB, 5)),
        (b"stats", (Op.STATS,)),
        (b"stats ", BAD),
        (b"statsx", BAD),
        (b"stats\x00", BAD),
        (b"stats-tube default", (Op.STATS_TUBE, b"default")),
        (b"use A+/;.$_()9", (Op.USE, b"A+/;.$_()9")),
        (b"use x_y", (Op.USE, b"x_y")),
        (b"use -ab", BAD),
        (b"use foo bar", BAD),
        (b"use a:b", BAD),
        (b"use \xc3\xa9", BAD),
        (b"use " + b"a" * 200, (Op.USE, b"a" * 200)),
        (b"use " + b"a" * 201, BAD),
        (b"use", UNKNOWN),
        (b"list-tubes", (Op.LIST_TUBES,)),
        (b"list-tubesx", BAD),
        (b"list-tube-used", (Op.LIST_TUBE_USED,)),
        (b"list-tubes-watched", (Op.LIST_TUBES_WATCHED,)),
        (b"quit", (Op.QUIT,)),
        (b"quitxyz", (Op.QUIT,)),
        (b"pause-tube default 2", (Op.PAUSE_TUBE, b"default", 2)),
        (b"pause-tubedefault 0", (Op.PAUSE_TUBE, b"default", 0)),
        (b"pause-tube default", BAD),
        (b"pause-tube default 1 x", BAD),
        (b"pause-tube -bad 1", (Op.REPLY, P.BAD_FORMAT, Op.PAUSE_TUBE)),
        (b"nont10knowncommand", UNKNOWN),
    ],
)
def test_parse_line(line: bytes, expected: tuple) -> None:
    assert parse_line(line) == expected


def test_put_reads_its_body_including_crlf_inside() -> None:
    assert commands(b"put 0 0 1 4\r\na\r\nb\r\n") == [(Op.PUT, 0, 0, 1, b"a\r\nb\r\n")]


def test_put_body_without_crlf_is_expected_crlf_and_leftover_is_parsed() -> None:
    assert commands(b"put 0 0 1 1\r\nabc\r\n") == [(Op.PUT_BAD_BODY,), UNKNOWN]


def test_malformed_put_does_not_swallow_its_body() -> None:
    assert commands(b"put 0 0 1 1 extra\r\na\r\n") == [(Op.REPLY, P.BAD_FORMAT, Op.PUT), UNKNOWN]


def test_job_too_big_skips_the_body_then_serves_the_next_command() -> None:
    got = commands(b"put 0 0 0 11\r\ndelete 9999\r\nput 0 0 0 1\r\nx\r\n", max_job_size=10)
    assert got == [(Op.REPLY, P.JOB_TOO_BIG, Op.PUT), (Op.PUT, 0, 0, 0, b"x\r\n")]


def test_line_of_224_bytes_is_accepted_225_is_not() -> None:
    ok = b"pause-tube " + b"a" * 200 + b" 4294967295\r\n"
    assert len(ok) == 224
    assert commands(ok) == [(Op.PAUSE_TUBE, b"a" * 200, 4294967295)]
    long = b"put 0 0 1 1" + b" " * 212 + b"\r\n"
    assert len(long) == 225
    assert commands(long + b"stats\r\n") == [BAD, (Op.STATS,)]


@pytest.mark.parametrize("split", [1, 2, 100, 223, 224, 225, 226, 500])
def test_over_long_line_never_swallows_the_next_command(split: int) -> None:
    """beanstalkd bug: a 225-byte line whose CRLF straddles its buffer eats the next line."""
    data = b"a" * 500 + b"\r\nput 0 0 1 1\r\nA\r\n"
    parser = Parser()
    got = []
    for i in range(0, len(data), split):
        parser.feed(data[i : i + split])
        while (cmd := parser.next()) is not None:
            got.append(cmd)
    assert got == [BAD, (Op.PUT, 0, 0, 1, b"A\r\n")]


def test_bare_newline_is_not_a_line_end() -> None:
    parser = Parser()
    parser.feed(b"stats\n")
    assert parser.next() is None
    parser.feed(b"\r\n")
    assert parser.next() == BAD  # "stats\n" is not the stats command


def test_zero_and_maximal_bodies() -> None:
    assert commands(b"put 0 0 0 0\r\n\r\n") == [(Op.PUT, 0, 0, 0, b"\r\n")]
    body = bytes(range(256)) * 255 + b"x" * 255
    assert len(body) == 65535
    got = commands(b"put 0 0 1 65535\r\n" + body + b"\r\n")
    assert got == [(Op.PUT, 0, 0, 1, body + b"\r\n")]


_pieces = st.sampled_from(
    [
        b"put 0 0 1 3\r\nabc\r\n",
        b"put 0 0 1 1\r\nabc\r\n",
        b"reserve-with-timeout 0\r\n",
        b"use foo\r\n",
        b"watch foo\r\n",
        b"stats\r\n",
        b"peek 1\r\n",
        b"x" * 300 + b"\r\n",
        b"\r\n",
        b"\r",
        b"\n",
        b"put 0 0 0 70000\r\n",
        b"kick 5\r\n",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_pieces | st.binary(max_size=40), max_size=20), st.data())
def test_any_split_gives_the_same_commands(parts: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(parts)
    whole = commands(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    parser = Parser()
    got = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        parser.feed(stream[prev:cut])
        prev = cut
        while (cmd := parser.next()) is not None:
            got.append(cmd)
    assert got == whole
    assert all(isinstance(c, tuple) and isinstance(c[0], Op) for c in got)

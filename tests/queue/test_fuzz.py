"""Property tests on our queue server with random and mutated byte streams (hypothesis).

Invariant: whatever bytes a client sends, in whatever pieces, the server answers with valid
reply lines in order, keeps serving other connections, and its job counts add up. And: the
same bytes give the same replies whether they arrive in one piece or one byte at a time, and
(for streams that avoid our deliberate differences, see ``test_differential``) the same replies
as beanstalkd 1.12.

A last property interleaves valid commands over three connections (reserving, deleting and
releasing each other's jobs, closing) and compares with beanstalkd using the differential
harness. The single-stream invariants also run with the binlog on (-b), the oracle comparison
also with -z 8; random tube names go through every name-taking command and odd number
spellings through every number-taking one.

Streams are built from valid commands, then mutated (truncated, bytes flipped, junk inserted,
over-long lines inserted) and split at random points. Each example uses fresh connections on
servers that live for the whole module (starting ours costs ~0.3 s). Two servers fed the same
examples stay in lockstep as long as they agree; examples are not shrunk, so the example
reported is the first one on which they disagreed. Each example ends with a half-close: the
server answers everything it read and closes, so reading up to EOF collects all replies without
a sentinel (a sentinel could be swallowed by a mutated ``put``).

Streams never contain a ``reserve`` that could block (only ``reserve-with-timeout 0``), ``quit``
(an early close races with our remaining writes), or short pause/delay/TTR values that would
expire during an example; this keeps each example's replies independent of timing.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest
from difftool import (
    READ_TIMEOUT,
    Block,
    Close,
    Read,
    Send,
    Step,
    Yaml,
    _same,
    differences,
    differential,
    discard_spare,
    normalise,
    parse_yaml,
    run_script,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from servers import RunningServer, running

pytestmark = pytest.mark.timeout(60)

FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples every run: CI must not flake
    phases=[Phase.explicit, Phase.generate],  # no shrinking: servers keep state (see top)
    suppress_health_check=list(HealthCheck),
    database=None,
)

REPLY_LINE = re.compile(
    rb"(INSERTED \d+|BURIED \d+|BURIED|USING [^\s]+|WATCHING \d+|RESERVED \d+ \d+|FOUND \d+ \d+"
    rb"|OK \d+|DELETED|RELEASED|TOUCHED|KICKED \d+|KICKED|PAUSED|NOT_FOUND|NOT_IGNORED"
    rb"|TIMED_OUT|DEADLINE_SOON|DRAINING|BAD_FORMAT|UNKNOWN_COMMAND|EXPECTED_CRLF|JOB_TOO_BIG"
    rb"|OUT_OF_MEMORY|INTERNAL_ERROR)"
)
BODY_REPLY = re.compile(rb"(?:RESERVED|FOUND) \d+ (\d+)|OK (\d+)")

# --- stream generation

NAMES = st.sampled_from([b"default", b"a", b"b", b"t-1", b"x_y", b"A+/;.$_()9"])
ANY_NAME = st.one_of(NAMES, st.sampled_from([b"-x", b"a b", b"", b"a:b", b"n" * 201]))
IDS = st.one_of(st.integers(0, 12), st.sampled_from([18446744073709551615, 2**64]))
PRI = st.sampled_from([0, 1, 1023, 1024, 4294967295, 4294967296])
DELAY = st.sampled_from([0, 0, 86400])  # 0 or far away: nothing becomes ready mid-example
TTR = st.sampled_from([0, 86400])  # ttr 0 = 1 s: reserved jobs sit in the DEADLINE_SOON margin


@st.composite
def put(draw: st.DrawFn) -> bytes:
    body = draw(st.binary(max_size=12))
    size = len(body) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    return b"put %d %d %d %d\r\n%s\r\n" % (draw(PRI), draw(DELAY), draw(TTR), max(size, 0), body)


def _fmt(template: bytes, *parts: st.SearchStrategy[object]) -> st.SearchStrategy[bytes]:
    return st.tuples(*parts).map(
        lambda ps: template % tuple(p if isinstance(p, bytes) else str(p).encode() for p in ps)
    )


COMMAND = st.one_of(
    put(),
    _fmt(b"use %s\r\n", ANY_NAME),
    _fmt(b"watch %s\r\n", ANY_NAME),
    _fmt(b"ignore %s\r\n", ANY_NAME),
    _fmt(b"stats-tube %s\r\n", ANY_NAME),
    _fmt(b"pause-tube %s %s\r\n", ANY_NAME, st.sampled_from([0, 86400])),
    _fmt(b"peek %s\r\n", IDS),
    _fmt(b"delete %s\r\n", IDS),
    _fmt(b"touch %s\r\n", IDS),
    _fmt(b"kick-job %s\r\n", IDS),
    _fmt(b"stats-job %s\r\n", IDS),
    _fmt(b"reserve-job %s\r\n", IDS),
    _fmt(b"release %s %s %s\r\n", IDS, PRI, DELAY),
    _fmt(b"bury %s %s\r\n", IDS, PRI),
    _fmt(b"kick %s\r\n", st.sampled_from([0, 1, 5, b"-1", b"1abc"])),
    st.sampled_from(
        [
            b"reserve-with-timeout 0\r\n",
            b"peek-ready\r\n",
            b"peek-delayed\r\n",
            b"peek-buried\r\n",
            b"stats\r\n",
            b"list-tubes\r\n",
            b"list-tube-used\r\n",
            b"list-tubes-watched\r\n",
            b"stats \r\n",
            b"foo\r\n",
            b"\r\n",
        ]
    ),
)

LONG_LINE = st.integers(223, 700).map(lambda n: b"z" * n + b"\r\n")


@st.composite
def mutate(draw: st.DrawFn, stream: bytes) -> bytes:
    """Apply a few random mutations: truncate, flip a byte, insert junk or an over-long line."""
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(stream)))
        kind = draw(st.sampled_from(["flip", "junk", "long", "drop", "truncate"]))
        if kind == "flip" and pos < len(stream):
            stream = stream[:pos] + bytes([draw(st.integers(0, 255))]) + stream[pos + 1 :]
        elif kind == "junk":
            stream = stream[:pos] + draw(st.binary(min_size=1, max_size=6)) + stream[pos:]
        elif kind == "long":
            stream = stream[:pos] + draw(LONG_LINE) + stream[pos:]
        elif kind == "drop":
            stream = stream[:pos] + stream[pos + draw(st.integers(1, 4)) :]
        elif kind == "truncate" and draw(st.booleans()):
            stream = stream[:pos]
    return stream


def _safe(stream: bytes) -> bool:
    """No blocking reserve and no quit (see the module docstring)."""
    rest = stream.replace(b"reserve-with-timeout 0\r\n", b"").replace(b"reserve-job", b"")
    return b"reserve" not in rest and b"quit" not in stream


@st.composite
def streams(draw: st.DrawFn, mutated: bool = True) -> bytes:
    stream = b"".join(draw(st.lists(COMMAND, min_size=1, max_size=14)))
    if mutated:
        stream = draw(mutate(stream))
    return stream


def _oracle_friendly(stream: bytes) -> bool:
    """Avoids the deliberate differences: no line near or over the limit (1.12 mis-splits
    them), and reserve-with-timeout only as `0` (1.12 parses its argument leniently). Also
    avoids a bare CR inside a line, a known difference pinned by the `bare-cr-in-line` case of
    test_differential (1.12 then never sees the line end and swallows up to 224 bytes), and
    ending inside a put body (see ``_ends_inside_body``)."""
    if re.search(rb"\r(?!\n)", stream) or _ends_inside_body(stream):
        return False
    lines = stream.split(b"\r\n")
    if any(len(line) > 200 for line in lines):
        return False
    return all(
        line == b"reserve-with-timeout 0" or b"reserve-with-timeout" not in line for line in lines
    )


_PUT_LINE = re.compile(rb"put +(\d+) +(\d+) +(\d+) +(\d+)")


def _ends_inside_body(stream: bytes) -> bool:
    """Whether the stream stops inside a put body (a known difference, pinned by
    test_body_arriving_in_pieces_between_other_commands: 1.12 has already used a job id)."""
    pos = 0
    while (end := stream.find(b"\r\n", pos)) >= 0:
        m = _PUT_LINE.fullmatch(stream, pos, end)
        pos = end + 2
        if m:
            size = int(m.group(4))
            if size > 65535:
                continue  # JOB_TOO_BIG: 1.12 skips the body without taking an id
            if len(stream) < pos + size + 2:
                return True
            pos += size + 2
    return False


SPLITS = st.lists(st.integers(1, 2000), max_size=12).map(lambda xs: sorted(set(xs)))

# --- talking to a server


def exchange(server: RunningServer, stream: bytes, cuts: list[int] | str) -> bytes:
    """Send ``stream`` in pieces on a fresh connection, half-close, return all bytes to EOF."""
    with server.connect() as sock:
        sock.settimeout(READ_TIMEOUT)
        points = range(1, len(stream)) if cuts == "bytes" else [c for c in cuts if c < len(stream)]
        start = 0
        for cut in [*points, len(stream)]:
            if cut > start:
                sock.sendall(stream[start:cut])
                start = cut
        sock.shutdown(socket.SHUT_WR)
        data = b""
        deadline = time.monotonic() + READ_TIMEOUT
        while chunk := sock.recv(65536):
            data += chunk
            assert time.monotonic() < deadline, f"server kept talking: {data[-200:]!r}"
        return data


def split_replies(data: bytes) -> list[bytes]:
    """Cut a reply stream into replies, checking each against the reply grammar."""
    replies = []
    while data:
        line, sep, _ = data.partition(b"\r\n")
        assert sep, f"reply without CRLF at end of stream: {data!r}"
        assert REPLY_LINE.fullmatch(line), f"invalid reply line {line!r}"
        size = len(line) + 2
        m = BODY_REPLY.fullmatch(line)
        if m:
            size += int(m.group(1) or m.group(2)) + 2
            assert data[size - 2 : size] == b"\r\n", f"body not ended by CRLF: {data[:size]!r}"
        assert len(data) >= size, f"truncated reply {data!r}"
        replies.append(data[:size])
        data = data[size:]
    return replies


def stats(server: RunningServer, line: bytes = b"stats\r\n") -> dict[str, str]:
    data = exchange(server, line, [])
    (reply,) = split_replies(data)
    assert reply.startswith(b"OK "), reply
    return dict(parse_yaml(reply.split(b"\r\n", 1)[1][:-2]))


def job_counts(server: RunningServer) -> dict[str, int]:
    keys = (
        "current-jobs-ready",
        "current-jobs-reserved",
        "current-jobs-delayed",
        "current-jobs-buried",
        "current-jobs-urgent",
        "total-jobs",
    )
    s = stats(server)
    return {k: int(s[k]) for k in keys}


def settled_counts(server: RunningServer) -> dict[str, int]:
    """Job counts once closed connections' reservations are back (none of ours stay open)."""
    deadline = time.monotonic() + READ_TIMEOUT
    while (counts := job_counts(server))["current-jobs-reserved"]:
        assert time.monotonic() < deadline, f"reserved jobs never returned: {counts}"
        time.sleep(0.005)
    return counts


def assert_tubes_add_up(server: RunningServer, counts: dict[str, int]) -> None:
    """Global current-jobs-* equal the sums over all tubes' stats-tube."""
    reply = split_replies(exchange(server, b"list-tubes\r\n", []))[0]
    tubes = [v for _, v in parse_yaml(reply.split(b"\r\n", 1)[1][:-2])]
    sums = dict.fromkeys(counts, 0)
    for tube in tubes:
        st_ = stats(server, b"stats-tube " + tube.encode() + b"\r\n")
        for key in sums:
            if key != "total-jobs":
                sums[key] += int(st_[key])
    for key in sums:
        if key != "total-jobs":
            assert sums[key] == counts[key], (key, sums, counts)


# --- fixtures


@pytest.fixture(autouse=True, scope="module")
def _no_spare_server_left() -> Iterator[None]:
    """difftool pre-starts the next candidate server; stop it when this module is done."""
    yield
    discard_spare()


@pytest.fixture(scope="module")
def ours() -> Iterator[RunningServer]:
    with running("tubeworks") as srv:
        yield srv


@pytest.fixture(scope="module")
def ours_with_binlog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running("tubeworks", "-b", str(tmp_path_factory.mktemp("fuzz-wal"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def twins() -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two of ours with the same history (fed the same examples)."""
    with running("tubeworks") as one, running("tubeworks") as two:
        yield one, two


@pytest.fixture(scope="module")
def oracle_and_ours() -> Iterator[tuple[RunningServer, RunningServer]]:
    """beanstalkd and ours with the same history."""
    with running("beanstalkd") as oracle, running("tubeworks") as ours:
        yield oracle, ours


# --- properties


@FUZZ_SETTINGS
@given(stream=streams().filter(_safe), cuts=SPLITS)
def test_any_stream_gets_valid_replies_and_counts_add_up(
    ours: RunningServer, stream: bytes, cuts: list[int]
) -> None:
    """Valid replies in order; the server keeps serving; job counts follow the replies."""
    _check_stream(ours, stream, cuts)


def _check_stream(ours: RunningServer, stream: bytes, cuts: list[int]) -> None:
    before = settled_counts(ours)
    replies = split_replies(exchange(ours, stream, cuts))
    after = settled_counts(ours)  # a new connection works: the server kept serving
    made = sum(
        1 for r in replies if r.startswith(b"INSERTED ") or re.fullmatch(rb"BURIED \d+\r\n", r)
    )
    gone = sum(1 for r in replies if r == b"DELETED\r\n")
    total = ("current-jobs-ready", "current-jobs-delayed", "current-jobs-buried")
    assert sum(after[k] for k in total) - sum(before[k] for k in total) == made - gone
    assert after["total-jobs"] - before["total-jobs"] == made
    assert after["current-jobs-urgent"] <= after["current-jobs-ready"]
    assert_tubes_add_up(ours, after)


@settings(FUZZ_SETTINGS, max_examples=60)
@given(stream=streams().filter(_safe), cuts=SPLITS)
def test_any_stream_with_binlog(
    ours_with_binlog: RunningServer, stream: bytes, cuts: list[int]
) -> None:
    """The same invariants with the write-ahead log on (-b)."""
    _check_stream(ours_with_binlog, stream, cuts)


def _normalised(data: bytes) -> list[bytes | Yaml]:
    return [normalise(r, quoted=True) for r in split_replies(data)]


def _agree(a: list[bytes | Yaml], b: list[bytes | Yaml]) -> bool:
    return len(a) == len(b) and all(map(_same, a, b))


@FUZZ_SETTINGS
@given(stream=streams().filter(_safe))
def test_one_chunk_or_byte_by_byte_same_replies(
    twins: tuple[RunningServer, RunningServer], stream: bytes
) -> None:
    """Two of our servers fed the same examples, one whole and one a byte per send(), say the
    same (clock seconds ±1 and process facts aside)."""
    whole = _normalised(exchange(twins[0], stream, []))
    trickle = _normalised(exchange(twins[1], stream, "bytes"))
    assert _agree(whole, trickle), f"{stream!r}\nwhole:   {whole}\nbytes:   {trickle}"
    _assert_same_state(*twins, stream)


@FUZZ_SETTINGS
@given(
    stream=streams().filter(_safe).filter(_oracle_friendly),
    cuts=SPLITS,
)
def test_same_replies_as_beanstalkd(
    oracle_and_ours: tuple[RunningServer, RunningServer], stream: bytes, cuts: list[int]
) -> None:
    """Streams that avoid the deliberate differences, split at random points for ours and
    sent whole to beanstalkd 1.12, get the same replies."""
    _check_against_oracle(oracle_and_ours, stream, cuts)


def _check_against_oracle(
    pair: tuple[RunningServer, RunningServer], stream: bytes, cuts: list[int]
) -> None:
    oracle, ours = pair
    expected = [normalise(r, quoted=False) for r in split_replies(exchange(oracle, stream, []))]
    got = _normalised(exchange(ours, stream, cuts))
    assert _agree(expected, got), f"{stream!r}\n1.12: {expected}\nours: {got}"
    _assert_same_state(oracle, ours, stream)


def _assert_same_state(one: RunningServer, two: RunningServer, stream: bytes) -> None:
    """The servers' stats agree after the example, so no difference hides until later."""
    one_stats = normalise(exchange(one, b"stats\r\n", []), quoted=one.kind != "beanstalkd")
    two_stats = normalise(exchange(two, b"stats\r\n", []), quoted=two.kind != "beanstalkd")
    assert _same(one_stats, two_stats), f"{stream!r}\nstats differ:\n{one_stats}\n{two_stats}"


@pytest.fixture(scope="module")
def small_jobs_pair() -> Iterator[tuple[RunningServer, RunningServer]]:
    """beanstalkd and ours with -z 8, so many generated puts are JOB_TOO_BIG."""
    with running("beanstalkd", "-z", "8") as oracle, running("tubeworks", "-z", "8") as ours:
        yield oracle, ours


@settings(FUZZ_SETTINGS, max_examples=100)
@given(stream=streams().filter(_safe).filter(_oracle_friendly), cuts=SPLITS)
def test_same_replies_as_beanstalkd_with_small_max_job_size(
    small_jobs_pair: tuple[RunningServer, RunningServer], stream: bytes, cuts: list[int]
) -> None:
    """As above with -z 8: JOB_TOO_BIG bodies are skipped the same way by both."""
    _check_against_oracle(small_jobs_pair, stream, cuts)


# --- several connections, valid commands, against beanstalkd

# No CR in these bodies: a BAD_FORMAT put line leaves its body to be read as a command line,
# and a bare CR there is a known difference (see _oracle_friendly) that would stall 1.12.
NO_CR_BODY = st.binary(max_size=8).map(lambda b: b.replace(b"\r", b""))
EXACT_PUT = st.tuples(PRI, DELAY, TTR, NO_CR_BODY).map(
    lambda t: b"put %d %d %d %d\r\n%s\r\n" % (t[0], t[1], t[2], len(t[3]), t[3])
)
SMALL_IDS = st.integers(1, 8)
CROSS_COMMAND = st.one_of(
    EXACT_PUT,
    _fmt(b"use %s\r\n", NAMES),
    _fmt(b"watch %s\r\n", NAMES),
    _fmt(b"ignore %s\r\n", NAMES),
    _fmt(b"delete %s\r\n", SMALL_IDS),
    _fmt(b"release %s %s %s\r\n", SMALL_IDS, PRI, DELAY),
    _fmt(b"bury %s %s\r\n", SMALL_IDS, PRI),
    _fmt(b"touch %s\r\n", SMALL_IDS),
    _fmt(b"kick-job %s\r\n", SMALL_IDS),
    _fmt(b"reserve-job %s\r\n", SMALL_IDS),
    _fmt(b"stats-job %s\r\n", SMALL_IDS),
    _fmt(b"peek %s\r\n", SMALL_IDS),
    _fmt(b"kick %s\r\n", st.integers(0, 3)),
    _fmt(b"pause-tube %s %s\r\n", NAMES, st.sampled_from([0, 86400])),
    _fmt(b"stats-tube %s\r\n", NAMES),
    st.sampled_from([b"reserve-with-timeout 0\r\n", b"peek-ready\r\n", b"peek-buried\r\n",
                     b"peek-delayed\r\n", b"list-tubes\r\n", b"list-tubes-watched\r\n",
                     b"stats\r\n"]),
)


@st.composite
def cross_scripts(draw: st.DrawFn) -> list[Step]:
    """Steps over three connections; a connection may be closed (and later reopened)."""
    steps: list[Step] = []
    for _ in range(draw(st.integers(1, 25))):
        conn = draw(st.sampled_from("abc"))
        if draw(st.integers(0, 9)) == 0:
            steps.append(Close(conn))
        else:
            steps.append(Send(conn, draw(CROSS_COMMAND)))
    return steps


def _drop_unopened_closes(steps: list[Step]) -> list[Step]:
    open_: set[str] = set()
    kept: list[Step] = []
    for step in steps:
        if isinstance(step, Close):
            if step.conn not in open_:
                continue
            open_.discard(step.conn)
        elif isinstance(step, Send):
            open_.add(step.conn)
        kept.append(step)
    return kept


def _settled_stats(server: RunningServer) -> Yaml | bytes:
    """`stats` once every closed client connection has been cleaned up."""
    deadline = time.monotonic() + READ_TIMEOUT
    while True:
        reply = exchange(server, b"stats\r\n", [])
        if b"\ncurrent-connections: 1\n" in reply:
            return normalise(reply, quoted=server.kind != "beanstalkd",
                             drop=("total-connections", "cmd-stats"))
        assert time.monotonic() < deadline, f"connections never closed: {reply!r}"
        time.sleep(0.005)


@pytest.fixture(scope="module")
def cross_pair() -> Iterator[tuple[RunningServer, RunningServer]]:
    """beanstalkd and ours with the same history, for the several-connection property."""
    with running("beanstalkd") as oracle, running("tubeworks") as ours:
        yield oracle, ours


@FUZZ_SETTINGS
@given(script=cross_scripts().map(_drop_unopened_closes).filter(bool))
def test_several_connections_same_as_beanstalkd(
    cross_pair: tuple[RunningServer, RunningServer], script: list[Step]
) -> None:
    """Valid commands interleaved over three connections (reserving, deleting, releasing each
    other's jobs, closing) get the same replies from ours as from beanstalkd 1.12."""
    oracle, ours = cross_pair
    expected, got = run_script(oracle, script), run_script(ours, script)
    problems = differences(expected, got, drop=("cmd-stats",))  # Close polls stats (difftool)
    assert not problems, "\n".join(problems)
    one, two = _settled_stats(oracle), _settled_stats(ours)
    assert _same(one, two), f"stats differ after the script:\n{one}\n{two}"


# --- tube names, against beanstalkd

NAME_CHARS = b"ABCXYZabcxyz0189-+/;.$_()"
NAME_BYTES = st.one_of(
    st.sampled_from(list(NAME_CHARS)),
    st.sampled_from(list(b" \t\x00:*,#@!\x7f\xc3\xe9")),
).map(lambda c: bytes([c]))
TUBE_NAME = st.one_of(
    st.lists(st.sampled_from(list(NAME_CHARS)).map(lambda c: bytes([c])), min_size=1,
             max_size=202).map(b"".join),
    st.lists(NAME_BYTES, max_size=12).map(b"".join),
)


@pytest.fixture(scope="module")
def names_pair() -> Iterator[tuple[RunningServer, RunningServer]]:
    """beanstalkd and ours with the same history, for the tube-name property."""
    with running("beanstalkd") as oracle, running("tubeworks") as ours:
        yield oracle, ours


@settings(FUZZ_SETTINGS, max_examples=100)
@given(names=st.lists(TUBE_NAME, min_size=1, max_size=4))
def test_tube_names_same_as_beanstalkd(
    names_pair: tuple[RunningServer, RunningServer], names: list[bytes]
) -> None:
    """Any name (valid characters, lengths up to 202, or stray bytes) is accepted or refused
    alike by use, watch, ignore, stats-tube and pause-tube."""
    stream = b"".join(
        b"use %s\r\nwatch %s\r\nstats-tube %s\r\npause-tube %s 0\r\nignore %s\r\n" % ((n,) * 5)
        for n in names
    ) + b"list-tubes\r\nlist-tubes-watched\r\nlist-tube-used\r\n"
    _check_against_oracle(names_pair, stream, [])


# --- number spellings, against beanstalkd

NUM_VALUES = [0, 1, 7, 1000, 4294967295, 4294967296, 18446744073709551615, 2**64, 10**30]
NUMBER = st.tuples(
    st.sampled_from([b"", b"0", b"00", b"+", b"-", b" ", b"  "]),
    st.sampled_from(NUM_VALUES),
    st.sampled_from([b"", b"", b"x", b" ", b"0"]),
).map(lambda t: t[0] + str(t[1]).encode() + t[2])
# Delays and pauses: zero or far away in any spelling, so nothing changes while examples run.
FAR = st.tuples(
    st.sampled_from([b"", b"0", b"+", b"-", b" "]),
    st.sampled_from([0, 100000, 4294967295, 4294967296]),
    st.sampled_from([b"", b"x", b" "]),
).map(lambda t: t[0] + str(t[1]).encode() + t[2])
NUMERIC_COMMAND = st.one_of(
    st.tuples(NUMBER, FAR, NUMBER).map(lambda t: b"put %s %s %s 1\r\nB\r\n" % t),
    _fmt(b"peek %s\r\n", NUMBER),
    _fmt(b"delete %s\r\n", NUMBER),
    _fmt(b"touch %s\r\n", NUMBER),
    _fmt(b"kick-job %s\r\n", NUMBER),
    _fmt(b"stats-job %s\r\n", NUMBER),
    _fmt(b"reserve-job %s\r\n", NUMBER),
    _fmt(b"release %s %s %s\r\n", NUMBER, NUMBER, FAR),
    _fmt(b"bury %s %s\r\n", NUMBER, NUMBER),
    _fmt(b"kick %s\r\n", NUMBER),
    _fmt(b"pause-tube default %s\r\n", FAR),
    st.just(b"reserve-with-timeout 0\r\n"),
)


@pytest.fixture(scope="module")
def numbers_pair() -> Iterator[tuple[RunningServer, RunningServer]]:
    """beanstalkd and ours with the same history, for the number-spelling property."""
    with running("beanstalkd") as oracle, running("tubeworks") as ours:
        yield oracle, ours


@settings(FUZZ_SETTINGS, max_examples=150)
@given(commands=st.lists(NUMERIC_COMMAND, min_size=1, max_size=12))
def test_number_spellings_same_as_beanstalkd(
    numbers_pair: tuple[RunningServer, RunningServer], commands: list[bytes]
) -> None:
    """Numbers with signs, spaces, leading zeros, trailing junk and overflow are read alike."""
    _check_against_oracle(numbers_pair, b"".join(commands), [])


# --- several connections with blocking reserves, against beanstalkd

FAR_PUT = st.tuples(PRI, DELAY, NO_CR_BODY).map(
    lambda t: b"put %d %d 86400 %d\r\n%s\r\n" % (t[0], t[1], len(t[2]), t[2])
)
BLOCKING_MIX = st.one_of(FAR_PUT, CROSS_COMMAND.filter(lambda c: not c.startswith(b"put ")))


@st.composite
def blocking_scripts(draw: st.DrawFn) -> list[Step]:
    """Like cross_scripts, but connections may block in `reserve`; a blocked connection is
    left alone until the end, where every tube is unpaused and fed so all of them wake."""
    steps: list[Step] = []
    blocked: list[str] = []
    for _ in range(draw(st.integers(1, 25))):
        free = [c for c in "abcd" if c not in blocked]
        if not free:
            break
        conn = draw(st.sampled_from(free))
        if draw(st.integers(0, 5)) == 0:
            steps.append(Block(conn))
            blocked.append(conn)
        else:
            steps.append(Send(conn, draw(BLOCKING_MIX)))
    feed = b"".join(b"pause-tube %s 0\r\nuse %s\r\n" % (n, n) + b"put 0 0 86400 1\r\nf\r\n" * 4
                    for n in [b"default", b"a", b"b", b"t-1", b"x_y", b"A+/;.$_()9"])
    steps.append(Send("feeder", feed))
    steps += [Read(c) for c in blocked]
    return steps


# Fresh servers per example here: with blocked reserves and pauses, a long-lived beanstalkd
# 1.12 segfaulted after a few hundred such scripts (at a different script each time), which
# would make a lockstep pair flaky. Fresh pairs cost ~0.4 s, hence few examples.
@settings(FUZZ_SETTINGS, max_examples=25)
@given(script=blocking_scripts())
def test_blocking_reserves_same_as_beanstalkd(script: list[Step]) -> None:
    """Blocked reserves get the same jobs, in the same order, as from beanstalkd 1.12.

    Other examples than these (fixed by derandomize) can hit the known take-position
    difference pinned in test_differential_conns (test_take_position_survives_...).
    """
    differential(script)

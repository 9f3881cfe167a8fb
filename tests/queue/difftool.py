"""Differential harness: run one scripted byte conversation against two queue servers and compare.

Theory of operation. A *script* is a list of steps (:class:`Send`, :class:`Read`, :class:`Close`,
...) addressed to named connections ("a", "b", ...). Each :class:`Send` writes its bytes followed
by a *sentinel* command (``list-tube-used\\r\\n``) and, unless told not to, reads replies until the
sentinel's ``USING <tube>`` reply arrives. That is how we know a step's replies are complete
without sleeping: the server answers a connection strictly in order, so every reply before the
sentinel's belongs to the step. A step that blocks (``reserve`` with nothing ready) is sent with
``read=False``; a later :class:`Read` collects its replies once another connection has made them
possible. Every socket read has a timeout, so a server that never answers fails the test instead
of hanging it.

The sentinel's reply ``USING x`` can also be produced by the step itself (``use x``,
``list-tube-used``). :func:`count_usings` counts those from the step's bytes; a step may override
the count. If the count is wrong, the final sync at the end of every script sees a stray reply
and the comparison fails loudly.

Replies are parsed with the beanstalk reply grammar (a line, plus ``<bytes>+2`` of body after
``RESERVED``/``FOUND``/``OK``) and normalised by :func:`normalise`: YAML bodies become key/value
lists (their byte count is checked against the body and then dropped, because ``age: 9`` and
``age: 10`` differ in length), clock readings may differ by one second, and process facts of
``stats`` are dropped. Nothing else is normalised: job ids must match exactly because both
servers start fresh.

Facts no reply announces (a reserve is now blocked, a signal arrived, a close was noticed) are
awaited with :class:`WaitStat`/:class:`Drain`/:class:`Close`, which poll ``stats`` on one
long-lived monitor connection with a deadline; :class:`Restart` kill -9s a server and starts it
again for binlog scripts. :func:`differential` runs a script on a fresh beanstalkd and a fresh
ours in parallel and asserts equal transcripts (``trickle=True`` feeds ours one byte per send).

Used by: test_differential*.py, test_fuzz.py, and the PostgreSQL store tests (``Conn``,
``parse_yaml``, ``READ_TIMEOUT``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import pytest

from servers import (
    BEANSTALKD,
    RunningServer,
    free_port,
    running,
    tubeworks_argv,
    wait_listening,
)

SENTINEL = b"list-tube-used\r\n"
READ_TIMEOUT = 15.0  # seconds a step may wait for replies (longest case waits ~4 s; CI is slow)
EOF = b"<EOF>"

# `stats` keys that describe the process, not the queue: never compared.
PROCESS_FACTS = frozenset(
    {"pid", "uptime", "rusage-utime", "rusage-stime", "hostname", "os", "platform", "id", "version"}
)
# Keys holding seconds read from a clock: two servers may disagree by one tick.
CLOCK_KEYS = frozenset({"age", "time-left", "pause-time-left", "uptime"})
# String values that beanstalkd 1.13 (and ours) wraps in double quotes; 1.12 prints them bare.
QUOTED_KEYS = frozenset({"hostname", "os", "platform", "name", "tube"})

# Which server stands for "ours". Set TUBEWORKS_DIFF_CANDIDATE=beanstalkd to check the harness
# itself (oracle against oracle) while our server is not ready.
CANDIDATE = os.environ.get("TUBEWORKS_DIFF_CANDIDATE", "tubeworks")
ORACLE = "beanstalkd"

_NAME = rb"[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]{0,199}"
_USING_LINE = re.compile(rb"use " + _NAME + rb"|list-tube-used")
_BODY_REPLY = re.compile(rb"(?:RESERVED|FOUND) \d+ (\d+)|OK (\d+)")


# ---------------------------------------------------------------------------------------------
# Script steps


@dataclass(frozen=True)
class Send:
    """Write ``data`` (+ sentinel) on connection ``conn``; read its replies unless ``read=False``.

    ``split``: ``None`` writes everything at once, ``"bytes"`` writes one byte per ``send``, a
    tuple of offsets writes the pieces between them. ``sentinel=False`` writes only ``data`` and
    reads nothing (for bytes that leave the server waiting mid-command, e.g. half a body).
    """

    conn: str
    data: bytes
    read: bool = True
    split: str | tuple[int, ...] | None = None
    sentinel: bool = True
    usings: int | None = None  # how many USING replies `data` itself produces (default: counted)


@dataclass(frozen=True)
class Read:
    """Collect the replies of earlier ``read=False`` sends on ``conn`` (may block until ready)."""

    conn: str


@dataclass(frozen=True)
class Block:
    """Send ``reserve`` on ``conn`` and wait until the server has taken it (its cmd-reserve
    count goes up): the connection then holds a job or is waiting. Its replies are collected
    by a later :class:`Read`; nothing else may be sent on it before that. Other steps of the
    script must not send plain ``reserve`` (they would throw the count off)."""

    conn: str


@dataclass(frozen=True)
class Close:
    """Close connection ``conn`` without a word (the server sees EOF), then wait on the monitor
    connection until the server has noticed (its current-connections drops), so the next step
    cannot overtake the close."""

    conn: str


@dataclass(frozen=True)
class ShutdownWrite:
    """Half-close ``conn`` (shutdown(SHUT_WR)) and read what the server still says, up to EOF."""

    conn: str


@dataclass(frozen=True)
class Drain:
    """Send SIGUSR1 (drain mode) and wait until ``stats`` on the monitor connection says so."""


@dataclass(frozen=True)
class WaitStat:
    """Poll ``stats`` on a private monitor connection until ``key`` equals ``value``.

    For facts no reply announces: that a blocked reserve was processed (current-waiting), that
    a signal arrived (draining). The monitor connection is opened once per script and stays
    open, so connection counts stay the same on both servers; only ``cmd-stats`` varies, so
    scripts using this, Drain or Close drop it from comparison (``differential`` does that).
    """

    key: str
    value: str
    timeout: float = READ_TIMEOUT


@dataclass(frozen=True)
class Restart:
    """Kill the server (SIGKILL: crash-only, as beanstalkd intends) and start it again with the
    same flags and port; every client connection is dropped. For binlog (-b) scripts."""


@dataclass(frozen=True)
class Call:
    """Run ``fn(server)`` (e.g. wait for a condition); its result is not compared."""

    fn: Callable[[RunningServer], object]


def waiting(n: int) -> WaitStat:
    """Wait until ``n`` connections are blocked in a reserve (their command was processed)."""
    return WaitStat("current-waiting", str(n))


# Reported differences of ours from 1.12 are xfail, strict: when one gets fixed (or declared
# deliberate and the test changed), the XPASS fails the suite and the mark must go.
KNOWN_STRICT = True


def known_difference(reason: str) -> pytest.MarkDecorator:
    """Mark a test whose comparison fails because ours differs from 1.12 for ``reason``."""
    return pytest.mark.xfail(reason=reason, strict=KNOWN_STRICT)


Step = Send | Read | Block | Close | ShutdownWrite | Drain | WaitStat | Restart | Call

MONITOR = "__monitor__"


def count_usings(data: bytes) -> int:
    """How many ``USING`` replies the lines in ``data`` will produce (a heuristic, see top)."""
    return sum(1 for line in data.split(b"\r\n") if _USING_LINE.fullmatch(line))


# ---------------------------------------------------------------------------------------------
# Wire reading


class Conn:
    """A client socket with a receive buffer that reads whole beanstalk replies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.pending = 0  # sentinels written whose USING reply is not read yet
        self.pending_usings = 0  # USING replies expected from steps themselves, not read yet
        self.eof = False

    def _fill(self, deadline: float) -> bool:
        """Read more bytes; False on EOF. Raises TimeoutError past ``deadline``."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete reply within {READ_TIMEOUT}s; buffered {self.buf!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(
                f"no complete reply within {READ_TIMEOUT}s; buffered {self.buf!r}"
            ) from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_reply(self, deadline: float) -> bytes:
        """One whole reply (line + body), or :data:`EOF`."""
        while b"\r\n" not in self.buf:
            if self.eof or not self._fill(deadline):
                return EOF if not self.buf else self._truncated()
        line, _, _ = self.buf.partition(b"\r\n")
        m = _BODY_REPLY.fullmatch(line)
        need = len(line) + 2
        if m:
            need += int(m.group(1) or m.group(2)) + 2
        while len(self.buf) < need:
            if self.eof or not self._fill(deadline):
                return self._truncated()
        reply, self.buf = self.buf[:need], self.buf[need:]
        return reply

    def _truncated(self) -> bytes:
        rest, self.buf = self.buf, b""
        return b"<EOF after partial reply " + repr(rest).encode() + b">"

    def read_pending(self) -> list[bytes]:
        """Read until every outstanding sentinel has answered (or EOF)."""
        deadline = time.monotonic() + READ_TIMEOUT
        replies: list[bytes] = []
        while self.pending:
            reply = self.read_reply(deadline)
            if reply.startswith(b"<EOF"):
                replies.append(reply)
                self.pending = self.pending_usings = 0
                break
            if reply.startswith(b"USING "):
                if self.pending_usings:
                    self.pending_usings -= 1
                else:
                    self.pending -= 1
                    continue  # the sentinel's own reply is not part of the transcript
            replies.append(reply)
        return replies


def _send(sock: socket.socket, data: bytes, split: str | tuple[int, ...] | None) -> None:
    """Write ``data`` in pieces; stop quietly if the server has closed (after ``quit``)."""
    cuts = [] if split is None else range(1, len(data)) if split == "bytes" else split
    start = 0
    try:
        for cut in [*cuts, len(data)]:
            if cut > start:
                sock.sendall(data[start:cut])
                start = cut
    except (BrokenPipeError, ConnectionResetError):
        pass  # the reader sees EOF and records it


# ---------------------------------------------------------------------------------------------
# Running a script


Transcript = list[tuple[str, list[bytes]]]


@dataclass
class Run:
    """What one server said, step by step, plus the server itself for follow-up checks."""

    server: RunningServer
    transcript: Transcript = field(default_factory=list)

    def replies(self) -> list[bytes]:
        return [r for _, rs in self.transcript for r in rs]


def _label(step: Step) -> str:
    if isinstance(step, Send):
        data = step.data if len(step.data) <= 80 else step.data[:60] + b"..." + step.data[-12:]
        extra = "" if step.read else " (no read)"
        return f"{step.conn}> {data!r}{extra}"
    if isinstance(step, Call):
        return f"call {getattr(step.fn, '__name__', step.fn)!r}"
    return f"{type(step).__name__.lower()} {getattr(step, 'conn', '')}".strip()


def run_script(server: RunningServer, steps: Sequence[Step]) -> Run:
    """Play ``steps`` against ``server`` and record every reply; closes all its connections."""
    conns: dict[str, Conn] = {}
    run = Run(server)
    first = server
    reserves: int | None = None  # the server's cmd-reserve after the last Block

    def conn(name: str) -> Conn:
        if name not in conns:
            conns[name] = Conn(server.connect())
        return conns[name]

    try:
        for step in steps:
            replies: list[bytes] = []
            if isinstance(step, Send):
                c = conn(step.conn)
                data = step.data + (SENTINEL if step.sentinel else b"")
                _send(c.sock, data, step.split)
                if step.sentinel:
                    c.pending += 1
                    usings = count_usings(step.data) if step.usings is None else step.usings
                    c.pending_usings += usings
                if step.read:
                    replies = c.read_pending()
            elif isinstance(step, Read):
                replies = conn(step.conn).read_pending()
            elif isinstance(step, Block):
                if reserves is None:
                    reserves = int(_stats_on(conn(MONITOR))["cmd-reserve"])
                reserves += 1
                c = conn(step.conn)
                _send(c.sock, b"reserve\r\n" + SENTINEL, None)
                c.pending += 1
                _poll(conns[MONITOR], "cmd-reserve", str(reserves))
            elif isinstance(step, Close):
                conns.pop(step.conn).sock.close()
                conn(MONITOR)
                _poll(conns[MONITOR], "current-connections", str(len(conns)))
            elif isinstance(step, ShutdownWrite):
                c = conns[step.conn]
                c.sock.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + READ_TIMEOUT
                while (reply := c.read_reply(deadline)) != EOF:
                    if reply.startswith(b"USING ") and c.pending and not c.pending_usings:
                        c.pending -= 1
                        continue
                    replies.append(reply)
                replies.append(EOF)
                conns.pop(step.conn).sock.close()
            elif isinstance(step, Drain):
                server.proc.send_signal(signal.SIGUSR1)
                _poll(conn(MONITOR), "draining", "true")
            elif isinstance(step, WaitStat):
                _poll(conn(MONITOR), step.key, step.value, step.timeout)
            elif isinstance(step, Restart):
                for c in conns.values():
                    c.sock.close()
                conns.clear()
                server = run.server = _restart(server)
            elif isinstance(step, Call):
                step.fn(server)
            run.transcript.append((_label(step), replies))
        # Final sync: each open connection must answer exactly one sentinel and nothing else.
        for name, c in conns.items():
            if c.eof or name == MONITOR:
                continue
            c.sock.sendall(SENTINEL)
            c.pending += 1
            extra = c.read_pending()
            if extra:
                run.transcript.append((f"{name}: unexpected extra replies", extra))
    except BaseException:
        if run.server is not first:
            _stop(run.server)  # the caller only knows the process it started
        raise
    finally:
        for c in conns.values():
            c.sock.close()
    return run


def _restart(server: RunningServer) -> RunningServer:
    """SIGKILL ``server`` and start the same argv again on the same port."""
    server.proc.kill()
    server.proc.wait()
    for pipe in (server.proc.stdout, server.proc.stderr):
        if pipe:
            pipe.close()
    proc = subprocess.Popen(
        server.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    new = RunningServer(server.kind, server.host, server.port, proc, server.argv)
    try:
        wait_listening(server.host, server.port, proc)
    except BaseException:
        new.stop(signal.SIGKILL)
        raise
    return new


def _stats_on(c: Conn, deadline: float | None = None) -> dict[str, str]:
    c.sock.sendall(b"stats\r\n")
    reply = c.read_reply(deadline or time.monotonic() + READ_TIMEOUT)
    assert reply.startswith(b"OK "), reply
    return dict(parse_yaml(reply.split(b"\r\n", 1)[1][:-2]))


def _poll(c: Conn, key: str, value: str, timeout: float = READ_TIMEOUT) -> None:
    """Ask ``stats`` on ``c`` until ``key: value`` (a poll with a deadline, for signals etc.)."""
    deadline = time.monotonic() + timeout
    while True:
        if _stats_on(c, deadline).get(key) == value:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"stats never showed {key}: {value}")
        time.sleep(0.005)


def command(server: RunningServer, line: bytes) -> bytes:
    """Send one command on a fresh connection and return its single reply."""
    with server.connect() as sock:
        c = Conn(sock)
        sock.sendall(line)
        return c.read_reply(time.monotonic() + READ_TIMEOUT)


def stats_of(server: RunningServer, line: bytes = b"stats\r\n") -> dict[str, str]:
    """A ``stats``-family reply as a dict (values unparsed)."""
    reply = command(server, line)
    assert reply.startswith(b"OK "), reply
    return dict(parse_yaml(reply.split(b"\r\n", 1)[1][:-2]))


def wait_for(
    server: RunningServer,
    pred: Callable[[dict[str, str]], bool],
    what: str,
    line: bytes = b"stats\r\n",
    timeout: float = READ_TIMEOUT,
) -> None:
    """Poll a stats command until ``pred`` holds (for facts no reply announces, e.g. a signal)."""
    deadline = time.monotonic() + timeout
    while not pred(stats_of(server, line)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.kind}: never saw {what}")
        time.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# Normalising and comparing


def parse_yaml(body: bytes) -> list[tuple[str, str]]:
    """Split beanstalk's YAML (``---\\n`` then ``key: value`` or ``- item`` lines)."""
    text = body.decode("utf-8", "replace")
    assert text.startswith("---\n"), f"yaml must start with ---: {text!r}"
    items: list[tuple[str, str]] = []
    for line in text[4:].split("\n")[:-1]:
        if line.startswith("- "):
            items.append(("-", line[2:]))
        else:
            key, sep, value = line.partition(": ")
            assert sep, f"bad yaml line {line!r}"
            items.append((key, value))
    assert text.endswith("\n"), f"yaml must end with a newline: {text!r}"
    return items


@dataclass(frozen=True)
class Yaml:
    """A normalised ``OK`` reply: the key/value pairs, process facts dropped."""

    items: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:
        return "OK<" + ", ".join(f"{k}: {v}" for k, v in self.items) + ">"


Norm = bytes | Yaml


def normalise(reply: bytes, *, quoted: bool, drop: Iterable[str] = ()) -> Norm:
    """Make one reply comparable. ``quoted``: this server quotes string values (1.13 style)."""
    if not reply.startswith(b"OK "):
        return reply
    line, _, rest = reply.partition(b"\r\n")
    size = int(line[3:])
    body = rest[:-2]
    assert len(body) == size and rest.endswith(b"\r\n"), f"OK length mismatch in {reply!r}"
    pairs = parse_yaml(body)
    is_stats = any(key == "pid" for key, _ in pairs)  # process facts live in `stats` only
    dropped = (PROCESS_FACTS if is_stats else set()) | set(drop)
    items = []
    for key, value in pairs:
        if key in QUOTED_KEYS:
            if quoted:
                assert len(value) >= 2 and value[0] == value[-1] == '"', (
                    f"{key} must be double-quoted (beanstalkd 1.13 style), got {value!r}"
                )
                value = value[1:-1]
            else:
                assert not value.startswith('"'), f"1.12 prints {key} bare, got {value!r}"
        if key not in dropped:
            items.append((key, value))
    return Yaml(tuple(items))


def _same(a: Norm, b: Norm) -> bool:
    if isinstance(a, Yaml) and isinstance(b, Yaml):
        if [k for k, _ in a.items] != [k for k, _ in b.items]:
            return False
        for (key, va), (_, vb) in zip(a.items, b.items, strict=True):
            if va == vb:
                continue
            ia, ib = _int(va), _int(vb)
            if key in CLOCK_KEYS and ia is not None and ib is not None and abs(ia - ib) <= 1:
                continue
            return False
        return True
    return a == b


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def quotes(run: Run) -> bool:
    """Whether this server quotes YAML strings: ours does (1.13 style), Debian's 1.12 does not."""
    return run.server.kind != "beanstalkd"


def differences(oracle: Run, candidate: Run, drop: Iterable[str] = ()) -> list[str]:
    """Human-readable differences between two transcripts of the same script (empty if equal)."""
    out: list[str] = []
    o_steps, c_steps = oracle.transcript, candidate.transcript
    if [label for label, _ in o_steps] != [label for label, _ in c_steps]:
        out.append(f"steps differ: {[s for s, _ in o_steps]} vs {[s for s, _ in c_steps]}")
    for (label, o_replies), (_, c_replies) in zip(o_steps, c_steps, strict=False):
        o_norm = [normalise(r, quoted=quotes(oracle), drop=drop) for r in o_replies]
        c_norm = [normalise(r, quoted=quotes(candidate), drop=drop) for r in c_replies]
        if len(o_norm) != len(c_norm) or not all(map(_same, o_norm, c_norm)):
            out.append(f"{label}\n    expected (1.12): {_show(o_norm)}"
                       f"\n    got (ours):      {_show(c_norm)}")
            out.extend(_yaml_detail(o_norm, c_norm))
    return out


def _show(replies: list[Norm]) -> str:
    return "[" + ", ".join(repr(r) if isinstance(r, bytes) else "OK<yaml>" for r in replies) + "]"


def _yaml_detail(o_norm: list[Norm], c_norm: list[Norm]) -> list[str]:
    """For YAML replies at the same position, name only the keys that differ."""
    out = []
    for i, (o, c) in enumerate(zip(o_norm, c_norm, strict=False)):
        if isinstance(o, Yaml) and isinstance(c, Yaml) and not _same(o, c):
            od, cd = dict(o.items), dict(c.items)
            keys = [k for k in dict.fromkeys([*od, *cd]) if od.get(k) != cd.get(k)]
            diffs = ", ".join(f"{k}: {od.get(k, '<missing>')} vs {cd.get(k, '<missing>')}"
                              for k in keys)
            if [k for k, _ in o.items] != [k for k, _ in c.items]:
                diffs += " (key order differs)"
            out.append(f"    reply {i} yaml (1.12 vs ours): {diffs}")
    return out


# Starting our server costs ~0.2 s of interpreter start-up, the bulk of a differential case.
# So while one case runs, the candidate for the next flag-less case is already starting. Test
# modules call discard_spare() at teardown so no server outlives them.
_spare: RunningServer | None = None


def _spawn_candidate() -> RunningServer:
    port = free_port()
    if CANDIDATE == "beanstalkd":
        argv = [BEANSTALKD, "-l", "127.0.0.1", "-p", str(port)]
    else:
        argv = [*tubeworks_argv(), "queue", "-l", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return RunningServer(CANDIDATE, "127.0.0.1", port, proc, argv)


@contextlib.contextmanager
def _candidate(flags: Sequence[str]) -> Iterator[RunningServer]:
    """A fresh candidate server: the spare if one is waiting and no flags are wanted."""
    global _spare
    if flags:
        with running(CANDIDATE, *flags) as srv:
            yield srv
        return
    srv, _spare = _spare or _spawn_candidate(), _spawn_candidate()
    try:
        try:
            wait_listening(srv.host, srv.port, srv.proc)
        except (RuntimeError, TimeoutError):  # the spare died (e.g. its port was taken)
            _stop(srv)
            srv = _spawn_candidate()
            wait_listening(srv.host, srv.port, srv.proc)
        yield srv
    finally:
        _stop(srv)


def discard_spare() -> None:
    """Stop the pre-started candidate, if any (call at module teardown)."""
    global _spare
    if _spare is not None:
        _stop(_spare)
        _spare = None


atexit.register(discard_spare)  # in case a module using differential() forgets to


def differential(
    steps: Sequence[Step],
    *flags: str,
    drop: Iterable[str] = (),
    wal: bool = False,
    trickle: bool = False,
) -> tuple[Run, Run]:
    """Play ``steps`` against a fresh beanstalkd and a fresh ours, in parallel; assert equal.

    ``wal``: give each server its own empty binlog directory (``-b``). ``trickle``: ours gets
    every Send one byte per send() (beanstalkd still gets whole writes). Returns both runs so a
    test can also pin exact bytes (from the oracle's run).
    """
    cand_steps = [
        replace(step, split="bytes") if trickle and isinstance(step, Send) else step
        for step in steps
    ]
    with (
        tempfile.TemporaryDirectory(prefix="tw-diff-") as tmp,
        running(ORACLE, *flags, *_wal(tmp, "oracle", wal)) as oracle_srv,
        _candidate([*flags, *_wal(tmp, "candidate", wal)]) as cand_srv,
        ThreadPoolExecutor(2) as pool,
    ):
        f_oracle = pool.submit(run_script, oracle_srv, steps)
        f_cand = pool.submit(run_script, cand_srv, cand_steps)
        try:
            oracle, candidate = f_oracle.result(), f_cand.result()
        finally:
            for f, first in ((f_oracle, oracle_srv), (f_cand, cand_srv)):
                if f.exception() is None and f.result().server is not first:
                    _stop(f.result().server)  # a Restart made a new process
    if any(isinstance(step, WaitStat | Drain | Close | Block) for step in steps):
        drop = {*drop, "cmd-stats"}
    problems = differences(oracle, candidate, drop)
    assert not problems, "replies differ from beanstalkd:\n" + "\n".join(problems)
    return oracle, candidate


def _wal(tmp: str, role: str, wal: bool) -> list[str]:
    if not wal:
        return []
    path = os.path.join(tmp, role)
    os.mkdir(path)
    return ["-b", path]


def _stop(server: RunningServer) -> None:
    server.stop()
    for pipe in (server.proc.stdout, server.proc.stderr):
        if pipe:
            pipe.close()

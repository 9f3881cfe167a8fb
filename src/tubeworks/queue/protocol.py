"""The beanstalkd wire format, server side: bytes in, commands out. No I/O, no queue state.

Theory of operation
-------------------
A client sends ``\\r\\n``-terminated command lines; ``put`` lines are followed by a body of a
declared size plus ``\\r\\n``. :class:`Parser` buffers incoming bytes and yields one command
tuple at a time, or :data:`NEED_DATA`. Malformed input is ordinary data: it comes out as an
``(Op.REPLY, reply_bytes, counted_op)`` tuple so the connection stays in sync, never as an
exception.

Command recognition follows beanstalkd 1.13 exactly: prefix matching in a fixed order, so
``quitxyz`` quits, ``pause-tubedefault 0`` pauses ``default``, ``statsx`` is ``BAD_FORMAT`` and a
bare ``put`` is ``UNKNOWN_COMMAND``. A fast path handles the usual spelling (a known word
followed by a space, or alone) with one dict lookup; everything else takes the slow, exact path.

Deliberate differences from beanstalkd (bugs we do not copy):

* An over-long line is discarded up to its ``\\r\\n`` and answered with exactly one
  ``BAD_FORMAT``; the following command is always served, wherever the read boundaries fall.
* ``reserve-with-timeout`` takes 1.13's strict number (digits, at most 2**31-1).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Any, Final

# --- limits, with where each number comes from --------------------------------------------------

#: The longest command line, *including* its ``\r\n``: beanstalkd's line buffer is 224 bytes,
#: enough for ``pause-tube <200-byte name> 4294967295\r\n``.
MAX_LINE: Final = 224
#: Tube names are 1..200 bytes (beanstalkd's ``MAX_TUBE_NAME_LEN`` minus its NUL).
MAX_TUBE_NAME: Final = 200
#: Default ``-z``: 2**16 - 1 bytes (beanstalkd's ``JOB_DATA_SIZE_LIMIT_DEFAULT``).
DEFAULT_MAX_JOB_SIZE: Final = 65535
#: ``-z`` above this is capped, as beanstalkd does (1 GiB).
MAX_JOB_SIZE_CAP: Final = 1073741824

U32_MAX: Final = 2**32 - 1
U64_MAX: Final = 2**64 - 1
INT_MAX: Final = 2**31 - 1

NAME_CHARS: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-+/;.$_()"
)


class Op(enum.IntEnum):
    """Every command, plus ``REPLY`` for "answer this error line and move on"."""

    PUT = 0
    PEEK = 1
    PEEK_READY = 2
    PEEK_DELAYED = 3
    PEEK_BURIED = 4
    RESERVE = 5
    RESERVE_TIMEOUT = 6
    RESERVE_JOB = 7
    DELETE = 8
    RELEASE = 9
    BURY = 10
    KICK = 11
    KICK_JOB = 12
    TOUCH = 13
    STATS = 14
    STATS_JOB = 15
    STATS_TUBE = 16
    USE = 17
    WATCH = 18
    IGNORE = 19
    LIST_TUBES = 20
    LIST_TUBE_USED = 21
    LIST_TUBES_WATCHED = 22
    QUIT = 23
    PAUSE_TUBE = 24
    REPLY = 25
    #: A put whose body did not end in ``\r\n``: the store burns an id, then EXPECTED_CRLF.
    PUT_BAD_BODY = 26
    #: ``auth <token>``: ours, for access control (UNKNOWN_COMMAND when that is off).
    AUTH = 27


# --- replies ------------------------------------------------------------------------------------

BAD_FORMAT: Final = b"BAD_FORMAT\r\n"
UNKNOWN_COMMAND: Final = b"UNKNOWN_COMMAND\r\n"
EXPECTED_CRLF: Final = b"EXPECTED_CRLF\r\n"
JOB_TOO_BIG: Final = b"JOB_TOO_BIG\r\n"
OUT_OF_MEMORY: Final = b"OUT_OF_MEMORY\r\n"
INTERNAL_ERROR: Final = b"INTERNAL_ERROR\r\n"
DRAINING: Final = b"DRAINING\r\n"
NOT_FOUND: Final = b"NOT_FOUND\r\n"
NOT_IGNORED: Final = b"NOT_IGNORED\r\n"
DEADLINE_SOON: Final = b"DEADLINE_SOON\r\n"
TIMED_OUT: Final = b"TIMED_OUT\r\n"
DELETED: Final = b"DELETED\r\n"
RELEASED: Final = b"RELEASED\r\n"
BURIED: Final = b"BURIED\r\n"
TOUCHED: Final = b"TOUCHED\r\n"
KICKED: Final = b"KICKED\r\n"
PAUSED: Final = b"PAUSED\r\n"

#: Sentinel returned by :meth:`Parser.next` when a complete command is not buffered yet.
NEED_DATA: Final = None

Command = tuple[Any, ...]  # (Op, *args); see parse_line for each shape

_BAD: Final = (Op.REPLY, BAD_FORMAT, None)
# Enum members as module globals: a global lookup is cheaper than ``Op.X`` on hot paths.
_PUT: Final = Op.PUT
_RESERVE_TIMEOUT: Final = Op.RESERVE_TIMEOUT
#: A put line in its usual spelling; anything else takes the exact, slower path.
_PUT_HEADER: Final = re.compile(rb"put (\d{1,10}) (\d{1,10}) (\d{1,10}) (\d{1,10})").fullmatch
_UNKNOWN: Final = (Op.REPLY, UNKNOWN_COMMAND, None)


# --- numbers and names --------------------------------------------------------------------------


def read_number(s: bytes, pos: int, limit: int, last: bool) -> tuple[int, int] | None:
    """Parse a beanstalkd number at ``s[pos:]``: spaces, then decimal digits, value <= limit.

    Returns ``(value, end)`` or ``None`` for BAD_FORMAT. With ``last``, nothing may follow.
    """
    n = len(s)
    while pos < n and s[pos] == 0x20:
        pos += 1
    end = pos
    while end < n and 0x30 <= s[end] <= 0x39:
        end += 1
    if end == pos or (last and end != n):
        return None
    value = int(s[pos:end])
    if value > limit:
        return None
    return value, end


def read_kick_bound(s: bytes) -> int | None:
    """``kick``'s lax bound, as C ``strtoul`` then truncation to 32 bits (beanstalkd compatible).

    Leading white space and a sign are accepted, trailing garbage is ignored, ``-1`` means
    "everything", values that overflow 64 bits are BAD_FORMAT.
    """
    pos, n = 0, len(s)
    while pos < n and s[pos] in b" \t\n\v\f\r":
        pos += 1
    negative = False
    if pos < n and s[pos] in b"+-":
        negative = s[pos] == 0x2D
        pos += 1
    end = pos
    while end < n and 0x30 <= s[end] <= 0x39:
        end += 1
    if end == pos:
        return None
    value = int(s[pos:end])
    if value > U64_MAX:
        return None
    if negative:
        value = (-value) % (U64_MAX + 1)
    return value & U32_MAX


def valid_tube_name(name: bytes) -> bool:
    """1..200 bytes of ``A-Z a-z 0-9 - + / ; . $ _ ( )``, not starting with ``-``."""
    return (
        0 < len(name) <= MAX_TUBE_NAME
        and name[0] != 0x2D
        and ((name.isalnum() and name.isascii()) or NAME_CHARS.issuperset(name))
    )


def _name_command(op: Op, arg: bytes) -> Command:
    return (op, arg) if valid_tube_name(arg) else _BAD


def _id_command(op: Op, arg: bytes) -> Command:
    if arg.isdigit():  # the usual spelling: one number, nothing around it
        value = int(arg)
        return (op, value) if value <= U64_MAX else _BAD
    r = read_number(arg, 0, U64_MAX, True)
    return _BAD if r is None else (op, r[0])


def _put(arg: bytes) -> Command:
    parts = arg.split(b" ")
    if len(parts) == 4 and all(p.isdigit() and len(p) < 11 for p in parts):
        pri, delay, ttr, size = map(int, parts)
        if pri <= U32_MAX and delay <= U32_MAX and ttr <= U32_MAX and size <= U32_MAX:
            return (Op.PUT, pri, delay, ttr, size, True)
    # Slow path: beanstalkd's own grammar (extra spaces allowed, trailing garbage reported
    # only after the size check, so "put 0 0 1 70000 junk" is JOB_TOO_BIG).
    values = []
    pos = 0
    for _ in range(4):
        r = read_number(arg, pos, U32_MAX, False)
        if r is None:
            return _BAD
        values.append(r[0])
        pos = r[1]
    pri, delay, ttr, size = values
    return (Op.PUT, pri, delay, ttr, size, pos == len(arg))


def _release(arg: bytes) -> Command:
    r1 = read_number(arg, 0, U64_MAX, False)
    r2 = r1 and read_number(arg, r1[1], U32_MAX, False)
    r3 = r2 and read_number(arg, r2[1], U32_MAX, True)
    if not (r1 and r2 and r3):
        return _BAD
    return (Op.RELEASE, r1[0], r2[0], r3[0])


def _bury(arg: bytes) -> Command:
    r1 = read_number(arg, 0, U64_MAX, False)
    r2 = r1 and read_number(arg, r1[1], U32_MAX, True)
    if not (r1 and r2):
        return _BAD
    return (Op.BURY, r1[0], r2[0])


def _reserve_timeout(arg: bytes) -> Command:
    # 1.13: a strict u32 no larger than INT_MAX; anything after the digits is ignored.
    if arg.isdigit() and len(arg) < 11:
        value = int(arg)
        return (_RESERVE_TIMEOUT, value) if value <= INT_MAX else _BAD
    r = read_number(arg, 0, U32_MAX, False)
    if r is None or r[0] > INT_MAX:
        return _BAD
    return (Op.RESERVE_TIMEOUT, r[0])


def _kick(arg: bytes) -> Command:
    bound = read_kick_bound(arg)
    return _BAD if bound is None else (Op.KICK, bound)


def _pause_tube(arg: bytes) -> Command:
    # The name is the run of name characters after any spaces; then a strict delay.
    pos, n = 0, len(arg)
    while pos < n and arg[pos] == 0x20:
        pos += 1
    end = pos
    while end < n and arg[end] in NAME_CHARS:
        end += 1
    name = arg[pos:end]
    r = read_number(arg, end, U32_MAX, True)
    if not name or r is None:
        return _BAD
    if not valid_tube_name(name):  # beanstalkd counts the command before checking the name
        return (Op.REPLY, BAD_FORMAT, Op.PAUSE_TUBE)
    return (Op.PAUSE_TUBE, name, r[0])


# Commands that take arguments: word -> builder(argument bytes after the single space).
_ARG_COMMANDS: Final[dict[bytes, Callable[[bytes], Command]]] = {
    b"put": _put,
    b"peek": lambda a: _id_command(Op.PEEK, a),
    b"reserve-with-timeout": _reserve_timeout,
    b"reserve-job": lambda a: _id_command(Op.RESERVE_JOB, a),
    b"delete": lambda a: _id_command(Op.DELETE, a),
    b"release": _release,
    b"bury": _bury,
    b"kick": _kick,
    b"kick-job": lambda a: _id_command(Op.KICK_JOB, a),
    b"touch": lambda a: _id_command(Op.TOUCH, a),
    b"stats-job": lambda a: _id_command(Op.STATS_JOB, a),
    b"stats-tube": lambda a: _name_command(Op.STATS_TUBE, a),
    b"use": lambda a: _name_command(Op.USE, a),
    b"watch": lambda a: _name_command(Op.WATCH, a),
    b"ignore": lambda a: _name_command(Op.IGNORE, a),
    b"auth": lambda a: (Op.AUTH, a) if a else _BAD,
}

# Commands without arguments: the exact word, nothing after it.
_BARE_COMMANDS: Final[dict[bytes, Command]] = {
    b"peek-ready": (Op.PEEK_READY,),
    b"peek-delayed": (Op.PEEK_DELAYED,),
    b"peek-buried": (Op.PEEK_BURIED,),
    b"reserve": (Op.RESERVE,),
    b"stats": (Op.STATS,),
    b"list-tubes-watched": (Op.LIST_TUBES_WATCHED,),
    b"list-tube-used": (Op.LIST_TUBE_USED,),
    b"list-tubes": (Op.LIST_TUBES,),
    b"quit": (Op.QUIT,),
}

# beanstalkd's recognition order: (prefix, word, needs_space). The first prefix that the line
# starts with decides the command.
_PREFIX_ORDER: Final = [
    (b"put ", b"put"),
    (b"peek ", b"peek"),
    (b"peek-ready", b"peek-ready"),
    (b"peek-delayed", b"peek-delayed"),
    (b"peek-buried", b"peek-buried"),
    (b"reserve-with-timeout ", b"reserve-with-timeout"),
    (b"reserve-job ", b"reserve-job"),
    (b"reserve", b"reserve"),
    (b"delete ", b"delete"),
    (b"release ", b"release"),
    (b"bury ", b"bury"),
    (b"kick ", b"kick"),
    (b"kick-job ", b"kick-job"),
    (b"touch ", b"touch"),
    (b"stats-job ", b"stats-job"),
    (b"stats-tube ", b"stats-tube"),
    (b"stats", b"stats"),
    (b"use ", b"use"),
    (b"watch ", b"watch"),
    (b"ignore ", b"ignore"),
    (b"list-tubes-watched", b"list-tubes-watched"),
    (b"list-tube-used", b"list-tube-used"),
    (b"list-tubes", b"list-tubes"),
    (b"quit", b"quit"),
    (b"pause-tube", b"pause-tube"),
    (b"auth ", b"auth"),  # ours; after all of beanstalkd's, so it changes none of them
]


def parse_line(line: bytes) -> Command:
    """Turn one command line (without ``\\r\\n``) into a command tuple.

    Shapes: ``(Op.PUT, pri, delay, ttr, size, clean)`` where ``clean`` is false if junk followed
    the size (BAD_FORMAT once the size is known to fit); ``(Op.RESERVE_TIMEOUT, seconds)``;
    ``(Op.RELEASE, id, pri, delay)``; ``(Op.BURY, id, pri)``; ``(Op.KICK, bound)``;
    ``(Op.PAUSE_TUBE, name, seconds)``; ``(op, id)`` for peek, reserve-job, delete, kick-job,
    touch, stats-job; ``(op, name)`` for use, watch, ignore, stats-tube; ``(op,)`` for the rest;
    ``(Op.REPLY, reply, counted_op_or_None)`` for an error to answer.
    """
    sp = line.find(b" ")
    if sp > 0:
        builder = _ARG_COMMANDS.get(line[:sp])
        if builder is not None:
            if b"\0" in line:
                return _BAD
            return builder(line[sp + 1 :])
        if line.startswith(b"pause-tube "):
            return _pause_tube(line[10:]) if b"\0" not in line else _BAD
    else:
        bare = _BARE_COMMANDS.get(line)
        if bare is not None:
            return bare
    return _parse_slow(line)


def _parse_slow(line: bytes) -> Command:
    """Exact beanstalkd recognition for unusual spellings."""
    if b"\0" in line:
        return _BAD
    for prefix, word in _PREFIX_ORDER:
        if not line.startswith(prefix):
            continue
        if word == b"quit":
            return (Op.QUIT,)
        if word == b"pause-tube":
            return _pause_tube(line[len(prefix) :])
        bare = _BARE_COMMANDS.get(word)
        if bare is not None:
            return bare if line == word else _BAD
        return _ARG_COMMANDS[word](line[len(prefix) :])
    return _UNKNOWN


# --- the incremental parser ---------------------------------------------------------------------


class Parser:
    """Incremental command parser for one connection.

    ``feed(data)`` appends bytes; ``next()`` returns the next command tuple or ``NEED_DATA``.
    Cost is linear in the bytes received, however they are split: consumed input is dropped
    once per ``feed``, and a line is only searched for where new bytes arrived.
    """

    __slots__ = ("_body", "_buf", "_discarding", "_pos", "_scan", "_skip", "max_job_size")

    def __init__(self, max_job_size: int = DEFAULT_MAX_JOB_SIZE) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed input in _buf
        self._scan = 0  # where to resume looking for "\r\n" (avoids rescanning a trickle)
        self._body: tuple[int, int, int, int] | None = None  # pending put: pri, delay, ttr, size
        self._skip = 0  # bytes of an oversized body still to throw away
        self._discarding = False  # inside an over-long line, waiting for its "\r\n"
        self.max_job_size = max_job_size

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed."""
        return len(self._buf) - self._pos

    def next(self) -> Command | None:
        """The next complete command, or ``NEED_DATA``."""
        if self._skip or self._body is not None or self._discarding:
            return self._next_slow()
        buf = self._buf
        pos = self._pos
        idx = buf.find(b"\r\n", self._scan - 1 if self._scan > pos else pos)
        if idx < 0:
            if len(buf) - pos < MAX_LINE:  # a partial line: wait for the rest
                self._scan = len(buf)
                return NEED_DATA
            return self._next_slow()
        if idx + 2 - pos > MAX_LINE:
            return self._next_slow()
        # Fast path: a well-formed put whose body is already here (pipelined producers).
        m = _PUT_HEADER(buf, pos, idx)
        if m is not None:
            size = int(m[4])
            end = idx + size + 4
            if size <= self.max_job_size and len(buf) >= end and buf[end - 2 : end] == b"\r\n":
                pri, delay, ttr = int(m[1]), int(m[2]), int(m[3])
                if pri <= U32_MAX and delay <= U32_MAX and ttr <= U32_MAX:
                    self._pos = self._scan = end
                    return (_PUT, pri, delay, ttr, bytes(buf[idx + 2 : end]))
            return self._next_slow()
        if buf.startswith(b"put ", pos):
            return self._next_slow()
        self._pos = self._scan = idx + 2
        return parse_line(bytes(buf[pos:idx]))

    def _next_slow(self) -> Command | None:
        buf = self._buf
        while True:
            pos = self._pos
            if self._skip:
                take = min(self._skip, len(buf) - pos)
                self._pos += take
                self._skip -= take
                if self._skip:
                    return NEED_DATA
                return (Op.REPLY, JOB_TOO_BIG, Op.PUT)
            if self._body is not None:
                pri, delay, ttr, size = self._body
                end = pos + size + 2
                if len(buf) < end:
                    return NEED_DATA
                self._body = None
                self._pos = self._scan = end
                if buf[end - 2 : end] != b"\r\n":
                    return (Op.PUT_BAD_BODY,)
                return (Op.PUT, pri, delay, ttr, bytes(buf[pos:end]))
            start = max(self._scan, pos)
            # Look one byte back so a "\r" that ended the previous chunk pairs with this "\n".
            idx = buf.find(b"\r\n", start - 1 if start > pos else pos)
            if idx < 0:
                self._scan = len(buf)
                if self._discarding or len(buf) - pos >= MAX_LINE:
                    # Over-long line: keep nothing but a possible trailing "\r".
                    self._discarding = True
                    keep = 1 if buf.endswith(b"\r") else 0
                    self._pos = len(buf) - keep
                    self._scan = self._pos
                return NEED_DATA
            self._pos = self._scan = idx + 2
            if self._discarding or idx + 2 - pos > MAX_LINE:
                self._discarding = False
                return _BAD
            cmd = parse_line(bytes(buf[pos:idx]))
            if cmd[0] != Op.PUT:
                return cmd
            _, pri, delay, ttr, size, clean = cmd
            if size > self.max_job_size:
                self._skip = size + 2
                continue
            if not clean:
                return (Op.REPLY, BAD_FORMAT, Op.PUT)
            self._body = (pri, delay, ttr, size)

"""The client side of the beanstalk wire format: no sockets, no clocks.

* ``encode_*`` build command bytes and validate arguments first, raising
  :class:`LocalProtocolError` so nothing half-valid is ever written.
* :class:`ReplyParser` consumes bytes and yields :class:`Reply` records. ``next()`` returns a
  reply, :data:`NEED_DATA` or :data:`CLOSED` (EOF with no complete reply), or raises
  :class:`RemoteProtocolError`. There is no fourth outcome.
* ``parse_yaml_*`` read the tiny YAML subset beanstalkd uses for ``stats*`` and ``list-*``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from tubeworks.client.errors import LocalProtocolError, RemoteProtocolError

# beanstalkd keeps 224 bytes for a command line (LINE_BUF_SIZE in dat.h); the longest reply line
# ("USING " + a 200-byte tube name) fits easily, so anything longer is garbage, not a slow reply.
MAX_REPLY_LINE = 224
# Tube names: 1-200 bytes of this alphabet, not starting with "-" (protocol.txt, "Name").
MAX_TUBE_NAME = 200
_TUBE_RE = re.compile(rb"[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()\-]*\Z")
# pri, delay, ttr, bytes and pause seconds are unsigned 32-bit on the wire; ids are 64-bit.
MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1
# ``auth <token>\r\n`` must fit the server's 224-byte command line.
MAX_TOKEN = MAX_REPLY_LINE - len(b"auth \r\n")
# tubeworks queue's answer to a good ``auth``: the one OK reply without a body.
AUTHENTICATED_LINE = b"OK AUTHENTICATED"


class Sentinel(enum.Enum):
    """Non-reply outcomes of :meth:`ReplyParser.next`."""

    NEED_DATA = "NEED_DATA"
    CLOSED = "CLOSED"


NEED_DATA = Sentinel.NEED_DATA
CLOSED = Sentinel.CLOSED


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply: its word, its arguments and, for RESERVED/FOUND/OK, its body."""

    word: bytes
    args: tuple[bytes, ...]
    body: bytes | None
    line: bytes  # the raw reply line without CRLF, kept for error messages

    def int_arg(self, i: int = 0) -> int:
        return int(self.args[i])


# reply word -> (min args, max args, index of the body-size argument or None)
REPLY_GRAMMAR: dict[bytes, tuple[int, int, int | None]] = {
    b"INSERTED": (1, 1, None),
    b"BURIED": (0, 1, None),
    b"RESERVED": (2, 2, 1),
    b"FOUND": (2, 2, 1),
    b"OK": (1, 1, 0),
    b"USING": (1, 1, None),
    b"WATCHING": (1, 1, None),
    b"KICKED": (0, 1, None),
    b"DELETED": (0, 0, None),
    b"RELEASED": (0, 0, None),
    b"TOUCHED": (0, 0, None),
    b"PAUSED": (0, 0, None),
    b"NOT_FOUND": (0, 0, None),
    b"TIMED_OUT": (0, 0, None),
    b"DEADLINE_SOON": (0, 0, None),
    b"NOT_IGNORED": (0, 0, None),
    b"JOB_TOO_BIG": (0, 0, None),
    b"DRAINING": (0, 0, None),
    b"EXPECTED_CRLF": (0, 0, None),
    b"BAD_FORMAT": (0, 0, None),
    b"UNKNOWN_COMMAND": (0, 0, None),
    b"OUT_OF_MEMORY": (0, 0, None),
    b"INTERNAL_ERROR": (0, 0, None),
    # tubeworks queue's access control and limits (docs/queue-security.md)
    b"UNAUTHORIZED": (0, 0, None),
    b"FORBIDDEN": (0, 0, None),
    b"TOO_MANY_CONNECTIONS": (0, 0, None),
    b"TOO_MANY_TUBES": (0, 0, None),
}
_NUMERIC_ARGS = {b"INSERTED", b"BURIED", b"RESERVED", b"FOUND", b"OK", b"WATCHING", b"KICKED"}


class ReplyParser:
    """Incremental parser for server replies; the buffer work is linear in the bytes fed."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed data in _buf
        self._eof = False
        self._pending: tuple[bytes, bytes, tuple[bytes, ...], int] | None = None  # awaiting body

    def feed(self, data: bytes) -> None:
        """Add bytes from the socket; ``b""`` means the peer closed the connection."""
        if not data:
            self._eof = True
            return
        if self._pos and self._pos > len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed (unsolicited data when idle)."""
        return len(self._buf) - self._pos

    def next(self) -> Reply | Sentinel:
        """The next complete reply, :data:`NEED_DATA`, or :data:`CLOSED` at EOF."""
        if self._pending is None:
            end = self._buf.find(b"\r\n", self._pos, self._pos + MAX_REPLY_LINE)
            if end < 0:
                if len(self._buf) - self._pos >= MAX_REPLY_LINE:
                    head = bytes(self._buf[self._pos : self._pos + 40])
                    raise RemoteProtocolError(
                        f"expected a reply line of at most {MAX_REPLY_LINE} bytes, got {head!r}..."
                    )
                return CLOSED if self._eof else NEED_DATA
            line = bytes(self._buf[self._pos : end])
            self._pos = end + 2
            word, args, size = _parse_line(line)
            if size is None:
                return Reply(word, args, None, line)
            self._pending = (word, line, args, size)
        word, line, args, size = self._pending
        if len(self._buf) - self._pos < size + 2:
            return CLOSED if self._eof else NEED_DATA
        body = bytes(self._buf[self._pos : self._pos + size])
        tail = bytes(self._buf[self._pos + size : self._pos + size + 2])
        if tail != b"\r\n":
            raise RemoteProtocolError(f"expected CRLF after a {size}-byte body, got {tail!r}")
        self._pos += size + 2
        self._pending = None
        return Reply(word, args, body, line)


def _parse_line(line: bytes) -> tuple[bytes, tuple[bytes, ...], int | None]:
    """Split and check one reply line; returns (word, args, body size or None)."""
    if line == AUTHENTICATED_LINE:
        return b"OK", (b"AUTHENTICATED",), None
    parts = line.split(b" ")
    word, args = parts[0], tuple(parts[1:])
    grammar = REPLY_GRAMMAR.get(word)
    if grammar is None:
        raise RemoteProtocolError(f"expected a beanstalk reply, got {line!r}")
    lo, hi, size_at = grammar
    if not lo <= len(args) <= hi or (word in _NUMERIC_ARGS and not all(a.isdigit() for a in args)):
        raise RemoteProtocolError(f"malformed {word.decode()} reply: {line!r}")
    if word == b"USING" and not _TUBE_RE.match(args[0]):
        raise RemoteProtocolError(f"malformed USING reply: {line!r}")
    return word, args, None if size_at is None else int(args[size_at])


# ---- commands ---------------------------------------------------------------------------------


def check_tube(name: str) -> bytes:
    """The tube name as bytes, or :class:`LocalProtocolError` if the server would refuse it."""
    if not isinstance(name, str):
        raise LocalProtocolError(f"tube name must be a str, got {type(name).__name__}")
    raw = name.encode("ascii", "replace")
    if not 1 <= len(raw) <= MAX_TUBE_NAME or not _TUBE_RE.match(raw):
        raise LocalProtocolError(
            f"invalid tube name {name!r}: expected 1-{MAX_TUBE_NAME} characters from "
            "A-Z a-z 0-9 - + / ; . $ _ ( ), not starting with '-'"
        )
    return raw


def check_token(token: str) -> bytes:
    """The auth token as bytes; the message never shows the token, which is a secret."""
    if not isinstance(token, str):
        raise LocalProtocolError(f"auth token must be a str, got {type(token).__name__}")
    if not 1 <= len(token) <= MAX_TOKEN or not all("!" <= ch <= "~" for ch in token):
        raise LocalProtocolError(
            f"auth token must be 1-{MAX_TOKEN} printable ASCII characters without spaces, "
            f"got {len(token)} characters"
        )
    return token.encode("ascii")


def check_int(what: str, value: int, limit: int = MAX_U32) -> bytes:
    """A non-negative integer argument as ASCII digits, range-checked."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LocalProtocolError(f"{what} must be an int, got {value!r}")
    if not 0 <= value <= limit:
        raise LocalProtocolError(f"{what} must be in 0..{limit}, got {value}")
    return b"%d" % value


def seconds(what: str, value: float) -> bytes:
    """Whole seconds for delay/ttr/timeout arguments; floats are rounded up (never shorter)."""
    if isinstance(value, float):
        if value != value or value < 0:  # NaN or negative
            raise LocalProtocolError(f"{what} must be >= 0 seconds, got {value!r}")
        whole = int(value)
        value = whole + (1 if value > whole else 0)
    return check_int(what, value)


def encode_command(name: bytes, *args: bytes) -> bytes:
    return b" ".join((name, *args)) + b"\r\n"


def encode_put(body: bytes, priority: int, delay: float, ttr: float) -> bytes:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise LocalProtocolError(f"job body must be bytes or str, got {type(body).__name__}")
    body = bytes(body)
    head = encode_command(
        b"put",
        check_int("priority", priority),
        seconds("delay", delay),
        seconds("ttr", ttr),
        b"%d" % len(body),
    )
    return head + body + b"\r\n"


# ---- YAML subset --------------------------------------------------------------------------------


def parse_yaml_dict(body: bytes) -> dict[str, str]:
    """``---\\nkey: value\\n...`` into a dict of raw strings (surrounding double quotes removed)."""
    out: dict[str, str] = {}
    for line in _yaml_lines(body):
        key, sep, value = line.partition(": ")
        if not sep:
            if not line.endswith(":"):
                raise RemoteProtocolError(f"expected 'key: value' in stats, got {line!r}")
            key, value = line[:-1], ""
        elif value[:1] == '"' and value[-1:] == '"' and len(value) >= 2:
            value = value[1:-1]
        out[key] = value
    return out


def parse_yaml_list(body: bytes) -> list[str]:
    """``---\\n- a\\n- b\\n`` into ``["a", "b"]``."""
    items = []
    for line in _yaml_lines(body):
        if not line.startswith("- "):
            raise RemoteProtocolError(f"expected '- item' in a list, got {line!r}")
        item = line[2:]
        if len(item) >= 2 and item[0] == item[-1] == '"':
            item = item[1:-1]
        items.append(item)
    return items


def _yaml_lines(body: bytes) -> list[str]:
    text = body.decode("utf-8", "replace")
    if not text.startswith("---"):
        raise RemoteProtocolError(
            f"expected a YAML document starting with '---', got {text[:20]!r}"
        )
    return [ln for ln in text[3:].split("\n") if ln and not ln.isspace()]

"""One small converter per config value type.

Each takes the expanded text and returns a typed value, or raises ``ValueError`` whose
message says what was expected and quotes what was received; the config layer adds the
file, line, section and key.
"""

from __future__ import annotations

import shlex
import signal
import urllib.parse
from enum import Enum

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class Autorestart(Enum):
    """When an EXITED process is started again."""

    NEVER = "false"
    UNEXPECTED = "unexpected"  # only when the exit code is not in exitcodes
    ALWAYS = "true"


def boolean(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"expected true/false (or yes/no, on/off, 1/0), got {text!r}")


def integer(text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"expected an integer >= {minimum}, got {text!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"expected an integer <= {maximum}, got {text!r}")
    return value


_SIZE_SUFFIXES = {"KB": 1024, "MB": 1024**2, "GB": 1024**3}


def byte_size(text: str) -> int:
    """``50MB`` → 52428800; suffixes KB/MB/GB are powers of 1024, case-insensitive."""
    s = text.strip().upper()
    factor = 1
    for suffix, mult in _SIZE_SUFFIXES.items():
        if s.endswith(suffix):
            s, factor = s[: -len(suffix)], mult
            break
    try:
        value = int(s)
    except ValueError:
        raise ValueError(f"expected a byte size like 1024, 10KB, 50MB, got {text!r}") from None
    if value < 0:
        raise ValueError(f"expected a byte size >= 0, got {text!r}")
    return value * factor


def octal(text: str) -> int:
    try:
        return int(text.strip(), 8)
    except ValueError:
        raise ValueError(f"expected an octal number like 022, got {text!r}") from None


_VALID_SIGNALS = frozenset(int(s) for s in signal.Signals)


def signal_number(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``term`` or ``15`` → 15; must be a real signal."""
    s = text.strip()
    try:
        num = int(s)
    except ValueError:
        name = s.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        sig = getattr(signal.Signals, name, None)
        if sig is None:
            raise ValueError(
                f"expected a signal name like TERM or a number, got {text!r}"
            ) from None
        num = int(sig)
    if num not in _VALID_SIGNALS:
        raise ValueError(f"expected a valid signal number, got {text!r}")
    return num


def signal_name(num: int) -> str:
    """15 → ``SIGTERM`` (``signal N`` for numbers without a name)."""
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def autorestart(text: str) -> Autorestart:
    low = text.strip().lower()
    if low == "unexpected":
        return Autorestart.UNEXPECTED
    if low in _TRUE:
        return Autorestart.ALWAYS
    if low in _FALSE:
        return Autorestart.NEVER
    raise ValueError(f"expected false, unexpected or true, got {text!r}")


def exit_codes(text: str) -> tuple[int, ...]:
    try:
        codes = tuple(int(part) for part in list_of_strings(text))
    except ValueError:
        raise ValueError(f"expected a comma list of exit codes 0..255, got {text!r}") from None
    if any(not 0 <= code <= 255 for code in codes):
        raise ValueError(f"expected a comma list of exit codes 0..255, got {text!r}")
    return codes


def list_of_strings(text: str) -> tuple[str, ...]:
    if not text.strip():
        return ()
    return tuple(part.strip() for part in text.split(","))


def environment(text: str) -> tuple[tuple[str, str], ...]:
    """``A=1,B="x,y"`` → ``(("A", "1"), ("B", "x,y"))`` (shell quoting, comma separated)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.wordchars += "=/.-:@%+~$&*!?^[]{}<>|\\"
    lexer.whitespace_split = False
    lexer.whitespace = " \t\r\n"
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise ValueError(f"expected KEY=value pairs, got {text!r}: {exc}") from None
    pairs: list[tuple[str, str]] = []
    # tokens come as: KEY=value , KEY2=value2 ... where a token may be split at quotes
    words: list[str] = []
    current = ""
    for tok in tokens:
        if tok == ",":
            words.append(current)
            current = ""
        else:
            current += tok
    words.append(current)
    for word in words:
        if not word.strip():
            continue
        key, sep, value = word.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=value pairs separated by commas, got {text!r}")
        pairs.append((key.strip(), value))
    return tuple(pairs)


def process_or_group_name(text: str) -> str:
    """Names may not contain whitespace, ``:`` or ``/`` (they are used in namespecs and URLs)."""
    name = text.strip()
    for ch in name:
        if ch in ":/" or ch.isspace():
            raise ValueError(f"invalid name {name!r}: it may not contain {ch!r}")
    if not name:
        raise ValueError("expected a non-empty name")
    return name


def split_command(text: str) -> list[str]:
    """Split like a POSIX shell (no expansion); the daemon calls this before spawning."""
    return shlex.split(text)


def healthcheck(text: str) -> str:
    """``tcp://H:P``, ``http://H:P/PATH`` or ``command:CMD``, kept as written."""
    value = text.strip()
    if value.startswith("command:") and value[8:].strip():
        return value
    parts = urllib.parse.urlsplit(value)
    if parts.scheme in ("tcp", "http") and parts.hostname and parts.port:
        return value
    raise ValueError(
        f"expected tcp://HOST:PORT, http://HOST:PORT/PATH or command:COMMAND, got {text!r}"
    )

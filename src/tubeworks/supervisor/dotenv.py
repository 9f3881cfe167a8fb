"""``env_file=``: the dotenv format that docker, systemd and most deploy tools write.

One ``KEY=VALUE`` a line; blank lines and ``#`` comments are skipped; an ``export`` prefix is
allowed; values may be single-quoted (taken literally), double-quoted (``\\n``, ``\\t``,
``\\"`` and ``\\\\`` escapes) or bare (a `` #`` starts a trailing comment).  No variable
expansion: what is written is what the program gets.  Pure: text in, pairs out.
"""

from __future__ import annotations

import re

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class DotenvError(ValueError):
    """A line that is not ``KEY=VALUE``; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _double_quoted(body: str, line: int) -> tuple[str, str]:
    """(value, rest after the closing quote) for text after an opening ``"``."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if ch == '"':
            return "".join(out), body[i + 1 :]
        out.append(ch)
        i += 1
    raise DotenvError(line, 'expected a closing " before the end of the line')


def _value(raw: str, line: int) -> str:
    text = raw.strip()
    if text.startswith("'"):
        end = text.find("'", 1)
        if end < 0:
            raise DotenvError(line, "expected a closing ' before the end of the line")
        value, rest = text[1:end], text[end + 1 :]
    elif text.startswith('"'):
        value, rest = _double_quoted(text[1:], line)
    else:
        cut = re.search(r"\s#", text)
        return (text[: cut.start()] if cut else text).rstrip()
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise DotenvError(line, f"expected only a comment after the quoted value, got {rest!r}")
    return value


def parse(text: str) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` pairs in file order (a later duplicate wins when made into a dict).

    Raises:
        DotenvError: a line without ``=``, a bad key or an unclosed quote.
    """
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export ") or stripped.startswith("export\t"):
            stripped = stripped[6:].lstrip()
        key, sep, raw = stripped.partition("=")
        key = key.strip()
        if not sep:
            raise DotenvError(number, f"expected KEY=VALUE, got {stripped!r}")
        if not _KEY.match(key):
            raise DotenvError(number, f"expected a variable name before '=', got {key!r}")
        pairs.append((key, _value(raw, number)))
    return tuple(pairs)

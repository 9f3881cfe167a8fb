"""A small INI reader that remembers where every value came from.

It reads the dialect supervisord uses (Python's RawConfigParser with ``strict=False`` and
inline comments): keys are case-insensitive, ``=`` or ``:`` separates key and value,
indented lines continue a value, duplicate sections merge and the last key wins, and an
inline comment starts at ``;`` or ``#`` preceded by whitespace.  One deliberate difference:
in ``command=`` a ``;`` or ``#`` inside shell quotes is kept, because
``bash -c 'a ; b'`` meaning ``bash -c 'a`` is never what anyone wanted.

Pure: text in, sections out.  Reading files and globbing includes is the caller's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# keys whose inline comments respect shell quoting (see module docstring)
QUOTE_AWARE_KEYS = frozenset({"command"})

_SECTION = re.compile(r"\[(?P<name>[^\]]+)\]")


@dataclass(frozen=True)
class Loc:
    """Where a value was written: file path and 1-based line number."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Value:
    """One raw (unexpanded) value and its location."""

    text: str
    loc: Loc


@dataclass
class Section:
    """A section as read: its name, where it was (last) opened, and its raw values."""

    name: str
    loc: Loc
    values: dict[str, Value] = field(default_factory=dict)


class IniError(ValueError):
    """A line the INI dialect cannot read; carries its location."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(f"{loc}: {message}")
        self.loc = loc
        self.message = message


def strip_inline_comment(text: str, quote_aware: bool = False) -> str:
    """Cut ``text`` at the first ``;``/``#`` that follows whitespace (quotes kept if asked)."""
    quote = ""
    for i, ch in enumerate(text):
        if quote_aware:
            if quote:
                if ch == quote:
                    quote = ""
                continue
            if ch in "'\"":
                quote = ch
                continue
        if ch in ";#" and i > 0 and text[i - 1].isspace():
            return text[:i].rstrip()
    return text.rstrip()


def _split_key(line: str) -> tuple[str, str] | None:
    """Split ``key = value`` at the first ``=`` or ``:``."""
    for i, ch in enumerate(line):
        if ch in "=:":
            return line[:i].strip(), line[i + 1 :]
    return None


def parse_ini(text: str, file: str, into: dict[str, Section] | None = None) -> dict[str, Section]:
    """Read ``text`` (from ``file``) into ``into`` (merged like ``strict=False``).

    Raises:
        IniError: a key line before any section, or a line that is neither section,
            key, comment nor continuation.
    """
    sections: dict[str, Section] = {} if into is None else into
    current: Section | None = None
    last_key: str | None = None
    key_indent = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        loc = Loc(file, lineno)
        stripped = raw.strip()
        if not stripped or stripped[0] in ";#":
            continue
        indent = len(raw) - len(raw.lstrip())
        if current is not None and last_key is not None and indent > key_indent:
            more = strip_inline_comment(stripped, last_key in QUOTE_AWARE_KEYS)
            old = current.values[last_key]
            joined = f"{old.text}\n{more}" if old.text else more
            current.values[last_key] = Value(joined, old.loc)
            continue
        match = _SECTION.match(stripped)
        if match:
            name = match.group("name").strip()
            current = sections.get(name)
            if current is None:
                current = sections[name] = Section(name, loc)
            else:
                current.loc = loc
            last_key = None
            continue
        split = _split_key(stripped)
        if split is None:
            raise IniError(loc, f"expected 'key = value' or '[section]', got {stripped!r}")
        key, value = split
        key = key.lower()
        if current is None:
            raise IniError(loc, f"key {key!r} appears before any [section]")
        if not key:
            raise IniError(loc, f"expected a key before '=', got {stripped!r}")
        value = strip_inline_comment(value, key in QUOTE_AWARE_KEYS).strip()
        current.values[key] = Value(value, loc)
        last_key = key
        key_indent = indent
    return sections

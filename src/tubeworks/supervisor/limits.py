"""``rlimit_nofile=``, ``rlimit_nproc=``, ``rlimit_as=``, ``rlimit_core=``: per-program
resource limits.

supervisord has only ``minfds``/``minprocs`` for itself, so a program needing a different
limit gets a wrapper script.  A value is ``N`` (soft and hard), ``SOFT:HARD``, with
``unlimited`` for either and KB/MB/GB suffixes for the byte limits (``as``, ``core``).
Applied in the forked child just before exec; raising a hard limit needs privilege, and
failing to set one fails the start (BACKOFF) instead of running unlimited.
"""

from __future__ import annotations

import resource
from collections.abc import Callable

from tubeworks.supervisor import datatypes as dt

RLIMITS = {
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "as": resource.RLIMIT_AS,
    "core": resource.RLIMIT_CORE,
}
_BYTES = frozenset({"as", "core"})

Limit = tuple[int, int, int]  # (resource, soft, hard)


def _one(text: str, name: str) -> int:
    word = text.strip()
    if word.lower() in ("unlimited", "infinity"):
        return resource.RLIM_INFINITY
    return dt.byte_size(word) if name in _BYTES else dt.integer(word, 0)


def parse_limit(name: str, text: str) -> Limit:
    """``rlimit_<name>`` text → (resource, soft, hard)."""
    soft_text, colon, hard_text = text.partition(":")
    soft = _one(soft_text, name)
    hard = _one(hard_text, name) if colon else soft
    infinite = resource.RLIM_INFINITY
    if hard != infinite and (soft == infinite or soft > hard):
        raise ValueError(f"expected soft <= hard, got {text!r}")
    return RLIMITS[name], soft, hard


def limits_hook(limits: tuple[Limit, ...]) -> Callable[[], None]:
    def hook() -> None:
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, hard))

    return hook


def combine(*hooks: Callable[[], None] | None) -> Callable[[], None] | None:
    """One ``preexec_fn`` running the given ones in order (None if there are none)."""
    present = [h for h in hooks if h is not None]
    if not present:
        return None

    def run() -> None:
        for h in present:
            h()

    return run

"""Which queue servers the dashboard shows, and the rate history behind its chart.

A supervisor knows a queue server two ways: it runs one (a program whose command is
``beanstalkd ...`` or ``tubeworks queue ...``; its ``-l``/``-p`` say where it listens), or the
environment names it: ``TUBEWORKS_DASHBOARD_QUEUES=host:port,unix:/path,...``. Both are pure
functions of their inputs here.
"""

from __future__ import annotations

import os
import shlex
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from tubeworks.client.address import DEFAULT_PORT, Address, parse_address

ENV_VAR: Final = "TUBEWORKS_DASHBOARD_QUEUES"
WINDOW_SECONDS: Final = 300.0  # the chart shows the last five minutes
MIN_SAMPLE_GAP: Final = 0.9  # several open pages polling must not add samples faster than 1/s
# a server bound to every address is reached through loopback
_ANY_HOST: Final = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


@dataclass(frozen=True)
class QueueTarget:
    """One queue server section of the dashboard."""

    address: Address
    source: str  # the program that runs it, or the environment variable that names it


def targets_from_env(environ: Mapping[str, str] | None = None) -> list[QueueTarget]:
    """Addresses listed in :data:`ENV_VAR` (comma separated).

    Raises:
        LocalProtocolError: an entry is not ``host:port``, ``host`` or ``unix:/path``.
    """
    env = os.environ if environ is None else environ
    text = env.get(ENV_VAR, "")
    return [QueueTarget(parse_address(item), ENV_VAR) for item in text.split(",") if item.strip()]


def address_from_command(command: str) -> Address | None:
    """Where a ``beanstalkd``/``tubeworks queue`` command line listens (None: not a queue)."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if not argv:
        return None
    if os.path.basename(argv[0]) == "beanstalkd":
        flags = argv[1:]
    else:
        at = _queue_subcommand(argv)
        if at is None:
            return None
        flags = argv[at + 1 :]
    host, port = "0.0.0.0", DEFAULT_PORT
    for i, arg in enumerate(flags):
        for flag in ("-l", "-p"):
            if arg == flag and i + 1 < len(flags):
                value = flags[i + 1]
            elif arg.startswith(flag) and len(arg) > 2:
                value = arg[2:]
            else:
                continue
            if flag == "-l":
                host = value
            elif value.isdigit():
                port = int(value)
    if host.startswith("unix:"):
        return Address(path=host[5:])
    host = _ANY_HOST.get(host, host).strip("[]")
    return Address(host=host, port=port)


def _queue_subcommand(argv: list[str]) -> int | None:
    """Index of ``queue`` in ``tubeworks queue`` / ``python -m tubeworks queue``."""
    for i in range(len(argv) - 1):
        if os.path.basename(argv[i]) == "tubeworks" and argv[i + 1] == "queue":
            return i + 1
    return None


def known_targets(
    programs: Iterable[tuple[str, str]], environ: Mapping[str, str] | None = None
) -> list[QueueTarget]:
    """Queue servers from ``(namespec, command)`` pairs, then from the environment; no repeats."""
    found: dict[Address, QueueTarget] = {}
    for namespec, command in programs:
        address = address_from_command(command)
        if address is not None and address not in found:
            found[address] = QueueTarget(address, namespec)
    for target in targets_from_env(environ):
        found.setdefault(target.address, target)
    return list(found.values())


class RateHistory:
    """Counter samples over the last :data:`WINDOW_SECONDS`, turned into per-second rates."""

    def __init__(self, window: float = WINDOW_SECONDS, min_gap: float = MIN_SAMPLE_GAP) -> None:
        self.window = window
        self.min_gap = min_gap
        self.samples: deque[tuple[float, dict[str, int]]] = deque()

    def add(self, now: float, counters: Mapping[str, int]) -> None:
        """Record counters read at ``now`` (ignored if the last sample is too recent)."""
        if self.samples and now - self.samples[-1][0] < self.min_gap:
            return
        self.samples.append((now, dict(counters)))
        while self.samples and now - self.samples[0][0] > self.window:
            self.samples.popleft()

    def rates(self) -> list[dict[str, float]]:
        """One point per pair of samples: ``{"t": end time, name: per second, ...}``.

        A counter that went down (the server restarted) gives 0 for that interval.
        """
        points: list[dict[str, float]] = []
        pairs = zip(self.samples, list(self.samples)[1:], strict=False)
        for (t0, a), (t1, b) in pairs:
            span = t1 - t0
            point = {"t": t1}
            for key, value in b.items():
                before = a.get(key, value)
                point[key] = max(0, value - before) / span if span > 0 else 0.0
            points.append(point)
        return points

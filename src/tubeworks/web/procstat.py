"""CPU time and resident memory of a process, read from ``/proc`` (Linux).

Read directly instead of through psutil so the supervisor needs no extra runtime dependency.
The parsers are pure (text in, numbers out); :func:`usage` is the thin reader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Usage:
    """What one process has used so far."""

    cpu_seconds: float  # user + system time since the process started
    rss_bytes: int  # resident set size now


def parse_cpu_seconds(stat: str, ticks: int = CLOCK_TICKS) -> float:
    """utime + stime from the text of ``/proc/PID/stat``.

    The command name (field 2) may hold spaces and parentheses, so fields are counted from
    the last ``)``.
    """
    rest = stat[stat.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15
    return (int(rest[11]) + int(rest[12])) / ticks


def parse_rss_bytes(statm: str, page_size: int = PAGE_SIZE) -> int:
    """Resident pages (second field of ``/proc/PID/statm``) in bytes."""
    return int(statm.split()[1]) * page_size


def usage(pid: int) -> Usage | None:
    """The process's usage, or None when it is gone (or ``/proc`` is not there)."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            cpu = parse_cpu_seconds(f.read())
        with open(f"/proc/{pid}/statm") as f:
            rss = parse_rss_bytes(f.read())
    except (OSError, ValueError, IndexError):
        return None
    return Usage(cpu, rss)

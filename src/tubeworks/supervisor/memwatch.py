"""``memory_limit=``: restart a process whose memory (RSS of its whole process group) grows
past a limit, the usual answer to a slow leak.

Children run in their own process group, so the group is the process tree (unless a
descendant moved itself out).  The sizes come from ``/proc/<pid>/stat`` (Linux); reading
is split from summing so the arithmetic is testable on plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.states import ProcessState

if TYPE_CHECKING:
    from tubeworks.supervisor.daemon import Supervisor

CHECK_SECONDS = 0.5
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def parse_stat(text: str) -> tuple[int, int]:
    """(process group, RSS in pages) from one ``/proc/<pid>/stat`` line."""
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return int(fields[2]), int(fields[21])


def group_rss(stats: Iterable[str], pgid: int, page: int = PAGE) -> int:
    """Bytes resident in all processes of process group ``pgid``."""
    total = 0
    for text in stats:
        with contextlib.suppress(ValueError, IndexError):
            group, pages = parse_stat(text)
            if group == pgid:
                total += pages * page
    return total


def read_stats() -> list[str]:
    out: list[str] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out  # not Linux: no limit is enforced
    for name in names:
        if name.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{name}/stat") as f:
                out.append(f.read())
    return out


async def watch_memory(sv: Supervisor) -> None:
    """Every CHECK_SECONDS, recycle RUNNING processes over their memory_limit."""
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        limited = [
            p
            for p in sv.all_processes()
            if p.config.memory_limit > 0 and p.state == ProcessState.RUNNING and p.proc.pid
        ]
        if not limited:
            continue
        stats = read_stats()
        for process in limited:
            rss = group_rss(stats, process.proc.pid)
            if rss > process.config.memory_limit and process.state == ProcessState.RUNNING:
                sv.feed(process, m.MemoryExceeded(rss))

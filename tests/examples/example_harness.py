"""Make the repository's ``examples`` package importable and collect what examples say."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class Said(list[str]):
    """A ``say`` callback that keeps the lines."""

    def __call__(self, line: str) -> None:
        self.append(line)


def no_children_left() -> bool:
    """True when this test process has no live child processes (stacks all stopped)."""
    kids = psutil.Process().children(recursive=True)
    return all(k.status() == psutil.STATUS_ZOMBIE for k in kids if k.is_running())

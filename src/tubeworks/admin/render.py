"""Pure formatting for the admin commands: tables, stats listings, the ``top`` screen."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tubeworks.client.models import TubeStats

# (column title, TubeStats attribute) of the tube table, in display order.
TUBE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TUBE", "name"),
    ("READY", "current_jobs_ready"),
    ("URGENT", "current_jobs_urgent"),
    ("RESERVED", "current_jobs_reserved"),
    ("DELAYED", "current_jobs_delayed"),
    ("BURIED", "current_jobs_buried"),
    ("WAITING", "current_waiting"),
    ("WATCHING", "current_watching"),
    ("USING", "current_using"),
    ("PAUSE", "pause_time_left"),
    ("TOTAL", "total_jobs"),
)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: first column left-aligned, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def tube_table(stats: Sequence[TubeStats]) -> str:
    rows = [[getattr(s, attr) for _, attr in TUBE_COLUMNS] for s in stats]
    return table([title for title, _ in TUBE_COLUMNS], rows)


def tubes_json(stats: Sequence[TubeStats]) -> str:
    return json.dumps([s.as_dict() for s in stats], indent=2)


def key_values(mapping: Mapping[str, Any]) -> str:
    """``key: value`` lines, aligned, booleans lowercase as the server writes them."""
    width = max((len(k) for k in mapping), default=0)
    return "\n".join(f"{k + ':':<{width + 1}} {_plain(v)}" for k, v in mapping.items())


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def top_screen(
    address: str,
    server: Mapping[str, Any],
    tubes: Sequence[TubeStats],
    rates: Mapping[str, tuple[float, float]],
) -> str:
    """One frame of ``top``: a server summary line, then tubes with put/delete rates per second."""
    head = (
        f"tubeworks top  {address}  version {server.get('version', '?')}  "
        f"uptime {server.get('uptime', 0)}s  connections {server.get('current-connections', 0)}  "
        f"jobs ready {server.get('current-jobs-ready', 0)} "
        f"reserved {server.get('current-jobs-reserved', 0)} "
        f"delayed {server.get('current-jobs-delayed', 0)} "
        f"buried {server.get('current-jobs-buried', 0)}"
    )
    headers = [title for title, _ in TUBE_COLUMNS] + ["PUT/s", "DEL/s"]
    rows = []
    for s in tubes:
        put_rate, delete_rate = rates.get(s.name, (0.0, 0.0))
        rows.append(
            [getattr(s, attr) for _, attr in TUBE_COLUMNS]
            + [f"{put_rate:.1f}", f"{delete_rate:.1f}"]
        )
    return head + "\n\n" + table(headers, rows)


def rates_between(
    before: Sequence[TubeStats], after: Sequence[TubeStats], seconds: float
) -> dict[str, tuple[float, float]]:
    """Per-tube (puts/s, deletes/s) between two samples; tubes new in ``after`` count from 0."""
    if seconds <= 0:
        return {}
    old = {s.name: s for s in before}
    out = {}
    for s in after:
        prev = old.get(s.name)
        puts = s.total_jobs - (prev.total_jobs if prev else 0)
        deletes = s.cmd_delete - (prev.cmd_delete if prev else 0)
        out[s.name] = (max(puts, 0) / seconds, max(deletes, 0) / seconds)
    return out


def progress_line(verb: str, done: int, total: int) -> str:
    if total > 0:
        return f"{verb} {done:,} / {total:,} jobs ({min(100, 100 * done // total)}%)"
    return f"{verb} {done:,} jobs"

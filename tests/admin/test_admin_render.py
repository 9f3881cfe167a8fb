"""Pure formatting of the admin commands."""

from __future__ import annotations

from tubeworks.admin import render
from tubeworks.client import TubeStats


def tube(name: str, ready: int = 0, total: int = 0, deletes: int = 0) -> TubeStats:
    return TubeStats(name=name, current_jobs_ready=ready, total_jobs=total, cmd_delete=deletes)


def test_table_aligns_columns() -> None:
    assert render.table(["A", "NUM"], [["x", 1], ["long", 100]]) == (
        "A     NUM\nx       1\nlong  100"
    )


def test_rates_between_samples() -> None:
    before = [tube("a", total=10, deletes=4)]
    after = [tube("a", total=30, deletes=8), tube("new", total=5)]
    assert render.rates_between(before, after, 2.0) == {"a": (10.0, 2.0), "new": (2.5, 0.0)}
    assert render.rates_between(before, after, 0) == {}


def test_top_screen_has_summary_and_rates() -> None:
    screen = render.top_screen("h:1", {"version": "1.12", "current-jobs-ready": 3},
                               [tube("a", ready=3)], {"a": (1.5, 0.25)})  # fmt: skip
    first, blank, header, row = screen.splitlines()
    assert first.startswith("tubeworks top  h:1  version 1.12") and "ready 3" in first
    assert blank == "" and header.endswith("PUT/s  DEL/s")
    assert row.split()[0] == "a" and row.split()[-2:] == ["1.5", "0.2"]


def test_key_values_and_progress() -> None:
    assert render.key_values({"a": 1, "long-key": True}) == "a:        1\nlong-key: true"
    assert render.progress_line("deleted", 5, 200) == "deleted 5 / 200 jobs (2%)"
    assert render.progress_line("imported", 1234, 0) == "imported 1,234 jobs"

"""Results of a run, summarised per framework and worker count, and printed as a table.

Pure: windows in, text out. The ratio column is tubeworks' rate over the row's rate at the
same N, so a number above 1 means tubeworks was faster. "cpu us/job" is the CPU time of the
worker processes (not the broker's or queue server's) per job in the timed window.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.workers.measure import Window

REFERENCE = "tubeworks"  # the row every other row is compared with


@dataclass(frozen=True)
class Result:
    """One framework at one worker count, over all repeats."""

    framework: str
    workers: int
    settings: str  # what was run, e.g. "prefork, prefetch x64"
    rates: tuple[float, ...] = ()  # jobs/s of each repeat that succeeded
    startup: float = 0.0  # median seconds until all workers were consuming
    all_started: bool = True  # every repeat timed all N workers together
    cpu_per_job: float | None = None  # median worker CPU seconds per job
    errors: tuple[str, ...] = field(default=())  # one line per failed repeat

    @property
    def rate(self) -> float | None:
        """Median jobs/s, or None if every repeat failed."""
        return statistics.median(self.rates) if self.rates else None


def summarise(
    framework: str, workers: int, settings: str, windows: Sequence[Window], errors: Sequence[str]
) -> Result:
    """Fold the repeats of one framework at one worker count into a :class:`Result`."""
    cpus = [w.cpu_per_job for w in windows if w.cpu_per_job is not None]
    return Result(
        framework=framework,
        workers=workers,
        settings=settings,
        rates=tuple(w.rate for w in windows),
        startup=statistics.median(w.startup for w in windows) if windows else 0.0,
        all_started=all(w.all_started for w in windows),
        cpu_per_job=statistics.median(cpus) if cpus else None,
        errors=tuple(errors),
    )


def ratio(results: Sequence[Result], row: Result) -> float | None:
    """tubeworks' rate over ``row``'s rate at the same N (None if either is missing)."""
    ours = next(
        (r.rate for r in results if r.framework == REFERENCE and r.workers == row.workers), None
    )
    if ours is None or row.rate is None or row.rate <= 0:
        return None
    return ours / row.rate


HEADER = ("framework", "N", "jobs/s", "tubeworks/x", "start s", "cpu us/job", "settings")


def table(results: Sequence[Result]) -> str:
    """The results as an aligned text table, one row per framework and N, grouped by N."""
    rows = [HEADER]
    for r in sorted(results, key=lambda r: r.workers):
        x = ratio(results, r)
        note = "" if r.all_started else " (not all N workers started before the queue emptied)"
        if r.errors and r.rate is None:
            note += f" FAILED: {r.errors[0]}"
        rows.append(
            (
                r.framework,
                str(r.workers),
                "-" if r.rate is None else f"{r.rate:.0f}",
                "-" if x is None else f"{x:.2f}",
                "-" if r.rate is None else f"{r.startup:.2f}",
                "-" if r.cpu_per_job is None else f"{r.cpu_per_job * 1e6:.0f}",
                r.settings + note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    lines = []
    for row in rows:
        pairs = enumerate(zip(row[:-1], widths, strict=True))
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def verdicts(results: Sequence[Result]) -> list[str]:
    """One line per N: is tubeworks faster than every other framework measured at that N?

    Variants of tubeworks itself (``tubeworks+beanstalkd``) are context, not competitors.
    """
    lines = []
    for n in sorted({r.workers for r in results}):
        others = [r for r in results if r.workers == n and not r.framework.startswith(REFERENCE)]
        ratios = {r.framework: ratio(results, r) for r in others}
        known = {k: v for k, v in ratios.items() if v is not None}
        if not known:
            lines.append(f"N={n}: nothing to compare with")
            continue
        slower_than = sorted(k for k, v in known.items() if v < 1)
        closest = min(known, key=lambda k: known[k])
        if slower_than:
            lines.append(f"N={n}: tubeworks is slower than {', '.join(slower_than)}")
        else:
            lines.append(
                f"N={n}: tubeworks is faster than all {len(known)} "
                f"(closest: {closest}, x{known[closest]:.2f})"
            )
    return lines

"""Turn measured samples into the comparison table. Pure: no processes, no clock.

Each workload is measured a few rounds per server; a row shows each server's best round and
the ratio ours/beanstalkd. Best, not median: the machine is shared, and interference from other
processes only ever makes a round slower (or its latency higher), never faster, so the best
round is the closest to what the server can do. The memory workload is not disturbed that way;
for it "best" is simply the lowest. The cycle workload adds two latency rows (p50, p99).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from benchmarks.workloads import Workload

BASE = "beanstalkd"
OURS = "ours"
GEN_BUSY = 0.9  # generator CPU (1.0 = one core) above which it may be the bottleneck


@dataclass(frozen=True)
class Sample:
    """One run of one workload against one server."""

    workload: str
    server: str  # BASE or OURS
    round: int
    value: float  # ops/s, or bytes of RSS per job for the memory workload
    p50_us: float | None = None  # cycle only: put -> reserve latency
    p99_us: float | None = None
    gen_cpu: float | None = None  # load generator CPU over the timed window, 1.0 = one core
    server_cpu: float | None = None  # server CPU over the same window
    per_cpu_s: float | None = None  # operations per second of server CPU time (memory: the fill)


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    name: str
    unit: str
    base: float
    ours: float
    bar: str  # "" when the row has no bar (latency rows)
    ok: bool | None  # None when the row has no bar

    @property
    def ratio(self) -> float:
        return self.ours / self.base if self.base else float("inf")


@dataclass(frozen=True)
class CpuRow:
    """How busy the server and the load generator were, median over rounds.

    ``*_per_cpu_s`` is the server's work per CPU-second. Unlike ops/s it hardly moves when other
    processes take CPU from the server, so on a busy machine its ratio is the steadier guide to
    how our server's efficiency compares (it says nothing about waiting, e.g. 1-connection
    round trips).
    """

    name: str
    base_server: float | None
    base_gen: float | None
    ours_server: float | None
    ours_gen: float | None
    base_per_cpu_s: float | None = None
    ours_per_cpu_s: float | None = None

    @property
    def per_cpu_ratio(self) -> float | None:
        if self.base_per_cpu_s and self.ours_per_cpu_s is not None:
            return self.ours_per_cpu_s / self.base_per_cpu_s
        return None


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and v >= 0]
    return statistics.median(present) if present else None


def _lowest(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and v >= 0]
    return min(present) if present else None


def _best(w: Workload, samples: Sequence[Sample]) -> float:
    values = [s.value for s in samples]
    return max(values) if w.higher_is_better else min(values)


def _of(samples: Sequence[Sample], workload: str, server: str) -> list[Sample]:
    return [s for s in samples if s.workload == workload and s.server == server]


def build_rows(workloads: Sequence[Workload], samples: Sequence[Sample]) -> list[Row]:
    """Rows for every workload that has samples from both servers."""
    rows: list[Row] = []
    for w in workloads:
        base, ours = _of(samples, w.name, BASE), _of(samples, w.name, OURS)
        if not base or not ours:
            continue
        b, o = _best(w, base), _best(w, ours)
        if w.higher_is_better:
            bar, ok = f">= {w.bar:.2f}", o >= w.bar * b
        else:
            bar, ok = f"<= {w.bar:.2f}", o <= w.bar * b
        rows.append(Row(w.name, w.unit, b, o, bar, ok))
        for q in ("p50", "p99"):
            bq = _lowest(getattr(s, f"{q}_us") for s in base)
            oq = _lowest(getattr(s, f"{q}_us") for s in ours)
            if bq is not None and oq is not None:
                rows.append(Row(f"{w.name} {q}", "us", bq, oq, "", None))
    return rows


def build_cpu_rows(workloads: Sequence[Workload], samples: Sequence[Sample]) -> list[CpuRow]:
    rows = []
    for w in workloads:
        base, ours = _of(samples, w.name, BASE), _of(samples, w.name, OURS)
        if base or ours:
            rows.append(CpuRow(
                w.name,
                _median(s.server_cpu for s in base), _median(s.gen_cpu for s in base),
                _median(s.server_cpu for s in ours), _median(s.gen_cpu for s in ours),
                _median(s.per_cpu_s for s in base), _median(s.per_cpu_s for s in ours),
            ))
    return rows


def _num(v: float) -> str:
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _opt_num(v: float | None) -> str:
    return "-" if v is None else _num(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def format_table(rows: Sequence[Row]) -> str:
    """The comparison table, one workload per line, columns separated by spaces."""
    head = f"{'workload':<26}{'unit':<8}{'beanstalkd':>12}{'ours':>12}{'ours/bk':>9}  {'bar':<8}ok"
    lines = [head, "-" * len(head)]
    for r in rows:
        verdict = "" if r.ok is None else ("yes" if r.ok else "NO")
        lines.append(
            f"{r.name:<26}{r.unit:<8}{_num(r.base):>12}{_num(r.ours):>12}{r.ratio:>9.2f}"
            f"  {r.bar:<8}{verdict}".rstrip()
        )
    return "\n".join(lines)


def format_cpu_table(rows: Sequence[CpuRow]) -> str:
    """Server and generator CPU (100% = one core busy) over the timed windows.

    A row whose generator was near a full core is flagged: there the generator, not the
    server, may have set the pace, and the throughput figure is a lower bound.
    """
    head = (f"{'workload':<26}{'bk server':>10}{'bk gen':>8}{'ours server':>13}{'ours gen':>10}"
            f"{'bk ops/cpu-s':>14}{'ours ops/cpu-s':>16}{'ours/bk':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        busy = any(g is not None and g >= GEN_BUSY for g in (r.base_gen, r.ours_gen))
        ratio = r.per_cpu_ratio
        lines.append(
            f"{r.name:<26}{_pct(r.base_server):>10}{_pct(r.base_gen):>8}"
            f"{_pct(r.ours_server):>13}{_pct(r.ours_gen):>10}"
            f"{_opt_num(r.base_per_cpu_s):>14}{_opt_num(r.ours_per_cpu_s):>16}"
            f"{'-' if ratio is None else f'{ratio:.2f}':>9}"
            + ("  generator near its limit" if busy else "")
        )
    return "\n".join(lines)


def parse_table(text: str) -> dict[str, tuple[float, float, float]]:
    """Read a table printed by :func:`format_table` back: name -> (beanstalkd, ours, ratio).

    For tests and for scripts that post-process a saved run.
    """
    out: dict[str, tuple[float, float, float]] = {}
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("workload")) + 2
    for line in lines[start:]:
        if not line.strip():
            break
        name = line[:26].strip()
        fields = line[26:].split()
        out[name] = (float(fields[1]), float(fields[2]), float(fields[3]))
    return out

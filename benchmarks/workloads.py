"""The benchmark workloads as data: what the load generator runs, how big, and the bar to meet.

Every workload here is run against both servers by :mod:`benchmarks.runner`; the names are the
row names of the printed table and what ``--only`` matches.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bars from the issue: ours/beanstalkd must reach these ratios.
THROUGHPUT_BAR = 0.6  # every request/response throughput workload
PIPELINE_BAR = 1.0  # pipelined puts: we must be at least as fast
MEMORY_BAR = 2.0  # bytes per queued job: at most twice beanstalkd's

BODY_BYTES = 100  # every job body, as in the memory workload
CYCLE_WINDOW = 4  # cycle: at most this many jobs put but not yet reserved (one per consumer)
QUICK_SCALE = 0.004  # --quick multiplies every count by this
MIN_COUNT = 200  # ...but never runs fewer jobs than this (more for memory, see WORKLOADS)


@dataclass(frozen=True)
class Workload:
    """One row (or, for the cycle, three rows) of the comparison table."""

    name: str
    mode: str  # loadgen mode: put | drain | cycle | pipeline, or "memory" (pipeline + RSS)
    args: tuple[str, ...]  # extra loadgen flags (-c 16 ...)
    count: int  # jobs at full size
    bar: float  # ratio ours/beanstalkd to reach (at least; at most for memory)
    about: str  # one line for --list and the docs
    min_count: int = MIN_COUNT  # the least --scale may shrink count to

    @property
    def unit(self) -> str:
        if self.mode == "memory":
            return "B/job"
        return "jobs/s" if self.mode in ("drain", "cycle") else "puts/s"

    @property
    def higher_is_better(self) -> bool:
        return self.mode != "memory"

    def sized(self, scale: float) -> int:
        """The job count for a run at ``scale`` times full size."""
        return max(self.min_count, round(self.count * scale))


WORKLOADS: tuple[Workload, ...] = (
    Workload("put-1conn", "put", ("-c", "1"), 50_000, THROUGHPUT_BAR,
             "put, 1 connection, one put in flight"),
    Workload("put-16conn", "put", ("-c", "16"), 200_000, THROUGHPUT_BAR,
             "put, 16 connections, one put in flight on each"),
    Workload("reserve-delete-1conn", "drain", ("-c", "1"), 100_000, THROUGHPUT_BAR,
             "reserve-with-timeout 0 + delete of pre-filled jobs, 1 connection"),
    Workload("reserve-delete-16conn", "drain", ("-c", "16"), 100_000, THROUGHPUT_BAR,
             "reserve-with-timeout 0 + delete of pre-filled jobs, 16 connections"),
    Workload("cycle-4p4c", "cycle", ("-P", "4", "-C", "4", "-w", str(CYCLE_WINDOW)), 100_000,
             THROUGHPUT_BAR,
             "4 producers put, 4 consumers reserve+delete; latency put -> reserve"),
    Workload("pipelined-put-1000", "pipeline", ("-b", "1000"), 500_000, PIPELINE_BAR,
             "1,000 puts per write on one connection"),
    Workload("memory-1M", "memory", ("-b", "1000"), 1_000_000, MEMORY_BAR,
             "RSS growth per queued 100-byte job, filled by pipelined puts",
             min_count=10_000),  # fewer jobs than this hardly move RSS past its page noise
)


def select(only: list[str] | None) -> list[Workload]:
    """The workloads named by ``--only`` (exact names or prefixes), all of them if none given.

    Raises:
        ValueError: a name matches no workload.
    """
    if not only:
        return list(WORKLOADS)
    chosen: list[Workload] = []
    for want in only:
        hits = [w for w in WORKLOADS if w.name == want or w.name.startswith(want)]
        if not hits:
            names = ", ".join(w.name for w in WORKLOADS)
            raise ValueError(f"--only: no workload named {want!r}; expected one of {names}")
        chosen.extend(w for w in hits if w not in chosen)
    return [w for w in WORKLOADS if w in chosen]

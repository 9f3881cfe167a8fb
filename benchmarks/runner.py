"""Run every workload against both servers, alternating, on a fresh server each time.

For each workload, for each round: beanstalkd, then ours. Alternating inside a workload (rather
than all of beanstalkd, then all of ours) spreads slow drift of the machine (other load, CPU
frequency, page cache) over both servers equally. A fresh server per run means no run sees
another run's jobs or memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import loadgen, procs
from benchmarks.report import BASE, OURS, Sample
from benchmarks.workloads import Workload

MEMORY_WARMUP_JOBS = 1000  # put before the "before" RSS reading, so one-time costs drop out


@dataclass(frozen=True)
class Config:
    """How to run: which servers, how big, how many rounds, which CPUs."""

    base_cmd: str  # command template for the real beanstalkd
    ours_cmd: str  # command template for our server
    scale: float  # 1.0 = the sizes
    rounds: int
    server_cpu: int | None  # CPU the server is pinned to, None = not pinned
    gen_cpu: int | None  # CPU the load generator is pinned to


def measure(w: Workload, label: str, template: str, option: str, cfg: Config, rnd: int) -> Sample:
    """One run of ``w`` against a fresh server started from ``template``."""
    server = procs.start(label, template, option, cfg.server_cpu)
    count = w.sized(cfg.scale)
    try:
        if w.mode == "memory":
            loadgen.run("pipeline", server.port, MEMORY_WARMUP_JOBS, w.args, server.pid,
                        cfg.gen_cpu)
            before = procs.rss_bytes(server.pid)
            r = loadgen.run("pipeline", server.port, count, w.args, server.pid, cfg.gen_cpu)
            after = procs.rss_bytes(server.pid)
            value = (after - before) / count
        else:
            r = loadgen.run(w.mode, server.port, count, w.args, server.pid, cfg.gen_cpu)
            value = r.ops_per_sec
        per_cpu_s = r.ops_per_sec / r.server_cpu if r.server_cpu else None
        server.check_alive()
    except procs.BenchError as exc:
        if server.proc.poll() is not None:
            raise procs.BenchError(f"{exc}\n{label} server output:\n{server.output()}") from exc
        raise
    finally:
        server.stop()
    return Sample(w.name, label, rnd, value, r.p50_us, r.p99_us, r.gen_cpu, r.server_cpu,
                  per_cpu_s)


def run_all(
    workloads: list[Workload], cfg: Config, progress: Callable[[Sample], None]
) -> list[Sample]:
    """Every workload, ``cfg.rounds`` rounds, beanstalkd then ours within each round."""
    loadgen.build()
    servers = ((BASE, cfg.base_cmd, "--server-cmd"), (OURS, cfg.ours_cmd, "--ours-cmd"))
    samples = []
    for w in workloads:
        for rnd in range(1, cfg.rounds + 1):
            for label, template, option in servers:
                sample = measure(w, label, template, option, cfg, rnd)
                progress(sample)
                samples.append(sample)
    return samples

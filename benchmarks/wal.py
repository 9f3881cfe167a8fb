"""Write-ahead log benchmarks: ours (``-b``) side by side with ``beanstalkd -b``.

    python -m benchmarks.wal            # full: puts with -f 50 and -f 0, recovery of 1 M jobs
    python -m benchmarks.wal --quick    # a smoke run with tiny sizes

Rows:

* ``put-16conn -f50`` / ``put-16conn -f0`` / ``put-1conn -f0``: put throughput with the log on
  (the C load generator of ``benchmarks/loadgen.c``, 16 or 1 connections, one put in flight
  each). With ``-f 0`` every acknowledged put is on disk before its reply.
* ``recovery``: fill N jobs (100-byte bodies, pipelined), kill the server with SIGKILL, start it
  again on the same directory and time until it answers ``stats`` with all N jobs ready. Both
  servers bind their port before they replay, so "listening" is not the finish line: the first
  ``stats`` reply that counts every job is.

Bars (issue #3): put throughput ≥ 0.6 of beanstalkd's with the log, recovery at most twice its time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

from benchmarks import loadgen
from benchmarks.procs import HOST, BenchError, Server, start

BEANSTALKD = "/usr/bin/beanstalkd -l {host} -p {port}"
OURS = f"{sys.executable} -m tubeworks queue -l {{host}} -p {{port}}"


@dataclass
class Row:
    name: str
    unit: str
    theirs: float
    ours: float
    bar: str  # ">= 0.6" or "<= 2.0"

    @property
    def ratio(self) -> float:
        return self.ours / self.theirs if self.theirs else float("nan")

    @property
    def ok(self) -> bool:
        op, limit = self.bar.split()
        return self.ratio >= float(limit) if op == ">=" else self.ratio <= float(limit)


def _stats_jobs(port: int, timeout: float) -> int | None:
    """``current-jobs-ready`` from one ``stats`` call, or None if the server is not serving."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"\n\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                data += chunk
    except OSError:
        return None
    for line in data.split(b"\n"):
        if line.startswith(b"current-jobs-ready: "):
            return int(line.split()[1])
    return None


def put_rate(template: str, label: str, count: int, conns: int, cpu: int | None) -> float:
    server = start(label, template, "--" + label, cpu)
    try:
        result = loadgen.run("put", server.port, count, ("-c", str(conns)), server.pid, None)
        return result.ops_per_sec
    finally:
        server.stop()


def recovery_seconds(template: str, label: str, jobs: int) -> float:
    """Fill, SIGKILL, restart on the same log directory, time until every job is back."""
    wal_dir = tempfile.mkdtemp(prefix=f"tubeworks-walbench-{label}-")
    first: Server = start(label, template.replace("{tmpdir}", wal_dir), "--" + label, None)
    try:
        loadgen.run("pipeline", first.port, jobs, ("-b", "1000"), first.pid, None)
        deadline = time.monotonic() + 120
        while _stats_jobs(first.port, 10) != jobs:  # everything written before the kill
            if time.monotonic() > deadline:
                raise BenchError(f"{label}: fill did not complete")
        time.sleep(0.2)  # let a -f 50 fsync pass
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait()
    finally:
        first.log.close()
    t0 = time.monotonic()
    second = start(label, template.replace("{tmpdir}", wal_dir), "--" + label, None)
    try:
        while _stats_jobs(second.port, 60) != jobs:
            second.check_alive()
            if time.monotonic() - t0 > 300:
                raise BenchError(f"{label}: recovery did not finish in 300 s")
            time.sleep(0.005)
        return time.monotonic() - t0
    finally:
        second.stop()
        shutil.rmtree(wal_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wal", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--puts", type=int, default=100_000, help="puts per throughput run")
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs for the recovery row")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (best is shown)")
    args = parser.parse_args(argv)
    if args.quick:
        args.puts, args.jobs, args.rounds = 2000, 5000, 1
    loadgen.build()
    cpu = 0 if (os.cpu_count() or 1) >= 2 else None
    rows: list[Row] = []
    for name, flags, conns in (
        ("put-16conn -f50", "-b {tmpdir} -f 50", 16),
        ("put-16conn -f0", "-b {tmpdir} -f 0", 16),
        ("put-1conn -f0", "-b {tmpdir} -f 0", 1),
    ):
        best = {"beanstalkd": 0.0, "ours": 0.0}
        for _ in range(args.rounds):
            for label, template in (("beanstalkd", BEANSTALKD), ("ours", OURS)):
                rate = put_rate(f"{template} {flags}", label, args.puts, conns, cpu)
                best[label] = max(best[label], rate)
        rows.append(Row(name, "puts/s", best["beanstalkd"], best["ours"], ">= 0.6"))
    best_t = {"beanstalkd": float("inf"), "ours": float("inf")}
    for _ in range(args.rounds):
        for label, template in (("beanstalkd", BEANSTALKD), ("ours", OURS)):
            seconds = recovery_seconds(f"{template} -b {{tmpdir}} -f 50", label, args.jobs)
            best_t[label] = min(best_t[label], seconds)
    rows.append(
        Row(f"recovery {args.jobs} jobs", "s", best_t["beanstalkd"], best_t["ours"], "<= 2.0")
    )
    load = os.getloadavg()[0]
    print(f"write-ahead log: ours vs beanstalkd -b (load {load:.1f}, best of {args.rounds})")
    print(f"{'workload':<24}{'unit':<8}{'beanstalkd':>12}{'ours':>12}{'ours/bk':>9}  bar      ok")
    print("-" * 76)
    for r in rows:
        print(
            f"{r.name:<24}{r.unit:<8}{r.theirs:>12.2f}{r.ours:>12.2f}{r.ratio:>9.2f}  "
            f"{r.bar:<8} {'yes' if r.ok else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

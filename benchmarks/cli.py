"""Command line for the benchmarks: parse options, run, print the tables.

argparse rather than click: the harness lives outside the package and should run with nothing
but the standard library and a C compiler.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import sys
from dataclasses import asdict

from benchmarks import procs, report, runner, workloads
from benchmarks.procs import BenchError

DEFAULT_BASE = f"{shutil.which('beanstalkd') or '/usr/bin/beanstalkd'} -l {{host}} -p {{port}}"
DEFAULT_OURS = f"{sys.executable} -m tubeworks queue -l {{host}} -p {{port}}"
DEFAULT_ROUNDS = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Compare our queue server with the real beanstalkd, workload by workload.",
    )
    p.add_argument("--quick", action="store_true",
                   help=f"small run: counts x{workloads.QUICK_SCALE}, 1 round (for smoke tests)")
    p.add_argument("--scale", type=float, help="multiply every job count (default 1.0)")
    p.add_argument("--rounds", type=int,
                   help=f"runs per server per workload (default {DEFAULT_ROUNDS}, --quick 1)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only this workload (name or prefix; repeat or comma-separate)")
    p.add_argument("--server-cmd", default=DEFAULT_BASE, metavar="TEMPLATE",
                   help="command for beanstalkd, with {host} and {port} (default: %(default)s)")
    p.add_argument("--ours-cmd", default=DEFAULT_OURS, metavar="TEMPLATE",
                   help="command for our server, with {host} and {port} (default: %(default)s)")
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin the server and the load generator to separate CPUs")
    p.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (default 0)")
    p.add_argument("--gen-cpu", type=int, default=1, help="CPU for the generator (default 1)")
    p.add_argument("--json", metavar="PATH", help="also write every sample and row as JSON")
    p.add_argument("--check", action="store_true",
                   help="exit with status 1 if any workload misses its bar")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    return p.parse_args(argv)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    if args.list:
        for w in workloads.WORKLOADS:
            print(f"{w.name:<24}{w.count:>10,}  {w.about}")
        return 0
    only = [n for item in args.only or [] for n in item.split(",") if n]
    try:
        chosen = workloads.select(only)
        procs.expand(args.server_cmd, 0, "--server-cmd")
        procs.expand(args.ours_cmd, 0, "--ours-cmd")
    except (ValueError, BenchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scale = args.scale if args.scale is not None else (
        workloads.QUICK_SCALE if args.quick else 1.0)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else DEFAULT_ROUNDS)
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    usable = os.sched_getaffinity(0)
    for option, cpu in (("--server-cpu", args.server_cpu), ("--gen-cpu", args.gen_cpu)):
        if pin and cpu not in usable:
            print(f"error: {option}: expected one of CPUs {sorted(usable)}, got {cpu}",
                  file=sys.stderr)
            return 2
    cfg = runner.Config(
        base_cmd=args.server_cmd,
        ours_cmd=args.ours_cmd,
        scale=scale,
        rounds=rounds,
        server_cpu=args.server_cpu if pin else None,
        gen_cpu=args.gen_cpu if pin else None,
    )
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# {started}; {machine()}")
    load = os.getloadavg()[0]
    print(f"# load average {load:.2f} at start" + (
        " (busy: other processes will slow some rounds)" if load > 0.5 else ""))
    print(f"# scale {scale:g}, {rounds} round(s), best round shown, "
          + (f"server on CPU {cfg.server_cpu}, generator on CPU {cfg.gen_cpu}" if pin
             else "not pinned"))
    print(f"# beanstalkd: {cfg.base_cmd}\n# ours:       {cfg.ours_cmd}", flush=True)

    def progress(s: report.Sample) -> None:
        print(f"  {s.workload:<24} round {s.round} {s.server:<10} {s.value:>12.1f}",
              file=sys.stderr, flush=True)

    try:
        samples = runner.run_all(chosen, cfg, progress)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = report.build_rows(chosen, samples)
    print()
    print(report.format_table(rows))
    print("\nCPU over the timed window (100% = one core); the generator must stay below 100%:")
    print(report.format_cpu_table(report.build_cpu_rows(chosen, samples)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "started": started, "machine": machine(), "config": asdict(cfg),
                "samples": [asdict(s) for s in samples],
                "rows": [{**asdict(r), "ratio": r.ratio} for r in rows],
            }, f, indent=2)
    if args.check and not all(r.ok for r in rows if r.ok is not None):
        return 1
    return 0

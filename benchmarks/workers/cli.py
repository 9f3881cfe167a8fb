"""``python -m benchmarks.workers``: no-op jobs per second, tubeworks against Dramatiq, RQ and
Celery, with N worker processes each, in one run; prints a table with ratios.

Progress goes to stderr, the table to stdout; ``--json`` also writes the results to a file.
Exit status: 0 when every framework that could run gave a number, 1 when some failed, 2 when
the benchmark could not start (bad option, Redis unreachable).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
from collections.abc import Sequence

from benchmarks.workers import report
from benchmarks.workers.frameworks import INSTALL_HINT, Framework, Options, all_frameworks, by_name
from benchmarks.workers.measure import Window
from benchmarks.workers.procs import BenchError
from benchmarks.workers.runner import Plan, connect_redis, measure

DEFAULT_REDIS = "redis://127.0.0.1:6379/13"  # a database of its own (see runner's docstring)
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
FULL_JOBS = 20_000
QUICK_JOBS = 200


def _counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,4, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers >= 1, got {text!r}")
    return values


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def parser() -> argparse.ArgumentParser:
    names = ", ".join(f.name for f in all_frameworks())
    p = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__)
    p.add_argument("--jobs", "-m", type=int, default=None, help="M jobs per run (20000)")
    p.add_argument("--workers", "-n", type=_counts, default=None, help="N values (1,4)")
    p.add_argument("--repeat", "-r", type=int, default=1, help="runs per row; median (1)")
    p.add_argument("--quick", action="store_true", help=f"M={QUICK_JOBS} and N=1 unless given")
    p.add_argument("--frameworks", "-f", type=_names, default=None, help=f"subset of: {names}")
    p.add_argument("--redis-url", default=DEFAULT_REDIS, help=f"counter, brokers ({DEFAULT_REDIS})")
    p.add_argument("--amqp-url", default=DEFAULT_AMQP, help="RabbitMQ for dramatiq-rabbitmq")
    p.add_argument("--tubeworks-concurrency", type=int, default=4, help="-c per process (4)")
    p.add_argument("--dramatiq-threads", type=int, default=8, help="threads per process (8)")
    p.add_argument("--celery-prefetch", type=int, default=64, help="prefetch multiplier (64)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run (900)")
    p.add_argument("--json", metavar="PATH", help="also write the results here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.jobs is None:
        args.jobs = QUICK_JOBS if args.quick else FULL_JOBS
    if args.workers is None:
        args.workers = [1] if args.quick else [1, 4]
    if args.jobs < 1 or args.repeat < 1:
        print("error: --jobs and --repeat must be at least 1", file=sys.stderr)
        return 2
    try:
        frameworks = by_name(args.frameworks) if args.frameworks else all_frameworks()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    opts = Options(
        redis_url=args.redis_url,
        amqp_url=args.amqp_url,
        tubeworks_concurrency=args.tubeworks_concurrency,
        dramatiq_threads=args.dramatiq_threads,
        celery_prefetch=args.celery_prefetch,
    )
    try:
        connect_redis(opts.redis_url).close()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    runnable: list[Framework] = []
    skipped: dict[str, str] = {}
    for fw in frameworks:
        reason = fw.missing(opts)
        if reason is None:
            runnable.append(fw)
        else:
            skipped[fw.name] = reason
            print(f"skipping {fw.name}: {reason}", file=sys.stderr)

    windows: dict[tuple[str, int], list[Window]] = {}
    errors: dict[tuple[str, int], list[str]] = {}
    for rep in range(args.repeat):
        for n in args.workers:
            for fw in runnable:
                key = (fw.name, n)
                plan = Plan(fw, n, args.jobs, args.timeout)
                try:
                    outcome = measure(plan, opts, progress=_progress)
                except BenchError as exc:
                    errors.setdefault(key, []).append(str(exc).splitlines()[0])
                    _progress(f"{fw.name} N={n} run {rep + 1}: FAILED: {exc}")
                    continue
                windows.setdefault(key, []).append(outcome.window)
                w = outcome.window
                _progress(
                    f"{fw.name} N={n} run {rep + 1}: {w.rate:.0f} jobs/s "
                    f"({w.jobs} jobs in {w.seconds:.2f}s after {w.startup:.2f}s start-up)"
                )

    results = [
        report.summarise(
            fw.name,
            n,
            fw.settings(opts, n),
            windows.get((fw.name, n), []),
            errors.get((fw.name, n), []),
        )
        for n in args.workers
        for fw in runnable
    ]
    print(f"no-op jobs/s, M={args.jobs} jobs per run, median of {args.repeat}; {machine()}")
    print(report.table(results))
    for line in report.verdicts(results):
        print(line)
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    if any(INSTALL_HINT in r for r in skipped.values()):
        print(f"to compare with the other frameworks: {INSTALL_HINT}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": machine(),
                    "jobs": args.jobs,
                    "repeat": args.repeat,
                    "results": [
                        {**dataclasses.asdict(r), "rate": r.rate, "ratio": report.ratio(results, r)}
                        for r in results
                    ],
                    "skipped": skipped,
                },
                f,
                indent=2,
            )
    return 1 if any(r.rate is None for r in results) else 0


def machine() -> str:
    """When and where: the figures mean little without the load the machine was under."""
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{when}, {cpu} x{os.cpu_count()}, Python {platform.python_version()}, load average {load}"
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

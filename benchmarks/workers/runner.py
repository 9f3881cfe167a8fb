"""One measurement: enqueue M jobs, start N workers, sample the counters until all are done,
then stop every process and delete every Redis key and queue the run created.

Redis keys are cleaned up by difference: every key present in the benchmark's Redis database
at the end of a run and absent at its start is deleted (never FLUSHDB/FLUSHALL), so give the
benchmark a database number nobody else writes to while it runs (``--redis-url``).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from benchmarks.workers import procs
from benchmarks.workers.apps import settings as s
from benchmarks.workers.frameworks import Framework, Options, Run
from benchmarks.workers.measure import NoWindow, Sample, Window, window

REPO = str(Path(__file__).resolve().parents[2])
SAMPLE_EVERY = 0.005  # seconds between counter readings: 200 cheap Redis reads a second


@dataclass(frozen=True)
class Plan:
    """What one measurement does."""

    framework: Framework
    workers: int  # N worker processes
    jobs: int  # M jobs
    timeout: float  # seconds allowed from starting the workers to the last job done


@dataclass(frozen=True)
class Outcome:
    window: Window
    enqueue_seconds: float  # how long putting the M jobs took (not part of the rate)


def connect_redis(url: str) -> redis.Redis:
    """A client for the counter's database.

    Raises:
        procs.BenchError: Redis does not answer.
    """
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise procs.BenchError(
            f"redis is not reachable at {url} ({exc}); the benchmark counts jobs in Redis"
        ) from exc
    return client


def _keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def _worker_env(run_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWBENCH_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(run_env)
    return env


def measure(plan: Plan, opts: Options, progress: Callable[[str], None] = lambda _: None) -> Outcome:
    """Run ``plan`` once and return its timed window.

    Raises:
        procs.BenchError: a process died, the jobs did not all finish in time, or Redis failed.
    """
    client = connect_redis(opts.redis_url)
    token = secrets.token_hex(4)
    prefix = f"twbench:{token}:"
    run = Run(
        token=token,
        queue=f"twbench-{token}",
        key_prefix=prefix,
        env={s.REDIS_URL: opts.redis_url, s.KEY_PREFIX: prefix},
        cwd=REPO,
    )
    run.env[s.QUEUE] = run.queue
    before = _keys(client)
    workers: list[procs.Group] = []
    fw = plan.framework
    try:
        fw.prepare(run, opts)
        env = _worker_env(run.env)
        t0 = time.monotonic()
        fw.enqueue(run, opts, plan.jobs)
        enqueued = time.monotonic() - t0
        progress(f"{fw.name} N={plan.workers}: {plan.jobs} jobs enqueued in {enqueued:.1f}s")
        for argv in fw.worker_commands(run, opts, plan.workers):
            workers.append(procs.start(f"{fw.name} worker", argv, env, REPO))
        samples = _sample(client, prefix, plan, workers, run.servers)
        return Outcome(window(samples, plan.workers, plan.jobs), enqueued)
    except NoWindow as exc:
        raise procs.BenchError(str(exc)) from exc
    except redis.RedisError as exc:
        raise procs.BenchError(f"redis failed during the run: {exc}") from exc
    finally:
        stopping = time.monotonic()
        procs.stop_all(workers + run.servers)
        progress(f"{fw.name} N={plan.workers}: stopped in {time.monotonic() - stopping:.1f}s")
        try:
            fw.cleanup(run, opts)
        finally:
            created = _keys(client) - before
            if created:
                client.delete(*created)
            client.close()


def _sample(
    client: redis.Redis,
    prefix: str,
    plan: Plan,
    workers: list[procs.Group],
    servers: list[procs.Group],
) -> list[Sample]:
    """Read the counters until all jobs are done; CPU too where a window may open or close."""
    done_key, seen_key = s.done_key(prefix), s.seen_key(prefix)
    groups = workers + servers
    samples: list[Sample] = []
    start = time.monotonic()
    deadline = start + plan.timeout
    first_done = all_seen = False
    while True:
        with client.pipeline(transaction=False) as pipe:
            pipe.get(done_key)
            pipe.scard(seen_key)
            raw_done, raw_seen = pipe.execute()
        now = time.monotonic()
        done, seen = int(raw_done or 0), int(raw_seen)
        opens = (done > 0 and not first_done) or (seen >= plan.workers and not all_seen)
        cpu = procs.cpu_seconds(workers) if opens or done >= plan.jobs else None
        first_done, all_seen = first_done or done > 0, all_seen or seen >= plan.workers
        sample = Sample(now - start, done, seen, cpu)
        samples.append(sample)
        if sample.done >= plan.jobs:
            return samples
        for g in groups:
            g.check_alive()
        if now > deadline:
            raise procs.BenchError(
                f"only {sample.done} of {plan.jobs} jobs done after {plan.timeout:.0f}s "
                f"({sample.seen} of {plan.workers} workers seen); worker output: "
                f"{groups[0].output().strip() if groups else ''}"
            )
        time.sleep(SAMPLE_EVERY)

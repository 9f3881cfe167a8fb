"""What differs per framework: whether it can run here, how to enqueue, how to start workers,
and what to clean up afterwards.

Each framework gets the settings its own docs recommend for many short jobs; the ``settings``
line of each is printed in the table and explained in docs/benchmarks-workers.md. Redis keys
need no cleanup here (the runner deletes every key a run created); RabbitMQ queues do.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from benchmarks.workers import procs
from benchmarks.workers.apps import settings as s

INSTALL_HINT = "uv sync --group bench"
ENQUEUE_CHUNK = 1000  # jobs per pipeline / batch when enqueueing


@dataclass(frozen=True)
class Options:
    """Framework settings the command line can change."""

    redis_url: str  # redis://host:port/db: the counter, and the Redis brokers
    amqp_url: str  # RabbitMQ for Dramatiq
    tubeworks_concurrency: int  # slot threads per tubeworks worker process
    dramatiq_threads: int  # worker threads per Dramatiq process
    celery_prefetch: int  # Celery's worker_prefetch_multiplier


@dataclass
class Run:
    """One measurement's names and the processes a framework started for it."""

    token: str  # unique per run; in every queue name and key prefix
    queue: str
    key_prefix: str
    env: dict[str, str]  # for worker processes
    cwd: str  # the repository root, so worker modules import
    servers: list[procs.Group] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


class Framework(Protocol):
    name: str

    def missing(self, opts: Options) -> str | None:
        """Why it cannot run here (not installed, broker down), or None."""

    def settings(self, opts: Options, workers: int) -> str:
        """A short description of the settings used, for the table."""

    def prepare(self, run: Run, opts: Options) -> None:
        """Start what it needs besides workers (a queue server) and fill in ``run.env``."""

    def enqueue(self, run: Run, opts: Options, jobs: int) -> None:
        """Put ``jobs`` no-op jobs on ``run.queue``."""

    def worker_commands(self, run: Run, opts: Options, workers: int) -> list[list[str]]:
        """One argv per process group to start; together they give ``workers`` processes."""

    def cleanup(self, run: Run, opts: Options) -> None:
        """Remove what the run left outside Redis (queues on other brokers)."""


def _installed(*modules: str) -> str | None:
    for m in modules:
        if importlib.util.find_spec(m) is None:
            return f"{m} is not installed (install the frameworks with `{INSTALL_HINT}`)"
    return None


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2.0
        ):
            return True
    except OSError:
        return False


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


# -- tubeworks -------------------------------------------------------------------------------


@dataclass
class Tubeworks:
    """Our queue server (or the real beanstalkd) and ``tubeworks worker`` processes."""

    name: str = "tubeworks"
    server: str = "tubeworks"  # or "beanstalkd": same workers, the C server

    def missing(self, opts: Options) -> str | None:
        if self.server == "beanstalkd" and shutil.which("beanstalkd") is None:
            return "beanstalkd is not installed (Debian package beanstalkd)"
        return None

    def settings(self, opts: Options, workers: int) -> str:
        return f"{workers} x `tubeworks worker -c {opts.tubeworks_concurrency}`, {self.server}"

    def prepare(self, run: Run, opts: Options) -> None:
        port = procs.free_port()
        if self.server == "beanstalkd":
            argv = [shutil.which("beanstalkd") or "beanstalkd", "-l", "127.0.0.1", "-p", str(port)]
        else:
            argv = _python("-m", "tubeworks", "queue", "-l", "127.0.0.1", "-p", str(port))
        server = procs.start(f"{self.server} server", argv, run.env, run.cwd)
        run.servers.append(server)
        procs.wait_listening(server, port)
        run.state["port"] = port
        run.env[s.TUBEWORKS_ADDRESS] = f"127.0.0.1:{port}"

    def enqueue(self, run: Run, opts: Options, jobs: int) -> None:
        from tubeworks.client import Client

        with Client("127.0.0.1", run.state["port"], use=run.queue) as client:
            for start in range(0, jobs, ENQUEUE_CHUNK):
                stop = min(jobs, start + ENQUEUE_CHUNK)
                client.put_many([str(i).encode() for i in range(start, stop)])

    def worker_commands(self, run: Run, opts: Options, workers: int) -> list[list[str]]:
        argv = _python(
            "-m",
            "tubeworks",
            "worker",
            "benchmarks.workers.apps.tubeworks_app:app",
            "-a",
            run.env[s.TUBEWORKS_ADDRESS],
            "-t",
            run.queue,
            "-c",
            str(opts.tubeworks_concurrency),
            "--log-level",
            "WARNING",
        )
        return [argv] * workers

    def cleanup(self, run: Run, opts: Options) -> None:
        pass  # the server goes with its process, and the jobs with it


# -- RQ --------------------------------------------------------------------------------------


@dataclass
class RQ:
    """``rq worker`` processes with ``SimpleWorker`` (no fork per job), one per N."""

    name: str = "rq"

    def missing(self, opts: Options) -> str | None:
        return _installed("rq", "redis")

    def settings(self, opts: Options, workers: int) -> str:
        return f"{workers} x `rq worker -w SimpleWorker`, result_ttl=0"

    def prepare(self, run: Run, opts: Options) -> None:
        pass

    def enqueue(self, run: Run, opts: Options, jobs: int) -> None:
        import redis
        from rq import Queue

        conn = redis.Redis.from_url(opts.redis_url)
        try:
            queue = Queue(run.queue, connection=conn)
            for start in range(0, jobs, ENQUEUE_CHUNK):
                batch = [
                    Queue.prepare_data(s.RQ_FUNCTION, args=(i,), result_ttl=0, failure_ttl=600)
                    for i in range(start, min(jobs, start + ENQUEUE_CHUNK))
                ]
                with conn.pipeline() as pipe:
                    queue.enqueue_many(batch, pipeline=pipe)
                    pipe.execute()
        finally:
            conn.close()

    def worker_commands(self, run: Run, opts: Options, workers: int) -> list[list[str]]:
        return [
            _python(
                "-m",
                "rq.cli",
                "worker",
                "--url",
                opts.redis_url,
                "--worker-class",
                "rq.worker.SimpleWorker",
                "--name",
                f"{run.queue}-{n}",
                "--logging_level",
                "WARNING",
                "--disable-job-desc-logging",
                run.queue,
            )
            for n in range(workers)
        ]

    def cleanup(self, run: Run, opts: Options) -> None:
        pass


# -- Celery ----------------------------------------------------------------------------------


@dataclass
class Celery:
    """One ``celery worker`` with a prefork pool of N processes, Redis broker."""

    name: str = "celery"

    def missing(self, opts: Options) -> str | None:
        return _installed("celery", "redis")

    def settings(self, opts: Options, workers: int) -> str:
        return f"prefork -c {workers}, prefetch x{opts.celery_prefetch}, no gossip/mingle/heartbeat"

    def prepare(self, run: Run, opts: Options) -> None:
        run.env[s.BROKER_URL] = opts.redis_url

    def enqueue(self, run: Run, opts: Options, jobs: int) -> None:
        from celery import Celery as CeleryApp

        app = CeleryApp("twbench-producer", broker=opts.redis_url)
        try:
            with app.producer_or_acquire() as producer:
                for i in range(jobs):
                    app.send_task(s.CELERY_TASK, args=(i,), queue=run.queue, producer=producer)
        finally:
            app.close()

    def worker_commands(self, run: Run, opts: Options, workers: int) -> list[list[str]]:
        return [
            _python(
                "-m",
                "celery",
                "-A",
                "benchmarks.workers.apps.celery_app",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(workers),
                "--prefetch-multiplier",
                str(opts.celery_prefetch),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
                "--queues",
                run.queue,
                "--hostname",
                f"{run.queue}@%h",
            )
        ]

    def cleanup(self, run: Run, opts: Options) -> None:
        pass


# -- Dramatiq --------------------------------------------------------------------------------


@dataclass
class Dramatiq:
    """``dramatiq --processes N --threads T`` on a Redis or RabbitMQ broker."""

    broker: str  # "redis" or "rabbitmq"
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"dramatiq-{self.broker}"

    def _url(self, opts: Options) -> str:
        return opts.redis_url if self.broker == "redis" else opts.amqp_url

    def missing(self, opts: Options) -> str | None:
        reason = _installed("dramatiq", "redis" if self.broker == "redis" else "pika")
        if reason is None and self.broker == "rabbitmq" and not _reachable(opts.amqp_url, 5672):
            host = urlsplit(opts.amqp_url).netloc.rpartition("@")[2]
            reason = f"RabbitMQ is not reachable at {host} (start it: rabbitmq-server -detached)"
        return reason

    def settings(self, opts: Options, workers: int) -> str:
        return f"--processes {workers} --threads {opts.dramatiq_threads}, {self.broker}"

    def prepare(self, run: Run, opts: Options) -> None:
        run.env[s.BROKER_URL] = self._url(opts)
        run.env[s.DRAMATIQ_BROKER] = self.broker

    def enqueue(self, run: Run, opts: Options, jobs: int) -> None:
        import dramatiq

        from benchmarks.workers.apps.dramatiq_broker import make_broker

        broker = make_broker(self.broker, self._url(opts), run.key_prefix + "dramatiq")
        try:
            broker.declare_queue(run.queue)
            for i in range(jobs):
                broker.enqueue(
                    dramatiq.Message(
                        queue_name=run.queue,
                        actor_name=s.DRAMATIQ_ACTOR,
                        args=(i,),
                        kwargs={},
                        options={},
                    )
                )
        finally:
            broker.close()

    def worker_commands(self, run: Run, opts: Options, workers: int) -> list[list[str]]:
        return [
            _python(
                "-m",
                "dramatiq",
                "benchmarks.workers.apps.dramatiq_app",
                "--processes",
                str(workers),
                "--threads",
                str(opts.dramatiq_threads),
                "--queues",
                run.queue,
            )
        ]

    def cleanup(self, run: Run, opts: Options) -> None:
        if self.broker != "rabbitmq":
            return
        import pika

        conn = pika.BlockingConnection(pika.URLParameters(opts.amqp_url))
        try:
            channel = conn.channel()
            for name in (run.queue, f"{run.queue}.DQ", f"{run.queue}.XQ"):
                channel.queue_delete(name)
        finally:
            conn.close()


def all_frameworks() -> list[Framework]:
    """Every framework the benchmark knows, in table order."""
    return [
        Tubeworks(),
        Tubeworks(name="tubeworks+beanstalkd", server="beanstalkd"),
        Dramatiq("redis"),
        Dramatiq("rabbitmq"),
        RQ(),
        Celery(),
    ]


def by_name(names: Sequence[str]) -> list[Framework]:
    """The frameworks called ``names``, in the order given.

    Raises:
        ValueError: a name is unknown.
    """
    known = {f.name: f for f in all_frameworks()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown framework {unknown[0]!r}; expected one of {', '.join(known)}")
    return [known[n] for n in names]

"""The environment variables that tell a worker process where to report and what to consume.

The harness sets them for every worker process it starts; a new run (new queue name, new key
prefix) means new processes, so reading them once at import is enough.
"""

from __future__ import annotations

import os

REDIS_URL = "TWBENCH_REDIS_URL"  # redis://host:port/db of the completion counter (and brokers)
KEY_PREFIX = "TWBENCH_KEY_PREFIX"  # every counter key starts with this (unique per run)
QUEUE = "TWBENCH_QUEUE"  # queue / tube name (unique per run)
BROKER_URL = "TWBENCH_BROKER_URL"  # the framework's broker (Redis or AMQP URL)
DRAMATIQ_BROKER = "TWBENCH_DRAMATIQ_BROKER"  # "redis" or "rabbitmq"
TUBEWORKS_ADDRESS = "TWBENCH_TUBEWORKS_ADDRESS"  # host:port of the queue server


def get(name: str) -> str:
    """The value of ``name``; a worker started without it cannot do anything useful."""
    try:
        return os.environ[name]
    except KeyError:
        raise SystemExit(f"{name} is not set: worker modules are started by the harness") from None


def done_key(prefix: str) -> str:
    """The counter every finished job increments."""
    return prefix + "done"


def seen_key(prefix: str) -> str:
    """The set of worker pids that have finished at least one job."""
    return prefix + "seen"


# Names both sides agree on: the harness enqueues by name, the worker module registers them.
CELERY_TASK = "twbench.noop"
DRAMATIQ_ACTOR = "noop"
RQ_FUNCTION = "benchmarks.workers.apps.rq_jobs.noop"

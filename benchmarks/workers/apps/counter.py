"""Counting finished jobs, identically for every framework: one Redis ``INCR`` per job.

The first job in each process also adds the pid to a set, so the harness can tell when all N
worker processes are consuming and time only the part of the run where they all are.
"""

from __future__ import annotations

import os

import redis

from benchmarks.workers.apps import settings

_DONE = settings.done_key(settings.get(settings.KEY_PREFIX))
_SEEN = settings.seen_key(settings.get(settings.KEY_PREFIX))
_client: redis.Redis | None = None
_pid = 0  # the process _client belongs to (frameworks fork after importing us)


def job_done() -> None:
    """Record one finished job. Thread-safe: redis-py clients hold a connection pool."""
    global _client, _pid
    client = _client
    if client is None or _pid != os.getpid():
        client = redis.Redis.from_url(settings.get(settings.REDIS_URL))
        client.sadd(_SEEN, os.getpid())
        _client, _pid = client, os.getpid()
    client.incr(_DONE)

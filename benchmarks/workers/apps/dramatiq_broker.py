"""Building a Dramatiq broker; shared by the worker module and the harness's producer."""

from __future__ import annotations

import dramatiq


def make_broker(kind: str, url: str, namespace: str) -> dramatiq.Broker:
    """A Dramatiq broker of ``kind`` ("redis" or "rabbitmq"); ``namespace`` prefixes its Redis
    keys (RabbitMQ queues are named after the per-run queue instead)."""
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace=namespace)
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url=url)

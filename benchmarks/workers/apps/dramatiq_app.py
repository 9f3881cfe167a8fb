"""The Dramatiq side: ``dramatiq benchmarks.workers.apps.dramatiq_app``.

The broker (Redis or RabbitMQ) comes from the environment. Dramatiq's default middleware stays
on, as a Dramatiq user would have it; only retries are off (a no-op does not fail).
"""

from __future__ import annotations

import dramatiq

from benchmarks.workers.apps import settings
from benchmarks.workers.apps.counter import job_done
from benchmarks.workers.apps.dramatiq_broker import make_broker

broker = make_broker(
    settings.get(settings.DRAMATIQ_BROKER),
    settings.get(settings.BROKER_URL),
    settings.get(settings.KEY_PREFIX) + "dramatiq",
)
dramatiq.set_broker(broker)


@dramatiq.actor(
    actor_name=settings.DRAMATIQ_ACTOR, queue_name=settings.get(settings.QUEUE), max_retries=0
)
def noop(i: int) -> None:
    job_done()

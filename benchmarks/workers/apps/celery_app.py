"""The Celery side: ``celery -A benchmarks.workers.apps.celery_app worker``.

Settings are the ones Celery's docs suggest for many short tasks: results ignored, no rate
limits, prefetch set on the command line (``--prefetch-multiplier``).
"""

from __future__ import annotations

from celery import Celery

from benchmarks.workers.apps import settings
from benchmarks.workers.apps.counter import job_done

app = Celery("twbench", broker=settings.get(settings.BROKER_URL))
app.conf.update(
    task_ignore_result=True,
    task_default_queue=settings.get(settings.QUEUE),
    worker_disable_rate_limits=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name=settings.CELERY_TASK, ignore_result=True)
def noop(i: int) -> None:
    job_done()

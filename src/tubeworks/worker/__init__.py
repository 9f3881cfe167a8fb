"""The worker runtime: handlers per tube, run by ``tubeworks worker APP``.

    from tubeworks.worker import App, Retry

    app = App("127.0.0.1:11300")

    @app.handler("emails", max_attempts=5)
    def send(payload, ctx):
        if not ready(payload):
            raise Retry(delay=30)
        ...

Handlers may be ``async``. Jobs are JSON by default (``RAW`` or any object with
``dumps``/``loads`` as ``serializer=``). Resources the handlers share live in
``app.resources`` (:class:`tubeworks.resources.Resources`) and are closed when the worker stops.
"""

from tubeworks.worker.app import App, Handler
from tubeworks.worker.control import Bury, JobContext, Retry
from tubeworks.worker.policy import Backoff
from tubeworks.worker.runner import Worker, WorkerConfig
from tubeworks.worker.serializers import JSON, RAW, DecodeError, Serializer
from tubeworks.worker.stats import WorkerStatistics

__all__ = [
    "JSON",
    "RAW",
    "App",
    "Backoff",
    "Bury",
    "DecodeError",
    "Handler",
    "JobContext",
    "Retry",
    "Serializer",
    "Worker",
    "WorkerConfig",
    "WorkerStatistics",
]

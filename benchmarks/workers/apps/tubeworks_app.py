"""The tubeworks side: ``tubeworks worker benchmarks.workers.apps.tubeworks_app:app``."""

from __future__ import annotations

from typing import Any

from benchmarks.workers.apps import settings
from benchmarks.workers.apps.counter import job_done
from tubeworks.worker import App

app = App(settings.get(settings.TUBEWORKS_ADDRESS))


@app.handler(settings.get(settings.QUEUE))
def noop(payload: Any) -> None:
    job_done()

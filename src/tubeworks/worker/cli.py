"""``tubeworks worker APP``: import an :class:`App` and run its handlers until stopped."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from tubeworks.admin.common import security_options
from tubeworks.client import LocalProtocolError, Security
from tubeworks.client.address import make_address
from tubeworks.worker.app import App
from tubeworks.worker.runner import Worker, WorkerConfig

__all__ = ["load_app", "worker_command"]


def load_app(target: str) -> App:
    """Import ``module:attribute`` (the current directory is importable) and return the App.

    Raises:
        click.BadParameter: the target is malformed, missing, or not an App.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise click.BadParameter(f"expected MODULE:ATTRIBUTE, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise click.BadParameter(f"{target!r} is {type(app).__name__}, expected a tubeworks App")
    return app


@click.command("worker")
@click.argument("app_path", metavar="APP")
@click.option("--tubes", "-t", default="", help="Comma-separated tubes (default: all handled).")
@click.option(
    "--concurrency",
    "-c",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Jobs at once: one slot thread and queue connection each.",
)
@click.option(
    "--address", "-a", default=None, help="Queue server host:port, tls://host:port or unix:/path."
)
@click.option("--max-jobs", type=click.IntRange(min=1), default=None, help="Exit after N jobs.")
@click.option("--max-memory", type=click.IntRange(min=1), default=None, help="Exit above N MiB.")
@click.option("--grace", type=float, default=30.0, show_default=True, help="Seconds to finish.")
@click.option("--log-level", default="INFO", show_default=True)
@security_options
def worker_command(
    app_path: str,
    tubes: str,
    concurrency: int,
    address: str | None,
    max_jobs: int | None,
    max_memory: int | None,
    grace: float,
    log_level: str,
    security: Security,
) -> None:
    """Run the handlers of APP (module:attribute) until SIGTERM/SIGINT.

    The first signal stops reserving and lets jobs in hand finish within --grace seconds;
    a second one releases them at once. Exits 0 after a graceful stop or a recycle, 1 when
    jobs had to be abandoned or the queue refused the token or the worker's rights.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = load_app(app_path)
    if address is not None:
        app.address = make_address(address, None, None)
    if security != Security.from_env():  # flags given: they win over what the app was built with
        app.security = security
    try:
        app.new_client(lazy=True)  # a bad token or certificate file: say so now, not per slot
    except LocalProtocolError as exc:
        raise click.UsageError(str(exc)) from exc
    config = WorkerConfig(
        tubes=tuple(t for t in tubes.split(",") if t),
        concurrency=concurrency,
        max_jobs=max_jobs,
        max_memory=None if max_memory is None else max_memory * 2**20,
        grace=grace,
    )
    try:
        worker = Worker(app, config)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    sys.exit(worker.run())

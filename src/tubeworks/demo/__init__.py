"""``tubeworks demo``: the README's main job, end to end with real parts.

It starts our queue server, has a PHP Pheanstalk program walk a job through bury and kick and
then put a batch of word-count jobs, drains them with a Python consumer, prints a summary, and
stops the server with SIGTERM. Every step is a real process talking over a real socket.
"""

from __future__ import annotations

import signal
from types import FrameType

import click

__all__ = ["demo_command"]


@click.command("demo")
@click.option("--jobs", "-n", default=1000, show_default=True, help="Word-count jobs to put.")
@click.option(
    "--port", "-p", type=int, default=None, help="Port for the queue server [default: a free one]."
)
@click.option(
    "--server",
    type=click.Choice(["tubeworks", "beanstalkd"]),
    default="tubeworks",
    show_default=True,
    help="Which queue server to run the demo against (beanstalkd: the real one, to compare).",
)
def demo_command(jobs: int, port: int | None, server: str) -> None:
    """Run a PHP producer and a Python consumer through a real queue server."""
    from tubeworks.demo.run import DemoError, run_demo

    # SIGTERM unwinds like Ctrl-C, so the server and producer children are not left behind.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        run_demo(jobs, port, server, say=lambda line: click.echo(line))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)

"""Admin commands about tubes and the server: ``tubes``, ``stats``, ``pause``, ``top``."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from tubeworks.admin import render
from tubeworks.admin.common import EXIT_REFUSED, EXIT_USAGE, admin_command, connect, fail
from tubeworks.client import Address, Client, NotFound, TransportError, TubeStats


def all_tube_stats(client: Client) -> list[TubeStats]:
    """Stats of every tube, sorted by name."""
    return sorted(client.stats_tubes(), key=lambda s: s.name)


@admin_command("tubes", "tubeworks tubes --server 10.0.0.5:11300 --json")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of stats-tube records.")
def tubes_command(server: Address, as_json: bool) -> None:
    """List tubes with their job counts."""
    with connect(server) as client:
        stats = all_tube_stats(client)
    click.echo(render.tubes_json(stats) if as_json else render.tube_table(stats))


@admin_command("stats", "tubeworks stats emails --json")
@click.argument("tube", required=False)
@click.option("--job", "job_id", type=click.IntRange(1, 2**64 - 1), help="Stats of this job.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def stats_command(server: Address, tube: str | None, job_id: int | None, as_json: bool) -> None:
    """Show server stats, or the stats of TUBE, or of one --job."""
    if tube is not None and job_id is not None:
        fail("stats", "give TUBE or --job, not both", EXIT_USAGE)
    with connect(server) as client:
        try:
            if job_id is not None:
                data: dict[str, Any] = client.stats_job(job_id).as_dict()
            elif tube is not None:
                data = client.stats_tube(tube).as_dict()
            else:
                data = client.stats().as_dict()
        except NotFound:
            fail("stats", f"no job {job_id}" if job_id else f"no tube {tube!r}", EXIT_REFUSED)
            return
    click.echo(json.dumps(data, indent=2) if as_json else render.key_values(data))


@admin_command("pause", "tubeworks pause emails 600   # and later: tubeworks pause emails 0")
@click.argument("tube")
@click.argument("seconds", type=click.IntRange(0, 2**32 - 1))
def pause_command(server: Address, tube: str, seconds: int) -> None:
    """Stop handing out jobs from TUBE for SECONDS (0 resumes it at once)."""
    with connect(server) as client:
        try:
            client.pause_tube(tube, seconds)
        except NotFound:
            fail("pause", f"no tube {tube!r}", EXIT_REFUSED)
    click.echo(f"resumed {tube}" if seconds == 0 else f"paused {tube} for {seconds}s")


@admin_command("top", "tubeworks top --interval 2")
@click.option(
    "--interval",
    "-n",
    type=click.FloatRange(0.05),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@click.option(
    "--iterations",
    "-i",
    type=click.IntRange(1),
    default=None,
    help="Stop after this many refreshes. [default: until Ctrl-C]",
)
@click.option("--once", is_flag=True, help="Print one frame and exit (same as -i 1).")
def top_command(server: Address, interval: float, iterations: int | None, once: bool) -> None:
    """A live view of all tubes, refreshed in place, with put and delete rates.

    On a terminal the screen is redrawn; otherwise frames are printed one after another. If the
    server goes away, top says so and keeps trying (exit 3 if the last refresh failed).
    """
    if once:
        iterations = 1
    redraw = sys.stdout.isatty()
    client = connect(server, lazy=True)
    previous: list[TubeStats] = []
    then = time.monotonic()
    frame = 0
    failure: TransportError | None = None
    try:
        while iterations is None or frame < iterations:
            if frame:
                time.sleep(max(0.0, then + interval - time.monotonic()))
            now = time.monotonic()
            try:
                server_stats = client.stats().as_dict()
                tubes = all_tube_stats(client)
            except TransportError as exc:
                failure, previous = exc, []
                screen = f"tubeworks top  {server}  unreachable: {exc}; retrying every {interval}s"
            else:
                failure = None
                rates = render.rates_between(previous, tubes, now - then) if previous else {}
                screen = render.top_screen(str(server), server_stats, tubes, rates)
                previous = tubes
            if redraw:
                click.echo("\x1b[H\x1b[2J" + screen)
            else:
                click.echo(("\n" if frame else "") + screen)
            then, frame = now, frame + 1
    except KeyboardInterrupt:
        failure = None  # Ctrl-C is how you leave top: not an error
    finally:
        client.close()
    if failure is not None:
        raise failure

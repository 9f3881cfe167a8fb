"""Admin commands on whole tubes: ``clear``, ``move``, ``export``, ``import``.

Each runs a pipelined operation from :mod:`tubeworks.client.bulk`. The first Ctrl-C lets the batch
in flight finish and then stops (exit 130), so nothing is lost or done twice.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import IO, Any

import click

from tubeworks.admin.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Progress,
    StopFlag,
    admin_command,
    connect,
    fail,
    progress_option,
    window_option,
)
from tubeworks.client import Address, LocalProtocolError
from tubeworks.client.bulk import (
    ALL_STATES,
    CLEARABLE,
    BulkResult,
    clear_tube,
    export_jobs,
    import_jobs,
    move_jobs,
)


def _states(values: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    """``--state a --state b,c`` -> ("a", "b", "c"); nothing given -> ``default``."""
    out = [s.strip() for v in values for s in v.split(",") if s.strip()]
    return tuple(out) or default


def _finish(command: str, result: BulkResult, message: str) -> None:
    if result.interrupted:
        fail(command, f"interrupted: {message}; the rest is untouched", EXIT_INTERRUPTED)
    click.echo(message)


@admin_command("clear", "tubeworks clear emails --state buried --yes")
@click.argument("tube")
@click.option(
    "--state",
    "states",
    multiple=True,
    metavar="STATE",
    help="ready, delayed or buried (repeat or comma-separate). [default: all three]",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation on a terminal.")
@progress_option
@window_option
def clear_command(
    server: Address,
    tube: str,
    states: tuple[str, ...],
    yes: bool,
    progress: bool | None,
    window: int,
) -> None:
    """Delete all jobs of TUBE in the chosen states.

    Reserved jobs are left to their workers. Pipelined, so a million jobs take seconds; Ctrl-C
    stops after the batch in flight.
    """
    chosen = _states(states, CLEARABLE)
    if not yes and sys.stdin.isatty():
        click.confirm(f"delete all {', '.join(chosen)} jobs of {tube!r}?", abort=True)
    show = Progress("deleted", progress)
    with connect(server) as client, StopFlag().installed() as stop:
        try:
            result = clear_tube(client, tube, chosen, window=window, stop=stop, progress=show)
        finally:
            show.finish()
    _finish("clear", result, f"deleted {result.done} jobs from {tube}")


@admin_command("move", "tubeworks move emails-failed emails --state buried --limit 1000")
@click.argument("source")
@click.argument("target")
@click.option(
    "--state",
    "states",
    multiple=True,
    metavar="STATE",
    help="ready, delayed or buried (repeat or comma-separate). [default: ready]",
)
@click.option("--limit", type=click.IntRange(0), default=None, help="Move at most this many.")
@progress_option
@window_option
def move_command(
    server: Address,
    source: str,
    target: str,
    states: tuple[str, ...],
    limit: int | None,
    progress: bool | None,
    window: int,
) -> None:
    """Move jobs from SOURCE to TARGET, keeping priority, ttr, remaining delay and buried state.

    Each job is put into TARGET before it is deleted from SOURCE: an interrupted move never loses
    a job (a crash at the worst moment can leave one copy in each tube). Ready jobs are reserved
    while they move, so workers cannot take them half-way. Job ids change.
    """
    chosen = _states(states, ("ready",))
    show = Progress("moved", progress)
    with connect(server) as client, StopFlag().installed() as stop:
        try:
            result = move_jobs(
                client,
                source,
                target,
                chosen,
                limit=limit,
                window=window,
                stop=stop,
                progress=show,
            )
        finally:
            show.finish()
    _finish("move", result, f"moved {result.done} jobs from {source} to {target}")


@admin_command("export", "tubeworks export emails -o emails.jsonl")
@click.argument("tube")
@click.option(
    "--output",
    "-o",
    type=click.File("w"),
    default="-",
    show_default=True,
    help="Write JSON lines here.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    metavar="STATE",
    help="ready, reserved, delayed or buried (repeat or comma-separate). [default: all]",
)
@click.option(
    "--from-id",
    type=click.IntRange(1, 2**64 - 1),
    default=1,
    show_default=True,
    help="Skip job ids below this (all older jobs are known to be gone).",
)
@progress_option
@window_option
def export_command(
    server: Address,
    tube: str,
    output: IO[str],
    states: tuple[str, ...],
    from_id: int,
    progress: bool | None,
    window: int,
) -> None:
    """Write the jobs of TUBE as JSON lines, oldest first, changing nothing on the server.

    One object per job: id, tube, state, pri, ttr, delay (seconds left), and body (text) or
    body_base64 (other bytes). beanstalk cannot list a tube, so this reads job ids from
    --from-id up, a window at a time, until it has found every job the tube had.
    """
    chosen = _states(states, ALL_STATES)
    show = Progress("exported", progress)

    def emit(record: dict[str, Any]) -> None:
        output.write(json.dumps(record) + "\n")

    with connect(server) as client, StopFlag().installed() as stop:
        try:
            result = export_jobs(
                client, tube, emit, chosen, window=window, stop=stop, progress=show, start=from_id
            )
        finally:
            show.finish()
            output.flush()
    if result.interrupted:
        fail("export", f"interrupted after {result.done} jobs", EXIT_INTERRUPTED)
    click.echo(f"exported {result.done} jobs from {tube}", err=True)


@admin_command("import", "tubeworks import emails.jsonl --tube emails-restored")
@click.argument("file", type=click.File("r"), default="-")
@click.option(
    "--tube", "-t", default=None, help="Put every job here. [default: each record's tube]"
)
@progress_option
@window_option
def import_command(
    server: Address, file: IO[str], tube: str | None, progress: bool | None, window: int
) -> None:
    """Put jobs from JSON lines written by "tubeworks export" (FILE, or standard input).

    Priority, ttr and remaining delay are kept and buried jobs are buried again; ids are new.
    """
    show = Progress("imported", progress)
    line_no = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal line_no
        for line_no, line in enumerate(file, 1):  # noqa: B007 (read in the error message)
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LocalProtocolError(f"not JSON: {exc.msg}") from None

    with connect(server) as client, StopFlag().installed() as stop:
        try:
            result = import_jobs(
                client, records(), tube=tube, window=window, stop=stop, progress=show
            )
        except LocalProtocolError as exc:
            show.finish()
            fail(
                "import",
                f"line {line_no}: {exc} (jobs before this batch were imported)",
                EXIT_USAGE,
            )
            return
        finally:
            show.finish()
    _finish("import", result, f"imported {result.done} jobs")

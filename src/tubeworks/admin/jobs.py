"""Admin commands on single jobs: ``put``, ``peek``, ``kick``, ``delete``."""

from __future__ import annotations

import json
import sys
from typing import IO

import click

from tubeworks.admin.common import EXIT_REFUSED, EXIT_USAGE, admin_command, connect, fail
from tubeworks.client import DEFAULT_PRIORITY, DEFAULT_TTR, Address, BatchFailed, Job, NotFound
from tubeworks.client.bulk import job_record

tube_option = click.option(
    "--tube", "-t", default="default", show_default=True, help="Tube to work on."
)


@admin_command("put", 'tubeworks put --tube emails --priority 10 \'{"to": "a@example.com"}\'')
@click.argument("body", required=False)
@click.option("--file", "-f", "file", type=click.File("rb"), help="Read the body from a file.")
@tube_option
@click.option(
    "--priority",
    "-p",
    type=click.IntRange(0, 2**32 - 1),
    default=DEFAULT_PRIORITY,
    show_default=True,
    help="Lower runs first.",
)
@click.option(
    "--delay",
    "-d",
    type=click.IntRange(0, 2**32 - 1),
    default=0,
    show_default=True,
    help="Seconds before the job becomes ready.",
)
@click.option(
    "--ttr",
    type=click.IntRange(0, 2**32 - 1),
    default=DEFAULT_TTR,
    show_default=True,
    help="Seconds a worker may hold the job.",
)
@click.option("--lines", is_flag=True, help="Put one job per non-empty input line (pipelined).")
def put_command(
    server: Address,
    body: str | None,
    file: IO[bytes] | None,
    tube: str,
    priority: int,
    delay: int,
    ttr: int,
    lines: bool,
) -> None:
    """Put a job; prints its id.

    The body is BODY, or the contents of --file, or standard input when neither is given
    (or BODY is "-").
    """
    if body is not None and file is not None:
        fail("put", "give BODY or --file, not both", EXIT_USAGE)
    if file is not None:
        data = file.read()
    elif body is None or body == "-":
        data = sys.stdin.buffer.read()
    else:
        data = body.encode("utf-8")
    with connect(server) as client:
        client.use(tube)
        if lines:
            bodies = [line for line in data.splitlines() if line.strip()]
            ids = client.put_many(bodies, priority, delay, ttr)
        else:
            ids = [client.put(data, priority, delay, ttr)]
    click.echo("\n".join(map(str, ids)))


@admin_command("peek", "tubeworks peek --buried --tube emails --json")
@click.argument("job_id", type=click.IntRange(1, 2**64 - 1), required=False)
@click.option("--ready", "state", flag_value="ready", help="The next ready job of --tube.")
@click.option("--delayed", "state", flag_value="delayed", help="The next delayed job of --tube.")
@click.option("--buried", "state", flag_value="buried", help="The oldest buried job of --tube.")
@tube_option
@click.option("--json", "as_json", is_flag=True, help="Print id, stats and body as JSON.")
def peek_command(
    server: Address, job_id: int | None, state: str | None, tube: str, as_json: bool
) -> None:
    """Show a job without touching it: by JOB_ID, or the next ready/delayed/buried one.

    Prints the body exactly as stored (use --json for the id and stats too).
    """
    if (job_id is None) == (state is None):
        fail("peek", "give a JOB_ID or one of --ready/--delayed/--buried", EXIT_USAGE)
    with connect(server) as client:
        try:
            if job_id is not None:
                job = client.peek(job_id)
            else:
                client.use(tube)
                job = {
                    "ready": client.peek_ready,
                    "delayed": client.peek_delayed,
                    "buried": client.peek_buried,
                }[str(state)]()
            stats = client.stats_job(job) if as_json else None
        except NotFound:
            what = f"job {job_id}" if job_id is not None else f"{state} job in {tube!r}"
            fail("peek", f"no {what}", EXIT_REFUSED)
            return
    if stats is not None:
        click.echo(json.dumps(job_record(stats, job.body)))
    else:
        _write_body(job)


def _write_body(job: Job) -> None:
    out = sys.stdout.buffer
    out.write(job.body)
    if sys.stdout.isatty() and not job.body.endswith(b"\n"):
        out.write(b"\n")
    out.flush()


@admin_command("kick", "tubeworks kick 100 --tube emails")
@click.argument("count", type=click.IntRange(0, 2**32 - 1), required=False, default=1)
@click.option("--job", "job_id", type=click.IntRange(1, 2**64 - 1), help="Kick this one job.")
@click.option("--all", "kick_all", is_flag=True, help="Kick all buried (or all delayed) jobs.")
@tube_option
def kick_command(
    server: Address, count: int, job_id: int | None, kick_all: bool, tube: str
) -> None:
    """Make up to COUNT (default 1) buried jobs of --tube ready; if none are buried, delayed ones.

    With --job, kick that buried or delayed job, whatever its tube.
    """
    if kick_all:
        count = 2**32 - 1  # the protocol's largest bound
    with connect(server) as client:
        if job_id is not None:
            try:
                client.kick_job(job_id)
            except NotFound:
                fail(
                    "kick",
                    f"job {job_id} is not buried or delayed (or does not exist)",
                    EXIT_REFUSED,
                )
            click.echo(f"kicked job {job_id}")
            return
        client.use(tube)
        click.echo(f"kicked {client.kick(count)} jobs")


@admin_command("delete", "tubeworks delete 17 18 19")
@click.argument("job_ids", nargs=-1, required=True, type=click.IntRange(1, 2**64 - 1))
def delete_command(server: Address, job_ids: tuple[int, ...]) -> None:
    """Delete jobs by id (ready, delayed or buried; reserved ones belong to their worker)."""
    missing: list[int] = []
    with connect(server) as client:
        try:
            client.delete_many(job_ids, window=len(job_ids))  # one batch: every id gets an answer
        except BatchFailed as exc:
            missing = [i for i, r in zip(job_ids, exc.results, strict=False) if r is not None]
    deleted = len(job_ids) - len(missing)
    click.echo(f"deleted {deleted} jobs")
    if missing:
        fail("delete", "not found or reserved: " + " ".join(map(str, missing)), EXIT_REFUSED)

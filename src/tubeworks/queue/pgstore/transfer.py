"""Moving jobs between the log store and PostgreSQL: ``tubeworks pg-store import|export``.

Import reads a write-ahead log directory (``tubeworks queue -b DIR``) or a beanstalkd binlog
directory and inserts its jobs into the PostgreSQL store; export writes the PostgreSQL store's
jobs into a new, empty log directory a ``tubeworks queue -b DIR`` then loads. Both keep ids,
states, priorities, delays (absolute ready times), TTRs, ages, bodies and counters. Reserved
jobs travel as ready (as after any restart), and buried jobs keep their order only as far as
id order gives it (the log has no burial order).

Import opens the log the way a server does (it takes the directory's lock, so a server must
not be using it, and it starts a new, empty log file there). Export holds every job in memory
while writing (the log reads through it when it compacts).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, Final

import click

from tubeworks.queue.jobs import JobRecordLike
from tubeworks.queue.pgstore.db import connect, migrate, parse_target

#: Rows fetched per round trip when exporting.
EXPORT_BATCH: Final = 1000


class TransferError(Exception):
    """Jobs cannot be moved (the message says why)."""


async def import_jobs(url: str, records: Iterable[JobRecordLike], next_id: int) -> int:
    """Insert ``records`` into the store at ``url`` (created if needed); returns the count.

    Raises TransferError if a job id already exists there (import into an empty store), and
    SchemaError if the database cannot be used.
    """
    target = parse_target(url)
    await migrate(target)
    db = await connect(target, autocommit=False)
    count = 0
    try:
        async with db.transaction():
            async with db.cursor() as cur, cur.copy(
                b"COPY jobs (id, tube, state, pri, delay, ttr, body, created, ready_at, "
                b"bury_seq, reserves, timeouts, releases, buries, kicks) FROM STDIN"
            ) as copy:
                for r in records:
                    state = 1 if r.state == 2 else int(r.state)  # reserved: ready again
                    await copy.write_row((
                        r.id, r.tube, state, r.pri, r.delay, r.ttr, bytes(r.body) + b"\r\n",
                        r.created_at, r.ready_at if state == 4 else 0.0, r.id, r.reserves,
                        r.timeouts, r.releases, r.buries, r.kicks,
                    ))
                    count += 1
            await db.execute(
                b"SELECT setval('job_ids', greatest(%s, (SELECT coalesce(max(id), 1) FROM jobs),"
                b" (SELECT last_value FROM job_ids)))",
                (max(next_id - 1, 1),),
            )
            await db.execute(
                b"SELECT setval('bury_order', greatest((SELECT coalesce(max(bury_seq), 1) "
                b"FROM jobs), (SELECT last_value FROM bury_order)))"
            )
    except Exception as exc:
        import psycopg

        if isinstance(exc, psycopg.errors.UniqueViolation):
            raise TransferError(
                f"cannot import into {target}: job ids already exist there "
                f"(import into an empty store)"
            ) from exc
        if isinstance(exc, psycopg.Error):
            raise TransferError(f"cannot import into {target}: {exc}") from exc
        raise
    finally:
        await db.close()
    return count


async def read_jobs(url: str) -> tuple[list[Any], int]:
    """Every job of the store at ``url`` as WAL records (id order), and the next job id."""
    from tubeworks.queue.wal import JobRecord, JobState

    target = parse_target(url)
    db = await connect(target, autocommit=False)
    records = []
    try:
        async with db.transaction():
            async with db.cursor(name="tubeworks_export") as cur:
                await cur.execute(
                    b"SELECT id, tube, state, pri, delay, ttr, created, ready_at, reserves, "
                    b"timeouts, releases, buries, kicks, body FROM jobs ORDER BY id"
                )
                while rows := await cur.fetchmany(EXPORT_BATCH):
                    for row in rows:
                        (job_id, tube, state, pri, delay, ttr, created, ready_at, reserves,
                         timeouts, releases, buries, kicks, body) = row
                        records.append(JobRecord(
                            job_id, bytes(tube), pri, delay, ttr, created,
                            ready_at if state == 4 else 0.0, JobState(state), reserves,
                            timeouts, releases, buries, kicks, bytes(body)[:-2],
                        ))
            row = await (await db.execute(b"SELECT last_value, is_called FROM job_ids")).fetchone()
    finally:
        await db.close()
    next_id = (row[0] + 1 if row[1] else row[0]) if row else 1
    return records, max(next_id, records[-1].id + 1 if records else 1)


def write_log(directory: str, records: list[Any]) -> None:
    """Write ``records`` as PUTs into the empty log ``directory`` (created if missing)."""
    from tubeworks.queue.wal import WalError, WriteAheadLog

    try:
        wal, recovery = WriteAheadLog.open(directory, fsync_interval=0)
    except WalError as exc:
        raise TransferError(str(exc)) from exc
    try:
        if recovery.jobs:
            raise TransferError(
                f"{directory} already holds {len(recovery.jobs)} jobs; export into an empty "
                f"directory"
            )
        by_id = {r.id: r for r in records}
        wal.attach(by_id.get)
        for r in records:
            wal.log_put(r)
        wal.commit()
    except WalError as exc:
        raise TransferError(f"cannot write {directory}: {exc}") from exc
    finally:
        wal.close()


def read_log(directory: str, beanstalkd: bool) -> tuple[list[Any], int]:
    """The live jobs of a log directory (ours, or beanstalkd's with ``beanstalkd``)."""
    from tubeworks.queue.wal import WalError, WriteAheadLog
    from tubeworks.queue.wal.beanstalkd_binlog import read_binlog_dir

    try:
        if beanstalkd:
            recovery = read_binlog_dir(directory)
        else:
            wal, recovery = WriteAheadLog.open(directory, fsync_interval=None)
            wal.close()
    except WalError as exc:
        raise TransferError(str(exc)) from exc
    for warning in recovery.warnings:
        print(f"tubeworks pg-store: {warning}", file=sys.stderr)
    return recovery.jobs, recovery.next_id


@click.group("pg-store")
def pg_store_command() -> None:
    """Move jobs between a log directory and the PostgreSQL store."""


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def _fail(message: str) -> None:
    click.echo(f"tubeworks pg-store: {message}", err=True)
    raise SystemExit(1)


@pg_store_command.command("import")
@click.option("--store", "url", required=True, help="postgresql://...[?schema=NAME]")
@click.option("--from", "directory", required=True, help="log directory to read")
@click.option("--beanstalkd", is_flag=True, help="the directory is a beanstalkd binlog")
def import_command(url: str, directory: str, beanstalkd: bool) -> None:
    """Copy the jobs of a log directory into the PostgreSQL store."""
    from tubeworks.queue.pgstore.schema import SchemaError

    try:
        records, next_id = read_log(directory, beanstalkd)
        count = _run(import_jobs(url, records, next_id))
    except (TransferError, SchemaError, ValueError) as exc:
        _fail(str(exc))
    click.echo(f"imported {count} jobs from {directory}")


@pg_store_command.command("export")
@click.option("--store", "url", required=True, help="postgresql://...[?schema=NAME]")
@click.option("--to", "directory", required=True, help="empty log directory to write")
def export_command(url: str, directory: str) -> None:
    """Copy the PostgreSQL store's jobs into a new log directory (for ``queue -b``)."""
    from tubeworks.queue.pgstore.schema import SchemaError

    try:
        records, _ = _run(read_jobs(url))
        write_log(directory, records)
    except (TransferError, SchemaError, ValueError) as exc:
        _fail(str(exc))
    click.echo(f"exported {len(records)} jobs to {directory}")

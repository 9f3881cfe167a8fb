"""Run the examples end to end: start the stack, enqueue the work, show progress, check the
results, print a summary, stop cleanly.  ``tubeworks examples run [1 2 3 4]``.

Every example works in its own directory under ``--out`` (default ``examples/out``): the
stack's state (queue log, worker logs) in ``var/``, the results next to it.  Each one checks
its own results and fails loudly when they do not add up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from examples.stack import ExampleError, Stack, free_port, running_stack, wait_drained

HERE = Path(__file__).resolve().parent
PHEANSTALK = Path("/usr/share/php/Pheanstalk/autoload.php")

Say = Callable[[str], None]


def _progress(
    say: Say, label: str, total: int, extra: Callable[[], str] = lambda: ""
) -> Callable[[dict[str, int]], None]:
    """Prints a progress line whenever the counts change."""
    last: list[tuple[object, ...]] = []

    def show(counts: dict[str, int]) -> None:
        more = extra()
        key = (counts["ready"], counts["reserved"], counts["delayed"], counts["buried"], more)
        if last and last[-1] == key:
            return
        last.append(key)
        waiting = counts["ready"] + counts["delayed"]
        done = total - waiting - counts["reserved"]
        say(
            f"  [{label}] {done}/{total} handled, {counts['reserved']} in progress, "
            f"{waiting} waiting, {counts['buried']} buried{more}"
        )

    return show


def _fresh(directory: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def _log_dir(work: Path) -> str:
    return str(work / "var" / "log")


# -- 1. thumbnails ------------------------------------------------------------------------


def run_thumbnails(work: Path, say: Say, images: int = 24) -> list[str]:
    from PIL import Image

    from examples.thumbnails.produce import TUBE, enqueue_folder, make_samples

    _fresh(work)
    uploads, out = work / "uploads", work / "thumbnails"
    sizes = make_samples(uploads, images)
    say(f"1. thumbnails: {images} images (+1 truncated JPEG, +1 text file) in {uploads}")
    config = HERE / "thumbnails" / "stack.ini"
    with running_stack(config, work / "var") as stack, stack.client() as client:
        put = enqueue_folder(client, uploads, out)
        say(f"  put {put} jobs on {TUBE!r}; pool 'thumbs': 2 processes x 2 jobs at once")
        final = wait_drained(client, [TUBE], _progress(say, "thumbs", put), timeout=120)
    made = sorted(out.glob("*.thumb.png"))
    if len(made) != len(sizes):
        raise ExampleError(f"expected {len(sizes)} thumbnails, found {len(made)} in {out}")
    for name, (w, h) in sizes.items():
        with Image.open(out / f"{Path(name).stem}.thumb.png") as thumb:
            tw, th = thumb.size
        if max(tw, th) != 128 or abs(tw / th - w / h) > 0.05:
            raise ExampleError(f"thumbnail of {name} ({w}x{h}) is {tw}x{th}")
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    if final["buried"] != 2 or sorted(r["file"] for r in rejected) != ["broken.jpg", "notes.txt"]:
        raise ExampleError(f"expected 2 buried files, got {final['buried']}: {rejected}")
    lines = [f"1. thumbnails: {len(made)} thumbnails (<= 128x128) in {out}"]
    lines += [f"   buried {r['file']}: {r['reason']}" for r in sorted(rejected, key=str)]
    return lines


# -- 2. mailing ---------------------------------------------------------------------------


def _pool_sizes(lines: list[str], pool: str) -> list[int]:
    """The pool sizes the autoscaler chose, in order, from the stack's log lines."""
    found = (re.search(rf"autoscale {pool}: \d+ -> (\d+) processes", line) for line in lines)
    return [int(m.group(1)) for m in found if m]


def run_mailing(work: Path, say: Say, messages: int = 2000) -> list[str]:
    from examples.mailing.produce import TUBE, enqueue, mailing
    from examples.mailing.smtp_sink import SmtpSink

    _fresh(work)
    sink = SmtpSink(work / "mailbox", free_port())
    sink.start()
    say(
        f"2. mailing: {messages} personalised messages to a local SMTP server (port {sink.port}) "
        "that answers 421 and drops connections now and then"
    )
    env = {"EXAMPLE_SMTP": f"127.0.0.1:{sink.port}"}
    try:
        config = HERE / "mailing" / "stack.ini"
        with running_stack(config, work / "var", env) as stack, stack.client() as client:

            def workers() -> str:
                sizes = _pool_sizes(stack.lines, "mail")
                return f", pool 'mail' at {sizes[-1] if sizes else 1} process(es)"

            jobs = mailing(messages)
            enqueue(client, jobs)
            say(f"  put {messages} jobs on {TUBE!r}; the pool autoscales between 1 and 6")
            final = wait_drained(client, [TUBE], _progress(say, "mail", messages, workers), 300)
            say("  backlog gone; waiting for the pool to shrink back to 1 process")
            _wait_shrunk(stack, "mail")
            sizes = _pool_sizes(stack.lines, "mail")
    finally:
        sink.stop()
    stats = sink.stats
    expected = {job["id"] for job in jobs}
    if set(stats.received) != expected or stats.duplicates or final["buried"]:
        missing = len(expected - set(stats.received))
        raise ExampleError(
            f"{missing} messages missing, {stats.duplicates} duplicates, "
            f"{final['buried']} buried"
        )
    return [
        f"2. mailing: {len(stats.received)} messages delivered exactly once to {sink.mailbox}",
        f"   the server misbehaved {stats.replied_421} times with 421 and dropped "
        f"{stats.dropped} connections ({stats.connections} connections in all)",
        f"   pool 'mail': 1 -> {' -> '.join(map(str, sizes))} processes",
    ]


def _wait_shrunk(stack: Stack, pool: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        sizes = _pool_sizes(stack.lines, pool)
        if sizes and sizes[-1] == 1:
            return
        if time.monotonic() > deadline:
            raise ExampleError(f"pool {pool!r} did not shrink back to 1 process: {sizes}")
        time.sleep(0.1)


# -- 3. tracking --------------------------------------------------------------------------


def _count_rows(dsn: Any, table: str) -> int:
    return len(_stored_ids(dsn, table))


def _stored_ids(dsn: Any, table: str) -> list[str]:
    if dsn.kind == "sqlite":
        with contextlib.closing(sqlite3.connect(dsn.path, timeout=5)) as conn:
            return [r[0] for r in conn.execute(f"SELECT event_id FROM {table}")]
    import pymysql

    with contextlib.closing(pymysql.connect(**dsn.mysql_args())) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT event_id FROM {table}")
        return [r[0] for r in cur.fetchall()]


def _break_database(dsn: Any, table: str, meanwhile: Callable[[], None]) -> str:
    """Kill every worker session (MariaDB) or lock the file for a while (SQLite); run
    ``meanwhile`` (more work for the workers) while the database is broken."""
    if dsn.kind == "sqlite":
        conn = sqlite3.connect(dsn.path, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            meanwhile()
            time.sleep(1.5)  # the outage the workers have to sit out
            conn.execute("COMMIT")
        finally:
            conn.close()
        return "locked the SQLite file for 1.5 s (there is no server session to kill)"
    import pymysql

    killed = 0
    conn = pymysql.connect(**dsn.mysql_args(), autocommit=True)
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute(f"SELECT conn_id FROM {table}_sessions")
        for (conn_id,) in cur.fetchall():
            try:
                cur.execute(f"KILL CONNECTION {int(conn_id)}")
                killed += 1
            except pymysql.err.OperationalError:
                pass  # that session had already ended
    meanwhile()
    return f"killed {killed} worker database session(s) with KILL CONNECTION"


def run_tracking(work: Path, say: Say, events: int = 1000, dsn: str | None = None) -> list[str]:
    from examples.tracking.produce import TUBE, enqueue
    from examples.tracking.produce import events as make_events
    from examples.tracking.store import create_tables, parse_dsn

    _fresh(work)
    dsn_text = dsn or f"sqlite://{work / 'events.sqlite'}"
    where = parse_dsn(dsn_text)
    table = "events" if where.kind == "sqlite" else f"events_{uuid.uuid4().hex[:10]}"
    create_tables(where, table)
    shown = where.path if where.kind == "sqlite" else f"MariaDB {where.host}:{where.port}"
    say(f"3. tracking: {events} events into {shown}, table {table}")
    env = {"EXAMPLE_DB": dsn_text, "EXAMPLE_TABLE": table}
    config = HERE / "tracking" / "stack.ini"
    with running_stack(config, work / "var", env) as stack, stack.client() as client:
        batch = make_events(events)
        half = events // 2
        enqueue(client, batch[:half])
        deadline = time.monotonic() + 60
        while _count_rows(where, table) < half:  # the workers have their sessions open now
            if time.monotonic() > deadline:
                raise ExampleError("events are not being stored")
            time.sleep(0.05)
        what = _break_database(where, table, lambda: enqueue(client, batch[half:]))
        say(f"  mid-run, {what}")
        wait_drained(client, [TUBE], _progress(say, "events", events), timeout=120)
    ids = _stored_ids(where, table)
    if sorted(ids) != sorted(str(e["id"]) for e in batch):
        raise ExampleError(f"expected {events} distinct events stored, found {len(ids)} rows")
    retried = sum(
        p.read_text().count("outcome=released") for p in (work / "var" / "log").glob("*.log")
    )
    return [
        f"3. tracking: {len(ids)} events stored once each in {shown} (table {table})",
        f"   {what}; the workers carried on ({retried} job(s) retried)",
    ]


# -- 4. PHP producer ----------------------------------------------------------------------


def run_php(work: Path, say: Say, count: int = 20) -> list[str]:
    if shutil.which("php") is None or not PHEANSTALK.exists():
        raise ExampleError("example 4 needs php-cli and php-pda-pheanstalk (./dev setup)")
    _fresh(work)
    out = work / "greetings"
    say(f"4. php producer: Pheanstalk puts {count} jobs on 'phpsw' for a Python pool")
    with running_stack(HERE / "php_producer" / "stack.ini", work / "var") as stack:
        producer = subprocess.run(
            ["php", str(HERE / "php_producer" / "producer.php"), str(stack.port), str(count),
             str(out)],
            capture_output=True, text=True, timeout=60,
        )
        if producer.returncode != 0:
            raise ExampleError(f"producer.php failed: {producer.stderr.strip()}")
        with stack.client() as client:
            wait_drained(client, ["phpsw"], _progress(say, "phpsw", count), timeout=60)
    answers = [json.loads(p.read_text()) for p in sorted(out.glob("greeting_*.json"))]
    if [a["seq"] for a in answers] != list(range(1, count + 1)):
        raise ExampleError(f"expected greetings 1..{count}, got {[a['seq'] for a in answers]}")
    workers = sorted({a["answered_by"] for a in answers})
    return [
        f"4. php producer: {len(answers)} jobs from {answers[0]['sent_by']} answered by "
        f"{len(workers)} Python worker(s); results in {out}",
    ]


EXAMPLES: dict[str, tuple[str, Callable[..., list[str]]]] = {
    "1": ("thumbnails", run_thumbnails),
    "2": ("mailing", run_mailing),
    "3": ("tracking", run_tracking),
    "4": ("php_producer", run_php),
}


def main(argv: list[str] | None = None, say: Say = print) -> int:
    parser = argparse.ArgumentParser(prog="tubeworks examples run", description=__doc__)
    parser.add_argument("numbers", nargs="*", default=["1", "2"], help="examples (default 1 2)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="work directory")
    parser.add_argument("--small", action="store_true", help="small inputs (for tests)")
    parser.add_argument("--dsn", help="example 3: mysql://USER@HOST:PORT/DB instead of SQLite")
    args = parser.parse_args(argv)
    unknown = [n for n in args.numbers if n not in EXAMPLES]
    if unknown:
        say(f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(EXAMPLES)}")
        return 2
    summary: list[str] = []
    started = time.monotonic()
    for number in args.numbers:
        name, run = EXAMPLES[number]
        kwargs: dict[str, Any] = dict(SMALL.get(number, {})) if args.small else {}
        if number == "3" and args.dsn:
            kwargs["dsn"] = args.dsn
        try:
            summary += run(args.out.resolve() / name, say, **kwargs)
        except ExampleError as exc:
            say(f"example {number} ({name}) failed: {exc}")
            return 1
    say("")
    say(f"summary ({time.monotonic() - started:.0f}s, every stack stopped cleanly):")
    for line in summary:
        say(f"  {line}")
    return 0


SMALL: dict[str, dict[str, int]] = {
    "1": {"images": 6},
    "2": {"messages": 400},
    "3": {"events": 300},
    "4": {"count": 5},
}


if __name__ == "__main__":
    sys.exit(main())

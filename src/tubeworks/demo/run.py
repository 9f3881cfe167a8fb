"""Run the demo: a queue server child, the PHP producer child, and a Python consumer in-process.

This is the I/O side; the word counting lives in :mod:`tubeworks.demo.wordcount` and all the
wording in :mod:`tubeworks.demo.report`. The steps run one after the other (server up, producer
to completion, consumer drains, server down) so the narration reads in order and the numbers
can be checked exactly: every job put must be consumed and the word totals must match the text.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

from tubeworks.client import Client, ClientError, TimedOut
from tubeworks.demo import report, wordcount

INTRO_TUBE = "phpsw"
BATCH_TUBE = "wordcount"
INTRO_BODY = "count the elephpants"  # the body producer.php puts on INTRO_TUBE
PHEANSTALK_AUTOLOAD = Path("/usr/share/php/Pheanstalk/autoload.php")
APT_HINT = "sudo apt-get install php-cli php-pda-pheanstalk"
LISTEN_TIMEOUT = 10.0  # seconds for the server to accept connections
RESERVE_TIMEOUT = 5  # seconds the consumer waits for a job it knows was put
STOP_TIMEOUT = 10.0  # seconds for the server to exit after SIGTERM
PRODUCER_TIMEOUT = 60.0  # seconds for producer.php, plus a little per job


class DemoError(Exception):
    """The demo could not run or its results did not add up; the message says which."""


Say = Callable[[str], None]


@dataclass(frozen=True)
class ServerSpec:
    """How to start the server that holds the queue."""

    name: str  # shown in the narration
    argv: list[str]  # command line, without the port
    clean_exits: frozenset[int]  # return codes that count as a clean stop after SIGTERM


def server_spec(kind: str) -> ServerSpec:
    """Ours by default; the real beanstalkd on request, to compare the same run against it."""
    if kind == "tubeworks":
        argv = [sys.executable, "-m", "tubeworks", "queue", "-l", "127.0.0.1", "-p"]
        return ServerSpec("tubeworks queue", argv, frozenset({0}))
    if kind == "beanstalkd":
        binary = shutil.which("beanstalkd")
        if binary is None:
            raise DemoError(
                "beanstalkd not found; install it with: sudo apt-get install beanstalkd"
            )
        # beanstalkd has no SIGTERM handler, so it dies of the signal itself.
        clean = frozenset({0, -signal.SIGTERM})
        return ServerSpec("beanstalkd", [binary, "-l", "127.0.0.1", "-p"], clean)
    raise DemoError(f"unknown server {kind!r}; expected 'tubeworks' or 'beanstalkd'")


def check_php() -> str:
    """The php binary, or a DemoError saying exactly what to install."""
    php = shutil.which("php")
    if php is None:
        raise DemoError(f"php not found: the demo's producer is a PHP script; install: {APT_HINT}")
    if not PHEANSTALK_AUTOLOAD.exists():
        raise DemoError(f"Pheanstalk not found at {PHEANSTALK_AUTOLOAD}; install: {APT_HINT}")
    return php


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_port_free(port: int) -> None:
    """Refuse a busy --port up front: the demo would otherwise talk to whatever holds it."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DemoError(
                f"port {port} on 127.0.0.1 is not free ({exc.strerror}); "
                "pick another with --port or leave it out"
            ) from None


@contextlib.contextmanager
def queue_server(spec: ServerSpec, port: int, say: Say) -> Iterator[subprocess.Popen[bytes]]:
    """Run the server for the block; stop it with SIGTERM and insist on a clean exit."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*spec.argv, str(port)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            _wait_listening(proc, port, log)
            say(f"[server] started {spec.name} on 127.0.0.1:{port} (pid {proc.pid})")
            yield proc
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise DemoError(
                f"{spec.name} did not exit within {STOP_TIMEOUT:g}s of SIGTERM"
            ) from None
        if code not in spec.clean_exits:
            raise DemoError(f"{spec.name} exited with status {code} after SIGTERM{_tail(log)}")
        how = f"exited with status {code}"
        if code < 0:
            how = f"was ended by {signal.Signals(-code).name}"
        say(f"[server] sent SIGTERM; {spec.name} {how}")


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise DemoError(f"queue server exited with status {proc.returncode}{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if proc.poll() is None:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise DemoError(
                    f"nothing listening on 127.0.0.1:{port} after {LISTEN_TIMEOUT:g}s"
                ) from None
            time.sleep(0.01)


def _tail(log: IO[bytes], limit: int = 2000) -> str:
    log.seek(0)
    text = log.read().decode(errors="replace")[-limit:].strip()
    return f"; its output:\n{text}" if text else ""


def run_producer(
    php: str, port: int, jobs: int, corpus: Path, say: Say
) -> dict[str, dict[str, Any]]:
    """Run producer.php, narrating each step; return its events by name."""
    events: dict[str, dict[str, Any]] = {}
    limit = PRODUCER_TIMEOUT + jobs / 500  # generous: PHP puts thousands of jobs a second
    script_ref = resources.files("tubeworks.demo") / "producer.php"
    with resources.as_file(script_ref) as script, tempfile.TemporaryFile() as errors:
        argv = [php, str(script), str(port), INTRO_TUBE, BATCH_TUBE, str(jobs), str(corpus)]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True) as proc:
            # A producer stuck on a server that never answers is killed rather than waited on.
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                proc.kill()

            watchdog = threading.Timer(limit, expire)
            watchdog.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    event = json.loads(line)
                    events[event["event"]] = event
                    say(report.describe_producer_event(event))
            except BaseException:
                proc.kill()
                raise
            finally:
                watchdog.cancel()
        if expired.is_set():
            raise DemoError(f"php producer did not finish within {limit:g}s; killed it")
        if proc.returncode != 0:
            errors.seek(0)
            err = errors.read().decode(errors="replace").strip()
            raise DemoError(f"php producer exited with status {proc.returncode}: {err}")
    kick = events.get("kick", {})
    if kick.get("state") != "ready" or kick.get("body") != INTRO_BODY:
        raise DemoError(f"after kick(1) expected job ready with its body intact, got {kick}")
    return events


class _Consumer:
    """The few consumer calls the demo needs, on tubeworks' own client."""

    name = "tubeworks.client"

    def __init__(self, port: int, tubes: list[str]) -> None:
        self._client = Client("127.0.0.1", port, watch=tubes)

    def reserve(self, timeout: int) -> tuple[int, str]:
        try:
            job = self._client.reserve(timeout=timeout)
        except TimedOut:
            raise TimeoutError from None
        return job.id, job.text

    def delete(self, job_id: int) -> None:
        self._client.delete(job_id)

    def stats(self) -> dict[str, object]:
        return self._client.stats().as_dict()

    def close(self) -> None:
        self._client.close()


def consume(port: int, expected: int, say: Say) -> tuple[Counter[str], float, dict[str, object]]:
    """Reserve, count and delete ``expected`` jobs; return word totals, seconds and queue stats."""
    try:
        return _consume(port, expected, say)
    except (ClientError, ValueError) as exc:
        raise DemoError(f"python consumer failed: {exc}") from exc


def _consume(port: int, expected: int, say: Say) -> tuple[Counter[str], float, dict[str, object]]:
    consumer = _Consumer(port, [INTRO_TUBE, BATCH_TUBE])
    try:
        say(f"[python] consumer ({consumer.name}) watching {INTRO_TUBE!r} and {BATCH_TUBE!r}")
        words: Counter[str] = Counter()
        step = max(1, expected // 5)
        started = time.monotonic()
        for done in range(1, expected + 1):
            try:
                job_id, body = consumer.reserve(RESERVE_TIMEOUT)
            except TimeoutError:
                raise DemoError(
                    f"consumer waited {RESERVE_TIMEOUT}s for job {done} of {expected}; none came"
                ) from None
            task = wordcount.parse_task(body)
            counts = wordcount.count_words(task.text)
            words.update(counts)
            consumer.delete(job_id)
            if task.seq is None:
                say(f"[python] job {job_id} {body!r}: {sum(counts.values())} words, deleted")
            if done % step == 0 or done == expected:
                say(f"[python] consumed {done}/{expected} jobs")
        seconds = time.monotonic() - started
        return words, seconds, consumer.stats()
    finally:
        consumer.close()


def run_demo(jobs: int, port: int | None, server: str, say: Say) -> None:
    """The whole demo; raises DemoError if any step fails or the numbers do not add up."""
    if jobs < 1:
        raise DemoError(f"--jobs must be at least 1, got {jobs}")
    php = check_php()
    spec = server_spec(server)
    if port:
        check_port_free(port)
    else:
        port = free_port()
    package = resources.files("tubeworks.demo")
    lines = wordcount.corpus_lines((package / "corpus.txt").read_text(encoding="utf-8"))
    expected_words = wordcount.expected_counts(lines, jobs, [INTRO_BODY])
    say(f"tubeworks demo: PHP producer -> {spec.name} -> Python consumer, {jobs} word-count jobs")
    with queue_server(spec, port, say), resources.as_file(package / "corpus.txt") as corpus:
        events = run_producer(php, port, jobs, corpus, say)
        words, consume_seconds, stats = consume(port, jobs + 1, say)
        summary = report.Summary(
            server=spec.name,
            intro_tube=INTRO_TUBE,
            batch_tube=BATCH_TUBE,
            batch=int(events["batch"]["count"]),
            consumed=jobs + 1,
            buried=1 if events["bury"]["state"] == "buried" else 0,
            kicked=int(events["kick"]["kicked"]),
            produce_seconds=float(events["batch"]["seconds"]),
            consume_seconds=consume_seconds,
            words=words,
            expected_words=expected_words,
            stats=stats,
        )
        for line in report.summary_lines(summary):
            say(line)
        if words != expected_words:
            raise DemoError("word totals from the jobs do not match the text")
        if stats.get("current-jobs-ready") != 0:
            ready = stats.get("current-jobs-ready")
            raise DemoError(f"expected an empty queue after the run, stats say {ready} ready")

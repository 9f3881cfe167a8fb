"""Prometheus metrics for the queue server (``--metrics-port``).

A custom collector reads the store at scrape time, so a tube that vanishes simply stops being
exported (no stale label sets), and nothing on the hot path pays for metrics. The endpoint is
a tiny HTTP/1.0 responder on the server's own event loop: no thread, no web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from tubeworks.queue.core import QueueCore

log = logging.getLogger("tubeworks.queue.metrics")

#: Longest request head we read before answering 400.
MAX_REQUEST_HEAD: Final = 8192
STATES: Final = ("ready", "reserved", "delayed", "buried")


class QueueCollector:
    """Yields every queue metric from the live store."""

    def __init__(self, core: QueueCore, wal_stats: Callable[[], Any] | None = None) -> None:
        self.core = core
        self.wal_stats = wal_stats

    def collect(self) -> Iterator[Any]:
        core = self.core
        now = time.time()
        jobs = GaugeMetricFamily(
            "tubeworks_queue_jobs", "Jobs in a tube, by state.", labels=["tube", "state"]
        )
        urgent = GaugeMetricFamily(
            "tubeworks_queue_urgent_jobs", "Ready jobs with priority < 1024.", labels=["tube"]
        )
        waiting = GaugeMetricFamily(
            "tubeworks_queue_waiting_clients",
            "Clients blocked in reserve on a tube.",
            labels=["tube"],
        )
        watching = GaugeMetricFamily(
            "tubeworks_queue_watching_clients", "Clients watching a tube.", labels=["tube"]
        )
        using = GaugeMetricFamily(
            "tubeworks_queue_using_clients", "Clients using a tube.", labels=["tube"]
        )
        paused = GaugeMetricFamily(
            "tubeworks_queue_tube_paused_seconds",
            "Seconds until a paused tube resumes (0: not paused).",
            labels=["tube"],
        )
        tube_puts = CounterMetricFamily(
            "tubeworks_queue_tube_puts",
            "Jobs put into a tube since it was created.",
            labels=["tube"],
        )
        for tube in core.tube_list:
            name = tube.name.decode("ascii")
            counts = (tube.n_ready, tube.n_reserved, tube.n_delayed, len(tube.buried))
            for state, value in zip(STATES, counts, strict=True):
                jobs.add_metric([name, state], value)
            urgent.add_metric([name], tube.n_urgent)
            waiting.add_metric([name], len(tube.waiting))
            watching.add_metric([name], tube.watching)
            using.add_metric([name], tube.using)
            left = tube.unpause_at - now if tube.pause else 0.0
            paused.add_metric([name], max(0.0, left))
            tube_puts.add_metric([name], tube.total_jobs)
        yield from (jobs, urgent, waiting, watching, using, paused, tube_puts)

        ev = core.events
        for name, help_text, value in (
            ("puts", "Jobs stored by put.", core.total_jobs),
            ("reserves", "Jobs handed out by reserve, reserve-with-timeout, reserve-job.",
             ev.reserves),
            ("deletes", "Jobs deleted.", ev.deletes),
            ("releases", "Jobs released by their worker.", ev.releases),
            ("buries", "Jobs buried.", ev.buries),
            ("kicks", "Jobs kicked back to ready.", ev.kicks),
            ("timeouts", "Reservations that ran out of time (TTR).", core.job_timeouts),
            ("connections", "Connections accepted.", core.total_connections),
            ("access_refusals", "Commands refused by access control.", core.access_refusals),
            ("limit_refusals", "Connections, tubes or clients refused by limits.",
             core.limit_refusals),
        ):  # fmt: skip
            yield CounterMetricFamily(f"tubeworks_queue_{name}", help_text, value=value)
        commands = CounterMetricFamily(
            "tubeworks_queue_commands", "Commands received, by command.", labels=["command"]
        )
        for key, count in core.statistics(now).items():
            if key.startswith("cmd-"):
                commands.add_metric([key[4:]], count)  # type: ignore[arg-type]
        yield commands
        yield GaugeMetricFamily(
            "tubeworks_queue_current_connections", "Open connections.", value=len(core.conns)
        )
        yield GaugeMetricFamily("tubeworks_queue_tubes", "Tubes that exist.", value=len(core.tubes))
        yield GaugeMetricFamily(
            "tubeworks_queue_draining", "1 while in drain mode (put refused).",
            value=int(core.draining),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "tubeworks_queue_uptime_seconds", "Seconds since the server started.",
            value=now - core.started_at,
        )  # fmt: skip
        st = self.wal_stats() if self.wal_stats is not None else None
        if st is not None:
            yield GaugeMetricFamily("tubeworks_queue_wal_files", "Log files.", value=st.files)
            yield GaugeMetricFamily(
                "tubeworks_queue_wal_bytes", "Bytes the log files take.", value=st.bytes
            )
            yield GaugeMetricFamily(
                "tubeworks_queue_wal_live_bytes", "Bytes of live jobs' records.",
                value=st.live_bytes,
            )  # fmt: skip
            yield CounterMetricFamily(
                "tubeworks_queue_wal_records_written", "Records written.",
                value=st.records_written,
            )  # fmt: skip
            yield CounterMetricFamily(
                "tubeworks_queue_wal_records_migrated", "Records rewritten by compaction.",
                value=st.records_migrated,
            )  # fmt: skip
            yield GaugeMetricFamily(
                "tubeworks_queue_wal_failing", "1 while log writes fail (changes refused).",
                value=int(st.failing),
            )  # fmt: skip
            fsync = getattr(st, "fsync_seconds", None)
            if fsync is not None:
                yield CounterMetricFamily(
                    "tubeworks_queue_wal_fsync_seconds", "Time spent in fsync.", value=fsync
                )


def registry_for(core: QueueCore, wal_stats: Callable[[], Any] | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(core, wal_stats))  # type: ignore[arg-type]
    return registry


async def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> asyncio.Server:
    """Serve ``GET /metrics`` (and ``/``) over HTTP on ``host:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            if len(head) > MAX_REQUEST_HEAD:
                raise ConnectionError
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method not in (b"GET", b"HEAD"):
                status, body, ctype = b"405 Method Not Allowed", b"GET only\n", b"text/plain"
            elif path in (b"/metrics", b"/"):
                status, ctype = b"200 OK", CONTENT_TYPE_LATEST.encode()
                body = generate_latest(registry)
            else:
                status, body, ctype = b"404 Not Found", b"try /metrics\n", b"text/plain"
            writer.write(
                b"HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % (status, ctype, len(body))
            )
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port)

"""``tubeworks queue --metrics-port``: Prometheus metrics checked against known activity."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from servers import free_port, running


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def test_metrics_follow_known_activity(tmp_path: Path) -> None:
    mport = free_port()
    with running("tubeworks", "--metrics-port", str(mport), "-b", str(tmp_path / "wal")) as srv:
        s = srv.connect()
        s.sendall(
            b"use emails\r\nput 0 0 60 1\r\na\r\nput 2000 0 60 1\r\nb\r\nput 0 0 60 1\r\nc\r\n"
            b"put 0 30 60 1\r\nd\r\nwatch emails\r\nreserve\r\nbury 1 0\r\nreserve\r\n"
            b"release 3 5 0\r\nkick 1\r\ndelete 2\r\nreserve\r\n"
        )
        want = b"RESERVED"
        data = b""
        while data.count(want) < 3:
            data += s.recv(65536)
        m = scrape(mport)
        tube = (("tube", "emails"),)
        assert m[("tubeworks_queue_jobs", (("state", "ready"), *tube))] == 1
        assert m[("tubeworks_queue_jobs", (("state", "reserved"), *tube))] == 1
        assert m[("tubeworks_queue_jobs", (("state", "delayed"), *tube))] == 1
        assert m[("tubeworks_queue_jobs", (("state", "buried"), *tube))] == 0
        assert m[("tubeworks_queue_urgent_jobs", tube)] == 1
        assert m[("tubeworks_queue_watching_clients", tube)] == 1
        assert m[("tubeworks_queue_tube_puts_total", tube)] == 4
        assert m[("tubeworks_queue_puts_total", ())] == 4
        assert m[("tubeworks_queue_reserves_total", ())] == 3
        assert m[("tubeworks_queue_buries_total", ())] == 1
        assert m[("tubeworks_queue_kicks_total", ())] == 1
        assert m[("tubeworks_queue_releases_total", ())] == 1
        assert m[("tubeworks_queue_deletes_total", ())] == 1
        assert m[("tubeworks_queue_commands_total", (("command", "put"),))] == 4
        assert m[("tubeworks_queue_current_connections", ())] == 1
        assert m[("tubeworks_queue_wal_files", ())] >= 1
        assert m[("tubeworks_queue_wal_records_written_total", ())] >= 4
        # a waiting client shows up, and a tube that vanishes stops being exported
        waiting = ("tubeworks_queue_waiting_clients", (("tube", "other"),))
        w = srv.connect()
        w.sendall(b"watch other\r\nignore default\r\nreserve\r\n")
        wait_until(lambda: scrape(mport).get(waiting) == 1)
        w.close()
        wait_until(lambda: all(k[1] != (("tube", "other"),) for k in scrape(mport)))


def test_metrics_port_errors_and_404(tmp_path: Path) -> None:
    mport = free_port()
    with running("tubeworks", "--metrics-port", str(mport)):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{mport}/nope", timeout=10)
        assert err.value.code == 404
        assert ("tubeworks_queue_jobs", (("state", "ready"), ("tube", "default"))) in scrape(mport)

"""``tubeworks queue -b DIR``: every acknowledged change survives a restart or a crash.

Real server processes, real SIGKILLs, a real (tiny) filesystem for disk-full, and a binlog
written by the real beanstalkd for the import.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import RunningServer, free_port, running, tubeworks_argv


class Beanstalk:
    """A minimal blocking client that reads exactly one reply per command."""

    def __init__(self, srv: RunningServer) -> None:
        self.sock = srv.connect(timeout=10)
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _body(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        body, self.buf = self.buf[:n], self.buf[n + 2 :]
        return body

    def cmd(self, line: bytes, body: bytes | None = None) -> tuple[bytes, bytes | None]:
        data = line + b"\r\n" + (body + b"\r\n" if body is not None else b"")
        self.sock.sendall(data)
        reply = self._line()
        m = re.match(rb"(RESERVED|FOUND) \d+ (\d+)$|OK (\d+)$", reply)
        if m:
            return reply, self._body(int(m.group(2) or m.group(3)))
        return reply, None

    def put(self, body: bytes, pri: int = 0, delay: int = 0, ttr: int = 60) -> int:
        reply, _ = self.cmd(b"put %d %d %d %d" % (pri, delay, ttr, len(body)), body)
        assert reply.startswith(b"INSERTED "), reply
        return int(reply.split()[1])

    def stats_job(self, job_id: int) -> dict[str, str]:
        reply, body = self.cmd(b"stats-job %d" % job_id)
        assert reply.startswith(b"OK"), reply
        assert body is not None
        return dict(
            line.split(": ", 1) for line in body.decode().splitlines()[1:] if ": " in line
        )

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def queue(wal: Path, *flags: str, port: int | None = None) -> Iterator[RunningServer]:
    with running("tubeworks", "-b", str(wal), *flags, port=port) as srv:
        yield srv


def comparable(stats: dict[str, str]) -> dict[str, str]:
    """stats-job fields that must survive a restart exactly (times are checked separately)."""
    out = {k: v for k, v in stats.items() if k not in ("age", "time-left", "file")}
    if out.get("state") == "reserved":
        out["state"] = "ready"  # a reserved job comes back ready
    return out


def test_every_state_and_command_survives_a_restart(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    with queue(wal) as srv:
        c = Beanstalk(srv)
        c.cmd(b"use jobs")
        c.cmd(b"watch jobs")
        c.cmd(b"ignore default")
        ready = c.put(b"ready", pri=5)
        delayed = c.put(b"delayed", pri=6, delay=100)
        buried = c.put(b"to bury", pri=7)
        kicked = c.put(b"to kick", pri=8)
        released0 = c.put(b"release now", pri=9)
        released_later = c.put(b"release later", pri=10)
        kick_job = c.put(b"kick-job", pri=11, delay=50)
        deleted = c.put(b"deleted", pri=1)
        reserved = c.put(b"reserved", pri=12, ttr=30)
        assert c.cmd(b"delete %d" % deleted)[0] == b"DELETED"
        c.cmd(b"reserve-job %d" % buried)
        assert c.cmd(b"bury %d 70" % buried)[0] == b"BURIED"
        c.cmd(b"reserve-job %d" % kicked)
        c.cmd(b"bury %d 80" % kicked)
        c.cmd(b"use jobs")
        # kick prefers buried jobs, oldest first: kicks `buried` only
        assert c.cmd(b"kick 1")[0] == b"KICKED 1"
        c.cmd(b"reserve-job %d" % released0)
        assert c.cmd(b"release %d 90 0" % released0)[0] == b"RELEASED"
        c.cmd(b"reserve-job %d" % released_later)
        assert c.cmd(b"release %d 100 200" % released_later)[0] == b"RELEASED"
        assert c.cmd(b"kick-job %d" % kick_job)[0] == b"KICKED"
        c.cmd(b"reserve-job %d" % reserved)
        ids = [ready, delayed, buried, kicked, released0, released_later, kick_job, reserved]
        before = {i: c.stats_job(i) for i in ids}
        c.close()
        assert srv.stop(signal.SIGKILL) == -signal.SIGKILL
    with queue(wal) as srv:
        c = Beanstalk(srv)
        after = {i: c.stats_job(i) for i in ids}
        for i in ids:
            assert comparable(after[i]) == comparable(before[i]), i
        assert after[kicked]["state"] == "buried"
        assert after[buried]["state"] == "ready" and after[buried]["kicks"] == "1"
        assert after[released0]["pri"] == "90" and after[released0]["releases"] == "1"
        assert after[released_later]["state"] == "delayed"
        # delayed jobs keep their absolute ready time
        for i in (delayed, released_later):
            assert abs(int(after[i]["time-left"]) - int(before[i]["time-left"])) <= 2
        assert after[reserved]["state"] == "ready" and after[reserved]["reserves"] == "1"
        assert c.cmd(b"stats-job %d" % deleted)[0] == b"NOT_FOUND"
        assert c.cmd(b"peek %d" % delayed)[1] == b"delayed"
        # ids continue after the highest
        c.cmd(b"use jobs")
        assert c.put(b"new") == reserved + 1


def test_graceful_stop_then_restart_keeps_jobs(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    with queue(wal) as srv:
        c = Beanstalk(srv)
        ids = [c.put(b"job %d" % i) for i in range(100)]
        for i in ids[:50]:
            c.cmd(b"delete %d" % i)
        assert srv.stop(signal.SIGTERM) == 0
    with queue(wal) as srv:
        c = Beanstalk(srv)
        _reply, body = c.cmd(b"stats")
        assert body is not None and b"current-jobs-ready: 50\n" in body
        assert c.cmd(b"peek %d" % ids[50]) == (b"FOUND %d 6" % ids[50], b"job 50")


def test_a_second_server_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    with queue(wal):
        out = subprocess.run(
            [*tubeworks_argv(), "queue", "-p", str(free_port()), "-b", str(wal)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert out.returncode == 10
    assert out.stderr.startswith(f"tubeworks queue: wal dir {wal} is locked by another process")


@pytest.mark.timeout(120)
def test_sigkill_under_load_loses_no_acknowledged_change(tmp_path: Path) -> None:
    """Producers and consumers run against ``-f 0``; the server is killed at random moments.
    After each restart every acknowledged put is there unless a delete of it was sent (a delete
    may take effect although the kill ate its reply), and no acknowledged delete comes back."""
    wal = tmp_path / "wal"
    rng = random.Random(1234)
    port = free_port()
    acked_puts: set[int] = set()
    acked_deletes: set[int] = set()
    sent_deletes: set[int] = set()
    lock = threading.Lock()

    def producer(srv: RunningServer, stop: threading.Event) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            c = Beanstalk(srv)
            while not stop.is_set():
                reply, _ = c.cmd(b"put 0 0 60 5", b"hello")
                if reply.startswith(b"INSERTED"):
                    with lock:
                        acked_puts.add(int(reply.split()[1]))

    def consumer(srv: RunningServer, stop: threading.Event) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            c = Beanstalk(srv)
            while not stop.is_set():
                reply, _ = c.cmd(b"reserve-with-timeout 1")
                if not reply.startswith(b"RESERVED"):
                    continue
                job_id = int(reply.split()[1])
                with lock:
                    sent_deletes.add(job_id)
                if c.cmd(b"delete %d" % job_id)[0] == b"DELETED":
                    with lock:
                        acked_deletes.add(job_id)

    for _round in range(8):
        with queue(wal, "-f", "0", port=port) as srv:
            stop = threading.Event()
            threads = [
                threading.Thread(target=f, args=(srv, stop))
                for f in (producer, producer, consumer, consumer)
            ]
            for t in threads:
                t.start()
            # let some work happen: wait for a random number of new acknowledgements
            target = len(acked_puts) + rng.randint(20, 400)
            while len(acked_puts) < target and srv.proc.poll() is None:
                threading.Event().wait(0.005)
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            stop.set()
            for t in threads:
                t.join(10)
        with queue(wal, port=port) as srv:
            c = Beanstalk(srv)
            with lock:
                for job_id in acked_puts - sent_deletes:
                    assert c.cmd(b"peek %d" % job_id)[0].startswith(b"FOUND"), job_id
                for job_id in acked_deletes:
                    assert c.cmd(b"peek %d" % job_id)[0] == b"NOT_FOUND", job_id
            c.close()
    assert len(acked_puts) > 100 and acked_deletes
    assert len(sent_deletes - acked_deletes) <= 8 * 2  # at most one lost reply per consumer


def test_disk_full_refuses_puts_keeps_serving_and_recovers(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        wal = mnt / "wal"
        with queue(wal, "-s", "65536") as srv:
            c = Beanstalk(srv)
            body = b"x" * 8000
            acked, refused = [], 0
            for _ in range(200):
                reply, _ = c.cmd(b"put 0 0 60 %d" % len(body), body)
                if reply == b"OUT_OF_MEMORY":
                    refused += 1
                    if refused >= 3:
                        break
                else:
                    acked.append(int(reply.split()[1]))
            assert refused == 3 and acked
            reply, stats = c.cmd(b"stats")
            assert stats is not None and b"binlog-last-error: " in stats
            # still serving: reads work and every acknowledged job is there
            for job_id in acked:
                assert c.cmd(b"peek %d" % job_id)[0].startswith(b"FOUND")
            # space comes back: deletes always work (room was kept), then puts work again
            for job_id in acked[: len(acked) // 2]:
                assert c.cmd(b"delete %d" % job_id)[0] == b"DELETED"
            # the log frees the emptied files in the background; puts work again soon after
            deadline = time.monotonic() + 15
            while True:
                reply, _ = c.cmd(b"put 0 0 60 %d" % len(body), body)
                if reply.startswith(b"INSERTED") or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert reply.startswith(b"INSERTED")
            assert srv.stop(signal.SIGTERM) == 0
        with queue(wal, "-s", "65536") as srv:
            c = Beanstalk(srv)
            for job_id in acked[len(acked) // 2 :]:
                assert c.cmd(b"peek %d" % job_id)[0].startswith(b"FOUND")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_import_a_real_beanstalkd_binlog(tmp_path: Path) -> None:
    binlog = tmp_path / "beanstalkd"
    binlog.mkdir()
    expected: dict[int, dict[str, str]] = {}
    bodies: dict[int, bytes] = {}
    with running("beanstalkd", "-b", str(binlog)) as bs:
        c = Beanstalk(bs)
        c.cmd(b"use imported")
        a = c.put(b"first \r\n body", pri=3, ttr=20)
        b = c.put(b"second", pri=4, delay=300)
        gone = c.put(b"deleted")
        d = c.put(b"buried")
        c.cmd(b"delete %d" % gone)
        c.cmd(b"watch imported")
        c.cmd(b"reserve-job %d" % d)
        c.cmd(b"bury %d 9" % d)
        for i in (a, b, d):
            expected[i] = c.stats_job(i)
            bodies[i] = c.cmd(b"peek %d" % i)[1] or b""
        bs.stop(signal.SIGKILL)
    with running("tubeworks", "--import-beanstalkd-binlog", str(binlog)) as srv:
        c = Beanstalk(srv)
        for i, before in expected.items():
            after = c.stats_job(i)
            assert after["tube"] == '"imported"'
            for key in ("state", "pri", "delay", "ttr", "reserves", "releases", "kicks"):
                assert after[key] == before[key], (i, key)
            assert c.cmd(b"peek %d" % i)[1] == bodies[i]
        assert c.cmd(b"peek %d" % gone)[0] == b"NOT_FOUND"
        c.cmd(b"use imported")
        assert c.put(b"next") == d + 1


def test_unreadable_log_directory_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = tmp_path / "file"
        target.write_text("not a directory")
        wal = target / "wal"
    else:
        wal = tmp_path / "ro"
        wal.mkdir(mode=0o500)
    out = subprocess.run(
        [*tubeworks_argv(), "queue", "-p", str(free_port()), "-b", str(wal)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 1
    assert out.stderr.startswith(f"tubeworks queue: wal dir {wal}: cannot create")

"""Migration: a binlog written by the real beanstalkd is read back with every field intact."""

from __future__ import annotations

import signal
import struct
import time

import pytest

from servers import running
from tubeworks.queue.wal import JobRecord, JobState
from tubeworks.queue.wal.beanstalkd_binlog import read_binlog_dir

pytestmark = pytest.mark.timeout(30)
STATES = {b"ready": JobState.READY, b"delayed": JobState.DELAYED, b"buried": JobState.BURIED}


class Client:
    """Just enough of the protocol to drive beanstalkd: one command, one reply."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.f = sock.makefile("rb")

    def call(self, line: bytes, body: bytes | None = None) -> list[bytes]:
        data = line + b"\r\n" + (b"" if body is None else body + b"\r\n")
        self.sock.sendall(data)
        reply = self.f.readline().rstrip(b"\r\n").split()
        if reply[0] in (b"OK", b"FOUND", b"RESERVED"):
            reply.append(self.f.read(int(reply[-1]) + 2)[:-2])
        return reply

    def put(self, tube: bytes, pri: int, delay: int, ttr: int, body: bytes) -> int:
        assert self.call(b"use " + tube) == [b"USING", tube]
        reply = self.call(b"put %d %d %d %d" % (pri, delay, ttr, len(body)), body)
        assert reply[0] == b"INSERTED", reply
        return int(reply[1])

    def ok(self, line: bytes, expect: bytes) -> None:
        assert self.call(line)[0] == expect, line

    def snapshot(self, job_id: int) -> tuple[dict[bytes, bytes], bytes, float]:
        stats = dict(
            row.split(b": ", 1) for row in self.call(b"stats-job %d" % job_id)[-1].splitlines()[1:]
        )
        return stats, self.call(b"peek %d" % job_id)[-1], time.time()


def test_jobs_from_a_killed_beanstalkd_match_what_it_reported(tmp_path):
    """Only changes beanstalkd logs are made (no job left reserved, no release with delay 0),
    so its binlog must hold exactly what ``stats-job`` and ``peek`` said before the kill."""
    wal = tmp_path / "binlog"
    wal.mkdir()
    with running("beanstalkd", "-b", str(wal), "-s", "4096") as srv, srv.connect() as sock:
        c = Client(sock)
        ids = [c.put(b"default", 1024, 0, 60, b"plain %d" % i) for i in range(20)]
        ids.append(c.put(b"emails", 0, 0, 1, b"line\r\nbreak\0 and nul " + bytes(range(256))))
        ids.append(c.put(b"reports", 2**32 - 1, 3600, 300, b""))
        ids.append(c.put(b"a" * 200, 7, 120, 5, b"x" * 3000))
        for job_id in ids[:6]:  # buried, some with a new priority
            c.ok(b"reserve-job %d" % job_id, b"RESERVED")
            c.ok(b"bury %d %d" % (job_id, 100 + job_id), b"BURIED")
        c.ok(b"kick-job %d" % ids[0], b"KICKED")
        c.ok(b"kick-job %d" % ids[1], b"KICKED")
        c.ok(b"reserve-job %d" % ids[1], b"RESERVED")
        c.ok(b"bury %d 3" % ids[1], b"BURIED")  # buried twice, kicked once
        for job_id in ids[6:9]:  # released with a delay: delayed, releases counted
            c.ok(b"reserve-job %d" % job_id, b"RESERVED")
            c.ok(b"release %d 9 %d" % (job_id, 600 + job_id), b"RELEASED")
        for job_id in (*ids[9:15:2], ids[2]):
            c.ok(b"delete %d" % job_id, b"DELETED")
        deleted = {*ids[9:15:2], ids[2]}
        before = {job_id: c.snapshot(job_id) for job_id in ids if job_id not in deleted}
        assert len(list(wal.glob("binlog.*"))) > 1  # the data spans several files
        srv.stop(signal.SIGKILL)

    recovery = read_binlog_dir(str(wal))
    assert recovery.warnings == []
    assert recovery.next_id == max(ids) + 1
    assert [j.id for j in recovery.jobs] == sorted(before)
    for rec in recovery.jobs:
        stats, body, seen = before[rec.id]
        assert_matches(rec, stats, body, seen)


def assert_matches(rec: JobRecord, stats: dict[bytes, bytes], body: bytes, seen: float) -> None:
    assert rec.tube == stats[b"tube"]
    assert rec.state == STATES[stats[b"state"]]
    counted = (rec.pri, rec.delay, rec.ttr, rec.reserves, rec.timeouts, rec.releases,
               rec.buries, rec.kicks)  # fmt: skip
    keys = (b"pri", b"delay", b"ttr", b"reserves", b"timeouts", b"releases", b"buries", b"kicks")
    assert counted == tuple(int(stats[k]) for k in keys)
    assert rec.body == body
    # stats-job reports whole seconds, so times can only agree to within a second or so
    assert abs((seen - rec.created_at) - int(stats[b"age"])) <= 2
    if rec.state == JobState.DELAYED:
        assert abs((rec.ready_at - seen) - int(stats[b"time-left"])) <= 2
    else:
        assert rec.ready_at == 0.0


def test_version_5_files_are_read(tmp_path):
    """beanstalkd 1.4.6's layout (8-byte name length, 77-byte record, microseconds)."""
    job5 = struct.Struct("<QI4xQQi4xQQIIIIIB")

    def record(name: bytes, job_id: int, state: int, body: bytes = b"") -> bytes:
        fields = (job_id, 9, 5_000_000, 60_000_000, len(body) + 2 if name else 0,
                  1_600_000_000_500_000, 1_600_000_005_000_000, 1, 0, 1, 0, 0, state)  # fmt: skip
        raw = struct.pack("<Q", len(name)) + name + job5.pack(*fields)
        return raw + (body + b"\r\n" if name else b"")

    data = struct.pack("<i", 5) + record(b"old", 1, 4, b"hi") + record(b"old", 2, 1, b"x")
    data += record(b"", 2, 0) + bytes(200)  # job 2 deleted; zero-filled tail
    (tmp_path / "binlog.1").write_bytes(data)
    recovery = read_binlog_dir(str(tmp_path))
    assert recovery.warnings == []
    expected = JobRecord(1, b"old", 9, 5, 60, 1_600_000_000.5, 1_600_000_005.0,
                         JobState.DELAYED, 1, 0, 1, 0, 0, b"hi")  # fmt: skip
    assert recovery.jobs == [expected]
    assert recovery.next_id == 3


def test_damaged_binlog_is_read_up_to_the_damage(tmp_path):
    wal = tmp_path / "binlog"
    wal.mkdir()
    with running("beanstalkd", "-b", str(wal)) as srv, srv.connect() as sock:
        c = Client(sock)
        for i in range(3):
            c.put(b"default", 1, 0, 10, b"job %d" % i)
        srv.stop(signal.SIGKILL)
    path = wal / "binlog.1"
    data = path.read_bytes()
    one = 4 + 7 + 80 + 7  # name length, "default", job record, "job 0\r\n"
    path.write_bytes(data[: 4 + 2 * one + 50])  # the third record cut short
    recovery = read_binlog_dir(str(wal))
    assert [j.body for j in recovery.jobs] == [b"job 0", b"job 1"]
    assert recovery.warnings == [f"{path}: torn record at offset {4 + 2 * one} dropped"]

"""Disk use stays bounded by the live data whatever the traffic (beanstalkd issue #622)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from wal_helpers import ENOSPC, FaultyOps, dir_bytes, job

from tubeworks.queue.wal import JobRecord, JobState, WalFullError, WriteAheadLog

pytestmark = pytest.mark.timeout(40)
FILE_SIZE = 4096  # small files so that a bounded directory is a strong claim


class Core:
    """The smallest stand-in for the queue core: a dict of current records, served to the log
    through ``attach``, with the server's commit-then-tick rhythm."""

    def __init__(self, path, **kw) -> None:
        options = {"fsync_interval": None, "file_size": FILE_SIZE, **kw}
        self.wal, recovery = WriteAheadLog.open(str(path), **options)
        self.jobs: dict[int, JobRecord] = {j.id: j for j in recovery.jobs}
        self.wal.attach(self.jobs.get)
        self.now = 0.0
        self.path = path

    def put(self, rec: JobRecord) -> None:
        self.wal.log_put(rec)
        self.jobs[rec.id] = rec

    def change(self, job_id: int, **fields) -> None:
        rec = dataclasses.replace(self.jobs[job_id], **fields)
        self.wal.log_update(rec)  # a refused change must not reach the core's record
        self.jobs[job_id] = rec

    def delete(self, job_id: int) -> None:
        self.wal.log_delete(job_id)
        del self.jobs[job_id]

    def dir_bytes(self) -> int:
        """Bytes in the directory once the log's background removals have finished."""
        self.wal._remover.wait()
        return dir_bytes(self.path)

    def batch_done(self) -> None:
        """What the server does after each batch: commit, then tick when the log asks to."""
        due = self.wal.commit()
        while due is not None and due <= 0:
            due = self.wal.tick(self.now)


def test_bury_kick_100k_times_keeps_the_directory_small(tmp_path):
    """100k cycles instead of 1M to keep the suite fast; the bound does not depend on the count.

    beanstalkd 1.12 leaves one file per ~50 cycles here (issue #622: 84 files for 2000 cycles).
    """
    core = Core(tmp_path)
    core.put(job(1, body=b"the long-lived job"))
    core.batch_done()
    biggest = 0
    for cycle in range(1, 100_001):
        core.change(1, state=JobState.BURIED, reserves=cycle, buries=cycle)
        core.batch_done()
        core.change(1, state=JobState.READY, kicks=cycle)
        core.batch_done()
        if cycle % 500 == 0:
            biggest = max(biggest, core.dir_bytes())
    stats = core.wal.stats()
    assert biggest <= 4 * (FILE_SIZE + 28 + 4096)
    assert stats.records_migrated > 0
    assert stats.files <= 3
    core.wal.close()
    _, recovery = WriteAheadLog.open(str(tmp_path))
    assert recovery.jobs == [job(1, body=b"the long-lived job", reserves=100_000,
                                 buries=100_000, kicks=100_000)]  # fmt: skip


def test_release_with_delay_forever_among_short_lived_jobs(tmp_path):
    core = Core(tmp_path)
    for i in range(1, 6):
        core.put(job(i, tube=b"cron"))
    next_id = 6
    biggest = 0
    for cycle in range(1, 20_001):
        job_id = cycle % 5 + 1
        core.change(job_id, state=JobState.DELAYED, delay=60, releases=cycle,
                    ready_at=1_700_000_000.0 + cycle)  # fmt: skip
        core.put(job(next_id, body=b"z" * 200))  # short-lived traffic around them
        if next_id > 10:
            core.delete(next_id - 4)
        next_id += 1
        core.batch_done()
        if cycle % 250 == 0:
            biggest = max(biggest, core.dir_bytes())
    live = core.wal.stats().live_bytes
    assert biggest <= 2 * live + 4 * (FILE_SIZE + 28 + 4096)
    core.wal.close()
    _, recovery = WriteAheadLog.open(str(tmp_path))
    assert recovery.jobs == sorted(core.jobs.values(), key=lambda j: j.id)


@pytest.mark.parametrize("seed", range(6))
def test_random_traffic_replays_exactly(tmp_path, seed):
    """Random puts, updates, deletes and restarts: every restart sees exactly the live jobs."""
    rng = random.Random(seed)
    core = Core(tmp_path)
    next_id = 1
    for step in range(3000):
        roll = rng.random()
        if roll < 0.35 or not core.jobs:
            body = rng.randbytes(rng.randrange(600))
            core.put(job(next_id, tube=b"t%d" % rng.randrange(3), body=body))
            next_id += 1
        elif roll < 0.7:
            job_id = rng.choice(list(core.jobs))
            state = rng.choice(list(JobState))
            core.change(job_id, state=state, pri=rng.randrange(2**32), delay=rng.randrange(100),
                        ready_at=rng.random() * 2e9 if state == JobState.DELAYED else 0.0,
                        releases=core.jobs[job_id].releases + 1)  # fmt: skip
        else:
            core.delete(rng.choice(list(core.jobs)))
        if rng.random() < 0.5:
            core.batch_done()
        if step % 700 == 699:
            core.batch_done()
            core.wal.close()
            expected = sorted(core.jobs.values(), key=lambda j: j.id)
            for rec in expected:
                if rec.state == JobState.RESERVED:
                    rec.state = JobState.READY
            core = Core(tmp_path)
            assert sorted(core.jobs.values(), key=lambda j: j.id) == expected
            assert core.wal.stats().live_jobs == len(expected)
    core.batch_done()
    live = core.wal.stats().live_bytes
    assert core.dir_bytes() <= 2 * live + 4 * (FILE_SIZE + 28 + 4096)
    core.wal.close()


def test_compaction_on_a_full_disk_backs_off_and_resumes(tmp_path):
    ops = FaultyOps()
    clock = [10.0]
    core = Core(tmp_path, file_ops=ops, clock=lambda: clock[0])
    core.put(job(1, body=b"pinned"))
    cycle = 0

    def bury_again() -> None:  # the server's timer has not fired yet: no tick, only commits
        nonlocal cycle
        cycle += 1
        core.change(1, state=JobState.BURIED, buries=cycle)
        core.wal.commit()

    for _ in range(300):
        bury_again()
    ops.fail["allocate"] = ENOSPC
    with pytest.raises(WalFullError):  # then the disk fills up
        while True:
            bury_again()
    assert core.wal.commit() == 0.0  # there is waste to compact, but compaction needs room:
    assert core.wal.tick(10.0) == 0.5  # it fails and asks to be called again later,
    assert core.wal.commit() == pytest.approx(0.5)  # not straight away
    assert core.wal.tick(10.2) == pytest.approx(0.3)  # (too early: nothing tried)
    ops.fail.clear()
    files_before = core.wal.stats().files
    clock[0] = 10.5
    assert core.wal.tick(10.5) is None  # space is back: compacted and collected
    assert core.wal.stats().files < files_before
    core.change(1, state=JobState.READY, kicks=1)
    core.batch_done()
    core.wal.close()
    _, recovery = WriteAheadLog.open(str(tmp_path))
    assert recovery.jobs == [job(1, body=b"pinned", buries=cycle - 1, kicks=1)]


def test_a_file_is_removed_as_soon_as_its_last_job_is_deleted(tmp_path):
    """As beanstalkd: binlog-oldest-index moves on at the delete, not at some later tick."""
    wal, _ = WriteAheadLog.open(str(tmp_path), file_size=FILE_SIZE)
    wal.log_put(job(1))
    wal.commit()
    wal.close()
    wal, _ = WriteAheadLog.open(str(tmp_path), file_size=FILE_SIZE)
    assert (wal.stats().oldest_index, wal.stats().current_index) == (1, 2)
    wal.log_delete(1)
    wal.commit()
    assert (wal.stats().oldest_index, wal.stats().files) == (2, 1)
    wal.close()


def test_files_emptied_by_compaction_wait_for_the_sync(tmp_path):
    """Until the rewritten job is synced, its old file holds its only durable copy."""
    clock = [50.0]
    core = Core(tmp_path, fsync_interval=0.05, clock=lambda: clock[0])
    core.put(job(1, body=b"pinned"))
    for cycle in range(1, 300):  # the timer has not fired: only commits
        core.change(1, state=JobState.BURIED, buries=cycle)
        core.wal.commit()
    clock[0] = 50.01
    assert core.wal.commit() == 0.0
    before = core.wal.stats()
    wait = core.wal.tick(50.01)  # compacted; now waiting for the sync
    assert wait is not None and 0 < wait <= 0.05
    after = core.wal.stats()
    assert after.records_migrated == 1
    assert after.oldest_index == before.oldest_index == 1
    clock[0] = 50.01 + wait
    assert core.wal.tick(50.01 + wait) is None  # synced: the old files go
    assert core.wal.stats().oldest_index == core.wal.stats().current_index
    core.wal.close()

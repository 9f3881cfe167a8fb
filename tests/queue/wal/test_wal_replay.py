"""What a restart sees: replay rules, torn tails, corrupt records, foreign or future files."""

from __future__ import annotations

import os

import pytest
from wal_helpers import job

from tubeworks.queue.wal import JobState, WalFormatError, WriteAheadLog
from tubeworks.queue.wal._records import (
    FILE_HEADER_SIZE,
    encode_file_header,
    encode_put,
    encode_update,
)

pytestmark = pytest.mark.timeout(20)


def reopen(path, **kw):
    wal, recovery = WriteAheadLog.open(str(path), fsync_interval=None, **kw)
    wal.close()
    return recovery


def write_log(path, *records):
    """Write records through a real log, then close it; return the file it wrote."""
    wal, _ = WriteAheadLog.open(str(path), fsync_interval=None)
    index = wal.stats().current_index
    for kind, *args in records:
        getattr(wal, f"log_{kind}")(*args)
    wal.commit()
    wal.close()
    return os.path.join(str(path), f"wal.{index}")


def test_jobs_survive_with_every_field(tmp_path):
    a = job(1, tube=b"emails", pri=5, delay=30, ttr=120, state=JobState.DELAYED,
            ready_at=1_700_000_030.5, body=b"\0\r\n binary")  # fmt: skip
    b = job(2, state=JobState.BURIED, reserves=3, timeouts=1, releases=2, buries=1, kicks=4)
    write_log(tmp_path, ("put", a), ("put", b))
    assert reopen(tmp_path).jobs == [a, b]


def test_last_record_wins_and_deleted_jobs_are_gone(tmp_path):
    write_log(
        tmp_path,
        ("put", job(1)), ("put", job(2)), ("put", job(3)),
        ("update", job(1, state=JobState.BURIED, reserves=1, buries=1)),
        ("update", job(1, state=JobState.READY, reserves=1, buries=1, kicks=1)),
        ("delete", 2),
        ("update", job(3, pri=7, delay=0, releases=1)),  # release with delay 0 is logged too
    )  # fmt: skip
    recovery = reopen(tmp_path)
    assert recovery.jobs == [job(1, reserves=1, buries=1, kicks=1), job(3, pri=7, releases=1)]
    assert recovery.warnings == []


def test_reserved_comes_back_ready_and_delayed_keeps_its_absolute_time(tmp_path):
    write_log(
        tmp_path,
        ("put", job(1)), ("update", job(1, state=JobState.RESERVED, reserves=1)),
        ("put", job(2)), ("update", job(2, state=JobState.DELAYED, delay=60, releases=1,
                                     ready_at=1_800_000_000.125)),
    )  # fmt: skip
    jobs = reopen(tmp_path).jobs
    assert jobs[0].state == JobState.READY and jobs[0].reserves == 1
    delayed = (jobs[1].state, jobs[1].ready_at, jobs[1].delay)
    assert delayed == (JobState.DELAYED, 1_800_000_000.125, 60)


def test_ids_continue_after_the_highest_even_if_it_was_deleted(tmp_path):
    write_log(tmp_path, ("put", job(5)), ("put", job(9)), ("delete", 9))
    assert reopen(tmp_path).next_id == 10
    # Once the records themselves are collected, the file header still remembers the id.
    write_log(tmp_path, ("delete", 5))
    for _ in range(3):
        recovery = reopen(tmp_path)
    assert (recovery.jobs, recovery.next_id) == ([], 10)


def test_empty_directory_starts_at_id_one(tmp_path):
    recovery = reopen(tmp_path / "new")
    assert (recovery.jobs, recovery.next_id, recovery.warnings) == ([], 1, [])


@pytest.mark.parametrize("keep", [1, 7, 30])
def test_torn_last_record_is_dropped_with_a_warning(tmp_path, keep):
    path = write_log(tmp_path, ("put", job(1)), ("put", job(2)))
    size = os.path.getsize(path)
    last = len(encode_put(job(2)))
    with open(path, "r+b") as f:  # a crash part-way through the last write ...
        f.truncate(size - last + keep)
        f.seek(0, 2)
        f.write(b"\0" * 4096)  # ... into preallocated room
    recovery = reopen(tmp_path)
    assert recovery.jobs == [job(1)]
    assert recovery.warnings == [f"{path}: torn record at offset {size - last} dropped"]


def test_corrupt_middle_record_is_skipped_and_later_records_kept(tmp_path):
    path = write_log(tmp_path, ("put", job(1)), ("put", job(2)), ("put", job(3)),
                     ("update", job(3, pri=1)))  # fmt: skip
    second = FILE_HEADER_SIZE + len(encode_put(job(1)))
    with open(path, "r+b") as f:
        f.seek(second + 20)
        f.write(b"\xff\xff")
    recovery = reopen(tmp_path)
    assert recovery.jobs == [job(1), job(3, pri=1)]
    assert recovery.warnings == [
        f"{path}: corrupt record at offset {second} skipped ({len(encode_put(job(2)))} bytes)"
    ]


def test_a_corrupt_length_field_does_not_lose_what_follows(tmp_path):
    path = write_log(tmp_path, *[("put", job(i)) for i in range(1, 6)])
    second = FILE_HEADER_SIZE + len(encode_put(job(1)))
    with open(path, "r+b") as f:
        f.seek(second + 3)  # the length: now claims ~4 GB
        f.write(b"\xff\xff\xff\xff")
    recovery = reopen(tmp_path)
    assert [j.id for j in recovery.jobs] == [1, 3, 4, 5]
    assert recovery.warnings == [
        f"{path}: corrupt record at offset {second} skipped ({len(encode_put(job(2)))} bytes)"
    ]


def test_wrong_version_refuses_to_start_and_says_why(tmp_path):
    path = write_log(tmp_path, ("put", job(1)))
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(b"\x02\x00")
    with pytest.raises(WalFormatError) as info:
        WriteAheadLog.open(str(tmp_path))
    assert str(info.value) == f"{path}: wal format version 2 is not supported (expected 1)"
    WriteAheadLog.open(str(tmp_path / "other"))[0].close()  # the lock was released


def test_foreign_file_refuses_to_start(tmp_path):
    with open(tmp_path / "wal.3", "wb") as f:
        f.write(b"\x07\0\0\0" + bytes(100))  # a beanstalkd binlog renamed
    with pytest.raises(
        WalFormatError,
        match=r"^.*/wal\.3: not a tubeworks wal file \(magic "
        r"b'\\x07\\x00\\x00\\x00\\x00\\x00\\x00\\x00', expected b'tubeWAL\\n'\)$",
    ):
        WriteAheadLog.open(str(tmp_path))


def test_file_with_unwritten_header_is_ignored_and_removed(tmp_path):
    write_log(tmp_path, ("put", job(1)))
    empty = tmp_path / "wal.9"
    empty.write_bytes(bytes(10))  # a crash right after creating the file
    recovery = reopen(tmp_path)
    assert recovery.jobs == [job(1)]
    assert recovery.warnings == [f"{empty}: empty file (header never written); ignored"]
    assert not empty.exists()


def test_update_without_its_full_record_is_ignored(tmp_path):
    """The PUT's file was collected, so the job was deleted or rewritten later."""
    with open(tmp_path / "wal.4", "wb") as f:
        f.write(encode_file_header(4, 0) + encode_update(job(3, state=JobState.BURIED)))
    recovery = reopen(tmp_path)
    assert (recovery.jobs, recovery.next_id, recovery.warnings) == ([], 1, [])


def test_too_big_job_is_dropped_with_a_warning(tmp_path):
    path = write_log(tmp_path, ("put", job(1, body=b"x" * 100)), ("put", job(2, body=b"y" * 10)))
    recovery = reopen(tmp_path, max_job_size=50)
    assert recovery.jobs == [job(2, body=b"y" * 10)]
    assert recovery.warnings == [f"{path}: job 1 body is 100 bytes; limit is 50 (-z); job dropped"]

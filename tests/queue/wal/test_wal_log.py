"""The log as the server uses it: locking, permissions, fsync policy, disk full, write errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest
from wal_helpers import EACCES, EIO, ENOSPC, FaultyOps, job

from tubeworks.queue.wal import (
    JobState,
    WalFullError,
    WalLockedError,
    WalOpenError,
    WalWriteError,
    WriteAheadLog,
)
from tubeworks.queue.wal._files import BackgroundRemover
from tubeworks.queue.wal._records import encode_put

pytestmark = pytest.mark.timeout(30)
HERE = os.path.dirname(__file__)


def child(code: str, *args: str, **kw) -> subprocess.Popen[str]:
    """A Python child that can import the helpers; ``code`` sees ``sys.argv[1:]``."""
    prelude = f"import sys; sys.path.insert(0, {HERE!r})\n"
    return subprocess.Popen(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )  # fmt: skip


def test_second_open_in_this_process_is_refused(tmp_path):
    wal, _ = WriteAheadLog.open(str(tmp_path))
    with pytest.raises(WalLockedError) as info:
        WriteAheadLog.open(str(tmp_path))
    assert str(info.value) == f"wal dir {tmp_path} is already open in this process"
    wal.close()
    WriteAheadLog.open(str(tmp_path))[0].close()


def test_directory_locked_by_another_process(tmp_path):
    proc = child(
        """
        from tubeworks.queue.wal import WriteAheadLog
        wal, _ = WriteAheadLog.open(sys.argv[1])
        print("ready", flush=True)
        sys.stdin.read()
        wal.close()
        """,
        str(tmp_path),
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        with pytest.raises(WalLockedError) as info:
            WriteAheadLog.open(str(tmp_path))
        message = f"wal dir {tmp_path} is locked by another process (pid {proc.pid})"
        assert str(info.value) == message
    finally:
        proc.communicate("", timeout=10)
    assert proc.returncode == 0
    WriteAheadLog.open(str(tmp_path))[0].close()


def _open_as_nobody(path: str) -> str:
    """Open the log in a forked child without root's powers; return its error message."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        message = "opened"
        try:
            if os.getuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            WriteAheadLog.open(path)
        except WalOpenError as exc:
            message = str(exc)
        finally:
            os.write(write, message.encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        message = f.read().decode()
    os.waitpid(pid, 0)
    return message


def test_permission_denied_says_so():
    top = tempfile.mkdtemp()  # pytest's tmp_path is private to root: nobody could not reach it
    try:
        locked = os.path.join(top, "locked")
        os.mkdir(locked)
        os.chmod(top, 0o755)
        os.chmod(locked, 0o755 if os.getuid() == 0 else 0o555)  # only root may write
        message = _open_as_nobody(locked)
        assert message == f"wal dir {locked}: permission denied (need read and write access)"
        message = _open_as_nobody(os.path.join(locked, "sub"))
        assert message == f"wal dir {locked}/sub: cannot create: permission denied"
    finally:
        os.chmod(top, 0o700)
        shutil.rmtree(top)


def test_fsync_every_commit_with_zero(tmp_path):
    ops = FaultyOps()
    wal, _ = WriteAheadLog.open(str(tmp_path), fsync_interval=0, file_ops=ops)
    base = ops.syncs
    wal.log_put(job(1))
    wal.log_put(job(2))
    wal.commit()
    assert ops.syncs == base + 1
    wal.commit()  # nothing new: nothing to sync
    assert ops.syncs == base + 1
    wal.log_delete(1)
    wal.commit()
    assert ops.syncs == base + 2
    wal.close()


def test_never_fsync_with_none(tmp_path):
    ops = FaultyOps()
    wal, _ = WriteAheadLog.open(str(tmp_path), fsync_interval=None, file_ops=ops)
    for i in range(1, 100):
        wal.log_put(job(i))
        assert wal.commit() is None
        assert wal.tick(1e9) is None
    wal.close()
    assert ops.syncs == 0


@pytest.mark.parametrize(("fsync", "synced"), [(0, True), (0.05, True), (None, False)])
def test_new_files_are_synced_into_the_directory(tmp_path, fsync, synced):
    """Without a directory sync a power cut could lose a whole new file, synced data and all."""
    ops = FaultyOps()
    wal, _ = WriteAheadLog.open(str(tmp_path), fsync_interval=fsync, file_size=8192, file_ops=ops)
    for i in range(1, 200):
        wal.log_put(job(i, body=b"x" * 200))
        wal.commit()
    files = wal.stats().files  # nothing was deleted: every file ever created, spares included
    wal.close()
    assert files > 3
    assert ops.dir_syncs == (files if synced else 0)


def test_timed_fsync_also_syncs_an_idle_tail(tmp_path):
    ops = FaultyOps()
    now = [100.0]
    wal, _ = WriteAheadLog.open(str(tmp_path), fsync_interval=0.05, file_ops=ops,
                                clock=lambda: now[0])  # fmt: skip
    base = ops.syncs
    wal.log_put(job(1))
    assert wal.commit() == pytest.approx(0.05)  # synced at open: not due yet
    assert ops.syncs == base
    assert wal.tick(100.03) == pytest.approx(0.02)
    assert ops.syncs == base
    assert wal.tick(100.05) is None  # due: the idle tail is synced
    assert ops.syncs == base + 1
    now[0] = 101.0
    wal.log_put(job(2))
    assert wal.commit() is None  # a commit after the interval syncs at once
    assert ops.syncs == base + 2
    wal.close()


def test_disk_full_refuses_puts_keeps_deletes_and_recovers(tmp_path):
    ops = FaultyOps()
    wal, _ = WriteAheadLog.open(str(tmp_path), fsync_interval=0, file_size=8192, file_ops=ops)
    body = b"x" * 400
    acked = []
    for i in range(1, 6):
        wal.log_put(job(i, body=body))
        wal.commit()
        acked.append(i)
    ops.fail["allocate"] = ENOSPC
    with pytest.raises(WalFullError) as info:
        for i in range(6, 100):
            wal.log_put(job(i, body=body))
            wal.commit()
            acked.append(i)
    index = wal.stats().current_index + 1
    expected = (
        f"cannot allocate 8192 bytes for wal file {tmp_path}/wal.{index}: no space left on device"
    )
    assert str(info.value) == expected
    assert wal.stats().last_error == expected
    assert wal.stats().live_jobs == len(acked)
    with pytest.raises(WalFullError):  # still full: still refused, nothing half-done
        wal.log_put(job(1000, body=body))
    for job_id in acked[::2]:  # deletes never fail for lack of space
        wal.log_delete(job_id)
        wal.commit()
    ops.fail.clear()  # space is back
    for i in range(200, 240):
        wal.log_put(job(i, body=body))
        wal.commit()
    wal.close()
    _, recovery = WriteAheadLog.open(str(tmp_path))
    assert [j.id for j in recovery.jobs] == [*acked[1::2], *range(200, 240)]


def test_write_error_refuses_changes_until_the_retry_works(tmp_path):
    ops = FaultyOps()
    wal, _ = WriteAheadLog.open(str(tmp_path), fsync_interval=None, file_ops=ops)
    wal.log_put(job(1))
    wal.commit()
    ops.fail["pwrite"] = EIO
    wal.log_put(job(2))
    with pytest.raises(WalWriteError) as info:
        wal.commit()
    failure = f"cannot write wal file {tmp_path}/wal.1: input/output error"
    assert str(info.value) == failure
    with pytest.raises(WalWriteError) as info:
        wal.log_put(job(3))
    assert str(info.value) == f"wal is failing, change refused: {failure}"
    with pytest.raises(WalWriteError):
        wal.log_delete(1)
    stats = wal.stats()
    assert (stats.failing, stats.last_error, stats.live_jobs) == (True, failure, 2)
    assert wal.tick(0.0) == 0.5  # still failing: retry later
    ops.fail.clear()
    wal.tick(1.0)
    assert not wal.stats().failing
    wal.log_put(job(3))
    wal.commit()
    wal.close()
    _, recovery = WriteAheadLog.open(str(tmp_path))
    assert [j.id for j in recovery.jobs] == [1, 2, 3]


def test_file_size_limit_in_a_subprocess(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse a file that would need more room (EFBIG)."""
    proc = child(
        """
        import resource
        from wal_helpers import job
        from tubeworks.queue.wal import WriteAheadLog, WalFullError
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
        wal, _ = WriteAheadLog.open(sys.argv[1], fsync_interval=0, file_size=8192)
        wal.log_put(job(1)); wal.commit()
        try:
            wal.log_put(job(2, body=b"x" * 20000))
        except WalFullError as exc:
            print(exc)
        wal.log_put(job(3)); wal.commit()
        print(wal.stats().live_jobs)
        wal.close()
        """,
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    size = 28 + len(encode_put(job(2, body=b"x" * 20000))) + 19
    assert out.splitlines() == [
        f"cannot allocate {size} bytes for wal file {tmp_path}/wal.2: file too large",
        "2",
    ]
    _, recovery = WriteAheadLog.open(str(tmp_path))
    assert [j.id for j in recovery.jobs] == [1, 3]


def test_kill_9_loses_nothing_committed(tmp_path):
    """Committed records are in the kernel's hands: SIGKILL mid-stream loses none of them, even
    while compaction moves jobs between files and removes old ones."""
    proc = child(
        """
        from wal_helpers import job
        from tubeworks.queue.wal import WriteAheadLog, JobState
        wal, _ = WriteAheadLog.open(sys.argv[1], fsync_interval=None, file_size=8192)
        wal.attach(lambda i: job(i, body=b"b" * (i % 300)))
        i = 0
        while True:
            i += 1
            wal.log_put(job(i, body=b"b" * (i % 300)))
            if i % 3 == 0:  # only every third job lives on: plenty of waste to compact
                wal.log_delete(i - 1)
                wal.log_delete(i - 2)
            wal.commit()
            wal.tick(0.0)
            print(i, flush=True)
        """,
        str(tmp_path),
    )
    for _ in range(3000):
        last = int(proc.stdout.readline())
    proc.kill()
    proc.communicate(timeout=10)
    assert "wal.1" not in os.listdir(tmp_path)  # old files were collected meanwhile
    _, recovery = WriteAheadLog.open(str(tmp_path))
    ids = {j.id for j in recovery.jobs}
    assert set(range(3, last + 1, 3)) <= ids  # every committed put is there
    assert not {i for i in ids if i % 3 and i + (-i) % 3 <= last}  # every committed delete holds
    assert all(j == job(j.id, body=b"b" * (j.id % 300)) for j in recovery.jobs)


def test_stats_describe_the_log(tmp_path):
    wal, _ = WriteAheadLog.open(str(tmp_path), fsync_interval=None, file_size=50_000)
    for i in range(1, 11):
        wal.log_put(job(i))
    wal.log_update(job(3, state=JobState.BURIED))
    wal.log_delete(4)
    wal.commit()
    stats = wal.stats()
    assert (stats.files, stats.oldest_index, stats.current_index) == (1, 1, 1)
    assert (stats.live_jobs, stats.records_written, stats.records_migrated) == (9, 12, 0)
    assert stats.live_bytes == sum(len(encode_put(job(i))) for i in range(1, 11) if i != 4)
    assert (stats.bytes, stats.file_size) == (50_000, 50_000)
    assert (stats.failing, stats.last_error) == (False, "")
    wal.close()
    assert os.path.getsize(tmp_path / "wal.1") < 50_000  # trimmed on close


def test_after_a_failed_removal_no_newer_file_is_removed(tmp_path):
    """A newer file may hold the deletes for an older one's jobs: removing it while the older
    one stays would bring those jobs back after a restart."""
    ops = FaultyOps()
    remover = BackgroundRemover(ops)
    old, new = tmp_path / "wal.1", tmp_path / "wal.2"
    old.write_bytes(b"1")
    new.write_bytes(b"2")
    ops.fail["unlink"] = EACCES
    remover.remove(str(old))
    remover.wait()
    ops.fail.clear()
    remover.remove(str(new))
    remover.close()
    assert old.exists() and new.exists()
    message = f"cannot remove wal file {old}: permission denied; no more files removed"
    assert remover.last_error == message

"""Differential tests with a binlog (-b): stats fields, and what survives a kill -9 and restart.

Each server gets its own empty binlog directory; ``Restart`` kills it with SIGKILL (beanstalkd
is crash-only) and starts it again on the same directory and port. Replies are compared as in
``test_differential`` (see its docstring for our deliberate differences).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from difftool import Restart, Send, Step, differential, discard_spare, known_difference

pytestmark = pytest.mark.timeout(40)

# Where ours differs from 1.12 with -b (reported; xfail via difftool.known_difference).
# Each test runs twice: comparing everything (xfail while these differences exist), and with
# only the differing keys left out, so the rest stays checked.
EXTRA_STATS = ("binlog-files", "binlog-bytes", "binlog-failing", "binlog-last-error")
FILE = ("file",)  # 1.12: number of the binlog file holding the job; ours: 0
# Ours removes unused binlog files on a helper thread, so right after a delete its
# binlog-oldest-index is sometimes still the old file's (1.12 updates it at once).
OLDEST = ("binlog-oldest-index",)
RESTORED = ("pri", "reserves", "releases", "buries")  # 1.12 loses/overcounts these (#597, #668)


WHY_STATS = "with -b ours adds binlog-files/-bytes/-failing/-last-error; stats-job file: 0"
WHY_WRITTEN = WHY_STATS + "; ours writes a binlog record for every reserve (1.12: none)"
WHY_RESTORE = WHY_STATS + (
    "; after a restart ours keeps the release pri and reserves/releases and does not add 1 to"
    " buries (1.12 loses/adds them: #597, #668)"
)


def variants(*keys: str, why: str) -> pytest.MarkDecorator:
    full = pytest.param((), id="all-keys", marks=known_difference(why))
    return pytest.mark.parametrize("drop", [full, pytest.param(keys, id="known-keys-dropped")])


@pytest.fixture(autouse=True, scope="module")
def _no_spare_server_left() -> Iterator[None]:
    """difftool pre-starts the next candidate server; stop it when this module is done."""
    yield
    discard_spare()


def a(*datas: bytes) -> list[Step]:
    return [Send("a", d) for d in datas]


@variants(*EXTRA_STATS, *FILE, "binlog-records-written", why=WHY_WRITTEN)
def test_wal_stats_fields(drop: tuple[str, ...]) -> None:
    """With -b, stats shows binlog indexes and records written; stats-job shows the file."""
    steps = a(b"put 0 0 10 1\r\na\r\n", b"put 0 0 10 1\r\nb\r\n", b"reserve\r\n",
              b"bury 1 5\r\n", b"kick 1\r\n", b"delete 2\r\n", b"stats-job 1\r\n", b"stats\r\n")
    differential(steps, wal=True, drop=drop)


@variants(*EXTRA_STATS, *FILE, *OLDEST, why=WHY_STATS + "; binlog-oldest-index lags")
def test_wal_basic_restart(drop: tuple[str, ...]) -> None:
    """Catalog #57: a job put before kill -9 can be deleted after the restart."""
    steps = [*a(b"put 0 0 100 1\r\nx\r\n"), Restart(),
             *a(b"stats-job 1\r\n", b"delete 1\r\n", b"put 0 0 10 0\r\n\r\n", b"stats\r\n")]
    oracle, _ = differential(steps, wal=True, drop=drop)
    assert oracle.transcript[3][1] == [b"DELETED\r\n"]
    assert oracle.transcript[4][1] == [b"INSERTED 2\r\n"]


def test_wal_read_catalog() -> None:
    """Catalog #60: tube test, job 1 released with delay 1, job 2 deleted; after a restart,
    watching test, a reserve gets job 1 once its delay passes; job 2 stays gone."""
    steps = [*a(b"use test\r\n", b"put 0 0 100 1\r\nj\r\n", b"put 0 0 100 1\r\nk\r\n",
                b"watch test\r\n", b"reserve\r\n", b"release 1 0 1\r\n", b"delete 2\r\n"),
             Restart(),
             *a(b"watch test\r\n", b"reserve-with-timeout 5\r\n", b"delete 1\r\n",
                b"delete 2\r\n")]
    oracle, _ = differential(steps, wal=True)
    assert oracle.transcript[9][1] == [b"RESERVED 1 1\r\nj\r\n"]


@variants(*EXTRA_STATS, *FILE, *RESTORED, why=WHY_RESTORE)
def test_wal_restart_keeps_states(drop: tuple[str, ...]) -> None:
    """After kill -9: buried, delayed and ready jobs keep their state, tube, body and ttr; a
    reserved job comes back ready; release priorities and empty tubes are not kept
    (§7 "Survives a restart", §9 #28/#29)."""
    steps = [*a(b"use t1\r\n", b"put 5 0 100 2\r\nr1\r\n", b"put 6 0 100 2\r\nr2\r\n",
                b"put 7 86400 100 2\r\nd3\r\n", b"put 8 0 100 2\r\nb4\r\n", b"watch t1\r\n",
                b"ignore default\r\n", b"reserve\r\n", b"reserve\r\n", b"release 2 9 0\r\n",
                b"reserve-job 4\r\n", b"bury 4 3\r\n", b"use empty\r\n", b"pause-tube t1 50\r\n",
                b"reserve-job 1\r\n"),
             Restart(),
             *a(*(b"stats-job %d\r\n" % i for i in range(1, 5)), b"stats-tube t1\r\n",
                b"list-tubes\r\n", b"peek-buried\r\n", b"stats\r\n")]
    differential(steps, wal=True, drop=drop)


WHY_COMPACT = WHY_STATS + (
    "; with -s 4096, after 60 puts and 54 deletes 1.12 has migrated 9 records and moved to "
    "binlog.5 (oldest 5, 123 written); ours migrated 0 and is at binlog.3 (oldest 3, 114)"
)
COMPACTION = ("binlog-oldest-index", "binlog-current-index", "binlog-records-migrated",
              "binlog-records-written")


@variants(*EXTRA_STATS, *FILE, *COMPACTION, why=WHY_COMPACT)
def test_wal_small_files_and_compaction(drop: tuple[str, ...]) -> None:
    """-s 4096: files roll over and are compacted as jobs are deleted (§7)."""
    body = b"y" * 100
    deletes = b"".join(b"delete %d\r\n" % i for i in range(1, 55))
    steps = a(*[b"put 0 0 10 100\r\n" + body + b"\r\n"] * 60, b"stats\r\n", deletes,
              b"stats\r\n", b"stats-job 60\r\n")
    differential(steps, "-s", "4096", wal=True, drop=drop)

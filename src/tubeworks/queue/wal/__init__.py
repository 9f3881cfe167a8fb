"""The queue's write-ahead log (``-b DIR``): job changes on disk, replayed after a restart.

Interface for the queue core (see ``_log.py`` for the theory of operation and
``docs/wal-format.md`` for the file format)::

    wal, recovery = WriteAheadLog.open(dir, fsync_interval=0.05, file_size=10 << 20,
                                       max_job_size=65535)
    # recovery.jobs: live JobRecords in id order (RESERVED came back READY, DELAYED keep their
    # absolute ready_at); recovery.next_id: next job id; recovery.warnings: print them.
    wal.attach(core_lookup)     # job id -> current JobRecord or None; compaction reads through it
    wal.log_put(rec)            # WalFullError/WalWriteError -> reply OUT_OF_MEMORY, don't store
    wal.log_update(rec)         # after bury, kick, release (any delay), reserve if counters matter
    wal.log_delete(job_id)
    delay = wal.commit()        # once per batch, before the replies go out
    delay = wal.tick(now)       # when the delay from commit/tick has passed (clock: see open)
    wal.stats()                 # WalStats, for `stats` and metrics
    wal.close()

Replay never changes counters: the core must restore ``reserves``, ``buries``... exactly as
logged (no +1 for a replayed bury). Importing a real beanstalkd binlog directory:
:func:`tubeworks.queue.wal.beanstalkd_binlog.read_binlog_dir`.
"""

from ._errors import (
    WalError,
    WalFormatError,
    WalFullError,
    WalLockedError,
    WalOpenError,
    WalWriteError,
)
from ._files import FileOps
from ._log import WriteAheadLog
from ._records import JobRecord, JobState, Recovery
from ._stats import WalStats

__all__ = [
    "FileOps",
    "JobRecord",
    "JobState",
    "Recovery",
    "WalError",
    "WalFormatError",
    "WalFullError",
    "WalLockedError",
    "WalOpenError",
    "WalStats",
    "WalWriteError",
    "WriteAheadLog",
]

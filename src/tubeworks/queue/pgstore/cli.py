"""``tubeworks queue --store postgresql://...``: open the PostgreSQL store for the server."""

from __future__ import annotations

import sys
import time
from typing import Any, Final

#: Exit status when the database cannot be used (unreachable, read-only, other version).
EXIT_STORE: Final = 1
#: beanstalkd's exit status for a bad command line.
EXIT_USAGE: Final = 5


async def open_for_cli(opts: Any) -> Any:
    """The open :class:`~tubeworks.queue.pgstore.store.PgStore`, or an exit status after
    printing why not."""
    clash = [
        flag
        for flag, value in (
            ("-b", opts.binlog_dir),
            ("--import-beanstalkd-binlog", opts.import_binlog),
            ("--metrics-port", opts.metrics_port),
            ("--auth-file", opts.auth_file),  # its rules look jobs up in the in-memory store
        )
        if value is not None
    ]
    if clash:
        print(f"tubeworks queue: --store cannot be combined with {clash[0]}", file=sys.stderr)
        return EXIT_USAGE
    try:
        from tubeworks.queue.pgstore.schema import SchemaError
        from tubeworks.queue.pgstore.store import open_store
    except ImportError as exc:
        print(
            f"tubeworks queue: --store needs psycopg ({exc}); "
            f"install tubeworks[postgresql]",
            file=sys.stderr,
        )
        return EXIT_STORE
    try:
        return await open_store(
            opts.store, max_job_size=opts.max_job_size, started_at=time.time()
        )
    except ValueError as exc:
        print(f"tubeworks queue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SchemaError as exc:
        print(f"tubeworks queue: {exc}", file=sys.stderr)
        return EXIT_STORE

"""The queue store kept in PostgreSQL (``tubeworks queue --store postgresql://...``).

Importing this package needs :mod:`psycopg` (the ``postgresql`` extra); the server imports it
only when ``--store`` is given.
"""

from tubeworks.queue.pgstore.db import DatabaseError, Target, parse_target
from tubeworks.queue.pgstore.schema import SCHEMA_VERSION, SchemaError
from tubeworks.queue.pgstore.store import PgStore, open_store

__all__ = [
    "SCHEMA_VERSION",
    "DatabaseError",
    "PgStore",
    "SchemaError",
    "Target",
    "open_store",
    "parse_target",
]

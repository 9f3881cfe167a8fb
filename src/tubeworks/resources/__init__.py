"""Connections a worker holds for long: databases and SMTP servers that come back after a drop.

* :class:`Database` wraps a DB-API connection (PyMySQL, mysqlclient, psycopg): it reconnects
  after a disconnect and re-runs a statement only when that cannot duplicate a write.
* :mod:`tubeworks.resources.sqla` gives SQLAlchemy engines the same rules.
* :class:`Mailer` wraps :mod:`smtplib` and resends a message only when the server cannot
  have accepted it.
* :class:`Resources` opens them lazily, once per process, and closes them at shutdown.

Errors are drawn in :mod:`tubeworks.resources._errors`.
"""

from tubeworks.resources._classify import Failure, classify_mysql, classify_postgres
from tubeworks.resources._drivers import MYSQL, POSTGRES, Driver
from tubeworks.resources._errors import (
    CommitOutcomeUnknown,
    ConnectionLost,
    DeliveryOutcomeUnknown,
    MessageRejected,
    OutcomeUnknown,
    ResourceError,
)
from tubeworks.resources._lazy import Resources, resource_scope
from tubeworks.resources._statements import StatementKind, statement_kind
from tubeworks.resources.db import Database, DatabaseStatistics, Result
from tubeworks.resources.smtp import Mailer, MailerStatistics, Sent

__all__ = [
    "MYSQL",
    "POSTGRES",
    "CommitOutcomeUnknown",
    "ConnectionLost",
    "Database",
    "DatabaseStatistics",
    "DeliveryOutcomeUnknown",
    "Driver",
    "Failure",
    "Mailer",
    "MailerStatistics",
    "MessageRejected",
    "OutcomeUnknown",
    "ResourceError",
    "Resources",
    "Result",
    "Sent",
    "StatementKind",
    "classify_mysql",
    "classify_postgres",
    "resource_scope",
    "statement_kind",
]

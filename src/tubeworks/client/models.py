"""Typed results: jobs and the three ``stats`` records.

Stats keys become attribute names with ``-`` replaced by ``_``; values are converted to the field's
type (int, float, bool, str). Keys a server adds that we do not know land in ``extra`` rather than
failing, and keys it omits keep their defaults, so a newer or older server still works.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tubeworks.client.errors import RemoteProtocolError

__all__ = ["Job", "JobState", "JobStats", "ServerStats", "TubeStats"]


@dataclass(frozen=True, slots=True)
class Job:
    """A job as reserved or peeked: its id and its body (bytes, exactly as stored)."""

    id: int
    body: bytes

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (raises ``UnicodeDecodeError`` for other bytes)."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 40 else self.body[:37] + b"..."
        return f"Job(id={self.id}, body={body!r})"


class JobState(enum.Enum):
    READY = "ready"
    DELAYED = "delayed"
    RESERVED = "reserved"
    BURIED = "buried"


_S = TypeVar("_S", bound="_Stats")


@dataclass(frozen=True)
class _Stats:
    extra: dict[str, str] = field(default_factory=dict, repr=False)  # keys we do not know

    @classmethod
    def from_mapping(cls: type[_S], raw: dict[str, str]) -> _S:
        table = _converters(cls)
        values: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for key, text in raw.items():
            entry = table.get(key)
            if entry is None:
                extra[key] = text
                continue
            name, convert = entry
            try:
                values[name] = convert(text)
            except ValueError:
                raise RemoteProtocolError(
                    f"stats field {key!r}: expected {convert.__name__}, got {text!r}"
                ) from None
        return cls(extra=extra, **values)

    def as_dict(self) -> dict[str, Any]:
        """Back to the server's key names (values typed), including unknown keys."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name != "extra":
                value = getattr(self, f.name)
                out[f.name.replace("_", "-")] = (
                    value.value if isinstance(value, enum.Enum) else value
                )
        out.update(self.extra)
        return out


def _bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(text)
    return text == "true"


_BY_TYPE: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "bool": _bool,
    "str": str,
    "JobState": JobState,
}
_TABLES: dict[type, dict[str, tuple[str, Callable[[str], Any]]]] = {}


def _converters(cls: type) -> dict[str, tuple[str, Callable[[str], Any]]]:
    """Server key -> (attribute, converter), built once per class from its field types."""
    table = _TABLES.get(cls)
    if table is None:
        table = {
            f.name.replace("_", "-"): (f.name, _BY_TYPE[str(f.type)])
            for f in dataclasses.fields(cls)
            if f.name != "extra"
        }
        _TABLES[cls] = table
    return table


@dataclass(frozen=True)
class JobStats(_Stats):
    """``stats-job``: where a job is and what happened to it."""

    id: int = 0
    tube: str = ""
    state: JobState = JobState.READY
    pri: int = 0
    age: int = 0  # seconds since put
    delay: int = 0  # the delay last given (put or release)
    ttr: int = 0
    time_left: int = 0  # seconds until ready (delayed) or until the TTR ends (reserved)
    file: int = 0  # binlog file holding the job, 0 without a binlog
    reserves: int = 0
    timeouts: int = 0
    releases: int = 0
    buries: int = 0
    kicks: int = 0


@dataclass(frozen=True)
class TubeStats(_Stats):
    """``stats-tube``: counts for one tube."""

    name: str = ""
    current_jobs_urgent: int = 0  # ready with priority < 1024
    current_jobs_ready: int = 0
    current_jobs_reserved: int = 0
    current_jobs_delayed: int = 0
    current_jobs_buried: int = 0
    total_jobs: int = 0
    current_using: int = 0
    current_watching: int = 0
    current_waiting: int = 0
    cmd_delete: int = 0
    cmd_pause_tube: int = 0
    pause: int = 0  # seconds the tube was paused for
    pause_time_left: int = 0

    @property
    def current_jobs(self) -> int:
        """All jobs in the tube, whatever their state."""
        return (
            self.current_jobs_ready
            + self.current_jobs_reserved
            + self.current_jobs_delayed
            + self.current_jobs_buried
        )

    def count(self, state: JobState) -> int:
        return int(getattr(self, f"current_jobs_{state.value}"))


@dataclass(frozen=True)
class ServerStats(_Stats):
    """``stats``: server-wide counters."""

    current_jobs_urgent: int = 0
    current_jobs_ready: int = 0
    current_jobs_reserved: int = 0
    current_jobs_delayed: int = 0
    current_jobs_buried: int = 0
    cmd_put: int = 0
    cmd_peek: int = 0
    cmd_peek_ready: int = 0
    cmd_peek_delayed: int = 0
    cmd_peek_buried: int = 0
    cmd_reserve: int = 0
    cmd_reserve_with_timeout: int = 0
    cmd_delete: int = 0
    cmd_release: int = 0
    cmd_use: int = 0
    cmd_watch: int = 0
    cmd_ignore: int = 0
    cmd_bury: int = 0
    cmd_kick: int = 0
    cmd_touch: int = 0
    cmd_stats: int = 0
    cmd_stats_job: int = 0
    cmd_stats_tube: int = 0
    cmd_list_tubes: int = 0
    cmd_list_tube_used: int = 0
    cmd_list_tubes_watched: int = 0
    cmd_pause_tube: int = 0
    job_timeouts: int = 0
    total_jobs: int = 0
    max_job_size: int = 0
    current_tubes: int = 0
    current_connections: int = 0
    current_producers: int = 0
    current_workers: int = 0
    current_waiting: int = 0
    total_connections: int = 0
    pid: int = 0
    version: str = ""
    rusage_utime: float = 0.0
    rusage_stime: float = 0.0
    uptime: int = 0
    binlog_oldest_index: int = 0
    binlog_current_index: int = 0
    binlog_records_migrated: int = 0
    binlog_records_written: int = 0
    binlog_max_size: int = 0
    draining: bool = False
    id: str = ""
    hostname: str = ""
    os: str = ""
    platform: str = ""

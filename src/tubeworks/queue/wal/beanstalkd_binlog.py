"""Read a real beanstalkd binlog directory (``beanstalkd -b DIR``), to migrate its jobs.

Layout (facts from ``/work/shared/reference/beanstalkd.md`` §7; native order, read as x86-64
little-endian): files ``binlog.N`` read in ascending N, each starting with an int32 version.

* Version 7 (beanstalkd 1.10-1.13): records are ``int32 tube-name length``; the name; an 80-byte
  job record (u64 id, u32 pri, 4 pad, i64 delay ns, i64 ttr ns, i32 body size, 4 pad,
  i64 created ns, i64 deadline ns, u32 reserves/timeouts/releases/buries/kicks, u8 state, 3 pad);
  then, only when the name length is not 0 (a full record), the body including ``\\r\\n``.
* Version 5 (beanstalkd 1.4.6): the same shape with an 8-byte name length, a 77-byte job record
  (same field order; times in microseconds) and no trailing padding.

A job id of 0 where a record should start is the zero-filled, preallocated tail: the clean end.
State 0 means deleted. The last record per job wins; a short record without an earlier full
record is ignored. Jobs left reserved come back ready. Unlike beanstalkd, a buried job's
``buries`` counter is not bumped on reading (issue #668).
"""

from __future__ import annotations

import os
import re
import struct
from typing import Final

from ._errors import WalOpenError
from ._records import JobRecord, JobState, Recovery

__all__ = ["read_binlog_dir"]

_NAME = re.compile(r"binlog\.([0-9]+)")
_VERSION = struct.Struct("<i")
_JOB7 = struct.Struct("<QI4xqqi4xqqIIIIIB3x")
_JOB5 = struct.Struct("<QI4xQQi4xQQIIIIIB")
_MAX_TUBE: Final = 200  # beanstalkd's tube names are at most 200 bytes
_SCALE: Final = {7: 1_000_000_000, 5: 1_000_000}  # time unit per second in each version


def read_binlog_dir(path: str) -> Recovery:
    """Read every ``binlog.N`` in ``path`` and return its live jobs.

    Damaged files are read up to the damage, with a warning naming the file and offset
    (beanstalkd's format has no checksums, so nothing after the damage can be trusted).

    Raises:
        WalOpenError: the directory or a file cannot be read.
    """
    try:
        names = os.listdir(path)
    except OSError as exc:
        raise WalOpenError(f"beanstalkd binlog dir {path}: cannot read: {exc.strerror}") from exc
    found = sorted((int(m.group(1)), n) for n in names if (m := _NAME.fullmatch(n)))
    jobs: dict[int, JobRecord] = {}
    warnings: list[str] = []
    max_id = 0
    for _, name in found:
        file_path = os.path.join(path, name)
        try:
            with open(file_path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise WalOpenError(f"{file_path}: cannot read: {exc.strerror}") from exc
        max_id = max(max_id, _read_file(data, file_path, jobs, warnings))
    live = []
    for job_id in sorted(jobs):
        rec = jobs[job_id]
        if rec.state == JobState.RESERVED:
            rec.state = JobState.READY
        if rec.state != JobState.DELAYED:
            rec.ready_at = 0.0
        live.append(rec)
    return Recovery(live, max_id + 1, warnings)


def _read_file(data: bytes, name: str, jobs: dict[int, JobRecord], warnings: list[str]) -> int:
    """Apply one file's records to ``jobs``; return the highest id seen."""
    if len(data) < _VERSION.size:
        warnings.append(f"{name}: no version header; file skipped")
        return 0
    (version,) = _VERSION.unpack_from(data, 0)
    if version not in _SCALE:
        warnings.append(f"{name}: binlog version {version} is not supported (expected 5 or 7)")
        return 0
    len_size, job = (4, _JOB7) if version == 7 else (8, _JOB5)
    scale = _SCALE[version]
    off = _VERSION.size
    n = len(data)
    max_id = 0
    while off < n:
        start = off
        if off + len_size + job.size > n:
            if data[off:].strip(b"\0"):
                warnings.append(f"{name}: torn record at offset {start} dropped")
            break
        namelen = int.from_bytes(data[off : off + len_size], "little", signed=True)
        off += len_size
        if not 0 <= namelen <= _MAX_TUBE:
            warnings.append(
                f"{name}: bad tube name length {namelen} at offset {start}; rest of file skipped"
            )
            break
        tube = data[off : off + namelen]
        off += namelen
        if off + job.size > n:
            warnings.append(f"{name}: torn record at offset {start} dropped")
            break
        fields = job.unpack_from(data, off)
        off += job.size
        job_id, pri, delay, ttr, body_size, created, deadline = fields[:7]
        reserves, timeouts, releases, buries, kicks, state = fields[7:]
        if job_id == 0:
            if namelen:
                warnings.append(f"{name}: record with job id 0 at offset {start}; file skipped")
            break  # zero-filled tail
        max_id = max(max_id, job_id)
        body = b""
        if namelen:
            if body_size < 2 or off + body_size > n:
                warnings.append(f"{name}: torn record at offset {start} dropped")
                break
            body = data[off : off + body_size - 2]
            off += body_size
        if state == 0:
            jobs.pop(job_id, None)
            continue
        if state not in (1, 2, 3, 4):
            warnings.append(f"{name}: job {job_id} has unknown state {state} at offset {start}")
            break
        rec = jobs.get(job_id)
        if rec is None:
            if not namelen:
                continue  # its full record was in a file beanstalkd already collected
            rec = JobRecord(job_id, tube, 0, 0, 0, 0.0, 0.0, JobState.READY, 0, 0, 0, 0, 0, body)
            jobs[job_id] = rec
        elif namelen:
            rec.tube, rec.body = tube, body
        rec.pri = pri
        rec.delay = delay // scale
        rec.ttr = ttr // scale
        rec.created_at = created / scale
        rec.ready_at = deadline / scale
        rec.state = JobState(state)
        rec.reserves, rec.timeouts, rec.releases = reserves, timeouts, releases
        rec.buries, rec.kicks = buries, kicks
    return max_id

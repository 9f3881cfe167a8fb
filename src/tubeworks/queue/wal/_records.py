"""The log's data types and its byte format: encode and decode records and file headers. No I/O.

The format is documented for humans in ``docs/wal-format.md``; keep the two in step. All
integers are little-endian. A file is a header followed by records::

    file header (28 bytes): magic b"tubeWAL\\n", u16 version, u16 flags (0), u32 file index,
                            u64 highest job id seen so far, u32 crc32 of the preceding 24 bytes
    record:                 2-byte magic b"\\xb7\\x5e", u8 type, u32 payload length, payload,
                            u32 crc32 of everything before it in the record

The per-record magic lets a reader find the next record after a corrupt one; the checksum tells
a real record from bytes that merely look like one.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DELETE_SIZE",
    "FILE_HEADER_SIZE",
    "FORMAT_VERSION",
    "JobRecord",
    "JobState",
    "Recovery",
]

#: Bumped whenever a reader of the old version would misread the new files.
FORMAT_VERSION: Final = 1
FILE_MAGIC: Final = b"tubeWAL\n"
REC_MAGIC: Final = b"\xb7\x5e"

#: Record types.
PUT: Final = 1  # a job's full record: every field, tube and body
UPDATE: Final = 2  # a job's fields without tube and body (state, pri, delay, counters changed)
DELETE: Final = 3  # the job is gone

_FILE_HEADER = struct.Struct("<8sHHIQ")
_CRC = struct.Struct("<I")
FILE_HEADER_SIZE: Final = _FILE_HEADER.size + _CRC.size

_REC_HEAD = struct.Struct("<2sBI")
# id, pri, delay, ttr, created_at, ready_at, state, reserves, timeouts, releases, buries, kicks
_FIXED = struct.Struct("<QIIIddB5I")
_PUT_HEAD = struct.Struct("<2sBIQIIIddB5IB")  # _REC_HEAD + _FIXED + u8 tube length
_UPDATE_REC = struct.Struct("<2sBIQIIIddB5I")  # _REC_HEAD + _FIXED
_DELETE_REC = struct.Struct("<2sBIQ")
#: Bytes a record adds around its payload (head + crc).
OVERHEAD: Final = _REC_HEAD.size + _CRC.size
#: Size of a delete record: the log keeps this much room per live job so deletes never fail.
DELETE_SIZE: Final = _DELETE_REC.size + _CRC.size
UPDATE_SIZE: Final = _UPDATE_REC.size + _CRC.size
_MAX_TUBE = 255


class JobState(enum.IntEnum):
    """A job's state as logged. ``RESERVED`` is replayed as ``READY``."""

    READY = 1
    RESERVED = 2
    BURIED = 3
    DELAYED = 4


@dataclass(slots=True)
class JobRecord:
    """Everything a restart must know about one live job."""

    id: int
    tube: bytes
    pri: int
    delay: int  # seconds: the last delay given (stats-job "delay")
    ttr: int  # seconds
    created_at: float  # unix time (wall clock) of the put
    ready_at: float  # unix time a DELAYED job becomes ready (absolute); 0.0 in other states
    state: JobState
    reserves: int
    timeouts: int
    releases: int
    buries: int
    kicks: int
    body: bytes  # without the trailing \r\n


@dataclass(slots=True)
class Recovery:
    """What a log directory held: the input for rebuilding the queue after a restart."""

    jobs: list[JobRecord] = field(default_factory=list)  # live jobs, in id order
    next_id: int = 1  # the id the next put should get: one past the highest id ever logged
    warnings: list[str] = field(default_factory=list)  # say each one to the operator


def encode_file_header(index: int, max_id: int) -> bytes:
    head = _FILE_HEADER.pack(FILE_MAGIC, FORMAT_VERSION, 0, index, max_id)
    return head + _CRC.pack(zlib.crc32(head))


def decode_file_header(data: bytes, name: str) -> tuple[int, int] | str:
    """Return ``(version, max_id)``, or a message saying why this is not one of our headers.

    The caller decides what each problem means; the message starts with ``name``.
    """
    if len(data) < FILE_HEADER_SIZE:
        return f"{name}: file header is {len(data)} bytes; expected {FILE_HEADER_SIZE}"
    magic, version, _flags, _index, max_id = _FILE_HEADER.unpack_from(data, 0)
    if magic != FILE_MAGIC:
        return f"{name}: not a tubeworks wal file (magic {magic!r}, expected {FILE_MAGIC!r})"
    if version != FORMAT_VERSION:
        return f"{name}: wal format version {version} is not supported (expected {FORMAT_VERSION})"
    (crc,) = _CRC.unpack_from(data, _FILE_HEADER.size)
    if zlib.crc32(data[: _FILE_HEADER.size]) != crc:
        return f"{name}: file header checksum mismatch"
    return version, max_id


def encode_put(rec: JobRecord) -> bytes:
    """The full record of ``rec`` (hot path: one pack, three crc steps, one join)."""
    tube = rec.tube
    body = rec.body
    if len(tube) > _MAX_TUBE:
        raise ValueError(f"tube name is {len(tube)} bytes; limit is {_MAX_TUBE}")
    head = _PUT_HEAD.pack(
        REC_MAGIC, PUT, _FIXED.size + 1 + len(tube) + len(body),
        rec.id, rec.pri, rec.delay, rec.ttr, rec.created_at, rec.ready_at, rec.state,
        rec.reserves, rec.timeouts, rec.releases, rec.buries, rec.kicks, len(tube),
    )  # fmt: skip
    crc = zlib.crc32(body, zlib.crc32(tube, zlib.crc32(head)))
    return b"".join((head, tube, body, _CRC.pack(crc)))


def encode_update(rec: JobRecord) -> bytes:
    head = _UPDATE_REC.pack(
        REC_MAGIC, UPDATE, _FIXED.size,
        rec.id, rec.pri, rec.delay, rec.ttr, rec.created_at, rec.ready_at, rec.state,
        rec.reserves, rec.timeouts, rec.releases, rec.buries, rec.kicks,
    )  # fmt: skip
    return head + _CRC.pack(zlib.crc32(head))


def encode_delete(job_id: int) -> bytes:
    head = _DELETE_REC.pack(REC_MAGIC, DELETE, 8, job_id)
    return head + _CRC.pack(zlib.crc32(head))


#: A decoded update: the fixed fields in ``_FIXED`` order.
Fields = tuple[int, int, int, int, float, float, int, int, int, int, int, int]
Decoded = tuple[int, "JobRecord | Fields | int", int]  # (type, value, end offset)


#: State codes to members (a dict lookup: ``JobState(code)`` is slow on the replay path).
_STATES: Final = {int(s): s for s in JobState}


def decode_record(data: bytes, off: int) -> Decoded | None:
    """Decode the record at ``off``: ``(type, value, end)``, or None if there is no valid one.

    ``value`` is a :class:`JobRecord` for PUT, the fixed fields for UPDATE, the id for DELETE.
    """
    n = len(data)
    if off + OVERHEAD > n:
        return None
    magic, kind, length = _REC_HEAD.unpack_from(data, off)
    if magic != REC_MAGIC:
        return None
    start = off + _REC_HEAD.size
    end = start + length
    if end + _CRC.size > n:
        return None
    (crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(memoryview(data)[off:end]) != crc:
        return None
    try:
        if kind == PUT and length >= _FIXED.size + 1:
            f = _FIXED.unpack_from(data, start)
            tube_end = start + _FIXED.size + 1 + data[start + _FIXED.size]
            if tube_end > end:
                return None
            rec = JobRecord(
                f[0], bytes(data[start + _FIXED.size + 1 : tube_end]), f[1], f[2], f[3], f[4],
                f[5], _STATES[f[6]], f[7], f[8], f[9], f[10], f[11], bytes(data[tube_end:end]),
            )  # fmt: skip
            return PUT, rec, end + _CRC.size
        if kind == UPDATE and length == _FIXED.size:
            fields = _FIXED.unpack_from(data, start)
            if fields[6] not in _STATES:
                return None
            return UPDATE, fields, end + _CRC.size
        if kind == DELETE and length == 8:
            return DELETE, int.from_bytes(data[start:end], "little"), end + _CRC.size
    except KeyError:  # a state byte outside JobState
        return None
    return None


def apply_update(rec: JobRecord, f: Fields) -> None:
    """Copy a decoded UPDATE's fields onto ``rec`` (tube and body never change)."""
    rec.pri, rec.delay, rec.ttr, rec.created_at, rec.ready_at = f[1], f[2], f[3], f[4], f[5]
    rec.state = _STATES[f[6]]
    rec.reserves, rec.timeouts, rec.releases, rec.buries, rec.kicks = f[7:12]

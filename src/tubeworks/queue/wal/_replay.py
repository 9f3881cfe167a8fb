"""Turn the bytes of a log directory's files back into live jobs. Pure: no I/O.

Reading rules (the writer in ``_log.py`` relies on them):

* Files are read in index order and records in file order; for each job the last record wins.
* An UPDATE or DELETE for a job with no earlier PUT is ignored: its PUT lived in a file that was
  already collected, which only happens once the job was deleted or rewritten later on.
* After the last valid record a file may hold zeros (preallocated room): that is its clean end.
* A record that fails its checksum is skipped by searching for the next valid record. If one is
  found, the bad bytes are reported as a corrupt record; if not, they are a torn tail (a write cut
  short by a crash) and are dropped. Either way a warning names the file and the offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import WalFormatError
from ._records import (
    DELETE,
    FILE_HEADER_SIZE,
    PUT,
    REC_MAGIC,
    UPDATE,
    Decoded,
    Fields,
    JobRecord,
    JobState,
    Recovery,
    apply_update,
    decode_file_header,
    decode_record,
)


@dataclass(slots=True)
class FileScan:
    """The valid records of one file, in order, and what was wrong with the rest."""

    records: list[Decoded] = field(default_factory=list)  # (type, value, size in bytes)
    warnings: list[str] = field(default_factory=list)
    max_id: int = 0  # the header's "highest id so far"
    end: int = 0  # offset just past the last valid record


def scan_file(data: bytes, name: str) -> FileScan:
    """Read one log file.

    Raises:
        WalFormatError: the header is not ours or from another version; the file may hold jobs,
            so the caller must not start without it unless the operator moves it away.
    """
    scan = FileScan()
    if len(data) < FILE_HEADER_SIZE and not data.strip(b"\0"):
        scan.warnings.append(f"{name}: empty file (header never written); ignored")
        return scan
    header = decode_file_header(data, name)
    if isinstance(header, str):
        raise WalFormatError(header)
    scan.max_id = header[1]
    off = scan.end = FILE_HEADER_SIZE
    n = len(data)
    records = scan.records
    while off < n:
        dec = decode_record(data, off)
        if dec is not None:
            kind, value, end = dec
            records.append((kind, value, end - off))
            off = scan.end = end
            continue
        if not data[off:].strip(b"\0"):
            break  # preallocated zeros: the clean end
        nxt = data.find(REC_MAGIC, off + 1)
        while nxt != -1 and decode_record(data, nxt) is None:
            nxt = data.find(REC_MAGIC, nxt + 1)
        if nxt == -1:
            scan.warnings.append(f"{name}: torn record at offset {off} dropped")
            break
        scan.warnings.append(
            f"{name}: corrupt record at offset {off} skipped ({nxt - off} bytes)"
        )
        off = nxt
    return scan


@dataclass(slots=True)
class Replayed:
    """The result of replaying a directory, with what the writer needs to carry on."""

    recovery: Recovery
    location: dict[int, int]  # job id -> index of the file holding its latest full record
    sizes: dict[int, int]  # job id -> size of its full record in bytes
    records: dict[int, int]  # file index -> number of valid records in it
    max_id: int


def replay(files: list[tuple[int, str, FileScan]], max_job_size: int) -> Replayed:
    """Fold scanned files (in index order) into the live jobs.

    Jobs whose body exceeds ``max_job_size`` are dropped with a warning (the server could not
    hand them out). RESERVED jobs come back READY; a non-delayed job's ``ready_at`` is 0.0.
    """
    jobs: dict[int, JobRecord] = {}
    location: dict[int, int] = {}
    sizes: dict[int, int] = {}
    counts: dict[int, int] = {}
    warnings: list[str] = []
    max_id = 0
    for index, _name, scan in files:
        warnings.extend(scan.warnings)
        max_id = max(max_id, scan.max_id)
        counts[index] = len(scan.records)
        for kind, value, size in scan.records:
            if kind == PUT:
                assert isinstance(value, JobRecord)
                jobs[value.id] = value
                location[value.id] = index
                sizes[value.id] = size
                max_id = max(max_id, value.id)
            elif kind == UPDATE:
                assert isinstance(value, tuple)
                fields: Fields = value
                rec = jobs.get(fields[0])
                if rec is not None:
                    apply_update(rec, fields)
            elif kind == DELETE:
                assert isinstance(value, int)
                max_id = max(max_id, value)
                if jobs.pop(value, None) is not None:
                    del location[value], sizes[value]
    names = {index: name for index, name, _ in files}
    live: list[JobRecord] = []
    for job_id in sorted(jobs):
        rec = jobs[job_id]
        if len(rec.body) > max_job_size:
            warnings.append(
                f"{names[location[job_id]]}: job {job_id} body is {len(rec.body)} bytes; "
                f"limit is {max_job_size} (-z); job dropped"
            )
            del location[job_id], sizes[job_id]
            continue
        if rec.state == JobState.RESERVED:
            rec.state = JobState.READY
        if rec.state != JobState.DELAYED:
            rec.ready_at = 0.0
        live.append(rec)
    return Replayed(Recovery(live, max_id + 1, warnings), location, sizes, counts, max_id)

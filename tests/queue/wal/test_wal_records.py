"""The record and header codec: round trips, and every damaged byte is noticed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wal_helpers import job

from tubeworks.queue.wal import JobState
from tubeworks.queue.wal._records import (
    DELETE,
    DELETE_SIZE,
    PUT,
    UPDATE,
    UPDATE_SIZE,
    decode_file_header,
    decode_record,
    encode_delete,
    encode_file_header,
    encode_put,
    encode_update,
)
from tubeworks.queue.wal._replay import scan_file

u32 = st.integers(0, 2**32 - 1)
records = st.builds(
    job,
    st.integers(1, 2**64 - 1),
    tube=st.binary(min_size=1, max_size=200),
    pri=u32, delay=u32, ttr=u32,
    created_at=st.floats(0, 4e9), ready_at=st.floats(0, 4e9),
    state=st.sampled_from(JobState),
    reserves=u32, timeouts=u32, releases=u32, buries=u32, kicks=u32,
    body=st.binary(max_size=300),
)  # fmt: skip


@given(records)
def test_put_round_trips(rec):
    data = encode_put(rec)
    assert decode_record(b"junk" + data + b"\0\0", 4) == (PUT, rec, 4 + len(data))


@given(records)
def test_update_round_trips_without_tube_and_body(rec):
    data = encode_update(rec)
    assert len(data) == UPDATE_SIZE
    kind, fields, end = decode_record(data, 0)
    assert (kind, end) == (UPDATE, UPDATE_SIZE)
    assert fields == (
        rec.id, rec.pri, rec.delay, rec.ttr, rec.created_at, rec.ready_at, rec.state,
        rec.reserves, rec.timeouts, rec.releases, rec.buries, rec.kicks,
    )  # fmt: skip


def test_delete_round_trips():
    data = encode_delete(2**64 - 1)
    assert len(data) == DELETE_SIZE
    assert decode_record(data, 0) == (DELETE, 2**64 - 1, DELETE_SIZE)


@given(records, st.data())
def test_any_damaged_byte_makes_the_record_invalid(rec, data):
    """crc32 catches every burst shorter than 32 bits, so one changed byte is always caught."""
    raw = bytearray(encode_put(rec))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    assert decode_record(bytes(raw), 0) is None


@given(records, st.data())
def test_a_cut_record_is_invalid(rec, data):
    raw = encode_put(rec)
    cut = data.draw(st.integers(0, len(raw) - 1))
    assert decode_record(raw[:cut] + b"\0" * 100, 0) is None


def test_file_header_round_trips():
    assert decode_file_header(encode_file_header(7, 12345), "wal.7") == (1, 12345)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"tubeWAL\n", "wal.2: file header is 8 bytes; expected 28"),
        (b"binlog\0\0" + bytes(20), "wal.2: not a tubeworks wal file (magic b'binlog\\x00\\x00', "
         "expected b'tubeWAL\\n')"),
        (encode_file_header(2, 0)[:8] + b"\x09\x00" + encode_file_header(2, 0)[10:],
         "wal.2: wal format version 9 is not supported (expected 1)"),
        (encode_file_header(2, 0)[:-1] + b"\xff", "wal.2: file header checksum mismatch"),
    ],
)  # fmt: skip
def test_bad_file_headers_are_named(data, message):
    assert decode_file_header(data, "wal.2") == message


@given(st.lists(records, min_size=1, max_size=8), st.data())
def test_damage_anywhere_loses_only_the_damaged_records(recs, data):
    """Whatever bytes replace part of a file, the scan never fails, and every record wholly
    before or after the damage comes back."""
    header = encode_file_header(1, 0)
    encoded = [encode_put(r) for r in recs]
    starts = [len(header) + sum(map(len, encoded[:i])) for i in range(len(encoded))]
    raw = bytearray(header + b"".join(encoded) + bytes(data.draw(st.integers(0, 64))))
    lo = data.draw(st.integers(len(header), len(raw) - 1))
    garbage = data.draw(st.binary(min_size=1, max_size=min(64, len(raw) - lo)))
    raw[lo : lo + len(garbage)] = garbage
    hi = lo + len(garbage)
    scan = scan_file(bytes(raw), "wal.1")
    found = [value for _, value, _ in scan.records]
    intact = [r for r, s, e in zip(recs, starts, encoded, strict=True)
              if s + len(e) <= lo or s >= hi]  # fmt: skip
    for rec in intact:
        assert rec in found
    assert all(rec in recs for rec in found)

"""Pure parts of the dashboard: body rendering, queue discovery, rates, /proc parsing, log tail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tubeworks.client import LocalProtocolError
from tubeworks.client.address import Address
from tubeworks.web.api import TAIL_START, read_tail
from tubeworks.web.body import SHOW_BYTES, hex_dump, render_body
from tubeworks.web.procstat import parse_cpu_seconds, parse_rss_bytes, usage
from tubeworks.web.queues import (
    ENV_VAR,
    QueueTarget,
    RateHistory,
    address_from_command,
    known_targets,
    targets_from_env,
)

# ---- job bodies ----


def test_json_object_is_pretty_printed() -> None:
    out = render_body(b'{"to":"a@example.com","n":[1,2]}')
    assert out["kind"] == "json"
    assert out["text"] == json.dumps({"to": "a@example.com", "n": [1, 2]}, indent=2)
    assert (out["size"], out["truncated"]) == (32, False)


def test_html_is_plain_text_unchanged() -> None:
    """The page puts text into the DOM as text, so the API must not escape it twice either."""
    body = b"<script>alert('x')</script> &amp;"
    assert render_body(body) == {
        "kind": "text",
        "text": body.decode(),
        "size": len(body),
        "truncated": False,
    }


def test_json_scalar_stays_text() -> None:
    assert render_body(b"42")["kind"] == "text"


def test_utf8_text_with_newlines_and_tabs_is_text() -> None:
    assert render_body("héllo\n\tworld\r\n".encode())["kind"] == "text"


@pytest.mark.parametrize("body", [b"\x00\x01\x02", b"\xff\xfe", b"a\x1bb", b"abc\x7f"])
def test_binary_or_control_characters_become_hex(body: bytes) -> None:
    out = render_body(body)
    assert out["kind"] == "binary"
    assert out["text"] == hex_dump(body)


def test_hex_dump_layout() -> None:
    dump = hex_dump(bytes(range(0x41, 0x41 + 18)))
    lines = dump.splitlines()
    assert lines[0] == (
        "00000000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|"
    )
    assert lines[1] == "00000010  51 52" + " " * 42 + "  |QR|"


def test_long_bodies_are_cut_even_inside_a_multibyte_character() -> None:
    body = b"a" * (SHOW_BYTES - 1) + "é".encode() * 10
    out = render_body(body)
    assert out["kind"] == "text"
    assert out["truncated"] is True
    assert out["text"] == "a" * (SHOW_BYTES - 1)
    assert out["size"] == len(body)


def test_long_json_is_shown_as_text_not_parsed() -> None:
    body = json.dumps(["x" * 100] * 500).encode()
    out = render_body(body)
    assert (out["kind"], out["truncated"]) == ("text", True)


# ---- which queue servers ----


@pytest.mark.parametrize(
    ("command", "address"),
    [
        ("/usr/bin/beanstalkd", Address("127.0.0.1", 11300)),
        ("beanstalkd -l 10.0.0.5 -p 11400 -b /var/lib/b", Address("10.0.0.5", 11400)),
        ("beanstalkd -l0.0.0.0 -p11301", Address("127.0.0.1", 11301)),
        ("/venv/bin/python -m tubeworks queue -l 127.0.0.1 -p 4000", Address("127.0.0.1", 4000)),
        ("tubeworks queue -p 4001 --metrics-port 9000", Address("127.0.0.1", 4001)),
        ("/opt/bin/tubeworks queue -l :: -p 4002", Address("::1", 4002)),
        ("tubeworks queue -l unix:/run/q.sock", Address(path="/run/q.sock")),
    ],
)
def test_queue_address_from_a_program_command(command: str, address: Address) -> None:
    assert address_from_command(command) == address


@pytest.mark.parametrize(
    "command", ["", "python worker.py", "tubeworks worker app:jobs", "sh -c 'unbalanced", "queue"]
)
def test_other_commands_are_not_queue_servers(command: str) -> None:
    assert address_from_command(command) is None


def test_environment_lists_queue_servers() -> None:
    env = {ENV_VAR: "10.0.0.1:11300, q.example:4000,,unix:/tmp/q.sock"}
    assert [t.address for t in targets_from_env(env)] == [
        Address("10.0.0.1", 11300),
        Address("q.example", 4000),
        Address(path="/tmp/q.sock"),
    ]
    assert targets_from_env({}) == []


def test_a_bad_environment_entry_says_what_is_wrong() -> None:
    with pytest.raises(LocalProtocolError, match=r"^expected a port in 1\.\.65535, got 'x'"):
        targets_from_env({ENV_VAR: "host:x"})


def test_known_targets_come_from_programs_then_environment_without_repeats() -> None:
    programs = [("q", "beanstalkd -p 5000"), ("w", "python w.py"), ("q2", "beanstalkd -p 5000")]
    env = {ENV_VAR: "127.0.0.1:5000,127.0.0.1:5001"}
    assert known_targets(programs, env) == [
        QueueTarget(Address("127.0.0.1", 5000), "q"),
        QueueTarget(Address("127.0.0.1", 5001), ENV_VAR),
    ]


# ---- rates ----


def test_rates_are_per_second_between_samples() -> None:
    history = RateHistory(window=300, min_gap=1)
    history.add(100.0, {"puts": 10})
    history.add(102.0, {"puts": 30})
    history.add(104.0, {"puts": 30})
    assert history.rates() == [{"t": 102.0, "puts": 10.0}, {"t": 104.0, "puts": 0.0}]


def test_samples_closer_than_the_gap_are_ignored_and_old_ones_dropped() -> None:
    history = RateHistory(window=10, min_gap=1)
    history.add(0.0, {"a": 0})
    history.add(0.5, {"a": 100})  # ignored: too soon
    history.add(1.0, {"a": 1})
    history.add(20.0, {"a": 20})  # the first two fall out of the window
    assert [t for t, _ in history.samples] == [20.0]
    assert history.rates() == []


def test_a_counter_going_down_counts_as_zero_and_new_keys_start_at_zero() -> None:
    history = RateHistory(min_gap=0)
    history.add(0.0, {"a": 50})
    history.add(1.0, {"a": 5, "b": 7})
    assert history.rates() == [{"t": 1.0, "a": 0.0, "b": 0.0}]


# ---- /proc ----


def test_cpu_seconds_counts_fields_after_the_last_parenthesis() -> None:
    stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 5 0 0"
    assert parse_cpu_seconds(stat, ticks=100) == 3.0


def test_rss_is_resident_pages_times_page_size() -> None:
    assert parse_rss_bytes("1000 25 10 1 0 50 0", page_size=4096) == 25 * 4096


def test_usage_of_this_process_and_of_no_process() -> None:
    me = usage(os.getpid())
    assert me is not None and me.rss_bytes > 1024 * 1024 and me.cpu_seconds > 0
    assert usage(0) is None
    assert usage(2**22 + 12345) is None  # above pid_max: never a process


# ---- log tail ----


def test_a_new_view_starts_with_the_end_then_follows(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"x" * (TAIL_START + 10))
    data, offset, reset = read_tail(str(log), -1)
    assert (len(data), offset, reset) == (TAIL_START, TAIL_START + 10, True)
    with log.open("ab") as f:
        f.write(b"new line\n")
    assert read_tail(str(log), offset) == (b"new line\n", offset + 9, False)
    assert read_tail(str(log), offset + 9) == (b"", offset + 9, False)


def test_a_cleared_log_starts_again_from_the_top(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"short\n")
    assert read_tail(str(log), 1000) == (b"short\n", 6, True)


def test_reads_are_capped_and_a_missing_file_is_empty(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"abcdef")
    assert read_tail(str(log), 0, limit=4) == (b"abcd", 4, False)
    assert read_tail(str(tmp_path / "nope"), 0) == (b"", 0, True)

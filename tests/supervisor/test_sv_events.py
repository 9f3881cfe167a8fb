"""Event listeners: the pure protocol pieces, then a real listener process."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from svharness import running_daemon, wait_for, write_config

from tubeworks.supervisor.events import (
    Event,
    ListenerParser,
    ListenerState,
    Pool,
    ProtocolViolation,
    Ready,
    Result,
    envelope,
    is_a,
)


def test_envelope_header_matches_supervisord() -> None:
    payload = b"processname:crasher groupname:crasher from_state:BACKOFF"
    assert envelope("supervisor", 38, "listener", 38, "PROCESS_STATE_FATAL", payload) == (
        b"ver:3.0 server:supervisor serial:38 pool:listener poolserial:38 "
        b"eventname:PROCESS_STATE_FATAL len:56\n" + payload
    )


def test_parser_walks_ready_busy_acknowledged_in_any_chunking() -> None:
    stream = b"READY\nRESULT 2\nOKREADY\nRESULT 4\nFAIL"
    for size in (1, 3, len(stream)):
        parser = ListenerParser()
        outcomes = []
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        for chunk in chunks:
            pending = parser.feed(chunk)
            while pending:
                outcome = pending.pop(0)
                outcomes.append(outcome)
                if isinstance(outcome, Ready):
                    pending.extend(parser.sent_event())
        assert outcomes == [Ready(), Result(True, b"OK"), Ready(), Result(False, b"FAIL")]
        assert parser.state == ListenerState.ACKNOWLEDGED


def test_unexpected_output_puts_listener_in_unknown() -> None:
    parser = ListenerParser()
    (outcome,) = parser.feed(b"hello\n")
    assert isinstance(outcome, ProtocolViolation)
    assert parser.state == ListenerState.UNKNOWN
    assert parser.feed(b"READY\n") == []


def test_pool_drops_oldest_and_rejected_events_go_first() -> None:
    pool = Pool("p", ("PROCESS_STATE",), buffer_size=2)
    assert pool.wants("PROCESS_STATE_EXITED") and not pool.wants("TICK_5")
    assert is_a("TICK_60", "EVENT")
    events = [Event(i, "PROCESS_STATE_RUNNING", b"") for i in range(3)]
    assert pool.push(events[0]) is None and pool.push(events[1]) is None
    assert pool.push(events[2]) == events[0]
    event, poolserial = pool.queue.popleft()
    pool.push_front(event, poolserial)
    assert [e.serial for e, _ in pool.queue] == [1, 2]


LISTENER = r"""
import sys
out = open(sys.argv[1], "a")
while True:
    sys.stdout.write("READY\n"); sys.stdout.flush()
    header = sys.stdin.readline()
    fields = dict(t.split(":", 1) for t in header.split())
    payload = sys.stdin.read(int(fields["len"]))
    out.write(fields["eventname"] + " " + payload.replace("\n", "|") + "\n"); out.flush()
    sys.stdout.write("RESULT 2\nOK"); sys.stdout.flush()
"""


@pytest.mark.timeout(60)
def test_listener_receives_state_changes_and_remote_communication(tmp_path: Path) -> None:
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    seen = tmp_path / "seen.txt"
    programs = f"""
        [eventlistener:watch]
        command={sys.executable} {script} {seen}
        events=PROCESS_STATE,REMOTE_COMMUNICATION
        buffer_size=50

        [program:crasher]
        command=sh -c "exit 3"
        startretries=1
        autostart=false
    """
    with running_daemon("tubeworks", write_config(tmp_path, programs)) as d:
        d.wait_state("watch", "RUNNING")
        d.rpc().supervisor.startProcess("crasher", False)
        d.wait_state("crasher", "FATAL")
        d.rpc().supervisor.sendRemoteCommEvent("greeting", "hello")

        def lines() -> list[str]:
            return seen.read_text().splitlines() if seen.exists() else []

        wait_for(lambda: any("REMOTE_COMMUNICATION" in line for line in lines()))
        crasher = [
            line.replace(" processname:crasher groupname:crasher", "")
            for line in lines()
            if "processname:crasher" in line
        ]
        assert crasher == [
            "PROCESS_STATE_STARTING from_state:STOPPED tries:0",
            "PROCESS_STATE_BACKOFF from_state:STARTING tries:1",
            "PROCESS_STATE_STARTING from_state:BACKOFF tries:1",
            "PROCESS_STATE_BACKOFF from_state:STARTING tries:2",
            "PROCESS_STATE_FATAL from_state:BACKOFF",
        ]
        assert lines()[-1] == "REMOTE_COMMUNICATION type:greeting|hello"


def split_all(stream: bytes, cuts: list[int], maxbytes: int = 100) -> tuple[bytes, list[bytes]]:
    from tubeworks.supervisor.capture import CaptureSplitter

    splitter = CaptureSplitter(maxbytes)
    logged, messages = b"", []
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    for a, b in itertools.pairwise(bounds):
        log, done = splitter.feed(stream[a:b])
        logged += log
        messages += done
    return logged, messages


STREAM = b"before <!--XSUPERVISOR:BEGIN-->hello<!--XSUPERVISOR:END--> after <!--XSUPERVISOR"


def test_capture_splits_the_same_way_whatever_the_chunking() -> None:
    assert split_all(STREAM, []) == (b"before  after ", [b"hello"])
    assert split_all(STREAM, list(range(len(STREAM)))) == (b"before  after ", [b"hello"])
    assert split_all(b"<!--XSUPERVISOR:BEGIN-->0123456789<!--XSUPERVISOR:END-->", [], 4) == (
        b"",
        [b"6789"],
    )  # at most capture_maxbytes, the newest kept


@given(st.lists(st.integers(0, len(STREAM)), max_size=8))
def test_capture_chunking_property(cuts: list[int]) -> None:
    assert split_all(STREAM, cuts) == split_all(STREAM, [])


@pytest.mark.timeout(60)
def test_capture_mode_turns_bracketed_output_into_an_event(tmp_path: Path) -> None:
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    seen = tmp_path / "seen.txt"
    programs = f"""
        [eventlistener:watch]
        command={sys.executable} {script} {seen}
        events=PROCESS_COMMUNICATION

        [program:talker]
        command=sh -c 'read x; printf "log1 <!--XSUPERVISOR:BEGIN-->secret<!--XSUPERVISOR:END--> log2"; sleep 1000'
        stdout_capture_maxbytes=1KB
        stdout_logfile=%(here)s/talker.log
        startsecs=0
    """  # noqa: E501
    with running_daemon("tubeworks", write_config(tmp_path, programs)) as d:
        d.wait_state("watch", "RUNNING")
        pid = d.wait_state("talker", "RUNNING")["pid"]
        d.rpc().supervisor.sendProcessStdin("talker", "go\n")
        wait_for(lambda: seen.exists() and seen.read_text())
        assert seen.read_text() == (
            f"PROCESS_COMMUNICATION_STDOUT processname:talker groupname:talker pid:{pid}|secret\n"
        )
        wait_for(lambda: (tmp_path / "talker.log").read_bytes() == b"log1  log2")

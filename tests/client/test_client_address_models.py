"""Pure parts: server addresses, the environment default, stats records, Job helpers."""

from __future__ import annotations

import socket

import pytest

from servers import RunningServer
from tubeworks.client import (
    Address,
    Client,
    Job,
    JobState,
    JobStats,
    LocalProtocolError,
    RemoteProtocolError,
    ServerStats,
    default_address,
    parse_address,
)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("10.0.0.5:11301", Address("10.0.0.5", 11301)),
        ("queue.internal", Address("queue.internal", 11300)),
        ("[::1]:7000", Address("::1", 7000)),
        ("[::1]", Address("::1", 11300)),
        ("::1", Address("::1", 11300)),
        ("unix:/run/q.sock", Address(path="/run/q.sock")),
    ],
)
def test_parse_address(text: str, address: Address) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unix:", r"^expected a socket path after 'unix:', got nothing$"),
        ("host:0", r"^expected a port in 1\.\.65535, got '0' in 'host:0'$"),
        ("host:http", r"^expected a port in 1\.\.65535, got 'http' in 'host:http'$"),
        (":11300", r"^expected 'host:port' or 'unix:/path', got ':11300'$"),
        ("[::1", r"^expected '\[ipv6\]:port', got '\[::1'$"),
    ],
)
def test_parse_address_errors(text: str, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        parse_address(text)


def test_address_str_round_trips() -> None:
    for text in ("h:1", "[::1]:2", "unix:/x"):
        assert str(parse_address(text)) == text


def test_default_address_from_environment() -> None:
    assert default_address({}) == Address("127.0.0.1", 11300)
    assert default_address({"TUBEWORKS_SERVER": "unix:/s"}) == Address(path="/s")
    legacy = {"BEANSTALKD_HOST": "bs", "BEANSTALKD_PORT": "1234"}
    assert default_address(legacy) == Address("bs", 1234)
    assert default_address({**legacy, "TUBEWORKS_SERVER": "a:1"}) == Address("a", 1)


def test_job_helpers() -> None:
    job = Job(5, b'{"a": [1, 2]}')
    assert job.json() == {"a": [1, 2]} and job.text == '{"a": [1, 2]}'
    assert repr(Job(1, b"x" * 100)) == f"Job(id=1, body={b'x' * 37 + b'...'!r})"


def test_stats_records_convert_types_and_keep_unknown_keys() -> None:
    raw = {"id": "3", "tube": "t", "state": "buried", "time-left": "-1", "new-key": "v"}
    stats = JobStats.from_mapping(raw)
    assert (stats.id, stats.state, stats.time_left) == (3, JobState.BURIED, -1)
    assert stats.extra == {"new-key": "v"}
    assert stats.as_dict()["state"] == "buried" and stats.as_dict()["new-key"] == "v"
    server = ServerStats.from_mapping({"draining": "true", "rusage-utime": "0.5", "version": "1"})
    assert (server.draining, server.rusage_utime, server.version) == (True, 0.5, "1")
    with pytest.raises(RemoteProtocolError, match=r"^stats field 'pid': expected int, got 'x'$"):
        ServerStats.from_mapping({"pid": "x"})


def test_tcp_nodelay_and_keepalive(beanstalkd: RunningServer) -> None:
    with Client(*beanstalkd.address) as c:
        sock = c._sock
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1


def test_client_accepts_an_address_string(beanstalkd: RunningServer) -> None:
    with Client(f"{beanstalkd.host}:{beanstalkd.port}") as c:
        assert c.address == Address(beanstalkd.host, beanstalkd.port)
        assert c.stats().pid == beanstalkd.proc.pid

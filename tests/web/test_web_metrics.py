"""The supervisor's ``/metrics``, parsed with prometheus_client's parser, against known activity."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from webharness import Stack, running_stack, wait_for

pytestmark = pytest.mark.timeout(60)

# both HTTP servers: they share one app, so nothing is counted twice
FAILING = f"""
[unix_http_server]
file=%(here)s/sv.sock

[program:failing]
command={sys.executable} -c "raise SystemExit(3)"
startsecs=0
autorestart=false
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("webmetrics")
    with running_stack(tmp, extra=FAILING) as s:
        yield s


def scrape(stack: Stack) -> dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]:
    """family name -> (type, {sorted labels: value}) for the supervisor's families."""
    status, headers, body = stack.request("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        samples = {
            tuple(sorted(s.labels.items())): s.value
            for s in family.samples
            if not s.name.endswith("_created")
        }
        out[family.name] = (family.type, samples)
    return out


def key(name: str, **labels: str) -> tuple[tuple[str, str], ...]:
    group = labels.pop("group", name)
    return tuple(sorted({"group": group, "name": name, **labels}.items()))


def test_running_process_state_uptime_pid_cpu_and_memory(stack: Stack) -> None:
    echo = stack.wait_state("echo", "RUNNING")
    m = scrape(stack)
    kind, states = m["tubeworks_supervisor_process_state"]
    assert kind == "gauge"
    assert states[key("echo", state="RUNNING")] == 1
    assert states[key("echo", state="STOPPED")] == 0
    assert sum(v for k, v in states.items() if ("name", "echo") in k) == 1
    assert m["tubeworks_supervisor_process_pid"][1][key("echo")] == echo["pid"]
    assert m["tubeworks_supervisor_process_uptime_seconds"][1][key("echo")] >= 0
    started = m["tubeworks_supervisor_process_start_time_seconds"][1][key("echo")]
    assert 0 < time.time() - started < 600
    kind, cpu = m["tubeworks_supervisor_process_cpu_seconds"]
    assert kind == "counter" and cpu[key("echo")] >= 0
    kind, rss = m["tubeworks_supervisor_process_resident_memory_bytes"]
    assert kind == "gauge" and rss[key("echo")] > 1024 * 1024
    assert m["tubeworks_supervisor_state"][1][()] == 1
    assert m["tubeworks_supervisor_processes"][1][()] == 3


def test_starts_exits_and_exit_codes_follow_what_happened(stack: Stack) -> None:
    stack.wait_state("failing", "EXITED")
    m = scrape(stack)
    assert m["tubeworks_supervisor_process_starts"] == ("counter", {
        key("echo"): 1, key("failing"): 1, key("queue"): 1
    })  # fmt: skip
    assert m["tubeworks_supervisor_process_exits"] == ("counter", {key("failing", code="3"): 1})
    assert m["tubeworks_supervisor_process_last_exit_code"][1][key("failing")] == 3
    assert m["tubeworks_supervisor_process_uptime_seconds"][1][key("failing")] == 0
    assert key("failing") not in m["tubeworks_supervisor_process_resident_memory_bytes"][1]

    stack.rpc().supervisor.startProcess("failing", False)
    wait_for(
        lambda: (
            scrape(stack)["tubeworks_supervisor_process_exits"][1].get(key("failing", code="3"))
            == 2
        ),
        what="the second exit counted",
    )
    assert scrape(stack)["tubeworks_supervisor_process_starts"][1][key("failing")] == 2


def test_a_removed_group_stops_being_exported(stack: Stack) -> None:
    stack.wait_state("failing", "EXITED")
    assert any(
        ("name", "failing") in k for k in scrape(stack)["tubeworks_supervisor_process_pid"][1]
    )
    assert stack.rpc().supervisor.removeProcessGroup("failing") is True
    m = scrape(stack)
    for family, (_, samples) in m.items():
        assert not any(("name", "failing") in k for k in samples), family
    assert m["tubeworks_supervisor_processes"][1][()] == 2


def test_the_unix_socket_server_serves_the_same_metrics(stack: Stack) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(stack.dir / "sv.sock"))
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert "tubeworks_supervisor_process_starts" in names

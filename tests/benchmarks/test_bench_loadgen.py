"""The C load generator against scripted servers: it must fail loudly, never report bad numbers."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from benchmarks import loadgen
from servers import RunningServer


@pytest.fixture(scope="module")
def binary() -> str:
    return str(loadgen.build())


class ScriptedServer:
    """Accepts one connection, answers every request line with ``reply``, records what came."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.received = b""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            while chunk := conn.recv(65536):
                self.received += chunk
                if b"\r\n" in chunk:
                    conn.sendall(self.reply)
                    return

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def out_of_memory() -> Iterator[ScriptedServer]:
    server = ScriptedServer(b"OUT_OF_MEMORY\r\n")
    yield server
    server.close()


@pytest.mark.timeout(20)
def test_unexpected_reply_fails_the_run(binary: str, out_of_memory: ScriptedServer) -> None:
    proc = subprocess.run(
        [binary, "put", "-p", str(out_of_memory.port), "-c", "1", "-n", "10", "-s", "5"],
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == "loadgen: expected INSERTED , got OUT_OF_MEMORY\n"
    assert out_of_memory.received.startswith(b"put 1024 0 60 5\r\nxxxxx\r\n")


@pytest.mark.timeout(20)
def test_bad_option_is_reported(binary: str) -> None:
    proc = subprocess.run([binary, "put", "-c", "zero"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == "loadgen: -c: expected an integer >= 1, got 'zero'\n"


def stats_tube(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"stats-tube default\r\n")
        data = b""
        while b"\r\n" not in data:
            data += s.recv(4096)
        head, _, body = data.partition(b"\r\n")
        size = int(head.split()[1])
        while len(body) < size + 2:
            body += s.recv(4096)
        return body


@pytest.mark.timeout(20)
def test_cycle_moves_exactly_the_jobs_asked_for(binary: str, beanstalkd: RunningServer) -> None:
    proc = subprocess.run(
        [binary, "cycle", "-p", str(beanstalkd.port), "-n", "500", "-P", "2", "-C", "3", "-w", "2"],
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"ops": 500,' in proc.stdout
    stats = stats_tube(beanstalkd.port)
    assert b"current-jobs-ready: 0\n" in stats
    assert b"current-jobs-reserved: 0\n" in stats
    assert b"total-jobs: 500\n" in stats

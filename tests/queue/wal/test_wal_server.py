"""The log inside the real ``tubeworks queue`` process: beanstalkd issue #622 end to end."""

from __future__ import annotations

import os
import signal

import pytest

from servers import running

pytestmark = pytest.mark.timeout(60)


class Conn:
    def __init__(self, sock) -> None:
        self.sock = sock
        self.f = sock.makefile("rb")

    def call(self, line: bytes, body: bytes | None = None) -> bytes:
        self.sock.sendall(line + b"\r\n" + (b"" if body is None else body + b"\r\n"))
        reply = self.f.readline()
        if reply.startswith((b"RESERVED", b"OK", b"FOUND")):
            return reply + self.f.read(int(reply.split()[-1]) + 2)
        return reply


def dir_size(path: str) -> int:
    """Bytes in ``path``; a file the server removes while we look counts as gone."""
    total = 0
    for entry in os.scandir(path):
        try:
            total += entry.stat().st_size
        except FileNotFoundError:
            pass
    return total


def test_bury_kick_forever_does_not_pin_log_files(tmp_path):
    """Issue #622: beanstalkd keeps every file written since a long-lived job's put (84 files
    after 2000 cycles with ``-s 4096``). Ours keeps the directory at a few files' size."""
    wal = str(tmp_path / "wal")
    with running("tubeworks", "-b", wal, "-s", "4096", "-F") as srv, srv.connect() as sock:
        c = Conn(sock)
        assert c.call(b"put 5 0 60 5", b"hello") == b"INSERTED 1\r\n"
        biggest = 0
        for cycle in range(1, 2001):
            assert c.call(b"reserve-job 1").startswith(b"RESERVED 1 5\r\n")
            assert c.call(b"bury 1 7") == b"BURIED\r\n"
            assert c.call(b"kick-job 1") == b"KICKED\r\n"
            if cycle % 100 == 0:
                biggest = max(biggest, dir_size(wal))
        assert biggest <= 10 * (4096 + 28)  # current, spare, uncollected and queued removals
        srv.stop(signal.SIGKILL)
    with running("tubeworks", "-b", wal, "-s", "4096", "-F") as srv, srv.connect() as sock:
        stats = Conn(sock).call(b"stats-job 1")
        for field in (b"pri: 7", b"reserves: 2000", b"buries: 2000", b"kicks: 2000"):
            assert b"\n" + field + b"\n" in stats
        assert b"\nstate: ready\n" in stats

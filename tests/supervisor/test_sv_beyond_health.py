"""Beyond supervisord: ``healthcheck=`` probes (TCP, HTTP 2xx, command) and the restart of a
process that keeps failing them."""

from __future__ import annotations

import asyncio
import http.server
import socket
import sys
import threading
from pathlib import Path

import pytest
from svharness import running_daemon, wait_for, write_config

from tubeworks.supervisor.config import ConfigError, parse_config
from tubeworks.supervisor.health import probe


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.timeout(30)
def test_probes_against_real_sockets() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    try:
        port, dead = server.server_address[1], closed.getsockname()[1]
        results = asyncio.run(
            _all(
                f"tcp://127.0.0.1:{port}",
                f"tcp://127.0.0.1:{dead}",
                f"http://127.0.0.1:{port}/ok",
                f"http://127.0.0.1:{port}/bad",
                "command:true",
                "command:exit 3",
                "command:sleep 5",
            )
        )
        assert results[0] is None and results[1] is not None
        assert results[2:4] == [None, "HTTP status 503"]
        assert results[4:] == [None, "exit status 3", "no answer in 0.5s"]
    finally:
        server.shutdown()
        server.server_close()
        closed.close()


async def _all(*specs: str) -> list[str | None]:
    return list(await asyncio.gather(*(probe(s, 0.5) for s in specs)))


def test_bad_probe_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"s.conf:3: \[program:p\] healthcheck: expected tcp://"):
        parse_config("[program:p]\ncommand=/bin/x\nhealthcheck=udp://x:1\n", "s.conf", {})


@pytest.mark.timeout(60)
def test_failing_health_checks_restart_the_process(tmp_path: Path) -> None:
    flag = tmp_path / "healthy"
    flag.touch()
    programs = (
        "[program:p]\ncommand=sleep 1000\nstartsecs=0\n"
        f"healthcheck=command:test -e {flag}\nhealthcheck_interval=0.1\nhealthcheck_retries=2\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        first = d.wait_state("p", "RUNNING")["pid"]
        wait_for(lambda: d.info()["p"]["description"].endswith(", health ok"), what="health ok")
        flag.unlink()
        d.wait_log("recycling: p failed 2 health checks (exit status 1)")
        assert "unhealthy: p (exit status 1), 2 in a row" in d.activity_log()
        wait_for(
            lambda: (i := d.info()["p"])["statename"] == "RUNNING" and i["pid"] != first,
            what="p running again with a new pid",
        )
        wait_for(
            lambda: ", health failing (exit status 1, " in d.info()["p"]["description"],
            what="health failing in the description",
        )


@pytest.mark.timeout(60)
def test_a_dependent_waits_for_the_health_check_to_pass(tmp_path: Path) -> None:
    from servers import free_port

    port = free_port()
    listen = (
        "import socket, time\n"
        "time.sleep(0.5)\n"  # RUNNING (startsecs=0) well before it accepts connections
        f"s = socket.create_server(('127.0.0.1', {port}))\n"
        "time.sleep(1000)\n"
    )
    (tmp_path / "db.py").write_text(listen)
    programs = (
        f"[program:db]\ncommand={sys.executable} {tmp_path}/db.py\nstartsecs=0\n"
        f"healthcheck=tcp://127.0.0.1:{port}\nhealthcheck_interval=0.1\nhealthcheck_retries=100\n"
        "[program:app]\ncommand=sleep 1000\nstartsecs=0\ndepends_on=db\npriority=1\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("app", "RUNNING")
        log = d.activity_log()
        assert "unhealthy: db (" in log  # probed (and refused) before it listened
        order = [
            log.index(s)
            for s in ("success: db entered RUNNING", "ready: db passed", "spawned: 'app'")
        ]
        assert order == sorted(order)

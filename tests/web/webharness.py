"""A real ``tubeworks supervisord`` running a real queue server and a small echo program.

The supervisor serves the dashboard on TCP (optionally behind basic auth). The echo program
prints ``echo: LINE`` for every line sent to its stdin (``sendProcessStdin``), so a test can
make it print a line of its choosing at the moment it chooses.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers import free_port

ECHO = "import sys\nfor line in sys.stdin:\n    print('echo:', line.strip(), flush=True)\n"


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (OSError, ValueError, xmlrpc.client.Error):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Stack:
    """The running supervisor and where everything listens."""

    dir: Path
    proc: subprocess.Popen[bytes]
    http_port: int
    queue_port: int
    auth: tuple[str, str] | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def queue(self) -> str:
        return f"127.0.0.1:{self.queue_port}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one HTTP request to the supervisor."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if auth and self.auth:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, (status, body)
        return json.loads(body)

    def post(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        status, _, body = self.request("POST", path, payload, {"X-Tubeworks": "1"})
        return status, json.loads(body)

    def rpc(self) -> Any:
        cred = "{}:{}@".format(*self.auth) if self.auth else ""
        return xmlrpc.client.ServerProxy(f"http://{cred}127.0.0.1:{self.http_port}/RPC2")

    def process(self, name: str) -> dict[str, Any]:
        return next(p for p in self.get("/api/state")["processes"] if p["name"] == name)

    def wait_state(self, name: str, state: str) -> dict[str, Any]:
        return wait_for(
            lambda: (lambda p: p if p["state"] == state else None)(self.process(name)),
            what=f"{name} {state}",
        )


def config_text(http_port: int, queue_port: int, auth: tuple[str, str] | None, extra: str) -> str:
    creds = f"username={auth[0]}\npassword={auth[1]}" if auth else ""
    return f"""\
[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s/logs
nodaemon=true

[inet_http_server]
port=127.0.0.1:{http_port}
{creds}

[program:queue]
command={sys.executable} -m tubeworks queue -l 127.0.0.1 -p {queue_port}
startsecs=0

[program:echo]
command={sys.executable} -u %(here)s/echo.py
startsecs=0
stopwaitsecs=5
{textwrap.dedent(extra)}"""


@contextlib.contextmanager
def running_stack(
    tmp: Path,
    auth: tuple[str, str] | None = None,
    extra: str = "",
    env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the supervisor, wait until its queue server answers; stop everything after."""
    (tmp / "logs").mkdir(exist_ok=True)
    (tmp / "echo.py").write_text(ECHO)
    http_port, queue_port = free_port(), free_port()
    config = tmp / "supervisord.conf"
    config.write_text(config_text(http_port, queue_port, auth, extra))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tubeworks", "supervisord", "-c", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp,
        env={**os.environ, **(env or {})},
    )
    stack = Stack(tmp, proc, http_port, queue_port, auth)
    children: set[int] = set()
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"supervisord exited with {proc.returncode}")
            queues = stack.get("/api/state")["queues"]
            return any(q["address"] == stack.queue and not q["error"] for q in queues)

        wait_for(up, 20.0, "the supervisor and its queue server")
        yield stack
    finally:
        with contextlib.suppress(psutil.Error):
            children = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

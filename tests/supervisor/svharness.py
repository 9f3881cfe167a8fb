"""Run a real supervisor daemon (ours or the real supervisord 4.3.0) on a temp config.

Both are driven through the real ``supervisorctl`` and plain XML-RPC over the unix socket.
Teardown stops the daemon and kills anything it left behind, so no test leaks processes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from supervisor.xmlrpc import SupervisorTransport

VENV_BIN = Path(sys.executable).parent
SUPERVISORCTL = str(VENV_BIN / "supervisorctl")
REAL_SUPERVISORD = str(VENV_BIN / "supervisord")

HEADER = """\
[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s/logs
nodaemon=true
loglevel=info

[unix_http_server]
file=%(here)s/sv.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(here)s/sv.sock
"""


def write_config(directory: Path, programs: str, header: str = HEADER) -> Path:
    (directory / "logs").mkdir(exist_ok=True)
    path = directory / "supervisord.conf"
    path.write_text(header + "\n" + textwrap.dedent(programs))
    return path


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (tests need a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Daemon:
    kind: str  # "tubeworks" or "supervisord"
    config: Path
    proc: subprocess.Popen[bytes]
    client: str = "supervisorctl"  # or "tubeworks" (our ctl)

    def client_argv(self) -> list[str]:
        if self.client == "tubeworks":
            return [sys.executable, "-m", "tubeworks", "ctl"]
        return [SUPERVISORCTL]

    @property
    def dir(self) -> Path:
        return self.config.parent

    @property
    def socket(self) -> str:
        return str(self.dir / "sv.sock")

    def rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport)

    def ctl(self, *args: str, timeout: float = 30.0) -> tuple[int, str]:
        """Run the real supervisorctl; (exit code, stdout+stderr)."""
        done = subprocess.run(
            [*self.client_argv(), "-c", str(self.config), *args],
            capture_output=True,
            timeout=timeout,
            text=True,
        )
        return done.returncode, done.stdout + done.stderr

    def info(self) -> dict[str, dict[str, Any]]:
        return {
            (i["name"] if i["name"] == i["group"] else f"{i['group']}:{i['name']}"): i
            for i in self.rpc().supervisor.getAllProcessInfo()
        }

    def wait_state(self, name: str, *states: str, timeout: float = 15.0) -> dict[str, Any]:
        return wait_for(
            lambda: (lambda i: i if i["statename"] in states else None)(
                self.rpc().supervisor.getProcessInfo(name)
            ),
            timeout,
            f"{name} in {states}",
        )

    def wait_settled(self, timeout: float = 15.0) -> dict[str, dict[str, Any]]:
        """All processes out of STARTING/BACKOFF/STOPPING (and at least one spawned)."""

        def settled() -> dict[str, dict[str, Any]] | None:
            info = self.info()
            busy = {"STARTING", "BACKOFF", "STOPPING"}
            if any(i["statename"] in busy for i in info.values()):
                return None
            return info

        return wait_for(settled, timeout, "all processes settled")

    def activity_log(self) -> str:
        return (self.dir / "supervisord.log").read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 15.0) -> str:
        return wait_for(
            lambda: text in self.activity_log() and self.activity_log(),
            timeout,
            f"{text!r} in the activity log",
        )


def daemon_argv(kind: str, config: Path, *extra: str) -> list[str]:
    if kind == "tubeworks":
        return [sys.executable, "-m", "tubeworks", "supervisord", "-c", str(config), *extra]
    return [REAL_SUPERVISORD, "-c", str(config), *extra]


@contextlib.contextmanager
def running_daemon(
    kind: str, config: Path, *extra: str, client: str = "supervisorctl"
) -> Iterator[Daemon]:
    proc = subprocess.Popen(
        daemon_argv(kind, config, *extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=config.parent,
    )
    daemon = Daemon(kind, config, proc, client)
    children: set[int] = set()
    try:

        def up() -> bool:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{kind} exited with {proc.returncode}: {err}")
            return daemon.rpc().supervisor.getState()["statename"] == "RUNNING"

        wait_for(up, 15.0, f"{kind} to answer")
        yield daemon
    finally:
        with contextlib.suppress(psutil.Error):
            children = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        stop_daemon(proc)
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if proc.stderr:
            proc.stderr.close()


def stop_daemon(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


_PID = re.compile(r"pid \d+")
_UPTIME = re.compile(r"uptime \d+:\d\d:\d\d")
_DATE = re.compile(r"[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M")


def normalize(text: str) -> str:
    """Mask the process facts that differ between runs: pids, uptimes, stop dates, pids alone."""
    text = _PID.sub("pid N", text)
    text = _UPTIME.sub("uptime U", text)
    text = _DATE.sub("DATE", text)
    return text

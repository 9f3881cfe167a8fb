"""Client side of supervisord's XML-RPC: transport (unix socket or HTTP, basic auth), fault
codes and the exact texts supervisorctl prints for results.  Used by ``tubeworks ctl``.
"""

from __future__ import annotations

import base64
import http.client
import socket
import urllib.parse
import xmlrpc.client
from typing import Any

API_VERSION = "3.0"
STOPPED_STATES = {0, 100, 200, 1000}  # STOPPED EXITED FATAL UNKNOWN (status exit code 3)

# exit statuses (LSB init script conventions, as supervisorctl uses them)
OK, GENERIC, INVALID_ARGS, UNIMPLEMENTED, NO_PRIVILEGE, NOT_INSTALLED, NOT_RUNNING = (
    0,
    1,
    2,
    3,
    4,
    5,
    7,
)
STATUS_NOT_RUNNING, STATUS_UNKNOWN = 3, 4

F_BAD_NAME, F_BAD_SIGNAL, F_NO_FILE, F_NOT_EXECUTABLE, F_FAILED = 10, 11, 20, 21, 30
F_ABNORMAL, F_SPAWN_ERROR, F_ALREADY_STARTED, F_NOT_RUNNING, F_SUCCESS = 40, 50, 60, 70, 80
F_UNKNOWN_METHOD, F_SHUTDOWN_STATE, F_ALREADY_ADDED, F_STILL_RUNNING, F_CANT_REREAD = (
    1,
    6,
    90,
    91,
    92,
)
DEAD_PROGRAM_FAULTS = (F_SPAWN_ERROR, F_ABNORMAL, F_NOT_RUNNING)

START_ERRORS = {
    F_BAD_NAME: "no such process",
    F_NO_FILE: "no such file",
    F_NOT_EXECUTABLE: "file is not executable",
    F_ALREADY_STARTED: "already started",
    F_SPAWN_ERROR: "spawn error",
    F_ABNORMAL: "abnormal termination",
}
SIGNAL_ERRORS = {
    F_BAD_NAME: "no such process",
    F_BAD_SIGNAL: "bad signal name",
    F_NOT_RUNNING: "not running",
}

USAGE = {
    "start": "start <name>\t\tStart a process\nstart <gname>:*\t\tStart all processes in a "
    "group\nstart <name> <name>\tStart multiple processes or groups\nstart all\t\tStart all "
    "processes",
    "stop": "stop <name>\t\tStop a process\nstop <gname>:*\t\tStop all processes in a group\n"
    "stop <name> <name>\tStop multiple processes or groups\nstop all\t\tStop all processes",
    "restart": "restart <name>\t\tRestart a process\nrestart <gname>:*\tRestart all processes "
    "in a group\nrestart <name> <name>\tRestart multiple processes or groups\nrestart all\t\t"
    "Restart all processes\nNote: restart does not reread config files. For that, see reread "
    "and update.",
    "signal": "signal <signal name> <name>\t\tSignal a process\nsignal <signal name> "
    "<gname>:*\t\tSignal all processes in a group\nsignal <signal name> <name> <name>\tSignal "
    "multiple processes or groups\nsignal <signal name> all\t\tSignal all processes",
    "tail": "tail [-f] <name> [stdout|stderr] (default stdout)\nEx:\ntail -f <name>\t\t"
    "Continuous tail of named process stdout\n\t\t\tCtrl-C to exit.\ntail -100 <name>\tlast "
    "100 *bytes* of process stdout\ntail <name> stderr\tlast 1600 *bytes* of process stderr",
    "maintail": "maintail -f \tContinuous tail of supervisor main log file (Ctrl-C to exit)\n"
    "maintail -100\tlast 100 *bytes* of supervisord main log file\nmaintail\tlast 1600 "
    "*bytes* of supervisor main log file\n",
    "clear": "clear <name>\t\tClear a process' log files.\nclear <name> <name>\tClear "
    "multiple process' log files\nclear all\t\tClear all process' log files",
    "status": "status <name>\t\tGet status for a single process\nstatus <gname>:*\tGet status "
    "for all processes in a group\nstatus <name> <name>\tGet status for multiple named "
    "processes\nstatus\t\t\tGet all process status info\nstatus --json [...]\tThe same as JSON",
    "shutdown": "shutdown \tShut the remote supervisord down.",
    "reload": "reload \t\tRestart the remote supervisord.",
    "avail": "avail\t\t\tDisplay all configured processes",
    "reread": "reread \t\t\tReload the daemon's configuration files without add/remove",
}


def namespec(group: str, name: str) -> str:
    return name if group == name else f"{group}:{name}"


def split_namespec(spec: str) -> tuple[str, str | None]:
    """``g:p`` → (g, p); ``g:``/``g:*`` → (g, None); ``p`` → (p, p)."""
    group, colon, name = spec.partition(":")
    if not colon:
        return spec, spec
    return group, (None if name in ("", "*") else name)


def format_status(infos: list[dict[str, Any]]) -> list[str]:
    """supervisorctl's status table: name padded to max(30, longest)+3, state to 10."""
    specs = [namespec(i["group"], i["name"]) for i in infos]
    width = max([30, *map(len, specs)]) + 3
    return [
        f"{s:<{width}}{i['statename']:<10}{i['description']}"
        for s, i in zip(specs, infos, strict=True)
    ]


def result_line(result: dict[str, Any], success: str, errors: dict[int, str]) -> str:
    name = namespec(result["group"], result["name"])
    code = result["status"]
    if code == F_SUCCESS:
        return f"{name}: {success}"
    if code in errors:
        return f"{name}: ERROR ({errors[code]})"
    if code == F_FAILED and success != "cleared":
        return str(result["description"])
    if code == F_FAILED:
        return f"{name}: ERROR (failed)"
    raise ValueError(f"unknown result code {code} for {name}")


class UnixStreamConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (``unix:///path``)."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class Transport(xmlrpc.client.Transport):
    """xmlrpc transport for ``unix://`` and ``http://`` server urls, with basic auth."""

    def __init__(self, serverurl: str, username: str | None, password: str | None) -> None:
        super().__init__()
        self.serverurl = serverurl
        self.auth: str | None = None
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self.auth = f"Basic {token}"

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection and host == self._connection[0]:
            return self._connection[1]  # type: ignore[return-value]
        if self.serverurl.startswith("unix://"):
            conn: http.client.HTTPConnection = UnixStreamConnection(self.serverurl[7:])
        else:
            parts = urllib.parse.urlsplit(self.serverurl)
            conn = http.client.HTTPConnection(parts.hostname or "localhost", parts.port or 80)
        self._connection = host, conn
        return conn

    def send_headers(self, connection: http.client.HTTPConnection, headers: Any) -> None:
        if self.auth:
            connection.putheader("Authorization", self.auth)
        super().send_headers(connection, headers)

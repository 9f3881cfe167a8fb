"""What the API reports: process info structs, descriptions and log file reads.

Log bytes are decoded leniently: invalid UTF-8 and control characters XML cannot carry become
U+FFFD, where supervisord 4.3.0 fails the whole call with HTTP 500.
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Any

from tubeworks.supervisor.daemon import Process
from tubeworks.supervisor.faults import RPCError
from tubeworks.supervisor.states import ProcessState

# characters XML 1.0 cannot carry even escaped (control characters other than tab/CR/LF)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def to_text(data: bytes) -> str:
    """Log bytes → XML-safe text (invalid UTF-8 and control characters become U+FFFD)."""
    return _XML_INVALID.sub("\ufffd", data.decode("utf-8", "replace"))


def read_file(path: str, offset: int, length: int) -> bytes:
    """supervisord's offset/length rules for readLog and readProcess*Log."""
    if offset < 0 and length:
        raise RPCError("BAD_ARGUMENTS")
    if length < 0:
        raise RPCError("BAD_ARGUMENTS")
    try:
        with open(path, "rb") as f:
            if offset < 0:
                size = f.seek(0, 2)
                f.seek(max(0, size + offset))
                return f.read(-offset)
            f.seek(offset)
            return f.read() if length == 0 else f.read(length)
    except OSError:
        raise RPCError("FAILED") from None


def tail_file(path: str, offset: int, length: int) -> list[Any]:
    """``[text, new offset, overflow]``: at most ``length`` bytes ending at the file's end."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            overflow = False
            if size > offset + length:
                overflow = True
                offset = size - 1
            if offset + length > size:
                if offset > size - 1:
                    length = 0
                offset = size - length
            offset, length = max(offset, 0), max(length, 0)
            data = b""
            if length:
                f.seek(offset)
                data = f.read(length)
            return [to_text(data), size, overflow]
    except OSError:
        return ["", offset, False]


def _capped(t: float) -> int:
    return min(int(t), 2**31 - 1)


def describe(info: dict[str, Any]) -> str:
    state = info["state"]
    if state == ProcessState.RUNNING:
        uptime = max(0, info["now"] - info["start"])
        return f"pid {info['pid']}, uptime {datetime.timedelta(seconds=uptime)}"
    if state in (ProcessState.FATAL, ProcessState.BACKOFF):
        return info["spawnerr"] or f'unknown error (try "tail {info["name"]}")'
    if state in (ProcessState.STOPPED, ProcessState.EXITED):
        if info["start"]:
            return time.strftime("%b %d %I:%M %p", time.localtime(info["stop"]))
        return "Not started"
    return ""


def process_info(process: Process) -> dict[str, Any]:
    proc = process.proc
    info: dict[str, Any] = {
        "name": process.name,
        "group": process.group,
        "start": _capped(proc.laststart),
        "stop": _capped(proc.laststop),
        "now": _capped(time.time()),
        "state": int(proc.state),
        "statename": proc.state.name,
        "spawnerr": proc.spawnerr,
        "exitstatus": proc.exitstatus or 0,
        "logfile": process.log_paths["stdout"],
        "stdout_logfile": process.log_paths["stdout"],
        "stderr_logfile": process.log_paths["stderr"],
        "pid": proc.pid,
    }
    info["description"] = describe(info)
    if process.config.healthcheck and proc.state == ProcessState.RUNNING:
        info["description"] += f", health {process.health}"  # ours: only with healthcheck=
    return info

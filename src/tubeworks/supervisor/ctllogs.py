"""Log commands of ``tubeworks ctl``: tail, maintail (with ``-f`` streaming) and fg.

A mixin of :class:`controller.Controller`, kept apart because streaming needs its own HTTP
handling (chunked ``/logtail`` responses, a reader thread per channel for ``fg``).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import sys
import threading
import urllib.parse
import xmlrpc.client
from typing import Any, TextIO

from tubeworks.supervisor.client import (
    F_BAD_NAME,
    F_FAILED,
    F_NO_FILE,
    F_NOT_RUNNING,
    GENERIC,
    Transport,
)
from tubeworks.supervisor.config import CtlConfig

RUNNING_STATE = 20  # ProcessState.RUNNING on the wire


class LogCommands:
    """Needs the controller's ``config``, ``sv``, ``out``, ``exitstatus``, ``say``,
    ``usage`` and ``upcheck``."""

    config: CtlConfig
    sv: Any
    out: TextIO
    exitstatus: int

    def say(self, text: str) -> None:
        raise NotImplementedError

    def usage(self, command: str, message: str, status: int = GENERIC) -> None:
        raise NotImplementedError

    def upcheck(self) -> bool:
        raise NotImplementedError

    def do_tail(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        if not args:
            self.usage("tail", "Error: too few arguments")
            return
        if len(args) > 3:
            self.usage("tail", "Error: too many arguments")
            return
        modifier = args.pop(0) if args[0].startswith("-") else None
        if not args:
            self.say("Error: tail requires process name")
            self.exitstatus = GENERIC
            return
        name, channel = args[0], (args[-1].lower() if len(args) > 1 else "stdout")
        if channel not in ("stdout", "stderr"):
            self.say(f"Error: bad channel {channel!r}")
            self.exitstatus = GENERIC
            return
        size: int | None = 1600
        if modifier is not None:
            if modifier == "-f":
                size = None
            else:
                try:
                    size = int(modifier[1:])
                except ValueError:
                    self.say(f"Error: bad argument {modifier}")
                    self.exitstatus = GENERIC
                    return
        if size is None:
            self.follow(f"/logtail/{urllib.parse.quote(name)}/{channel}")
            return
        read = self.sv.readProcessStdoutLog if channel == "stdout" else self.sv.readProcessStderrLog
        try:
            self.say(read(name, -size, 0))
        except xmlrpc.client.Fault as exc:
            self.exitstatus = GENERIC
            reasons = {
                F_NO_FILE: "no log file",
                F_FAILED: "unknown error reading log",
                F_BAD_NAME: "no such process name",
            }
            if exc.faultCode not in reasons:
                raise
            self.say(f"{name}: ERROR ({reasons[exc.faultCode]})")

    def do_maintail(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        if len(args) > 1:
            self.usage("maintail", "Error: too many arguments")
            return
        size = 1600
        if args:
            if args[0] == "-f":
                self.follow("/mainlogtail")
                return
            try:
                if not args[0].startswith("-"):
                    raise ValueError(args[0])
                size = int(args[0][1:])
            except ValueError:
                self.say(f"Error: bad argument {args[0]}")
                self.exitstatus = GENERIC
                return
        try:
            self.say(self.sv.readLog(-size, 0))
        except xmlrpc.client.Fault as exc:
            self.exitstatus = GENERIC
            reasons = {F_NO_FILE: "no log file", F_FAILED: "unknown error reading log"}
            if exc.faultCode not in reasons:
                raise
            self.say(f"supervisord: ERROR ({reasons[exc.faultCode]})")

    def follow(self, path: str) -> None:
        """Stream a /logtail or /mainlogtail response until interrupted or closed."""
        self.say("==> Press Ctrl-C to exit <==")
        try:
            self._stream(path, self._connect())
        except KeyboardInterrupt:
            self.say("")

    def _connect(self) -> http.client.HTTPConnection:
        transport = Transport(self.config.serverurl, self.config.username, self.config.password)
        return transport.make_connection("follow")

    def _stream(self, path: str, conn: http.client.HTTPConnection) -> None:
        headers = {}
        if self.config.username:
            token = base64.b64encode(
                f"{self.config.username}:{self.config.password or ''}".encode()
            ).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                self.say(f"Cannot read, status code {response.status}")
                self.exitstatus = GENERIC
                return
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                self.out.write(chunk.decode("utf-8", "replace"))
                self.out.flush()
        except (OSError, http.client.HTTPException, ValueError):
            pass  # closed under us (fg exiting) or by the server
        finally:
            conn.close()

    def do_fg(self, args: list[str]) -> None:
        """Show a process's output live and send what is typed to its stdin."""
        if not self.upcheck():
            return
        if len(args) != 1:
            self.say(
                "ERROR: no process name supplied"
                if not args
                else "ERROR: too many process names supplied"
            )
            self.exitstatus = GENERIC
            return
        name = args[0]
        try:
            info = self.sv.getProcessInfo(name)
        except xmlrpc.client.Fault as exc:
            if exc.faultCode != F_BAD_NAME:
                self.say(f"ERROR: {exc}")
                return
            self.say("ERROR: bad process name supplied")
            self.exitstatus = GENERIC
            return
        if info["state"] != RUNNING_STATE:
            self.say("ERROR: process not running")
            self.exitstatus = GENERIC
            return
        self.say("==> Press Ctrl-C to exit <==")
        conns = [self._connect() for _ in ("stdout", "stderr")]
        for conn, channel in zip(conns, ("stdout", "stderr"), strict=True):
            path = f"/logtail/{urllib.parse.quote(name)}/{channel}"
            threading.Thread(target=self._stream, args=(path, conn), daemon=True).start()
        try:
            while True:
                line = sys.stdin.readline()
                if not line:
                    raise EOFError
                try:
                    self.sv.sendProcessStdin(name, line)
                except xmlrpc.client.Fault as exc:
                    self.say(
                        "Process got killed" if exc.faultCode == F_NOT_RUNNING else f"ERROR: {exc}"
                    )
                    self.say("Exiting foreground")
                    return
                if self.sv.getProcessInfo(name)["state"] != RUNNING_STATE:
                    self.say("Process got killed")
                    self.say("Exiting foreground")
                    return
        except (KeyboardInterrupt, EOFError):
            self.say("Exiting foreground")
        finally:
            for conn in conns:
                with contextlib.suppress(OSError):
                    if conn.sock is not None:
                        conn.sock.shutdown(socket.SHUT_RDWR)

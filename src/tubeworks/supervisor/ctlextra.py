"""Commands of ``tubeworks ctl`` that supervisorctl does not have: ``wait``, ``roll`` and
``reopen``.

A mixin of :class:`controller.Controller`.  ``wait`` is for deploy scripts: it blocks until
the named programs are RUNNING and says in one line why not when it gives up.
"""

from __future__ import annotations

import os
import signal
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any, TextIO

from tubeworks.supervisor.client import (
    GENERIC,
    INVALID_ARGS,
    NOT_RUNNING,
    STOPPED_STATES,
    namespec,
)
from tubeworks.supervisor.config import CtlConfig

RUNNING, FATAL = 20, 200  # ProcessState values on the wire
POLL_SECONDS = 0.1
WAIT_USAGE = (
    "wait [--timeout S] <name>...\tBlock until the named processes or groups are RUNNING\n"
    "\t\t\t\t(default timeout 60 s; exit 1 on timeout, 7 when one is FATAL)"
)
ROLL_USAGE = (
    "roll <name>...\t\tRestart the named processes or groups one at a time, each\n"
    "\t\t\t\tRUNNING (startsecs) before the next is stopped"
)


def _spec(info: dict[str, Any]) -> str:
    return namespec(info["group"], info["name"])


def select(infos: list[dict[str, Any]], names: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(the processes ``names`` pick, the names that pick none).

    A name is ``proc``, ``group:proc``, ``group:*`` or a group name (all its processes)."""
    chosen: dict[str, dict[str, Any]] = {}
    unknown: list[str] = []
    for name in names:
        group = name[:-2] if name.endswith(":*") else name
        hits = [i for i in infos if _spec(i) == name or i["group"] == group]
        if not hits:
            unknown.append(name)
        chosen.update((_spec(i), i) for i in hits)
    return list(chosen.values()), unknown


def wait_verdict(infos: list[dict[str, Any]]) -> tuple[int | None, str]:
    """(exit status or None to keep waiting, reason) for the chosen processes' states."""
    for info in infos:
        if info["state"] == FATAL:
            return NOT_RUNNING, f"{_spec(info)} is FATAL ({info['description']})"
    waiting = [f"{_spec(i)} ({i['statename']})" for i in infos if i["state"] != RUNNING]
    if waiting:
        return None, "not running: " + ", ".join(waiting)
    return 0, ""


class ExtraCommands:
    """Needs the controller's ``config``, ``sv``, ``out``, ``exitstatus``, ``say`` and
    ``upcheck``."""

    config: CtlConfig
    sv: Any
    out: TextIO
    exitstatus: int
    say: Callable[[str], None]
    upcheck: Callable[[], bool]

    def do_wait(self, args: list[str]) -> None:
        timeout = 60.0
        names: list[str] = []
        rest = list(args)
        while rest:
            word = rest.pop(0)
            if word.startswith("--timeout"):
                value = word.partition("=")[2] or (rest.pop(0) if rest else "")
                try:
                    timeout = float(value)
                except ValueError:
                    self.say(f"wait: expected --timeout SECONDS, got {value!r}")
                    self.exitstatus = INVALID_ARGS
                    return
            else:
                names.append(word)
        if not names:
            self.say("wait: expected at least one name\n" + WAIT_USAGE)
            self.exitstatus = INVALID_ARGS
            return
        if not self.upcheck():
            return
        deadline = time.monotonic() + timeout
        while True:
            chosen, unknown = select(self.sv.getAllProcessInfo(), names)
            if unknown:
                self.say(f"wait: no such process: {', '.join(unknown)}")
                self.exitstatus = NOT_RUNNING
                return
            status, reason = wait_verdict(chosen)
            if status is not None:
                if reason:
                    self.say(f"wait: {reason}")
                self.exitstatus = status
                return
            if time.monotonic() >= deadline:
                self.say(f"wait: timed out after {timeout:g}s; {reason}")
                self.exitstatus = GENERIC
                return
            time.sleep(POLL_SECONDS)

    def do_roll(self, args: list[str]) -> None:
        """Rolling restart: never more than one of the named processes down at a time."""
        if not args:
            self.say("roll: expected at least one name\n" + ROLL_USAGE)
            self.exitstatus = INVALID_ARGS
            return
        if not self.upcheck():
            return
        chosen, unknown = select(self.sv.getAllProcessInfo(), args)
        if unknown:
            self.say(f"roll: no such process: {', '.join(unknown)}")
            self.exitstatus = NOT_RUNNING
            return
        for info in chosen:
            spec = _spec(info)
            try:
                if info["state"] not in STOPPED_STATES:
                    self.sv.stopProcess(spec, True)
                self.sv.startProcess(spec, True)
            except xmlrpc.client.Fault as exc:
                self.say(f"roll: {spec} did not come back ({exc.faultString}); stopped rolling")
                self.exitstatus = NOT_RUNNING
                return
            self.say(f"{spec}: restarted")

    def do_reopen(self, args: list[str]) -> None:
        """Ask a supervisor on this machine to reopen its logs (SIGUSR2), after logrotate."""
        if not self.upcheck():
            return
        pid = int(self.sv.getPID())
        os.kill(pid, signal.SIGUSR2)
        self.say(f"reopen: asked pid {pid} to reopen its logs")

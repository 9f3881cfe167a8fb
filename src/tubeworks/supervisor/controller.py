"""The command interpreter behind ``tubeworks ctl``: one command line in, supervisorctl's
output lines and exit status out.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import sys
import xmlrpc.client
from collections.abc import Callable
from typing import Any, TextIO

from tubeworks.supervisor.client import (
    API_VERSION,
    DEAD_PROGRAM_FAULTS,
    F_ALREADY_ADDED,
    F_ALREADY_STARTED,
    F_BAD_NAME,
    F_CANT_REREAD,
    F_FAILED,
    F_NOT_RUNNING,
    F_SHUTDOWN_STATE,
    F_STILL_RUNNING,
    F_SUCCESS,
    F_UNKNOWN_METHOD,
    GENERIC,
    INVALID_ARGS,
    NO_PRIVILEGE,
    NOT_INSTALLED,
    NOT_RUNNING,
    OK,
    SIGNAL_ERRORS,
    START_ERRORS,
    STATUS_NOT_RUNNING,
    STATUS_UNKNOWN,
    STOPPED_STATES,
    UNIMPLEMENTED,
    USAGE,
    Transport,
    format_status,
    namespec,
    result_line,
    split_namespec,
)
from tubeworks.supervisor.config import CtlConfig
from tubeworks.supervisor.ctlextra import ROLL_USAGE, WAIT_USAGE, ExtraCommands
from tubeworks.supervisor.ctllogs import LogCommands


class Controller(LogCommands, ExtraCommands):
    """Runs one command line at a time; ``exitstatus`` is what the process exits with."""

    def __init__(self, config: CtlConfig, out: TextIO = sys.stdout) -> None:
        self.config = config
        self.out = out
        self.exitstatus = OK
        transport = Transport(config.serverurl, config.username, config.password)
        self.proxy = xmlrpc.client.ServerProxy("http://127.0.0.1/RPC2", transport)
        self.sv: Any = self.proxy.supervisor

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def fault_status(self, code: int, ignored: int | None = None) -> None:
        if code in (ignored, F_SUCCESS):
            return
        self.exitstatus = NOT_RUNNING if code in DEAD_PROGRAM_FAULTS else GENERIC

    def run(self, argv: list[str]) -> int:
        if not argv:
            return self.exitstatus
        command, args = argv[0], argv[1:]
        handler: Callable[[list[str]], None] | None = getattr(self, f"do_{command}", None)
        if handler is None:
            self.say(f"*** Unknown syntax: {' '.join(argv)}")
            self.exitstatus = GENERIC
            return self.exitstatus
        try:
            handler(args)
        except xmlrpc.client.ProtocolError as exc:
            self.exitstatus = GENERIC
            if exc.errcode == 401:
                self.say("Server requires authentication")
            else:
                self.say(f"error: {exc}")
        except (OSError, xmlrpc.client.Fault, ValueError) as exc:
            self.say(f"error: {type(exc)}, {exc}")
            self.exitstatus = GENERIC
        return self.exitstatus

    def usage(self, command: str, message: str, status: int = GENERIC) -> None:
        self.say(message)
        self.say(USAGE[command])
        self.exitstatus = status

    def upcheck(self) -> bool:
        try:
            api = self.sv.getVersion()
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == F_UNKNOWN_METHOD:
                self.say(
                    "Sorry, supervisord responded but did not recognize the supervisor "
                    "namespace commands that supervisorctl uses to control it.  Please "
                    "check that the [rpcinterface:supervisor] section is enabled in the "
                    "configuration file (see sample.conf)."
                )
                self.exitstatus = UNIMPLEMENTED
                return False
            raise
        except OSError as exc:
            if exc.errno == errno.ECONNREFUSED:
                self.say(f"{self.config.serverurl} refused connection")
                self.exitstatus = NO_PRIVILEGE
                return False
            if exc.errno == errno.ENOENT:
                self.say(f"{self.config.serverurl} no such file")
                self.exitstatus = NOT_RUNNING
                return False
            raise
        if api != API_VERSION:
            self.say(
                f"Sorry, this version of supervisorctl expects to talk to a server with "
                f"API version {API_VERSION}, but the remote version is {api}."
            )
            self.exitstatus = NOT_INSTALLED
            return False
        return True

    # ---- status / pid ----

    def do_status(self, args: list[str]) -> None:
        as_json = "--json" in args
        names = [a for a in args if a != "--json"]
        if not self.upcheck():
            self.exitstatus = STATUS_UNKNOWN
            return
        infos = self.sv.getAllProcessInfo()
        if names and "all" not in names:
            matching = []
            for name in names:
                group, proc = split_namespec(name)
                found = [i for i in infos if i["group"] == group and proc in (None, i["name"])]
                if not found:
                    what = "group" if proc is None else "process"
                    self.say(f"{group if proc is None else name}: ERROR (no such {what})")
                    self.exitstatus = STATUS_UNKNOWN
                matching.extend(found)
            infos = matching
        if as_json:
            self.say(json.dumps(infos, indent=2))
        else:
            for line in format_status(infos):
                self.say(line)
        if any(i["state"] in STOPPED_STATES for i in infos):
            self.exitstatus = STATUS_NOT_RUNNING

    def do_pid(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        if not args:
            self.say(str(self.sv.getPID()))
        elif "all" in args:
            for info in self.sv.getAllProcessInfo():
                self.say(str(info["pid"]))
        else:
            for name in args:
                try:
                    pid = self.sv.getProcessInfo(name)["pid"]
                except xmlrpc.client.Fault as exc:
                    self.exitstatus = GENERIC
                    if exc.faultCode != F_BAD_NAME:
                        raise
                    self.say(f"No such process {name}")
                    continue
                self.say(str(pid))
                if pid == 0:
                    self.exitstatus = NOT_RUNNING

    # ---- start / stop / restart / signal / clear ----

    def _each(
        self,
        names: list[str],
        all_call: Callable[[], list[dict[str, Any]]],
        group_call: Callable[[str], list[dict[str, Any]]],
        one_call: Callable[[str], Any],
        success: str,
        errors: dict[int, str],
        ignored: int | None,
        bad_group_status: int = GENERIC,
    ) -> None:
        if "all" in names:
            for result in all_call():
                self.say(result_line(result, success, errors))
                self.fault_status(result["status"], ignored)
            return
        for name in names:
            group, proc = split_namespec(name)
            if proc is None:
                try:
                    results = group_call(group)
                except xmlrpc.client.Fault as exc:
                    if exc.faultCode != F_BAD_NAME:
                        raise
                    self.say(f"{group}: ERROR (no such group)")
                    self.exitstatus = bad_group_status
                    continue
                for result in results:
                    self.say(result_line(result, success, errors))
                    self.fault_status(result["status"], ignored)
                continue
            try:
                one_call(name)
            except xmlrpc.client.Fault as exc:
                result = {
                    "status": exc.faultCode,
                    "name": proc,
                    "group": group,
                    "description": exc.faultString,
                }
                self.say(result_line(result, success, errors))
                self.fault_status(exc.faultCode, ignored)
            else:
                self.say(f"{namespec(group, proc)}: {success}")

    def do_start(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        if not args:
            self.usage("start", "Error: start requires a process name", INVALID_ARGS)
            return
        self._each(
            args,
            self.sv.startAllProcesses,
            self.sv.startProcessGroup,
            self.sv.startProcess,
            "started",
            START_ERRORS,
            F_ALREADY_STARTED,
            INVALID_ARGS,
        )

    def do_stop(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        if not args:
            self.usage("stop", "Error: stop requires a process name")
            return
        self._each(
            args,
            self.sv.stopAllProcesses,
            self.sv.stopProcessGroup,
            self.sv.stopProcess,
            "stopped",
            SIGNAL_ERRORS,
            F_NOT_RUNNING,
        )

    def do_restart(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        if not args:
            self.usage("restart", "Error: restart requires a process name")
            return
        self.do_stop(args)
        self.do_start(args)

    def do_signal(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        if len(args) < 2:
            self.usage("signal", "Error: signal requires a signal name and a process name")
            return
        sig, names = args[0], args[1:]
        self._each(
            names,
            lambda: self.sv.signalAllProcesses(sig),
            lambda g: self.sv.signalProcessGroup(g, sig),
            lambda n: self.sv.signalProcess(n, sig),
            "signalled",
            SIGNAL_ERRORS,
            None,
        )

    def do_clear(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        if not args:
            self.usage("clear", "Error: clear requires a process name")
            return
        if "all" in args:
            for result in self.sv.clearAllProcessLogs():
                self.say(result_line(result, "cleared", {F_BAD_NAME: "no such process"}))
                self.fault_status(result["status"])
            return
        for name in args:
            group, proc = split_namespec(name)
            try:
                self.sv.clearProcessLogs(name)
            except xmlrpc.client.Fault as exc:
                result = {
                    "status": exc.faultCode,
                    "name": proc,
                    "group": group,
                    "description": exc.faultString,
                }
                self.say(result_line(result, "cleared", {F_BAD_NAME: "no such process"}))
                self.fault_status(exc.faultCode)
            else:
                self.say(f"{namespec(group, proc or group)}: cleared")

    def do_open(self, args: list[str]) -> None:
        """Switch to another supervisord (unix:///path or http://host:port)."""
        url = args[0] if args else ""
        if not url.startswith(("unix://", "http://")):
            self.say("ERROR: url must be http:// or unix://")
            self.exitstatus = GENERIC
            return
        self.config = dataclasses.replace(self.config, serverurl=url)
        transport = Transport(url, self.config.username, self.config.password)
        self.proxy = xmlrpc.client.ServerProxy("http://127.0.0.1/RPC2", transport)
        self.sv = self.proxy.supervisor
        status = self.exitstatus
        self.do_status([])
        self.exitstatus = status

    # ---- daemon-level ----

    def _daemon_call(
        self, command: str, args: list[str], call: Callable[[], Any], done: str
    ) -> None:
        if args:
            self.usage(command, f"Error: {command} accepts no arguments")
            return
        try:
            call()
        except xmlrpc.client.Fault as exc:
            self.exitstatus = GENERIC
            if exc.faultCode != F_SHUTDOWN_STATE:
                raise
            self.say("ERROR: already shutting down")
            return
        except OSError as exc:
            if command != "shutdown" or exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise
            self.exitstatus = GENERIC
            why = "refused connection" if exc.errno == errno.ECONNREFUSED else "no such file"
            self.say(f"ERROR: {self.config.serverurl} {why} (already shut down?)")
            return
        self.say(done)

    def do_shutdown(self, args: list[str]) -> None:
        self._daemon_call("shutdown", args, self.sv.shutdown, "Shut down")

    def do_reload(self, args: list[str]) -> None:
        self._daemon_call("reload", args, self.sv.restart, "Restarted supervisord")

    def do_version(self, args: list[str]) -> None:
        if not self.upcheck():
            return
        self.say(self.sv.getSupervisorVersion())

    def do_avail(self, args: list[str]) -> None:
        if args:
            self.usage("avail", "Error: avail accepts no arguments")
            return
        try:
            infos = self.sv.getAllConfigInfo()
        except xmlrpc.client.Fault as exc:
            self.exitstatus = GENERIC
            if exc.faultCode != F_SHUTDOWN_STATE:
                raise
            self.say("ERROR: supervisor shutting down")
            return
        for i in infos:
            inuse = "in use" if i["inuse"] else "avail"
            auto = "auto" if i["autostart"] else "manual"
            prio = f"{i['group_prio']}:{i['process_prio']}"
            self.say(f"{namespec(i['group'], i['name']):<32} {inuse:<9} {auto:<9} {prio}")

    def _reread(self) -> tuple[list[str], list[str], list[str]] | None:
        try:
            added, changed, removed = self.sv.reloadConfig()[0]
        except xmlrpc.client.Fault as exc:
            self.exitstatus = GENERIC
            if exc.faultCode == F_SHUTDOWN_STATE:
                self.say("ERROR: supervisor shutting down")
            elif exc.faultCode == F_CANT_REREAD:
                self.say(f"ERROR: {exc.faultString}")
            else:
                raise
            return None
        return added, changed, removed

    def do_reread(self, args: list[str]) -> None:
        if args:
            self.usage("reread", "Error: reread accepts no arguments")
            return
        diff = self._reread()
        if diff is None:
            return
        labels = {}
        for names, label in zip(diff, ("available", "changed", "disappeared"), strict=True):
            labels.update(dict.fromkeys(names, label))
        for name in sorted(labels):
            self.say(f"{name}: {labels[name]}")
        if not labels:
            self.say("No config updates to processes")

    def do_add(self, args: list[str]) -> None:
        for name in args:
            try:
                self.sv.addProcessGroup(name)
            except xmlrpc.client.Fault as exc:
                if exc.faultCode == F_ALREADY_ADDED:
                    self.say("ERROR: process group already active")
                    continue
                self.exitstatus = GENERIC
                if exc.faultCode == F_SHUTDOWN_STATE:
                    self.say("ERROR: shutting down")
                elif exc.faultCode == F_BAD_NAME:
                    self.say(f"ERROR: no such process/group: {name}")
                else:
                    raise
            else:
                self.say(f"{name}: added process group")

    def do_remove(self, args: list[str]) -> None:
        for name in args:
            try:
                self.sv.removeProcessGroup(name)
            except xmlrpc.client.Fault as exc:
                self.exitstatus = GENERIC
                if exc.faultCode == F_STILL_RUNNING:
                    self.say(f"ERROR: process/group still running: {name}")
                elif exc.faultCode == F_BAD_NAME:
                    self.say(f"ERROR: no such process/group: {name}")
                else:
                    raise
            else:
                self.say(f"{name}: removed process group")

    def do_update(self, args: list[str]) -> None:
        try:
            added, changed, removed = self.sv.reloadConfig()[0]
        except xmlrpc.client.Fault as exc:
            self.exitstatus = GENERIC
            if exc.faultCode != F_SHUTDOWN_STATE:
                raise
            self.say("ERROR: already shutting down")
            return
        wanted = set(args) - {"all"} if "all" not in args else set()
        if wanted:
            known = {i["group"] for i in self.sv.getAllProcessInfo()} | set(added)
            for name in sorted(wanted - known):
                self.say(f"ERROR: no such group: {name}")
                self.exitstatus = GENERIC
        for name in removed:
            if wanted and name not in wanted:
                continue
            results = self.sv.stopProcessGroup(name)
            self.say(f"{name}: stopped")
            if any(r["status"] == F_FAILED for r in results):
                self.say(f"{name}: has problems; not removing")
                self.exitstatus = GENERIC
                continue
            self.sv.removeProcessGroup(name)
            self.say(f"{name}: removed process group")
        for name in changed:
            if wanted and name not in wanted:
                continue
            self.sv.stopProcessGroup(name)
            self.say(f"{name}: stopped")
            self.sv.removeProcessGroup(name)
            self.sv.addProcessGroup(name)
            self.say(f"{name}: updated process group")
        for name in added:
            if wanted and name not in wanted:
                continue
            self.sv.addProcessGroup(name)
            self.say(f"{name}: added process group")

    def do_help(self, args: list[str]) -> None:
        if args and args[0] in USAGE:
            self.say(USAGE[args[0]])
            return
        if args and args[0] in ("wait", "roll"):
            self.say(WAIT_USAGE if args[0] == "wait" else ROLL_USAGE)
            return
        commands = sorted(n[3:] for n in dir(self) if n.startswith("do_"))
        self.say("\ndocumented commands (type help <topic>):\n" + "=" * 40)
        self.say("  ".join(commands))

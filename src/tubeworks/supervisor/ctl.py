"""``tubeworks ctl``: control a supervisord (ours or the real one) like ``supervisorctl``.

Same commands, output lines and exit codes as supervisorctl 4.3.0 (scripts, Docker health
checks and Ansible parse them), plus ``status --json`` for programs.  Talks XML-RPC through
the standard ``xmlrpc.client`` over a unix socket or HTTP, with basic auth when configured.
"""

from __future__ import annotations

import base64
import errno
import http.client
import json
import os
import shlex
import socket
import sys
import urllib.parse
import xmlrpc.client
from collections.abc import Callable
from typing import Any, TextIO

import click

from tubeworks.supervisor.config import ConfigError, CtlConfig, find_config, load_ctl_config

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


class Controller:
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

    # ---- logs ----

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
        transport = Transport(self.config.serverurl, self.config.username, self.config.password)
        conn = transport.make_connection("follow")
        headers = {"Authorization": transport.auth} if transport.auth else {}
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
        except KeyboardInterrupt:
            self.say("")
        finally:
            conn.close()

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
        commands = sorted(n[3:] for n in dir(self) if n.startswith("do_"))
        self.say("\ndocumented commands (type help <topic>):\n" + "=" * 40)
        self.say("  ".join(commands))


def _client_config(
    configuration: str | None, serverurl: str | None, username: str | None, password: str | None
) -> CtlConfig:
    path = configuration or find_config(sys.argv[0])
    config = CtlConfig()
    if path is not None:
        try:
            config = load_ctl_config(path)
        except ConfigError as exc:
            if configuration is not None or serverurl is None:
                sys.stderr.write(f"Error: {exc}\nFor help, use tubeworks ctl -h\n")
                sys.exit(2)
    elif serverurl is None:
        sys.stderr.write(
            "Error: no config file found and no -s URL given\nFor help, use tubeworks ctl -h\n"
        )
        sys.exit(2)
    return CtlConfig(
        serverurl=serverurl or config.serverurl,
        username=username if username is not None else config.username,
        password=password if password is not None else config.password,
        prompt=config.prompt,
        history_file=config.history_file,
    )


@click.command(
    "ctl",
    context_settings={
        "help_option_names": ["-h", "--help"],
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
    },
)
@click.option("-c", "--configuration", metavar="FILE", help="configuration file")
@click.option("-s", "--serverurl", metavar="URL", help="unix:///path/sock or http://host:port")
@click.option("-u", "--username", metavar="USER", help="for HTTP basic auth")
@click.option("-p", "--password", metavar="PASS", help="for HTTP basic auth")
@click.option("-i", "--interactive", is_flag=True, help="interactive shell after the command")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ctl_command(
    configuration: str | None,
    serverurl: str | None,
    username: str | None,
    password: str | None,
    interactive: bool,
    command: tuple[str, ...],
) -> None:
    """Control a supervisord: status [--json], start, stop, restart, signal, tail [-f],
    maintail, clear, pid, avail, reread, update, add, remove, shutdown, reload, version.

    Output and exit codes are those of supervisorctl."""
    config = _client_config(configuration, serverurl, username, password)
    ctl = Controller(config)
    if command:
        status = ctl.run(list(command))
        if not interactive:
            sys.exit(status)
    prompt = f"{config.prompt}> "
    ctl.run(["status"])
    while True:
        try:
            line = input(prompt) if os.isatty(0) else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not os.isatty(0) and not line:
            break
        words = shlex.split(line) if line.strip() else []
        if words and words[0] in ("quit", "exit"):
            break
        ctl.run(words)
    sys.exit(0)

"""supervisord's XML-RPC API (version 3.0): ``supervisor.*`` and ``system.*`` methods.

Same method names, aliases, argument order, struct keys (and key order), fault codes and
``NAME: detail`` fault strings as supervisord, so the real ``supervisorctl`` and existing
tools work unchanged.  Long operations (start/stop with ``wait``) are coroutines that await
state changes instead of being polled.  Encoding uses the standard ``xmlrpc.client``.

One deliberate difference: log bytes that are not valid UTF-8 are returned with U+FFFD
replacement characters instead of failing the whole call with HTTP 500.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import xmlrpc.client
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from tubeworks.supervisor.config import AUTO, ConfigError
from tubeworks.supervisor.daemon import Group, Process, Supervisor
from tubeworks.supervisor.datatypes import signal_number
from tubeworks.supervisor.faults import FAULTS, RPCError, fault_name
from tubeworks.supervisor.reports import process_info
from tubeworks.supervisor.rpclogs import LogMethods
from tubeworks.supervisor.spawn import SpawnError, resolve_command
from tubeworks.supervisor.states import (
    RUNNING_STATES,
    SIGNALLABLE_STATES,
    STOPPED_STATES,
    ProcessState,
    SupervisorState,
)

API_VERSION = "3.0"
STOP_REPORT_INTERVAL = 2.0  # seconds between "waiting for x to stop" lines (as supervisord)


def _supervisor_version() -> str:
    try:
        return version("tubeworks")
    except PackageNotFoundError:
        return "0"


def _result(process: Process, code: str = "SUCCESS", text: str = "OK") -> dict[str, Any]:
    return {
        "name": process.name,
        "group": process.group,
        "status": FAULTS[code],
        "description": text,
    }


class RPCInterface(LogMethods):
    """The published methods.  ``methods`` maps every public name (aliases too) to a callable."""

    def __init__(self, sv: Supervisor) -> None:
        self.sv = sv
        self.methods: dict[str, Callable[..., Any]] = {}
        for name, member in inspect.getmembers(self, inspect.ismethod):
            if name.startswith("rpc_"):
                self.methods[name[4:].replace("__", ".")] = member
        aliases = {
            "supervisor.getVersion": "supervisor.getAPIVersion",
            "supervisor.readMainLog": "supervisor.readLog",
            "supervisor.readProcessLog": "supervisor.readProcessStdoutLog",
            "supervisor.tailProcessLog": "supervisor.tailProcessStdoutLog",
            "supervisor.clearProcessLog": "supervisor.clearProcessLogs",
        }
        for alias, target in aliases.items():
            self.methods[alias] = self.methods[target]

    async def call(self, method: str, params: tuple[Any, ...]) -> Any:
        """Run one call; raises RPCError for faults."""
        func = self.methods.get(method)
        if func is None:
            raise RPCError("UNKNOWN_METHOD")
        if method.startswith("supervisor.") and self.sv.state in (
            SupervisorState.SHUTDOWN,
            SupervisorState.RESTARTING,
        ):
            raise RPCError("SHUTDOWN_STATE")
        try:
            inspect.signature(func).bind(*params)
        except TypeError:
            raise RPCError("INCORRECT_PARAMETERS") from None
        result = func(*params)
        if inspect.isawaitable(result):
            result = await result
        return result

    # ---- lookups ----

    def _group_and_process(self, name: str) -> tuple[Group, Process | None]:
        group, process = self.sv.find(name)
        if group is None:
            raise RPCError("BAD_NAME", name)
        _, colon, proc_name = name.partition(":")
        if process is None and not (colon and proc_name in ("", "*")):
            raise RPCError("BAD_NAME", name)
        return group, process

    def _process(self, name: str) -> Process:
        _, process = self._group_and_process(name)
        if process is None:
            raise RPCError("BAD_NAME", name)
        return process

    # ---- supervisor state ----

    def rpc_supervisor__getAPIVersion(self) -> str:
        """The version of the XML-RPC API (supervisorctl checks it).

        @return string version
        """
        return API_VERSION

    def rpc_supervisor__getSupervisorVersion(self) -> str:
        """The version of this supervisor.

        @return string version
        """
        return _supervisor_version()

    def rpc_supervisor__getIdentification(self) -> str:
        """The identifier= of this supervisor.

        @return string identifier
        """
        return self.sv.config.supervisord.identifier

    def rpc_supervisor__getState(self) -> dict[str, Any]:
        """The daemon's state: statecode and statename.

        @return struct result
        """
        return {"statecode": int(self.sv.state), "statename": self.sv.state.name}

    def rpc_supervisor__getPID(self) -> int:
        """The pid of the daemon.

        @return int pid
        """
        return os.getpid()

    def rpc_supervisor__shutdown(self) -> bool:
        """Stop all processes, then the daemon.

        @return boolean result
        """
        asyncio.get_running_loop().call_soon(self.sv.shutdown)
        return True

    def rpc_supervisor__restart(self) -> bool:
        """Reload: re-read the configuration and apply it.

        @return boolean result
        """
        asyncio.get_running_loop().call_soon(self.sv.restart)
        return True

    def rpc_supervisor__reloadConfig(self) -> list[Any]:
        """Re-read the configuration; report added, changed and removed groups.

        @return array result
        """
        try:
            added, changed, removed = self.sv.reread()
        except (ConfigError, OSError) as exc:
            raise RPCError("CANT_REREAD", str(exc)) from None
        return [[added, changed, removed]]

    def rpc_supervisor__addProcessGroup(self, name: str) -> bool:
        """Start managing the group from the last re-read configuration.

        @param string name
        @return boolean result
        """
        if name in self.sv.groups:
            raise RPCError("ALREADY_ADDED", name)
        config = self.sv.latest_group(name)
        if config is None:
            raise RPCError("BAD_NAME", name)
        self.sv.add_group(config)
        return True

    def rpc_supervisor__removeProcessGroup(self, name: str) -> bool:
        """Stop managing a group whose processes are all stopped.

        @param string name
        @return boolean result
        """
        group = self.sv.groups.get(name)
        if group is None:
            raise RPCError("BAD_NAME", name)
        if any(p.state not in STOPPED_STATES for p in group.processes.values()):
            raise RPCError("STILL_RUNNING", name)
        self.sv.remove_group(name)
        return True

    # ---- process info ----

    def rpc_supervisor__getProcessInfo(self, name: str) -> dict[str, Any]:
        """Information about one process (group:name or name).

        @param string name
        @return struct result
        """
        return process_info(self._process(name))

    def rpc_supervisor__getAllProcessInfo(self) -> list[dict[str, Any]]:
        """Information about every process, by group then name.

        @return array result
        """
        return [process_info(p) for p in self.sv.all_processes()]

    def rpc_supervisor__getAllConfigInfo(self) -> list[dict[str, Any]]:
        """The configuration of every process in the last read configuration.

        @return array result
        """
        out = []
        for group in self.sv.latest.groups:
            inuse = group.name in self.sv.groups
            for p in group.processes:
                d: dict[str, Any] = {
                    "autostart": p.autostart,
                    "directory": p.directory,
                    "uid": p.user,
                    "command": p.command,
                    "exitcodes": list(p.exitcodes),
                    "group": group.name,
                    "group_prio": group.priority,
                    "inuse": inuse,
                    "killasgroup": p.killasgroup,
                    "name": p.name,
                    "process_prio": p.priority,
                    "redirect_stderr": p.redirect_stderr,
                    "startretries": p.startretries,
                    "startsecs": p.startsecs,
                }
                for channel, lc in (("stdout", p.stdout), ("stderr", p.stderr)):
                    d[f"{channel}_capture_maxbytes"] = lc.capture_maxbytes
                    d[f"{channel}_events_enabled"] = lc.events_enabled
                    d[f"{channel}_logfile"] = "auto" if lc.logfile == AUTO else lc.logfile
                    d[f"{channel}_logfile_backups"] = lc.backups
                    d[f"{channel}_logfile_maxbytes"] = lc.maxbytes
                    d[f"{channel}_syslog"] = lc.syslog
                    if channel == "stdout":
                        d["stopsignal"] = p.stopsignal
                        d["stopwaitsecs"] = p.stopwaitsecs
                # None (AUTO) is reported as "none", as supervisord does
                d["serverurl"] = p.serverurl
                out.append({k: ("none" if v is None else v) for k, v in d.items()})
        return sorted(out, key=lambda d: d["name"])

    # ---- start ----

    def _start_now(self, name: str, process: Process) -> None:
        try:
            resolve_command(process.config, os.environ)
        except SpawnError as exc:
            raise RPCError(exc.kind, exc.message) from None
        if process.state in RUNNING_STATES:
            raise RPCError("ALREADY_STARTED", name)
        if process.state == ProcessState.UNKNOWN:
            raise RPCError("FAILED", f"{name} is in an unknown process state")
        self.sv.start(process)
        if process.proc.spawnerr:
            raise RPCError("SPAWN_ERROR", name)

    async def _await_started(self, name: str, process: Process) -> bool:
        def settled() -> bool:
            return bool(process.proc.spawnerr) or process.state != ProcessState.STARTING

        await self.sv.wait_until(settled)
        if process.proc.spawnerr:
            raise RPCError("SPAWN_ERROR", name)
        if process.state != ProcessState.RUNNING:
            raise RPCError("ABNORMAL_TERMINATION", name)
        return True

    async def rpc_supervisor__startProcess(self, name: str, wait: bool = True) -> Any:
        """Start a process (or group:* for a group); with wait, return once it
        is RUNNING.

        @param string name
        @param boolean wait
        @return boolean result
        """
        group, process = self._group_and_process(name)
        if process is None:
            return await self.rpc_supervisor__startProcessGroup(group.name, wait)
        self._start_now(name, process)
        if wait and process.state != ProcessState.RUNNING:
            return await self._await_started(name, process)
        return True

    async def _for_each(
        self,
        processes: list[Process],
        eligible: Callable[[Process], bool],
        now: Callable[[str, Process], None],
        later: Callable[[str, Process], Awaitable[Any]] | None,
    ) -> list[dict[str, Any]]:
        """supervisord's "allfunc": act on each eligible process, then await them together."""
        results: list[dict[str, Any]] = []
        pending: list[tuple[Process, Awaitable[Any]]] = []
        for p in processes:
            if not eligible(p):
                continue
            try:
                now(p.namespec, p)
            except RPCError as exc:
                results.append(_result(p, fault_name(exc.code), exc.text))
                continue
            if later is None:
                results.append(_result(p))
            else:
                pending.append((p, later(p.namespec, p)))
        outcomes = await asyncio.gather(*(aw for _, aw in pending), return_exceptions=True)
        for (p, _), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, RPCError):
                results.append(_result(p, fault_name(outcome.code), outcome.text))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append(_result(p))
        return results

    def _startable(self, p: Process) -> bool:
        return p.state not in RUNNING_STATES

    async def _start_many(self, processes: list[Process], wait: bool) -> list[dict[str, Any]]:
        async def later(name: str, p: Process) -> bool:
            if p.state == ProcessState.RUNNING:
                return True
            return await self._await_started(name, p)

        return await self._for_each(
            processes, self._startable, self._start_now, later if wait else None
        )

    async def rpc_supervisor__startProcessGroup(self, name: str, wait: bool = True) -> Any:
        """Start every process of a group that is not running.

        @param string name
        @param boolean wait
        @return array result
        """
        group = self.sv.groups.get(name)
        if group is None:
            raise RPCError("BAD_NAME", name)
        return await self._start_many(group.ordered(), wait)

    async def rpc_supervisor__startAllProcesses(self, wait: bool = True) -> Any:
        """Start every process that is not running, in priority order.

        @param boolean wait
        @return array result
        """
        return await self._start_many(self._by_priority(), wait)

    def _by_priority(self) -> list[Process]:
        groups = sorted(self.sv.groups.values(), key=lambda g: g.config.priority)
        return [p for g in groups for p in g.ordered()]

    # ---- stop ----

    def _stop_now(self, name: str, process: Process) -> None:
        if process.state not in RUNNING_STATES:
            raise RPCError("NOT_RUNNING", name)
        self.sv.stop(process)
        if process.state == ProcessState.UNKNOWN:
            raise RPCError("FAILED", process.proc.spawnerr or name)

    async def _await_stopped(self, name: str, process: Process) -> bool:
        def stopped() -> bool:
            return process.state in STOPPED_STATES

        while not stopped():
            if process.state == ProcessState.STOPPING:
                self.sv.log.info(f"waiting for {process.name} to stop")
            try:
                await asyncio.wait_for(self.sv.wait_until(stopped), STOP_REPORT_INTERVAL)
            except TimeoutError:
                pass
        return True

    async def rpc_supervisor__stopProcess(self, name: str, wait: bool = True) -> Any:
        """Stop a process (or group:* for a group); with wait, return once stopped.

        @param string name
        @param boolean wait
        @return boolean result
        """
        group, process = self._group_and_process(name)
        if process is None:
            return await self.rpc_supervisor__stopProcessGroup(group.name, wait)
        self._stop_now(name, process)
        if wait:
            await self._await_stopped(name, process)
        return True

    async def _stop_many(self, processes: list[Process], wait: bool) -> list[dict[str, Any]]:
        return await self._for_each(
            processes,
            lambda p: p.state in RUNNING_STATES,
            self._stop_now,
            self._await_stopped if wait else None,
        )

    async def rpc_supervisor__stopProcessGroup(self, name: str, wait: bool = True) -> Any:
        """Stop every running process of a group.

        @param string name
        @param boolean wait
        @return array result
        """
        group = self.sv.groups.get(name)
        if group is None:
            raise RPCError("BAD_NAME", name)
        return await self._stop_many(group.ordered(), wait)

    async def rpc_supervisor__stopAllProcesses(self, wait: bool = True) -> Any:
        """Stop every running process.

        @param boolean wait
        @return array result
        """
        return await self._stop_many(self._by_priority(), wait)

    # ---- signals and stdin ----

    def _signal_now(self, sig: int) -> Callable[[str, Process], None]:
        def now(name: str, process: Process) -> None:
            if process.state not in SIGNALLABLE_STATES:
                raise RPCError("NOT_RUNNING", name)
            self.sv.signal(process, sig)
            if process.state == ProcessState.UNKNOWN:
                raise RPCError("FAILED", name)

        return now

    def _signal(self, text: Any) -> int:
        try:
            return signal_number(str(text))
        except ValueError:
            raise RPCError("BAD_SIGNAL", text) from None

    async def rpc_supervisor__signalProcess(self, name: str, signal: Any) -> Any:
        """Send a signal (name like HUP, or number) to a process.

        @param string name
        @param string signal
        @return boolean result
        """
        group, process = self._group_and_process(name)
        if process is None:
            return await self.rpc_supervisor__signalProcessGroup(group.name, signal)
        self._signal_now(self._signal(signal))(name, process)
        return True

    async def _signal_many(self, processes: list[Process], signal: Any) -> list[dict[str, Any]]:
        now = self._signal_now(self._signal(signal))
        return await self._for_each(processes, lambda p: p.state in SIGNALLABLE_STATES, now, None)

    async def rpc_supervisor__signalProcessGroup(self, name: str, signal: Any) -> Any:
        """Send a signal to every signallable process of a group.

        @param string name
        @param string signal
        @return array result
        """
        group = self.sv.groups.get(name)
        if group is None:
            raise RPCError("BAD_NAME", name)
        return await self._signal_many(group.ordered(), signal)

    async def rpc_supervisor__signalAllProcesses(self, signal: Any) -> Any:
        """Send a signal to every signallable process.

        @param string signal
        @return array result
        """
        return await self._signal_many(self._by_priority(), signal)

    def rpc_supervisor__sendProcessStdin(self, name: str, chars: Any) -> bool:
        """Write to a process's stdin (queued; never blocks the daemon).

        @param string name
        @param string chars
        @return boolean result
        """
        if not isinstance(chars, str | bytes | xmlrpc.client.Binary):
            raise RPCError("INCORRECT_PARAMETERS", chars)
        data = chars.data if isinstance(chars, xmlrpc.client.Binary) else chars
        process = self._process(name)
        if process.state not in RUNNING_STATES or not process.proc.pid:
            raise RPCError("NOT_RUNNING", name)
        payload = data.encode("utf-8") if isinstance(data, str) else data
        if not self.sv.write_stdin(process, payload):
            raise RPCError("NO_FILE", name)
        return True

    def rpc_supervisor__sendRemoteCommEvent(self, type: str, data: str) -> bool:
        """Publish a REMOTE_COMMUNICATION event to event listeners.

        @param string type
        @param string data
        @return boolean result
        """
        if self.sv.bus is not None:
            body = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            self.sv.bus.publish("REMOTE_COMMUNICATION", f"type:{type}\n".encode() + body)
        return True

    # ---- system.* ----

    def rpc_system__listMethods(self) -> list[str]:
        """The names of all methods.

        @return array result
        """
        return sorted(self.methods)

    def rpc_system__methodHelp(self, name: str) -> str:
        """The documentation of a method.

        @param string name
        @return string result
        """
        func = self.methods.get(name)
        if func is None:
            raise RPCError("SIGNATURE_UNSUPPORTED")
        return inspect.getdoc(func) or ""

    def rpc_system__methodSignature(self, name: str) -> list[str]:
        """[return type, parameter types...] of a method.

        @param string name
        @return array result
        """
        func = self.methods.get(name)
        if func is None:
            raise RPCError("SIGNATURE_UNSUPPORTED")
        return signature_of(inspect.getdoc(func) or "")

    async def rpc_system__multicall(self, calls: list[dict[str, Any]]) -> list[Any]:
        """Run several calls; each result is the bare value or a fault struct.

        @param array calls
        @return array results
        """
        results: list[Any] = []
        for call in calls:
            try:
                name = call["methodName"]
                params = tuple(call.get("params", ()))
                if name == "system.multicall":
                    raise RPCError("INCORRECT_PARAMETERS", "recursive multicall forbidden")
                results.append(await self.call(name, params))
            except RPCError as exc:
                results.append({"faultCode": exc.code, "faultString": exc.text})
            except (KeyError, TypeError):
                results.append(
                    {
                        "faultCode": FAULTS["INCORRECT_PARAMETERS"],
                        "faultString": "INCORRECT_PARAMETERS",
                    }
                )
        return results


def signature_of(doc: str) -> list[str]:
    """``[return type, param types...]`` from the ``@return``/``@param`` lines of a docstring."""
    params, returns = [], "undef"
    for line in doc.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "@param":
            params.append(words[1])
        elif len(words) >= 2 and words[0] == "@return":
            returns = words[1]
    return [returns, *params]


def encode_response(result: Any) -> bytes:
    return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False).encode("utf-8")


def encode_fault(code: int, text: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, text)).encode("utf-8")


async def handle_xmlrpc(rpc: RPCInterface, body: bytes) -> bytes:
    """One POST /RPC2 body in, one XML response out (faults included)."""
    try:
        params, method = xmlrpc.client.loads(body)
    except Exception:  # malformed XML from a client is just a bad request
        return encode_fault(FAULTS["INCORRECT_PARAMETERS"], "INCORRECT_PARAMETERS")
    if method is None:
        return encode_fault(FAULTS["UNKNOWN_METHOD"], "UNKNOWN_METHOD")
    try:
        return encode_response(await rpc.call(method, params))
    except RPCError as exc:
        return encode_fault(exc.code, exc.text)

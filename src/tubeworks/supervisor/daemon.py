"""The supervisor daemon: an asyncio loop that carries out the state machine's effects.

Everything is event driven.  A child's exit is noticed through its pidfd the moment it
happens, output pipes are read as data arrives, and each timer the machine asks for
(startsecs, back-off, stopwaitsecs) is one ``call_later``.  Nothing waits for a tick.

The daemon owns OS resources (children, pipes, pidfds, log files); the rules live in
:mod:`machine`.  The XML-RPC layer (:mod:`rpc`) drives it through the public methods here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import socket
import time
from collections.abc import Awaitable, Callable

from tubeworks.supervisor import machine as m
from tubeworks.supervisor.capture import CaptureSplitter
from tubeworks.supervisor.config import AUTO, Config, GroupConfig, ProcessConfig
from tubeworks.supervisor.datatypes import signal_name
from tubeworks.supervisor.health import watch_health
from tubeworks.supervisor.logs import (
    ActivityLog,
    RotatingFile,
    auto_log_path,
    send_to_syslog,
    syslog_lines,
)
from tubeworks.supervisor.manualstops import StopMemory
from tubeworks.supervisor.memwatch import watch_memory
from tubeworks.supervisor.runtime import EventSink, Group, Process, diff_groups
from tubeworks.supervisor.spawn import (
    SpawnError,
    child_environment,
    close_fcgi_socket,
    make_fcgi_socket,
    resolve_command,
    spawn_child,
)
from tubeworks.supervisor.stamps import LineStamper
from tubeworks.supervisor.startrules import StartRules
from tubeworks.supervisor.states import (
    RUNNING_STATES,
    STOPPED_STATES,
    ProcessState,
    SupervisorState,
)

# CSI sequences (colours, cursor moves) and two-byte escapes, removed when strip_ansi=true
ANSI_ESCAPE = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
READ_CHUNK = 128 * 1024  # bytes per read from a child pipe (supervisord reads the same)
CHANNELS = ("stdout", "stderr")
NO_PIDFD_ENV = "TUBEWORKS_SUPERVISOR_NO_PIDFD"  # set to use SIGCHLD instead of pidfds

__all__ = ["EventSink", "Group", "Process", "Supervisor", "diff_groups"]


class Supervisor(StartRules):
    """Runs the process groups of a :class:`Config`.  Create, then ``await run()``."""

    def __init__(self, config: Config, loader: Callable[[], Config], log: ActivityLog) -> None:
        self.config = config  # what is running now
        self.latest = config  # what the last reread found (addProcessGroup reads this)
        self.loader = loader  # re-reads the file with the command-line overrides applied
        self.log = log
        self.groups: dict[str, Group] = {}
        self.state = SupervisorState.RUNNING
        self.serverurl: str | None = None  # SUPERVISOR_SERVER_URL for children
        self.on_state_change: list[Callable[[Process, m.StateChanged], None]] = []
        self.bus: EventSink | None = None  # event listener delivery, if wired in
        # called with (old, new) config on reload, e.g. to restart changed HTTP servers
        self.on_reload: list[Callable[[Config, Config], Awaitable[None]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._done: asyncio.Future[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._sockets: dict[tuple[str, str], socket.socket] = {}  # fcgi-program sockets
        # exit notification: pidfds, unless the kernel lacks them (or the environment
        # variable below asks for the SIGCHLD path, which tests use to cover it)
        self.use_pidfd = hasattr(os, "pidfd_open") and not os.environ.get(NO_PIDFD_ENV)
        self._sigchld_children: dict[int, Process] = {}  # pid -> process, without pidfds
        self.stops: StopMemory | None = None  # remember_manual_stops=true
        self._waiting: list[Process] = []  # autostarts held back by depends_on
        self.on_state_change.append(self._on_dependency_change)

    # ---- lookups ----

    def all_processes(self) -> list[Process]:
        """Every process, sorted by group name then process name (as getAllProcessInfo)."""
        return [
            p
            for g in sorted(self.groups)
            for p in sorted(self.groups[g].processes.values(), key=lambda p: p.name)
        ]

    def find(self, namespec: str) -> tuple[Group | None, Process | None]:
        """``g:p``, ``g:*``/``g:`` (group only) or ``p`` (group named like its process)."""
        group_name, _, proc_name = namespec.partition(":")
        if not _:
            proc_name = group_name
        group = self.groups.get(group_name)
        if group is None or proc_name in ("", "*"):
            return group, None
        return group, group.processes.get(proc_name)

    # ---- the machine ----

    def feed(self, process: Process, event: m.Event) -> None:
        """Step the process's machine and carry out the effects."""
        proc, effects = m.step(process.proc, event, time.time())
        process.proc = proc
        for effect in effects:
            self._apply(process, effect)
        self._wake()

    def _apply(self, process: Process, effect: m.Effect) -> None:
        if isinstance(effect, m.Log):
            self.log.log(effect.level, effect.message)
        elif isinstance(effect, m.Spawn):
            self._spawn(process)
        elif isinstance(effect, m.Kill):
            self._kill(process, effect)
        elif isinstance(effect, m.Timer):
            self._arm(process, effect)
        elif isinstance(effect, m.StateChanged):
            for hook in list(self.on_state_change):
                hook(process, effect)

    def _arm(self, process: Process, timer: m.Timer) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            if process.removed:
                return
            if self.state == SupervisorState.SHUTDOWN and isinstance(
                timer.event, m.BackoffElapsed | m.RestartDue | m.AgeReached
            ):
                return  # shutting down: no more starts
            self.feed(process, timer.event)

        handle = loop.call_later(max(0.0, timer.at - time.time()), fire)
        self._timers.add(handle)

    def _kill(self, process: Process, kill: m.Kill) -> None:
        pid = process.proc.pid
        if not pid:
            return
        self.log.log(
            "debug", f"killing {process.name} (pid {pid}) with signal {signal_name(kill.signal)}"
        )
        try:
            if kill.group:
                os.killpg(pid, kill.signal)
            else:
                os.kill(pid, kill.signal)
        except ProcessLookupError:
            pass  # it just exited; the pidfd will tell us
        except OSError as exc:
            msg = f"unknown problem killing {process.name} ({pid}):{exc}"
            self.feed(process, m.SignalFailed(msg))

    def signal(self, process: Process, sig: int) -> None:
        """Send ``sig`` to the process (not its group), as ``signalProcess`` does."""
        pid = process.proc.pid
        self.log.log("debug", f"sending {process.name} (pid {pid}) sig {signal_name(sig)}")
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except OSError as exc:
            self.feed(process, m.SignalFailed(f"unknown problem sending sig {sig} ({pid}):{exc}"))

    # ---- spawning and reaping ----

    def _spawn(self, process: Process) -> None:
        config = process.config
        try:
            filename, argv = resolve_command(config, os.environ)
            env = child_environment(
                config, os.environ, self.config.supervisord.environment, self.serverurl
            )
            fcgi = self._fcgi_socket(process) if config.fcgi is not None else None
            child = spawn_child(config, filename, argv, env, fcgi)
        except SpawnError as exc:
            if exc.message.startswith("couldn't"):
                log = process.logs["stdout" if config.redirect_stderr else "stderr"]
                if log is not None:
                    log.write(
                        f"supervisor: {exc.message}\nsupervisor: child process was not "
                        "spawned\n".encode()
                    )
            self.feed(process, m.SpawnFailed(exc.message))
            return
        loop = asyncio.get_running_loop()
        process.popen = child.popen
        assert child.popen.stdout is not None
        process.pipes = {"stdout": child.popen.stdout}
        if child.popen.stdin is not None:
            process.pipes["stdin"] = child.popen.stdin
        if child.popen.stderr is not None:
            process.pipes["stderr"] = child.popen.stderr
        for channel in CHANNELS:
            pipe = process.pipes.get(channel)
            if pipe is not None:
                loop.add_reader(pipe.fileno(), self._read_output, process, channel)
        self._watch_exit(process, child.pid)
        self.feed(process, m.Spawned(child.pid))

    def _fcgi_socket(self, process: Process) -> int:
        """The group's listening socket for an fcgi-program, created on first use."""
        spec = process.config.fcgi
        assert spec is not None
        key = (process.group, spec.url)
        sock = self._sockets.get(key)
        if sock is None:
            try:
                sock = make_fcgi_socket(spec)
            except (OSError, KeyError, ValueError) as exc:
                msg = f"could not make socket {spec.url} for {process.name}: {exc}"
                raise SpawnError(msg) from None
            self._sockets[key] = sock
        return sock.fileno()

    def _read_output(self, process: Process, channel: str) -> None:
        pipe = process.pipes.get(channel)
        if pipe is None:
            return
        try:
            data = os.read(pipe.fileno(), READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(process, channel)
            return
        self._record(process, channel, data)

    def _record(self, process: Process, channel: str, data: bytes) -> None:
        if self.bus is not None and self.bus.output(process, channel, data):
            return  # listener protocol, not log output
        if self.config.supervisord.strip_ansi:
            data = ANSI_ESCAPE.sub(b"", data)
        splitter = process.capture.get(channel)
        if splitter is not None:
            data, messages = splitter.feed(data)
            head = f"processname:{process.name} groupname:{process.group} pid:{process.proc.pid}\n"
            for message in messages:
                if self.bus is not None:
                    name = f"PROCESS_COMMUNICATION_{channel.upper()}"
                    self.bus.publish(name, head.encode() + message)
            if not data:
                return
        if (process.config.stdout if channel == "stdout" else process.config.stderr).syslog:
            send_to_syslog(syslog_lines(process.name, data))
        log = process.logs.get(channel)
        if log is not None:
            stamper = process.stampers.get(channel)
            try:
                log.write(stamper.feed(data, time.time()) if stamper else data)
            except OSError as exc:
                self.log.log("critical", f"could not write {channel} log of {process.name}: {exc}")
        if self.log.enabled("debug"):
            text = data.decode("utf-8", "replace")
            self.log.log("debug", f"'{process.name}' {channel} output:\n{text}")

    def write_stdin(self, process: Process, data: bytes) -> bool:
        """Queue ``data`` for the child's stdin; never blocks (False: stdin is closed)."""
        if "stdin" not in process.pipes:
            return False
        process.stdin_pending += data
        self._flush_stdin(process)
        return True

    def _flush_stdin(self, process: Process) -> None:
        pipe = process.pipes.get("stdin")
        if pipe is None:
            process.stdin_pending = b""
            return
        fd = pipe.fileno()
        try:
            written = os.write(fd, process.stdin_pending)
        except BlockingIOError:
            written = 0
        except OSError:
            written = len(process.stdin_pending)  # it is gone; so is what it did not read
        process.stdin_pending = process.stdin_pending[written:]
        loop = asyncio.get_running_loop()
        if process.stdin_pending:
            loop.add_writer(fd, self._flush_stdin, process)
        else:
            loop.remove_writer(fd)

    def _close_pipe(self, process: Process, channel: str) -> None:
        pipe = process.pipes.pop(channel, None)
        if pipe is None:
            return
        if channel == "stdin":
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_writer(pipe.fileno())
            process.stdin_pending = b""
        if channel != "stdin":
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(pipe.fileno())
        with contextlib.suppress(OSError):
            pipe.close()

    def _drain(self, process: Process) -> None:
        """Read whatever the child left in its pipes, so no output is lost at exit."""
        for channel in CHANNELS:
            pipe = process.pipes.get(channel)
            while pipe is not None:
                try:
                    data = os.read(pipe.fileno(), READ_CHUNK)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self._record(process, channel, data)

    def _watch_exit(self, process: Process, pid: int) -> None:
        """Be told the moment the child exits: its pidfd becomes readable, or (kernels
        without pidfd_open) SIGCHLD arrives."""
        loop = asyncio.get_running_loop()
        if self.use_pidfd:
            try:
                process.pid_fd = os.pidfd_open(pid)
            except OSError:
                self.use_pidfd = False
            else:
                loop.add_reader(process.pid_fd, self._reap, process, pid)
                return
        if not self._sigchld_children:
            loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
        self._sigchld_children[pid] = process
        # it may have exited before the handler was there (its SIGCHLD then went unseen)
        loop.call_soon(self._reap, process, pid)

    def _on_sigchld(self) -> None:
        for pid, process in list(self._sigchld_children.items()):
            self._reap(process, pid)

    def _reap(self, process: Process, pid: int) -> None:
        if process.proc.pid != pid:
            return  # already reaped (a late or duplicate notification)
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            got, status = pid, 0
        if got == 0:
            return
        self._sigchld_children.pop(pid, None)
        loop = asyncio.get_running_loop()
        if process.pid_fd is not None:
            loop.remove_reader(process.pid_fd)
            os.close(process.pid_fd)
            process.pid_fd = None
        self._drain(process)
        for channel in ("stdin", *CHANNELS):
            self._close_pipe(process, channel)
        popen = process.popen
        if popen is not None:
            popen.returncode = os.waitstatus_to_exitcode(status)  # type: ignore[attr-defined]
        process.popen = None
        self.feed(process, m.Exited(status, may_restart=self.state != SupervisorState.SHUTDOWN))

    # ---- groups ----

    def _make_process(self, config: ProcessConfig) -> Process:
        logs: dict[str, RotatingFile | None] = {}
        paths: dict[str, str] = {}
        sv = self.config.supervisord
        for channel in CHANNELS:
            lc = config.stdout if channel == "stdout" else config.stderr
            path = lc.logfile
            if channel == "stderr" and config.redirect_stderr:
                path = None
            if path == AUTO:
                path = auto_log_path(sv.childlogdir, config.name, channel, sv.identifier)
            paths[channel] = path or ""
            logs[channel] = None
            if path:
                try:
                    logs[channel] = RotatingFile(path, lc.maxbytes, lc.backups)
                except OSError as exc:
                    self.log.log("error", f"could not open {channel} log of {config.name}: {exc}")
        process = Process(m.Proc(config), logs, paths)
        for channel, lc in (("stdout", config.stdout), ("stderr", config.stderr)):
            if lc.capture_maxbytes > 0:
                process.capture[channel] = CaptureSplitter(lc.capture_maxbytes)
            if lc.timestamps:
                process.stampers[channel] = LineStamper()
        return process

    def add_group(self, config: GroupConfig) -> Group:
        """Create the group's processes and start the autostart ones (priority order)."""
        group = Group(config, {p.name: self._make_process(p) for p in config.processes})
        self.groups[config.name] = group
        if self.bus is not None:
            self.bus.group_added(config.name)
        if self.state != SupervisorState.SHUTDOWN:
            for process in group.ordered():
                if self._autostarts(process) and process.state == ProcessState.STOPPED:
                    self._autostart(process)
        return group

    def remove_group(self, name: str) -> None:
        group = self.groups.pop(name)
        for key in [k for k in self._sockets if k[0] == name]:
            close_fcgi_socket(self._sockets.pop(key))
        if self.bus is not None:
            self.bus.group_removed(name)
        for process in group.processes.values():
            self._release(process)

    def start(self, process: Process) -> None:
        """A start by hand (XML-RPC), which also ends a remembered manual stop."""
        self._note_manual(process, stopped=False)
        if process in self._waiting:
            self._waiting.remove(process)
        self.feed(process, m.Start())

    def stop(self, process: Process) -> None:
        """A stop by hand (XML-RPC); remembered with remember_manual_stops=true."""
        self._note_manual(process, stopped=True)
        self.feed(process, m.Stop())

    # ---- waiting ----

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true; re-checked after every state change."""
        while not predicate():
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut

    # ---- reread / update / reload ----

    def reread(self) -> tuple[list[str], list[str], list[str]]:
        """Re-read the config file; remember it for addProcessGroup; return the diff.

        Raises:
            ConfigError: the file no longer parses (nothing changes).
        """
        self.latest = self.loader()
        for warning in self.latest.warnings:
            self.log.warn(warning)
        return diff_groups(self.active_configs(), self.latest.groups)

    def active_configs(self) -> list[GroupConfig]:
        """Configs of the groups running now (what reread compares the file against)."""
        return [g.config for g in self.groups.values()]

    def latest_group(self, name: str) -> GroupConfig | None:
        """The reread config of group ``name`` (None if it is not in the file)."""
        return self.latest.group(name)

    async def stop_group(self, group: Group) -> None:
        await self.stop_processes(group.ordered())

    async def stop_processes(self, processes: list[Process]) -> None:
        """Stop these (reverse priority order), waiting until all are stopped."""
        for process in reversed(processes):
            if process.state == ProcessState.BACKOFF:
                shutting_down = self.state == SupervisorState.SHUTDOWN
                self.feed(process, m.GiveUp() if shutting_down else m.Stop())
            elif process.state in RUNNING_STATES:
                self.feed(process, m.Stop())
        await self._wait_stopped(processes)

    async def _wait_stopped(self, processes: list[Process]) -> None:
        """Wait for ``processes`` to stop, saying who we wait for now and every 3 s."""

        def pending() -> list[Process]:
            return [p for p in processes if p.state not in STOPPED_STATES]

        while pending():
            self.log.info(f"waiting for {', '.join(p.name for p in pending())} to die")
            try:
                await asyncio.wait_for(self.wait_until(lambda: not pending()), timeout=3.0)
            except TimeoutError:
                pass

    async def reload(self) -> None:
        """Re-read everything; keep unchanged groups running (same pids), redo the rest."""
        try:
            new = self.loader()
        except ValueError as exc:
            self.log.log("error", f"could not reload the configuration: {exc}")
            return
        added, changed, removed = diff_groups(self.active_configs(), new.groups)
        self.latest = new
        kept: dict[str, dict[str, Process]] = {}  # changed group -> its unchanged processes
        for name in changed:
            kept[name] = self._unchanged_processes(self.groups[name], new.group(name))
        for name in [*removed, *changed]:
            group = self.groups[name]
            if kept.get(name):
                await self.stop_processes([p for p in group.ordered() if p.name not in kept[name]])
                for process in group.processes.values():
                    if process.name not in kept[name]:
                        self._release(process)
            else:
                await self.stop_group(group)
                self.remove_group(name)
        old = self.config
        self.config = new
        self._load_stops()
        self.log.reconfigure(
            new.supervisord.logfile,
            new.supervisord.loglevel,
            new.supervisord.logfile_maxbytes,
            new.supervisord.logfile_backups,
        )
        for hook in list(self.on_reload):
            await hook(old, new)
        for warning in new.warnings:
            self.log.warn(warning)
        wanted = set(added) | set(changed)
        for group_config in new.groups:  # already in start order (priority, name)
            if kept.get(group_config.name):
                self._regroup(group_config, kept[group_config.name])
            elif group_config.name in wanted:
                self.add_group(group_config)

    def _unchanged_processes(self, group: Group, config: GroupConfig | None) -> dict[str, Process]:
        """Processes of a changed group whose own settings did not change (they keep
        running across a reload; e.g. numprocs 2 -> 3 leaves the first two alone)."""
        if config is None or config.kind == "eventlistener" or group.config.kind != config.kind:
            return {}
        new = {p.name: p for p in config.processes}
        return {n: p for n, p in group.processes.items() if new.get(n) == p.config}

    def _regroup(self, config: GroupConfig, kept: dict[str, Process]) -> None:
        """Rebuild a changed group around its unchanged processes; start the new ones."""
        processes: dict[str, Process] = {}
        for pc in config.processes:
            process = kept.get(pc.name)
            if process is not None:
                process.proc = dataclasses.replace(process.proc, config=pc)  # new locations
            else:
                process = self._make_process(pc)
            processes[pc.name] = process
        group = self.groups[config.name] = Group(config, processes)
        for process in group.ordered():
            if process.name not in kept and self._autostarts(process):
                self._autostart(process)

    def _release(self, process: Process) -> None:
        process.removed = True
        for log in process.logs.values():
            if log is not None:
                log.close()

    # ---- life cycle ----

    async def run(self, on_started: Callable[[], None] | None = None) -> None:
        """Start all groups, then serve until shutdown."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self._on_exit_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        loop.add_signal_handler(signal.SIGUSR2, self._on_usr2)
        loop.set_exception_handler(self._on_loop_error)
        self._load_stops()
        memory = loop.create_task(watch_memory(self))
        health = loop.create_task(watch_health(self))
        for group_config in self.config.groups:
            self.add_group(group_config)
        if self.bus is not None:
            self.bus.supervisor_state(True)
        if on_started is not None:
            on_started()
        await self._done
        memory.cancel()
        health.cancel()
        for handle in self._timers:
            handle.cancel()
        if self.bus is not None:
            self.bus.close()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        """A bug in a callback must not go unnoticed (or kill the daemon): log it."""
        exc = context.get("exception")
        detail = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else ""
        self.log.log("critical", f"uncaptured python exception: {context.get('message')} {detail}")

    def _on_exit_signal(self, sig: int) -> None:
        self.log.warn(f"received {signal_name(sig)} indicating exit request")
        self.shutdown()

    def _on_hup(self) -> None:
        if self.state != SupervisorState.RUNNING:
            self.log.warn("ignored SIGHUP indicating restart request (shutdown in progress)")
            return
        self.log.warn("received SIGHUP indicating restart request")
        self.restart()

    def _on_usr2(self) -> None:
        self.log.info("received SIGUSR2 indicating log reopen request")
        if self.log.file is not None:
            self.log.file.reopen()
        for process in self.all_processes():
            for log in process.logs.values():
                if log is not None:
                    log.reopen()

    def shutdown(self) -> None:
        """Stop every group (highest priority number first), then end ``run``."""
        if self._stopping is not None:
            return
        self.state = SupervisorState.SHUTDOWN
        if self.bus is not None:
            self.bus.supervisor_state(False)
        self._stopping = asyncio.get_running_loop().create_task(self._shutdown())

    async def _shutdown(self) -> None:
        for group in sorted(
            self.groups.values(), key=lambda g: (g.config.priority, g.name), reverse=True
        ):
            await self.stop_group(group)
        for name in list(self.groups):
            self.remove_group(name)
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def restart(self) -> None:
        """Reload (SIGHUP / ``supervisor.restart``) in the background."""
        if self._stopping is not None:
            return
        self.state = SupervisorState.RESTARTING

        async def reload() -> None:
            try:
                await self.reload()
            finally:
                self.state = SupervisorState.RUNNING
                self._stopping = None

        self._stopping = asyncio.get_running_loop().create_task(reload())

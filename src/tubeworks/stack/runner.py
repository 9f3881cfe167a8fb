"""Run a stack: the supervisor in this process, the queue first, then the pools, then scalers.

The supervisor (:class:`tubeworks.supervisor.daemon.Supervisor`) is driven exactly as
``tubeworks supervisord -n`` drives it, plus three things only ``up`` does:

* a lock file in ``var_dir`` so a second ``up`` on the same config refuses to start;
* pools are configured ``autostart=false`` and started here once the queue server accepts
  connections (a supervisor's priorities order starts but do not wait for readiness);
* one autoscaler task per autoscaled pool: it reads the tubes' counts, asks
  :func:`tubeworks.stack.scaling.decide`, and starts or stops individual processes of the
  pool, so running workers are never restarted.  A stopped worker gets the pool's stop
  signal (TERM): one waiting in ``reserve`` leaves at once, one holding a job finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from tubeworks.client import ClientError, NotFound
from tubeworks.client.aio import AsyncClient
from tubeworks.stack.config import QUEUE_PROGRAM, PoolSpec, StackConfig
from tubeworks.stack.scaling import Decision, ScaleState, decide
from tubeworks.supervisor.config import Config, ConfigError, check_paths
from tubeworks.supervisor.daemon import Group, Process, Supervisor
from tubeworks.supervisor.logs import ActivityLog
from tubeworks.supervisor.states import RUNNING_STATES, ProcessState, SupervisorState

__all__ = ["AlreadyRunning", "StackError", "run_stack"]

READY_TIMEOUT = 30.0  # seconds the queue server has to accept connections
READY_POLL = 0.02  # seconds between two connection attempts while it starts

Say = Callable[[str], None]


class StackError(Exception):
    """The stack could not start; the message says why."""


class AlreadyRunning(StackError):
    """Another ``tubeworks up`` holds the lock of this var directory."""


@contextlib.contextmanager
def _lock(path: str) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            raise AlreadyRunning(
                f"already running for this config (pid {pid}, lock {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield fd
    finally:
        os.close(fd)


@dataclass
class PoolStatus:
    """What ``var/autoscale.json`` says about one pool (read by ``tubeworks up --status``)."""

    min: int
    max: int
    target: int
    processes: int = 0
    backlog: int = 0
    decisions: list[dict[str, object]] = field(default_factory=list)  # newest last, a few


class StatusFile:
    """The autoscalers' view, rewritten (atomically) after each decision."""

    KEEP = 20  # decisions remembered per pool

    def __init__(self, path: str) -> None:
        self.path = path
        self.pools: dict[str, PoolStatus] = {}

    def write(self) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump({name: asdict(p) for name, p in self.pools.items()}, f, indent=1)
        os.replace(tmp, self.path)


def pool_processes(group: Group) -> list[Process]:
    """The pool's processes in process-number order (starts go up it, stops come down)."""
    return sorted(group.processes.values(), key=lambda p: p.config.process_num)


def active(group: Group) -> list[Process]:
    return [p for p in pool_processes(group) if p.state in RUNNING_STATES]


def resize(sv: Supervisor, group: Group, to: int) -> None:
    """Start or stop single processes until ``to`` are active; the others are left alone."""
    running = active(group)
    if len(running) < to:
        idle = [p for p in pool_processes(group) if p.state not in RUNNING_STATES]
        for process in [p for p in idle if p.state != ProcessState.STOPPING][: to - len(running)]:
            sv.start(process)
    else:
        for process in list(reversed(running))[: len(running) - to]:
            sv.stop(process)


async def _backlog(client: AsyncClient, tubes: tuple[str, ...]) -> int:
    total = 0
    for tube in tubes:
        try:
            stats = await client.stats_tube(tube)
        except NotFound:
            continue  # nobody has used the tube yet
        total += stats.current_jobs_ready + stats.current_jobs_delayed
    return total


async def autoscale(
    sv: Supervisor, stack: StackConfig, pool: PoolSpec, status: StatusFile
) -> None:
    """Watch ``pool.autoscale`` and resize the pool until the supervisor shuts down."""
    entry = status.pools[pool.name]
    state = ScaleState(pool.initial)
    client = AsyncClient(stack.queue.address, timeout=10.0)
    try:
        while sv.state != SupervisorState.SHUTDOWN:
            group = sv.groups.get(pool.name)
            if group is None:
                return  # removed through `ctl remove`
            try:
                backlog = await _backlog(client, pool.autoscale)
            except ClientError as exc:
                sv.log.warn(f"autoscale {pool.name}: cannot read the queue: {exc}")
                await asyncio.sleep(max(pool.interval, 1.0))
                continue
            now = time.time()
            current = len(active(group))
            state = ScaleState(current, state.changed_at, state.low_since)
            state, decision = decide(
                state,
                backlog,
                target=pool.target,
                low=pool.min,
                high=pool.max,
                cooldown=pool.cooldown,
                now=now,
            )
            if decision is not None and sv.state == SupervisorState.RUNNING:
                _apply(sv, group, pool, decision, entry, now)
            if (entry.backlog, entry.processes) != (backlog, state.current) or decision:
                entry.backlog, entry.processes = backlog, state.current
                status.write()
            await asyncio.sleep(pool.interval)
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def _apply(
    sv: Supervisor, group: Group, pool: PoolSpec, decision: Decision, entry: PoolStatus, now: float
) -> None:
    sv.log.info(
        f"autoscale {pool.name}: {decision.before} -> {decision.to} processes ({decision.reason})"
    )
    resize(sv, group, decision.to)
    entry.decisions.append({"at": now, **asdict(decision)})
    del entry.decisions[: -StatusFile.KEEP]


async def wait_ready(sv: Supervisor, stack: StackConfig) -> None:
    """Return once the queue server accepts a connection.

    Raises:
        StackError: the queue program gave up (FATAL) or did not listen in time.
    """
    queue = stack.queue
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        process = sv.groups[QUEUE_PROGRAM].processes[QUEUE_PROGRAM]
        if process.state in (ProcessState.FATAL, ProcessState.BACKOFF, ProcessState.EXITED):
            raise StackError(
                f"the queue server could not start; see {process.log_paths['stdout']}"
            )
        if process.state in (ProcessState.STARTING, ProcessState.RUNNING):
            try:
                if queue.listen.startswith("unix:"):
                    _, writer = await asyncio.open_unix_connection(queue.listen[5:])
                else:
                    _, writer = await asyncio.open_connection(queue.listen, queue.port)
                writer.close()
                return
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise StackError(f"the queue server did not listen on {queue.address} in time")
        await asyncio.sleep(READY_POLL)


async def bring_up(sv: Supervisor, stack: StackConfig, say: Say, failed: list[str]) -> None:
    """Queue ready → pools started → autoscalers running (until shutdown)."""
    try:
        await wait_ready(sv, stack)
    except StackError as exc:
        failed.append(str(exc))
        sv.log.log("critical", str(exc))
        sv.shutdown()
        return
    say(f"tubeworks up: queue listening on {stack.queue.address} (log in {stack.queue.binlog_dir})")
    status = StatusFile(stack.status_path)
    scalers = []
    for pool in stack.pools:
        group = sv.groups.get(pool.name)
        if group is None or sv.state != SupervisorState.RUNNING:
            continue
        resize(sv, group, pool.initial)
        what = f"autoscaled on {','.join(pool.autoscale)}" if pool.autoscale else "fixed size"
        say(f"tubeworks up: pool {pool.name}: {pool.initial} x {pool.app} ({what})")
        if pool.autoscale:
            status.pools[pool.name] = PoolStatus(pool.min, pool.max, pool.target, pool.initial)
            scalers.append(autoscale(sv, stack, pool, status))
    if not stack.pools:
        say(
            "tubeworks up: no worker pools; add one to a config file and pass -c FILE:\n"
            "    [pool:NAME]\n    app = module:app   ; a tubeworks.worker.App\n"
            "  (`tubeworks init` writes a commented starter config and handler)"
        )
    if status.pools:
        status.write()
    say(f"tubeworks up: status with `tubeworks ctl -s unix://{stack.control_socket} status`; "
        "Ctrl-C stops everything")
    await asyncio.gather(*scalers)


async def serve(
    stack: StackConfig, loader: Callable[[], Config], log: ActivityLog, say: Say
) -> list[str]:
    """Run until shutdown; returns the reasons the stack failed (empty: a clean stop)."""
    from tubeworks.supervisor.httpd import HttpServer
    from tubeworks.supervisor.listeners import EventBus
    from tubeworks.supervisor.rpc import RPCInterface

    config = stack.supervisor
    sv = Supervisor(config, loader, log)
    EventBus(sv)
    rpc = RPCInterface(sv)
    servers = [
        HttpServer(sv, rpc, c)
        for c in (config.unix_http_server, config.inet_http_server)
        if c is not None
    ]
    for server in servers:
        try:
            await server.start()
        except OSError as exc:
            where = server.config.path or f"{server.config.host}:{server.config.port}"
            raise StackError(f"cannot listen on {where}: {exc.strerror}") from None
    if config.unix_http_server is not None:
        sv.serverurl = f"unix://{config.unix_http_server.path}"
    elif config.inet_http_server is not None:
        sv.serverurl = f"http://{config.inet_http_server.host or 'localhost'}:" \
            f"{config.inet_http_server.port}"
    failed: list[str] = []
    tasks: list[asyncio.Task[None]] = []

    def started() -> None:
        tasks.append(asyncio.get_running_loop().create_task(bring_up(sv, stack, say, failed)))

    log.info(f"tubeworks up started with pid {os.getpid()}")
    try:
        await sv.run(started)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in servers:
            await server.close()
    return failed


def _port_taken(stack: StackConfig) -> bool:
    if stack.queue.listen.startswith("unix:"):
        return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((stack.queue.listen, stack.queue.port))
        except OSError:
            return True
    return False


def run_stack(stack: StackConfig, loader: Callable[[], Config], say: Say) -> int:
    """Run the stack in the foreground until SIGINT/SIGTERM; returns the exit status.

    Raises:
        AlreadyRunning: another ``up`` uses the same var directory.
        StackError: something the stack needs is missing or taken.
    """
    sv = stack.supervisor.supervisord
    for directory in (stack.var_dir, sv.childlogdir, stack.queue.binlog_dir):
        os.makedirs(directory, exist_ok=True)
    try:
        check_paths(stack.supervisor, os.path.isdir)  # log files the user put elsewhere
    except ConfigError as exc:
        raise StackError(str(exc)) from None
    with _lock(stack.lock_path):
        if _port_taken(stack):
            raise StackError(
                f"port {stack.queue.port} on {stack.queue.listen} is taken by another program; "
                "set port= in [queue] or pass -p PORT"
            )
        if stack.supervisor.unix_http_server is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stack.control_socket)  # ours, stale: the lock proves no one uses it
        log = ActivityLog(
            sv.logfile, sv.loglevel, sv.logfile_maxbytes, sv.logfile_backups, echo=not sv.silent
        )
        for warning in stack.supervisor.warnings:
            log.warn(warning)
        try:
            with open(sv.pidfile, "w") as f:
                f.write(f"{os.getpid()}\n")
            failed = asyncio.run(serve(stack, loader, log, say))
        finally:
            log.close()
            with contextlib.suppress(OSError):
                os.unlink(sv.pidfile)
    for reason in failed:
        say(f"tubeworks up: {reason}")
    if not failed:
        say("tubeworks up: stopped")
    return 1 if failed else 0

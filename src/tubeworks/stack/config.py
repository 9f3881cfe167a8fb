"""``tubeworks up`` configuration: supervisord's INI plus ``[up]``, ``[queue]`` and ``[pool:x]``.

Pure: text in, records out.  The three extra sections are turned into ordinary
``[program:x]`` sections appended to the user's text, and the whole is handed to the
supervisor's own parser, so every supervisord section and key keeps working (and keeps its
``file:line`` in errors, since appended lines come after the user's).  Values of the extra
sections are checked here first, so their errors name the user's line too.

    [up]
    var_dir = %(here)s/var        ; queue log, child logs, lock, control socket

    [queue]
    listen = 127.0.0.1
    port = 11300
    args = --max-job-size 1048576 ; extra `tubeworks queue` flags

    [pool:mail]
    app = mailer:app              ; module:attribute of a tubeworks App
    tubes = mail
    autoscale = mail              ; tubes whose ready+delayed backlog sizes the pool
    min = 1
    max = 8
    target = 50                   ; backlog per process
    cooldown = 10                 ; seconds between changes; shrinking waits this long idle
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tubeworks.supervisor import datatypes as dt
from tubeworks.supervisor.config import Config, ConfigError, IncludeLoader, expand, parse_config
from tubeworks.supervisor.ini import IniError, Loc, Section, parse_ini
from tubeworks.supervisor.schema import PROGRAM_KEYS, closest

__all__ = [
    "QUEUE_PROGRAM",
    "PoolSpec",
    "QueueSpec",
    "StackConfig",
    "parse_stack",
]

QUEUE_PROGRAM = "queue"  # the [program:x] name the queue server runs under
QUEUE_PRIORITY = 1  # started first, stopped last
POOL_PRIORITY = 100  # default priority of worker pools
UNIX_PATH_MAX = 107  # bytes in sockaddr_un.sun_path on Linux, less the terminating NUL
UP_KEYS = frozenset({"var_dir"})
QUEUE_KEYS = frozenset({"listen", "port", "binlog_dir", "args", "stopwaitsecs"})
# keys the pool translation sets itself; the other [program:x] keys pass through untouched
POOL_OWN_KEYS = frozenset(
    {"app", "tubes", "concurrency", "numprocs", "autoscale", "min", "max", "target", "cooldown",
     "interval", "grace", "priority"}
)
POOL_GENERATED = frozenset({"command", "process_name", "autostart", "numprocs_start"})


@dataclass(frozen=True)
class QueueSpec:
    """Where the queue server listens and where it keeps its log."""

    listen: str  # host, or unix:PATH
    port: int
    binlog_dir: str
    args: tuple[str, ...]  # extra flags for `tubeworks queue`

    @property
    def address(self) -> str:
        """What clients are given (``host:port`` or ``unix:PATH``)."""
        return self.listen if self.listen.startswith("unix:") else f"{self.listen}:{self.port}"


@dataclass(frozen=True)
class PoolSpec:
    """A worker pool: ``numprocs`` copies of ``tubeworks worker APP``, maybe autoscaled."""

    name: str
    app: str  # module:attribute
    tubes: tuple[str, ...]  # tubes the workers watch (empty: every tube with a handler)
    initial: int  # processes started with the stack
    max: int  # processes configured (the autoscaler starts and stops among them)
    autoscale: tuple[str, ...]  # tubes whose backlog sizes the pool; empty: fixed size
    min: int
    target: int  # backlog (ready + delayed jobs) one process is expected to keep up with
    cooldown: float  # seconds between two changes; shrink only after this long below target
    interval: float  # seconds between two looks at the queue


@dataclass(frozen=True)
class StackConfig:
    """A whole ``up`` configuration: the supervisor's records plus what only ``up`` needs."""

    path: str  # the config file ("" for the embedded defaults)
    var_dir: str
    queue: QueueSpec
    pools: tuple[PoolSpec, ...]
    supervisor: Config
    control_socket: str  # unix socket of the supervisor's XML-RPC (for `tubeworks ctl`)

    @property
    def lock_path(self) -> str:
        return os.path.join(self.var_dir, "up.lock")

    @property
    def status_path(self) -> str:
        return os.path.join(self.var_dir, "autoscale.json")


class _Values:
    """Expanded, typed access to one of our sections; errors name file, line and key."""

    def __init__(self, section: Section, names: Mapping[str, Any], known: frozenset[str]):
        self.section = section
        self.names = names
        self.known = known

    def fail(self, key: str, message: str) -> ConfigError:
        value = self.section.values.get(key)
        loc = value.loc if value else self.section.loc
        return ConfigError(message, loc, self.section.name, key)

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.section.values.get(key)
        if value is None:
            return default
        return expand(value.text, self.names, value.loc, self.section.name, key).strip()

    def get(self, key: str, convert: Callable[[str], Any], default: str) -> Any:
        text = self.text(key, default)
        assert text is not None
        try:
            return convert(text)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def warnings(self, extra_known: frozenset[str] = frozenset()) -> list[str]:
        known = self.known | extra_known
        return [
            f"{v.loc}: [{self.section.name}] unknown key {k!r}{closest(k, known)}"
            for k, v in self.section.values.items()
            if k not in known
        ]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _queue(section: Section | None, names: Mapping[str, Any], var_dir: str) -> QueueSpec:
    section = section or Section("queue", Loc("<defaults>", 0))
    r = _Values(section, names, QUEUE_KEYS)
    listen = r.text("listen", "127.0.0.1") or "127.0.0.1"
    try:
        args = tuple(shlex.split(r.text("args", "") or ""))
    except ValueError as exc:
        raise r.fail("args", f"can't split {r.text('args')!r}: {exc}") from None
    return QueueSpec(
        listen=listen,
        port=r.get("port", lambda s: dt.integer(s, 1, 65535), "11300"),
        binlog_dir=os.path.abspath(r.text("binlog_dir") or os.path.join(var_dir, "queue")),
        args=args,
    )


def _pool(section: Section, names: Mapping[str, Any]) -> PoolSpec:
    name = section.name.split(":", 1)[1].strip()
    try:
        dt.process_or_group_name(name)
    except ValueError as exc:
        raise ConfigError(str(exc), section.loc, section.name) from None
    r = _Values(section, names, POOL_OWN_KEYS | PROGRAM_KEYS)
    app = r.text("app")
    if not app or ":" not in app:
        raise r.fail("app", f"expected MODULE:ATTRIBUTE of a tubeworks App, got {app!r}")
    tubes = tuple(r.get("tubes", dt.list_of_strings, ""))
    autoscale = tuple(r.get("autoscale", dt.list_of_strings, ""))
    for key in POOL_GENERATED & set(section.values):
        raise r.fail(key, f"is set by tubeworks up for [pool:x]; use a [program:x] to set {key}")
    numprocs = r.get("numprocs", lambda s: dt.integer(s, 1), "1")
    if not autoscale:
        for key in ("min", "max", "target", "cooldown"):
            if key in section.values:
                raise r.fail(key, "only means something with autoscale = TUBE[,TUBE...]")
        return PoolSpec(name, app, tubes, numprocs, numprocs, (), numprocs, 1, 0.0, 1.0)
    low = r.get("min", lambda s: dt.integer(s, 0), "1")
    high = r.get("max", lambda s: dt.integer(s, 1), str(max(low, numprocs, 1)))
    if high < low:
        raise r.fail("max", f"expected max >= min ({low}), got {high}")
    return PoolSpec(
        name=name,
        app=app,
        tubes=tubes,
        initial=low,
        max=high,
        autoscale=autoscale,
        min=low,
        target=r.get("target", lambda s: dt.integer(s, 1), "10"),
        cooldown=r.get("cooldown", _seconds, "10"),
        interval=r.get("interval", _seconds, "1") or 0.05,
    )


def _program_text(name: str, keys: Mapping[str, str]) -> str:
    # values are written on one line each; a newline would start a new key
    lines = [f"[program:{name}]"] + [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def _queue_program(queue: QueueSpec, r: _Values) -> str:
    argv = [sys.executable, "-m", "tubeworks", "queue", "-l", queue.listen]
    if not queue.listen.startswith("unix:"):
        argv += ["-p", str(queue.port)]
    argv += ["-b", queue.binlog_dir, *queue.args]
    return _program_text(
        QUEUE_PROGRAM,
        {
            "command": shlex.join(argv).replace("%", "%%"),
            "priority": str(QUEUE_PRIORITY),
            "redirect_stderr": "true",
            "startsecs": "1",
            "stopwaitsecs": r.text("stopwaitsecs", "30") or "30",
        },
    )


def _pool_program(pool: PoolSpec, r: _Values, queue: QueueSpec, here: str) -> str:
    argv = [sys.executable, "-m", "tubeworks", "worker", pool.app, "--address", queue.address]
    if pool.tubes:
        argv += ["--tubes", ",".join(pool.tubes)]
    argv += ["--concurrency", str(r.get("concurrency", lambda s: dt.integer(s, 1), "1"))]
    grace = r.get("grace", _seconds, "30")
    argv += ["--grace", str(grace)]
    own = {k: v.text for k, v in r.section.values.items()}
    keys = {
        "command": shlex.join(argv).replace("%", "%%"),
        "process_name": "%(program_name)s_%(process_num)02d",
        "numprocs": str(pool.max),
        "autostart": "false",  # `up` starts them once the queue accepts connections
        "priority": own.get("priority", str(POOL_PRIORITY)),
        "directory": here,
        "redirect_stderr": "true",
        "stopwaitsecs": str(int(grace) + 5),
        "environment": f'TUBEWORKS_SERVER="{queue.address}"',
    }
    for key, value in own.items():
        if key in PROGRAM_KEYS and key not in POOL_GENERATED | POOL_OWN_KEYS:
            keys[key] = value.replace("\n", " ")
    if "environment" in own:
        keys["environment"] = f'TUBEWORKS_SERVER="{queue.address}",{own["environment"]}'
    return _program_text(pool.name, keys)


def _ours(name: str) -> bool:
    return name in ("up", "queue") or name.startswith("pool:")


def parse_stack(
    text: str,
    path: str,
    env: Mapping[str, str],
    load_includes: IncludeLoader | None = None,
    cwd: str = "/",
    tmpdir: str = "/tmp",
) -> StackConfig:
    """Parse an ``up`` configuration (``path`` "" with ``text`` "" means the defaults).

    Raises:
        ConfigError: a bad value; the message starts with ``file:line:``.
    """
    shown = path or os.path.join(cwd, "<defaults>")
    here = os.path.dirname(os.path.abspath(path)) if path else cwd
    try:
        sections = parse_ini(text, shown)
    except IniError as exc:
        raise ConfigError(exc.message, exc.loc) from None
    names: dict[str, Any] = {f"ENV_{k}": v for k, v in env.items()}
    names["here"] = here
    warnings: list[str] = []
    up = _Values(sections.get("up") or Section("up", Loc(shown, 0)), names, UP_KEYS)
    warnings += up.warnings()
    var_dir = os.path.abspath(os.path.join(here, up.text("var_dir", "var") or "var"))
    queue_section = sections.get("queue")
    queue = _queue(queue_section, names, var_dir)
    queue_values = _Values(queue_section or Section("queue", Loc(shown, 0)), names, QUEUE_KEYS)
    warnings += queue_values.warnings()
    pools: list[PoolSpec] = []
    extra: list[str] = [_queue_program(queue, queue_values)]
    for name, section in sections.items():
        if name.startswith("pool:"):
            pool = _pool(section, names)
            values = _Values(section, names, POOL_OWN_KEYS | PROGRAM_KEYS)
            warnings += values.warnings()
            pools.append(pool)
            extra.append(_pool_program(pool, values, queue, here))
    # [supervisord] and the control socket: ours unless the file says otherwise
    sv = sections.get("supervisord")
    given = set(sv.values) if sv else set()
    defaults = {
        "logfile": os.path.join(var_dir, "up.log"),
        "pidfile": os.path.join(var_dir, "up.pid"),
        "childlogdir": os.path.join(var_dir, "log"),
        "identifier": "tubeworks-up",
    }
    sv_lines = ["[supervisord]", "nodaemon = true"]
    sv_lines += [f"{k} = {v}" for k, v in defaults.items() if k not in given]
    extra.append("\n".join(sv_lines) + "\n")
    control = os.path.join(var_dir, "up.sock")
    if len(control.encode()) > UNIX_PATH_MAX:  # a deep var_dir: keep the socket short
        digest = hashlib.sha1(var_dir.encode()).hexdigest()[:12]
        control = os.path.join(tmpdir, f"tubeworks-up-{digest}.sock")
    if "unix_http_server" not in sections and "inet_http_server" not in sections:
        extra.append(f"[unix_http_server]\nfile = {control}\n")
    if "supervisorctl" not in sections:
        extra.append(f"[supervisorctl]\nserverurl = unix://{control}\n")
    full = text.rstrip("\n") + "\n\n" + "\n".join(extra)
    config = parse_config(full, shown, env, load_includes, cwd=cwd, tmpdir=tmpdir)
    kept = [w for w in config.warnings if not any(f"[{n}]" in w for n in sections if _ours(n))]
    if config.unix_http_server is not None and config.unix_http_server.path:
        control = config.unix_http_server.path
    config = dataclasses.replace(config, warnings=tuple(warnings + kept))
    return StackConfig(path, var_dir, queue, tuple(pools), config, control)

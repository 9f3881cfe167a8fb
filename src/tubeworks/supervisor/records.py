"""Frozen, typed configuration records: what a parsed supervisord config file holds.

Produced by :mod:`config` (which knows about INI text, expansions and errors) and consumed
by the daemon, the RPC layer and the control command, which never see a parser.  Equality
ignores source locations, so "unchanged" on reread means "same settings".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tubeworks.supervisor.datatypes import Autorestart
from tubeworks.supervisor.ini import Loc

AUTO = "AUTO"  # stdout_logfile/stderr_logfile default: a generated file in childlogdir


@dataclass(frozen=True)
class LogConfig:
    """Where one output stream of a process goes."""

    logfile: str | None  # path, AUTO, or None (NONE/OFF: discard)
    maxbytes: int
    backups: int
    capture_maxbytes: int
    events_enabled: bool
    syslog: bool
    timestamps: bool = False  # ours: prefix each logged line with the time it was read


@dataclass(frozen=True)
class FcgiSocket:
    """The listening socket of an ``[fcgi-program:x]``, shared by its processes."""

    url: str  # tcp://host:port or unix:///absolute/path
    backlog: int
    owner: str | None  # unix sockets: user or user:group
    mode: int  # unix sockets: permission bits


@dataclass(frozen=True)
class ProcessConfig:
    """Everything needed to run one process; equal configs mean "unchanged" on reread."""

    name: str
    group: str
    command: str
    process_num: int
    priority: int
    autostart: bool
    autorestart: Autorestart
    startsecs: int
    startretries: int
    exitcodes: tuple[int, ...]
    stopsignal: int
    stopwaitsecs: int
    stopasgroup: bool
    killasgroup: bool
    user: str | None
    redirect_stderr: bool
    stdout: LogConfig
    stderr: LogConfig
    environment: tuple[tuple[str, str], ...]
    directory: str | None
    umask: int | None
    serverurl: str | None  # None = AUTO (supervisord's own url)
    fcgi: FcgiSocket | None = None  # [fcgi-program:x] only: the socket given as fd 0
    pdeathsig: int | None = None  # ours: signal the child gets if the supervisor dies
    # ours, restartpolicy.py: startretries=-1 means forever
    restart_backoff: str = "linear"
    backoff_max: float = 0.0  # 0: no cap
    backoff_jitter: float = 0.0
    restart_delay: float = 0.0
    max_age: float = 0.0  # 0: never recycled
    rlimits: tuple[tuple[int, int, int], ...] = ()  # ours, limits.py: (resource, soft, hard)
    memory_limit: int = 0  # ours, memwatch.py: bytes of RSS (process group); 0: none
    depends_on: tuple[str, ...] = ()  # ours, deps.py: groups or group:process names
    healthcheck: str = ""  # ours, health.py: tcp://, http:// or command:
    healthcheck_interval: float = 5.0
    healthcheck_timeout: float = 0.0  # 0: the interval
    healthcheck_retries: int = 3
    section: str = field(default="", compare=False)  # e.g. "program:web", for messages
    where: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class GroupConfig:
    """A process group: a ``[program:x]`` (homogeneous) or a ``[group:x]`` of programs."""

    name: str
    kind: str  # "program", "group", "eventlistener" or "fcgi-program"
    priority: int
    processes: tuple[ProcessConfig, ...]
    events: tuple[str, ...] = ()  # eventlisteners only
    buffer_size: int = 10  # eventlisteners only
    loc: Loc | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SupervisordConfig:
    """The ``[supervisord]`` section (command-line flags are applied on top by the CLI)."""

    logfile: str
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    loglevel: str = "info"
    pidfile: str = "supervisord.pid"
    umask: int = 0o022
    nodaemon: bool = False
    silent: bool = False
    minfds: int = 1024
    minprocs: int = 200
    nocleanup: bool = False
    childlogdir: str = "/tmp"
    user: str | None = None
    directory: str | None = None
    strip_ansi: bool = False
    environment: tuple[tuple[str, str], ...] = ()
    identifier: str = "supervisor"
    remember_manual_stops: bool = False  # ours: see manualstops.py
    where: Mapping[str, Loc] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class HttpServerConfig:
    """``[unix_http_server]`` (``path`` set) or ``[inet_http_server]`` (``host``/``port`` set)."""

    path: str | None = None
    chmod: int = 0o700
    chown: str | None = None
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class CtlConfig:
    """The ``[supervisorctl]`` section."""

    serverurl: str = "http://localhost:9001"
    username: str | None = None
    password: str | None = None
    prompt: str = "supervisor"
    history_file: str | None = None


@dataclass(frozen=True)
class Config:
    """A whole parsed configuration."""

    path: str
    supervisord: SupervisordConfig
    unix_http_server: HttpServerConfig | None
    inet_http_server: HttpServerConfig | None
    supervisorctl: CtlConfig | None
    groups: tuple[GroupConfig, ...]
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def group(self, name: str) -> GroupConfig | None:
        return next((g for g in self.groups if g.name == name), None)

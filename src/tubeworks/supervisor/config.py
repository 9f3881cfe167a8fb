"""supervisord's INI configuration → frozen, typed records.

``parse_config`` is pure: it gets the main file's text plus a loader for ``[include]`` files,
and returns a :class:`Config` whose records remember the ``file:line`` of every value.  Any
bad value raises :class:`ConfigError` naming file, line, section and key.  Unknown keys and
sections are not errors (supervisord ignores them) but become warnings that suggest the
closest valid key, so ``autorestrat=`` no longer goes unnoticed.

``load_config`` is the thin I/O adapter that reads files from disk.
"""

from __future__ import annotations

import functools
import glob
import os
import platform
from collections.abc import Callable, Mapping
from socket import SOMAXCONN
from typing import Any, TypeVar

from tubeworks.supervisor import datatypes as dt
from tubeworks.supervisor import deps, dotenv
from tubeworks.supervisor import restartpolicy as rp
from tubeworks.supervisor.ini import IniError, Loc, Section, Value, parse_ini
from tubeworks.supervisor.limits import RLIMITS, parse_limit
from tubeworks.supervisor.records import (
    AUTO,
    Config,
    CtlConfig,
    FcgiSocket,
    GroupConfig,
    HttpServerConfig,
    LogConfig,
    ProcessConfig,
    SupervisordConfig,
)
from tubeworks.supervisor.schema import EVENT_TYPES, LEVEL_ALIASES, LEVELS, check_keys, closest

__all__ = [
    "AUTO",
    "Config",
    "ConfigError",
    "CtlConfig",
    "GroupConfig",
    "HttpServerConfig",
    "LogConfig",
    "ProcessConfig",
    "SupervisordConfig",
    "find_config",
    "load_config",
    "load_ctl_config",
    "parse_config",
    "search_paths",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value that cannot be used; ``str()`` is the full message."""

    def __init__(self, message: str, loc: Loc | None = None, section: str = "", key: str = ""):
        where = f"{loc}: " if loc else ""
        what = f"[{section}] " if section else ""
        what += f"{key}: " if key else ""
        super().__init__(f"{where}{what}{message}")
        self.loc = loc
        self.section = section
        self.key = key
        self.message = message


class _Reader:
    """Typed, expanded access to one section; every error names file, line and key."""

    def __init__(self, section: Section, names: dict[str, Any]) -> None:
        self.section = section
        self.names = names

    def raw(self, key: str) -> Value | None:
        return self.section.values.get(key)

    def fail(self, key: str, message: str) -> ConfigError:
        value = self.raw(key)
        return ConfigError(
            message, value.loc if value else self.section.loc, self.section.name, key
        )

    def text(
        self, key: str, default: str | None = None, extra: Mapping[str, Any] = {}
    ) -> str | None:
        value = self.raw(key)
        if value is None:
            if default is None:
                return None
            return expand(
                default, {**self.names, **extra}, self.section.loc, self.section.name, key
            )
        return expand(value.text, {**self.names, **extra}, value.loc, self.section.name, key)

    def get(self, key: str, convert: Callable[[str], T], default: str) -> T:
        text = self.text(key, default)
        assert text is not None
        try:
            return convert(text)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None


def expand(text: str, names: Mapping[str, Any], loc: Loc, section: str, key: str) -> str:
    """Python ``%`` formatting against ``names``, as supervisord does (``%%`` = ``%``)."""
    if "%" not in text:
        return text
    try:
        return text % names
    except KeyError as exc:
        available = ", ".join(sorted(names))
        raise ConfigError(
            f"{text!r} uses %({exc.args[0]})s which is not defined; available names: {available}",
            loc,
            section,
            key,
        ) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{text!r} is badly formatted: {exc}", loc, section, key) from None


def _here(section: Section) -> str:
    return os.path.dirname(os.path.abspath(section.loc.file))


def _env_names(env: Mapping[str, str]) -> dict[str, Any]:
    return {f"ENV_{k}": v for k, v in env.items()}


def _supervisord(
    section: Section | None, names: dict[str, Any], cwd: str, tmp: str
) -> SupervisordConfig:
    if section is None:
        section = Section("supervisord", Loc("<defaults>", 0))
    r = _Reader(section, {**names, "here": _here(section)})
    level = r.get("loglevel", str.lower, "info")
    level = LEVEL_ALIASES.get(level, level)
    if level not in LEVELS:
        raise r.fail("loglevel", f"expected one of {', '.join(LEVELS)}, got {level!r}")
    env_text = r.text("environment", "", {"host_node_name": names["host_node_name"]}) or ""
    try:
        environment = dt.environment(env_text)
    except ValueError as exc:
        raise r.fail("environment", str(exc)) from None
    return SupervisordConfig(
        logfile=_activity_logfile(r.text("logfile", "supervisord.log") or "", cwd),
        logfile_maxbytes=r.get("logfile_maxbytes", dt.byte_size, "50MB"),
        logfile_backups=r.get("logfile_backups", lambda s: dt.integer(s, 0), "10"),
        loglevel=level,
        pidfile=os.path.join(cwd, r.text("pidfile", "supervisord.pid") or ""),
        umask=r.get("umask", dt.octal, "022"),
        nodaemon=r.get("nodaemon", dt.boolean, "false"),
        silent=r.get("silent", dt.boolean, "false"),
        minfds=r.get("minfds", lambda s: dt.integer(s, 1), "1024"),
        minprocs=r.get("minprocs", lambda s: dt.integer(s, 1), "200"),
        nocleanup=r.get("nocleanup", dt.boolean, "false"),
        childlogdir=r.text("childlogdir", tmp) or tmp,
        user=r.text("user"),
        directory=r.text("directory"),
        strip_ansi=r.get("strip_ansi", dt.boolean, "false"),
        environment=environment,
        identifier=r.text("identifier", "supervisor") or "supervisor",
        remember_manual_stops=r.get("remember_manual_stops", dt.boolean, "false"),
        where={key: value.loc for key, value in section.values.items()},
    )


def _activity_logfile(value: str, cwd: str) -> str:
    """A path relative to the cwd, or the special value ``syslog``."""
    return value if value.strip().lower() == "syslog" else os.path.join(cwd, value)


def _auth(r: _Reader) -> tuple[str | None, str | None]:
    username, password = r.text("username"), r.text("password")
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise r.fail(missing, f"{missing} is required when the other credential is set")
    return username, password


def _unix_server(section: Section | None, names: dict[str, Any]) -> HttpServerConfig | None:
    if section is None:
        return None
    r = _Reader(section, {**names, "here": _here(section)})
    path = r.text("file")
    if not path:
        raise r.fail("file", "[unix_http_server] needs a socket path in file=")
    username, password = _auth(r)
    return HttpServerConfig(
        path=os.path.abspath(path),
        chmod=r.get("chmod", dt.octal, "0700"),
        chown=r.text("chown"),
        username=username,
        password=password,
    )


def _inet_server(section: Section | None, names: dict[str, Any]) -> HttpServerConfig | None:
    if section is None:
        return None
    r = _Reader(section, {**names, "here": _here(section)})
    port_text = r.text("port")
    if not port_text:
        raise r.fail("port", "[inet_http_server] needs port= (host:port or :port)")
    host, _, port = port_text.strip().rpartition(":")
    try:
        number = dt.integer(port, 1, 65535)
    except ValueError as exc:
        raise r.fail("port", f"{exc} (port= is host:port)") from None
    username, password = _auth(r)
    host = "" if host in ("", "*") else host
    return HttpServerConfig(host=host, port=number, username=username, password=password)


def _ctl(section: Section | None, names: dict[str, Any]) -> CtlConfig | None:
    if section is None:
        return None
    r = _Reader(section, {**names, "here": _here(section)})
    return CtlConfig(
        serverurl=r.text("serverurl", "http://localhost:9001") or "",
        username=r.text("username"),
        password=r.text("password"),
        prompt=r.text("prompt", "supervisor") or "supervisor",
        history_file=r.text("history_file"),
    )


def _logconfig(r: _Reader, stream: str, extra: dict[str, Any]) -> LogConfig:
    logfile = r.text(f"{stream}_logfile", AUTO, extra)
    syslog = r.get(f"{stream}_syslog", dt.boolean, "false")
    if logfile is not None:
        if logfile.upper() in ("NONE", "OFF"):
            logfile = None
        elif logfile.upper() == "AUTO":
            logfile = AUTO
        elif logfile.upper() == "SYSLOG":
            logfile, syslog = None, True
        else:
            logfile = os.path.expanduser(logfile)
    return LogConfig(
        logfile=logfile,
        maxbytes=r.get(f"{stream}_logfile_maxbytes", dt.byte_size, "50MB"),
        backups=r.get(f"{stream}_logfile_backups", lambda s: dt.integer(s, 0), "10"),
        capture_maxbytes=r.get(f"{stream}_capture_maxbytes", dt.byte_size, "0"),
        events_enabled=r.get(f"{stream}_events_enabled", dt.boolean, "false"),
        syslog=syslog,
        timestamps=r.get(f"{stream}_log_timestamps", dt.boolean, "false"),
    )


def _fcgi_socket(section: Section, names: dict[str, Any], program: str) -> FcgiSocket:
    r = _Reader(section, {**names, "here": _here(section), "program_name": program})
    url = r.text("socket")
    if not url:
        raise r.fail("socket", "[fcgi-program:x] needs socket= (tcp://host:port or unix:///path)")
    url = url.strip()
    if url.startswith("unix://"):
        if not url[7:].startswith("/"):
            raise r.fail("socket", f"expected unix:///absolute/path, got {url!r}")
    elif url.startswith("tcp://"):
        host, _, port = url[6:].rpartition(":")
        if not host or not port.isdigit():
            raise r.fail("socket", f"expected tcp://host:port, got {url!r}")
    else:
        raise r.fail("socket", f"expected tcp://host:port or unix:///path, got {url!r}")
    owner, mode = r.text("socket_owner"), r.get("socket_mode", dt.octal, "0700")
    if url.startswith("tcp://") and (r.raw("socket_owner") or r.raw("socket_mode")):
        key = "socket_owner" if r.raw("socket_owner") else "socket_mode"
        raise r.fail(key, "only applies to unix:// sockets")
    return FcgiSocket(
        url=url,
        backlog=r.get("socket_backlog", lambda s: dt.integer(s, 1, 65535), str(SOMAXCONN)),
        owner=owner,
        mode=mode,
    )


def _with_env_file(
    r: _Reader, path: str, environment: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """The file's variables, overridden by ``environment=`` (written in the section)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise r.fail("env_file", f"could not read {path!r}: {reason}") from None
    try:
        merged = dict(dotenv.parse(text))
    except dotenv.DotenvError as exc:
        raise ConfigError(exc.message, Loc(path, exc.line)) from None
    merged.update(environment)
    return tuple(merged.items())


def _processes(
    section: Section, kind: str, group: str, names: dict[str, Any], warnings: list[str]
) -> tuple[int, tuple[ProcessConfig, ...]]:
    """The processes of one ``[program:x]``-like section, and its priority."""
    try:
        program = dt.process_or_group_name(section.name.split(":", 1)[1])
    except ValueError as exc:
        raise ConfigError(str(exc), section.loc, section.name) from None
    here = _here(section)
    common = {**names, "here": here, "program_name": program, "group_name": group}
    r = _Reader(section, common)
    numprocs = r.get("numprocs", lambda s: dt.integer(s, 1), "1")
    common["numprocs"] = numprocs
    r = _Reader(section, common)
    default_priority = "-1" if kind == "eventlistener" else "999"
    priority = r.get("priority", dt.integer, default_priority)
    if r.raw("command") is None:
        raise ConfigError("does not specify a command", section.loc, section.name)
    settings = dict(
        priority=priority,
        autostart=r.get("autostart", dt.boolean, "true"),
        autorestart=r.get("autorestart", dt.autorestart, "unexpected"),
        startsecs=r.get("startsecs", lambda s: dt.integer(s, 0), "1"),
        startretries=-1
        if r.get("retry_forever", dt.boolean, "false")
        else r.get("startretries", rp.retries, "3"),
        exitcodes=r.get("exitcodes", dt.exit_codes, "0"),
        stopsignal=r.get("stopsignal", dt.signal_number, "TERM"),
        stopwaitsecs=r.get("stopwaitsecs", lambda s: dt.integer(s, 0), "10"),
        user=r.text("user"),
        umask=r.get("umask", dt.octal, "022") if r.raw("umask") else None,
    )
    stopasgroup = r.get("stopasgroup", dt.boolean, "false")
    killasgroup = r.get("killasgroup", dt.boolean, "true" if stopasgroup else "false")
    if stopasgroup and not killasgroup:
        raise r.fail("killasgroup", "cannot be false when stopasgroup=true")
    redirect = r.get("redirect_stderr", dt.boolean, "false")
    if redirect and kind == "eventlistener":
        raise r.fail("redirect_stderr", "eventlisteners may not set redirect_stderr=true")
    serverurl = r.text("serverurl")
    if serverurl is not None and serverurl.strip().upper() == "AUTO":
        serverurl = None
    fcgi = _fcgi_socket(section, names, program) if kind == "fcgi-program" else None
    start = r.get("numprocs_start", lambda s: dt.integer(s, 0), "0")
    name_value = r.raw("process_name")
    name_template = name_value.text if name_value else "%(program_name)s"
    if numprocs > 1 and "%(process_num)" not in name_template:
        raise r.fail("process_name", "must contain %(process_num) when numprocs > 1")
    if redirect and r.raw("stderr_logfile") is not None:
        loc = r.raw("stderr_logfile")
        warnings.append(
            f"{loc.loc if loc else section.loc}: [{section.name}] stderr_logfile "
            "is ignored because redirect_stderr=true"
        )
    procs: list[ProcessConfig] = []
    where = {key: value.loc for key, value in section.values.items()}
    for num in range(start, start + numprocs):
        per = {**common, "process_num": num}
        env_text = r.text("environment", "", per) or ""
        try:
            environment = dt.environment(env_text)
        except ValueError as exc:
            raise r.fail("environment", str(exc)) from None
        env_file = r.text("env_file", None, per)
        if env_file:
            environment = _with_env_file(r, os.path.join(here, env_file), environment)
        per.update({f"ENV_{k}": v for k, v in environment})
        name = r.text("process_name", "%(program_name)s", per) or ""
        try:
            name = dt.process_or_group_name(name)
        except ValueError as exc:
            raise r.fail("process_name", str(exc)) from None
        command = r.text("command", None, per) or ""
        if not command.strip():
            raise r.fail("command", "expected a command to run, got an empty value")
        procs.append(
            ProcessConfig(
                name=name,
                group=group,
                command=command,
                process_num=num,
                stopasgroup=stopasgroup,
                killasgroup=killasgroup,
                redirect_stderr=redirect,
                stdout=_logconfig(r, "stdout", per),
                stderr=_logconfig(r, "stderr", per),
                environment=environment,
                directory=r.text("directory", None, per),
                serverurl=serverurl,
                fcgi=fcgi,
                pdeathsig=r.get("pdeathsig", dt.signal_number, "") if r.raw("pdeathsig") else None,
                restart_backoff=r.get("restart_backoff", rp.backoff_kind, "linear"),
                backoff_max=r.get("backoff_max", rp.seconds, "0"),
                backoff_jitter=r.get("backoff_jitter", rp.fraction, "0"),
                restart_delay=r.get("restart_delay", rp.seconds, "0"),
                max_age=r.get("max_age", rp.seconds, "0"),
                memory_limit=r.get("memory_limit", dt.byte_size, "0"),
                depends_on=tuple(r.get("depends_on", dt.list_of_strings, "")),
                healthcheck=r.get("healthcheck", dt.healthcheck, "")
                if r.raw("healthcheck")
                else "",
                healthcheck_interval=r.get("healthcheck_interval", rp.seconds, "5"),
                healthcheck_timeout=r.get("healthcheck_timeout", rp.seconds, "0"),
                healthcheck_retries=r.get("healthcheck_retries", lambda s: dt.integer(s, 1), "3"),
                rlimits=tuple(
                    r.get(f"rlimit_{name}", functools.partial(parse_limit, name), "")
                    for name in RLIMITS
                    if r.raw(f"rlimit_{name}")
                ),
                section=section.name,
                where=where,
                **settings,  # type: ignore[arg-type]
            )
        )
    return priority, tuple(procs)


def _check_depends_on(groups: list[GroupConfig]) -> None:
    for proc, dep in deps.unknown_names(groups):
        loc = proc.where.get("depends_on")
        raise ConfigError(f"names unknown program {dep!r}", loc, proc.section, "depends_on")
    cycle = deps.find_cycle(deps.group_graph(groups))
    if cycle:
        raise ConfigError(f"depends_on cycle: {' -> '.join(cycle)}")


def _groups(
    sections: Mapping[str, Section], names: dict[str, Any], warnings: list[str]
) -> tuple[GroupConfig, ...]:
    members: dict[str, str] = {}  # program name -> [group:x] that lists it
    group_sections = [s for n, s in sections.items() if n.startswith("group:")]
    for section in group_sections:
        gname = section.name.split(":", 1)[1].strip()
        r = _Reader(section, {**names, "here": _here(section)})
        for prog in r.get("programs", dt.list_of_strings, ""):
            if f"program:{prog}" not in sections and f"fcgi-program:{prog}" not in sections:
                raise r.fail("programs", f"names unknown program {prog!r}")
            members[prog] = gname
    groups: list[GroupConfig] = []
    for name, section in sections.items():
        kind, _, prog = name.partition(":")
        if kind in ("program", "fcgi-program", "eventlistener") and prog:
            gname = (
                members.get(prog.strip(), prog.strip()) if kind != "eventlistener" else prog.strip()
            )
            priority, procs = _processes(section, kind, gname, names, warnings)
            if gname != prog.strip():
                continue  # collected below under its [group:x]
            events: tuple[str, ...] = ()
            buffer_size = 10
            if kind == "eventlistener":
                r = _Reader(section, {**names, "here": _here(section)})
                events = r.get("events", dt.list_of_strings, "")
                if not events:
                    raise r.fail("events", f"[{name}] must list events to subscribe to")
                for event in events:
                    if event not in EVENT_TYPES:
                        raise r.fail(
                            "events", f"unknown event type {event!r}{closest(event, EVENT_TYPES)}"
                        )
                buffer_size = r.get("buffer_size", lambda s: dt.integer(s, 1), "10")
            groups.append(
                GroupConfig(gname, kind, priority, procs, events, buffer_size, section.loc)
            )
    for section in group_sections:
        gname = section.name.split(":", 1)[1].strip()
        try:
            dt.process_or_group_name(gname)
        except ValueError as exc:
            raise ConfigError(str(exc), section.loc, section.name) from None
        r = _Reader(section, {**names, "here": _here(section)})
        procs_all: list[ProcessConfig] = []
        for prog in r.get("programs", dt.list_of_strings, ""):
            key = f"program:{prog}" if f"program:{prog}" in sections else f"fcgi-program:{prog}"
            procs_all.extend(
                _processes(sections[key], key.split(":")[0], gname, names, warnings)[1]
            )
        priority = r.get("priority", dt.integer, "999")
        groups.append(GroupConfig(gname, "group", priority, tuple(procs_all), loc=section.loc))
    seen: dict[str, GroupConfig] = {}
    for g in groups:
        if g.name in seen:
            raise ConfigError(f"group name {g.name!r} is defined twice", g.loc, f"group:{g.name}")
        seen[g.name] = g
    _check_depends_on(groups)
    # the order supervisord starts (and stops) groups in
    return tuple(sorted(groups, key=lambda g: (g.priority, g.name)))


IncludeLoader = Callable[[str, str], list[tuple[str, str]]]
"""(glob pattern, directory it is relative to) -> [(path, text)] in sorted path order."""


STANDARD_RPCINTERFACE = "supervisor.rpcinterface:make_main_rpcinterface"
DEFAULT_RESULT_HANDLER = "supervisor.dispatchers:default_handler"


def _unsupported_plugins(sections: Mapping[str, Section]) -> list[str]:
    """Python plug-ins of supervisord we do not load: say so instead of ignoring them."""
    out = []
    for name, section in sections.items():
        kind = name.partition(":")[0]
        if kind == "rpcinterface":
            factory = section.values.get("supervisor.rpcinterface_factory")
            if factory is not None and factory.text.strip() != STANDARD_RPCINTERFACE:
                out.append(
                    f"{factory.loc}: [{name}] rpcinterface factories are not supported; "
                    f"only the standard supervisor.* interface is served"
                )
        elif kind == "ctlplugin":
            out.append(f"{section.loc}: [{name}] ctlplugins are not supported; ignored")
        elif kind == "eventlistener":
            handler = section.values.get("result_handler")
            if handler is not None and handler.text.strip() != DEFAULT_RESULT_HANDLER:
                out.append(
                    f"{handler.loc}: [{name}] result_handler is not supported; "
                    f"results are handled as by {DEFAULT_RESULT_HANDLER}"
                )
    return out


def parse_config(
    text: str,
    path: str,
    env: Mapping[str, str],
    load_includes: IncludeLoader | None = None,
    host_node_name: str | None = None,
    cwd: str = "/",
    tmpdir: str = "/tmp",
) -> Config:
    """Parse a whole configuration (pure apart from what ``load_includes`` does).

    Raises:
        ConfigError: any unusable value; the message starts with ``file:line:``.
    """
    node = host_node_name if host_node_name is not None else platform.node()
    try:
        sections = parse_ini(text, path)
    except IniError as exc:
        raise ConfigError(exc.message, exc.loc) from None
    files = [path]
    warnings: list[str] = []
    include = sections.get("include")
    if include is not None and load_includes is not None:
        r = _Reader(include, {**_env_names(env), "here": _here(include), "host_node_name": node})
        patterns = (r.text("files", "") or "").split()
        if not patterns:
            raise r.fail("files", "[include] needs files= (whitespace-separated globs)")
        base = os.path.dirname(os.path.abspath(path))
        for pattern in patterns:
            found = load_includes(pattern, base)
            if not found:
                warnings.append(f"{include.values['files'].loc}: no file matches {pattern!r}")
            for inc_path, inc_text in found:
                files.append(inc_path)
                try:
                    parse_ini(inc_text, inc_path, sections)
                except IniError as exc:
                    raise ConfigError(exc.message, exc.loc) from None
    warnings.extend(check_keys(sections))
    warnings.extend(_unsupported_plugins(sections))
    names: dict[str, Any] = {**_env_names(env), "host_node_name": node}
    supervisord = _supervisord(sections.get("supervisord"), names, cwd, tmpdir)
    names.update(_env_names(dict(supervisord.environment)))
    return Config(
        path=path,
        supervisord=supervisord,
        unix_http_server=_unix_server(sections.get("unix_http_server"), names),
        inet_http_server=_inet_server(sections.get("inet_http_server"), names),
        supervisorctl=_ctl(sections.get("supervisorctl"), names),
        groups=_groups(sections, names, warnings),
        warnings=tuple(warnings),
        files=tuple(files),
    )


def check_paths(config: Config, isdir: Callable[[str], bool]) -> None:
    """Every log and pid file must be in an existing directory (supervisord checks too).

    Raises:
        ConfigError: naming the file, line and key of the first bad path.
    """
    sv = config.supervisord
    checks: list[tuple[str, str, Mapping[str, Loc], str]] = [
        ("supervisord", "logfile", sv.where, sv.logfile),
        ("supervisord", "pidfile", sv.where, sv.pidfile),
    ]
    for group in config.groups:
        for p in group.processes:
            for stream, lc in (("stdout", p.stdout), ("stderr", p.stderr)):
                if lc.logfile and lc.logfile != AUTO:
                    checks.append((p.section, f"{stream}_logfile", p.where, lc.logfile))
    for section, key, where, path in checks:
        if path == "syslog" and key == "logfile":
            continue
        directory = os.path.dirname(path)
        if directory and not isdir(directory):
            raise ConfigError(
                f"the directory of {path!r} does not exist", where.get(key), section, key
            )
    if not isdir(sv.childlogdir):
        raise ConfigError(
            f"{sv.childlogdir!r} is not an existing directory",
            sv.where.get("childlogdir"),
            "supervisord",
            "childlogdir",
        )


def _read_includes(pattern: str, base: str) -> list[tuple[str, str]]:
    paths = sorted(glob.glob(os.path.join(base, pattern)))
    out = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            out.append((p, f.read()))
    return out


def load_config(path: str, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` and its includes from disk and parse them.

    Raises:
        ConfigError: unreadable file or bad value (message has file:line).
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"could not read config file {path!r}: {exc.strerror}") from None
    import tempfile

    try:
        config = parse_config(
            text,
            path,
            os.environ if env is None else env,
            _read_includes,
            cwd=os.getcwd(),
            tmpdir=tempfile.gettempdir(),
        )
    except OSError as exc:
        raise ConfigError(f"could not read included file: {exc}") from None
    check_paths(config, os.path.isdir)
    return config


def search_paths(argv0: str) -> list[str]:
    """Where supervisord looks for its config when -c is not given, first hit wins."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(argv0)))
    return [
        os.path.join(here, "etc", "supervisord.conf"),
        os.path.join(here, "supervisord.conf"),
        "supervisord.conf",
        "etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    ]


def find_config(argv0: str, exists: Callable[[str], bool] = os.path.exists) -> str | None:
    return next((p for p in search_paths(argv0) if exists(p)), None)


def load_ctl_config(path: str, env: Mapping[str, str] | None = None) -> CtlConfig:
    """Only the ``[supervisorctl]`` section (a control client ignores the rest).

    Raises:
        ConfigError: unreadable file, bad INI, or no ``[supervisorctl]`` section.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"could not read config file {path!r}: {exc.strerror}") from None
    try:
        sections = parse_ini(text, path)
    except IniError as exc:
        raise ConfigError(exc.message, exc.loc) from None
    names: dict[str, Any] = _env_names(os.environ if env is None else env)
    ctl = _ctl(sections.get("supervisorctl"), names)
    if ctl is None:
        raise ConfigError(".ini file does not include supervisorctl section")
    return ctl

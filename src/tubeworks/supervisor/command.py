"""``tubeworks supervisord``: flags, config loading, daemonizing, and wiring the loop together.

Flags are supervisord's (``-c -n -s -l -e -j -d -u -m -q -k -a -i -t -y -z -v -h``); values
given on the command line override the ``[supervisord]`` section, also after a reload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

import click

from tubeworks.supervisor import datatypes as dt
from tubeworks.supervisor.config import Config, ConfigError, find_config, load_config, search_paths
from tubeworks.supervisor.logs import LEVELS, ActivityLog, clear_auto_logs

PROG = "tubeworks supervisord"


def fail(message: str) -> None:
    """Print supervisord's error shape and exit 2."""
    sys.stderr.write(f"Error: {message}\nFor help, use {PROG} -h\n")
    sys.exit(2)


def _convert(value: str | None, convert: Callable[[str], Any], flag: str) -> Any:
    if value is None:
        return None
    try:
        return convert(value)
    except ValueError as exc:
        fail(f"{flag}: {exc}")
    return None


def overrides_from_flags(opts: dict[str, Any]) -> dict[str, Any]:
    """``[supervisord]`` field → value for every flag that was given."""
    out: dict[str, Any] = {}
    simple = {
        "user": "user",
        "directory": "directory",
        "identifier": "identifier",
        "childlogdir": "childlogdir",
    }
    for flag, key in simple.items():
        if opts.get(flag) is not None:
            out[key] = opts[flag]
    for key in ("logfile", "pidfile"):
        if opts.get(key) is not None:
            special = key == "logfile" and opts[key].lower() == "syslog"
            out[key] = opts[key] if special else os.path.abspath(opts[key])
    if opts.get("nodaemon"):
        out["nodaemon"] = True
    if opts.get("silent"):
        out["silent"] = True
    if opts.get("nocleanup"):
        out["nocleanup"] = True
    if opts.get("strip_ansi"):
        out["strip_ansi"] = True
    if opts.get("umask") is not None:
        out["umask"] = _convert(opts["umask"], dt.octal, "-m")
    if opts.get("logfile_maxbytes") is not None:
        out["logfile_maxbytes"] = _convert(opts["logfile_maxbytes"], dt.byte_size, "-y")
    if opts.get("logfile_backups") is not None:
        out["logfile_backups"] = _convert(opts["logfile_backups"], dt.integer, "-z")
    if opts.get("minfds") is not None:
        out["minfds"] = _convert(opts["minfds"], dt.integer, "-a")
    if opts.get("minprocs") is not None:
        out["minprocs"] = _convert(opts["minprocs"], dt.integer, "--minprocs")
    if opts.get("loglevel") is not None:
        level = opts["loglevel"].lower()
        level = {"warning": "warn"}.get(level, level)
        if level not in LEVELS:
            fail(f"-e: expected one of {', '.join(LEVELS)}, got {opts['loglevel']!r}")
        out["loglevel"] = level
    return out


def make_loader(path: str, overrides: dict[str, Any]) -> Callable[[], Config]:
    def load() -> Config:
        config = load_config(path)
        sv = dataclasses.replace(config.supervisord, **overrides)
        return dataclasses.replace(config, supervisord=sv)

    return load


def _raise_limits(config: Config) -> None:
    for limit, wanted, name in (
        (resource.RLIMIT_NOFILE, config.supervisord.minfds, "minfds"),
        (resource.RLIMIT_NPROC, config.supervisord.minprocs, "minprocs"),
    ):
        soft, hard = resource.getrlimit(limit)
        if soft == resource.RLIM_INFINITY or soft >= wanted:
            continue
        if hard != resource.RLIM_INFINITY and hard < wanted:
            if os.geteuid() == 0:
                hard = wanted
            else:
                fail(
                    f"{name}={wanted} is more than this environment allows ({hard}); "
                    f"lower {name} or raise the limit"
                )
        try:
            resource.setrlimit(limit, (wanted, hard))
        except (ValueError, OSError) as exc:
            fail(f"could not raise the {name} limit to {wanted}: {exc}")


def _daemonize(directory: str | None) -> None:
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    if directory:
        os.chdir(directory)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _drop_privileges(user: str) -> None:
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        fail(f"user= names an unknown user {user!r}")
        return
    if os.geteuid() != 0:
        if os.geteuid() != entry.pw_uid:
            fail(f"can't drop privilege to {user!r} as a non-root user")
        return
    os.initgroups(user, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def _serverurl(config: Config) -> str | None:
    """SUPERVISOR_SERVER_URL for children: the unix socket if any, else the TCP server."""
    if config.unix_http_server is not None:
        return f"unix://{config.unix_http_server.path}"
    if config.inet_http_server is not None:
        host = config.inet_http_server.host or "localhost"
        return f"http://{host}:{config.inet_http_server.port}"
    return None


async def serve(config: Config, loader: Callable[[], Config], log: ActivityLog) -> None:
    from tubeworks.supervisor.daemon import Supervisor
    from tubeworks.supervisor.httpd import HttpServer
    from tubeworks.supervisor.listeners import EventBus
    from tubeworks.supervisor.rpc import RPCInterface

    if os.geteuid() == 0 and not config.supervisord.user:
        log.log(
            "critical",
            "Supervisor is running as root.  Privileges were not dropped "
            "because no user is specified in the config file.  If you intend to run as "
            "root, you can set user=root in the config file to avoid this message.",
        )
    log.info("RPC interface 'supervisor' initialized")
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
            log.log("critical", f"could not listen on {where}: {exc}")
            fail(f"another program is already listening on {where}: {exc.strerror}")

    async def apply_servers(old: Config, new: Config) -> None:
        """Restart the HTTP servers whose settings changed (reload)."""
        for attr in ("unix_http_server", "inet_http_server"):
            before, after = getattr(old, attr), getattr(new, attr)
            if before == after:
                continue
            for server in [s for s in servers if s.config == before]:
                servers.remove(server)
                await server.close()
            if after is not None:
                server = HttpServer(sv, rpc, after)
                try:
                    await server.start()
                except OSError as exc:
                    log.log("critical", f"could not start [{attr}] after reload: {exc}")
                    continue
                servers.append(server)
        sv.serverurl = _serverurl(new)

    sv.on_reload.append(apply_servers)
    sv.serverurl = _serverurl(config)
    log.info(f"supervisord started with pid {os.getpid()}")
    try:
        await sv.run()
    finally:
        for server in servers:
            await server.close()


@click.command("supervisord", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--configuration", "configuration", metavar="FILE", help="configuration file")
@click.option("-n", "--nodaemon", is_flag=True, help="run in the foreground")
@click.option("-s", "--silent", is_flag=True, help="no logs to stdout (with -n)")
@click.option("-u", "--user", metavar="USER", help="run as this user (or numeric uid)")
@click.option("-m", "--umask", metavar="UMASK", help="umask, e.g. 022")
@click.option("-d", "--directory", metavar="DIR", help="directory to chdir to when daemonized")
@click.option("-l", "--logfile", metavar="FILE", help="activity log file")
@click.option(
    "-y", "--logfile_maxbytes", metavar="BYTES", help="rotate the activity log at this size"
)
@click.option("-z", "--logfile_backups", metavar="NUM", help="rotated activity logs to keep")
@click.option(
    "-e", "--loglevel", metavar="LEVEL", help="critical error warn info debug trace blather"
)
@click.option("-j", "--pidfile", metavar="FILE", help="write supervisord's pid here")
@click.option("-i", "--identifier", metavar="STR", help="identifier of this supervisor")
@click.option("-q", "--childlogdir", metavar="DIR", help="directory for AUTO child logs")
@click.option("-k", "--nocleanup", is_flag=True, help="don't delete old AUTO child logs")
@click.option("-a", "--minfds", metavar="NUM", help="minimum open file descriptors")
@click.option("-t", "--strip_ansi", is_flag=True, help="strip ANSI escapes from child logs")
@click.option("--minprocs", metavar="NUM", help="minimum process slots")
@click.option("--profile_options", metavar="LIST", hidden=True)
@click.option("-v", "--version", "show_version", is_flag=True, help="print the version and exit")
def supervisord_command(configuration: str | None, show_version: bool, **opts: Any) -> None:
    """Run programs from a supervisord-compatible configuration file and control them over
    XML-RPC (the real supervisorctl works, as does `tubeworks ctl`)."""
    if show_version:
        from tubeworks.supervisor.rpc import _supervisor_version

        click.echo(_supervisor_version())
        return
    if configuration is None:
        configuration = find_config(sys.argv[0])
        if configuration is None:
            fail(
                "No config file found at default paths ({}); use the -c option to specify "
                "a config file at a different path".format(", ".join(search_paths(sys.argv[0])))
            )
        if os.geteuid() == 0:
            sys.stderr.write(
                "Supervisord is running as root and it is searching for its "
                "configuration file in default locations (including its current "
                'working directory); you probably want to specify a "-c" argument '
                "specifying an absolute path to a configuration file for improved "
                "security.\n"
            )
    assert configuration is not None
    path = os.path.abspath(configuration)
    loader = make_loader(path, overrides_from_flags(opts))
    try:
        config = loader()
    except ConfigError as exc:
        fail(str(exc))
        return
    sv = config.supervisord
    if sv.user:
        _drop_privileges(sv.user)
    os.umask(sv.umask)
    _raise_limits(config)
    if not sv.nodaemon:
        _daemonize(sv.directory)
    try:
        with open(sv.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as exc:
        sys.stderr.write(f"could not write pidfile {sv.pidfile}: {exc}\n")
    if not sv.nocleanup:
        clear_auto_logs(sv.childlogdir, sv.identifier)
    log = ActivityLog(
        sv.logfile,
        sv.loglevel,
        sv.logfile_maxbytes,
        sv.logfile_backups,
        echo=sv.nodaemon and not sv.silent,
    )
    for warning in config.warnings:
        log.warn(warning)
    try:
        asyncio.run(serve(config, loader, log))
    finally:
        log.close()
        try:
            os.unlink(sv.pidfile)
        except OSError:
            pass

"""``tubeworks queue``: beanstalkd's command line, so it drops in where beanstalkd ran.

Flags are parsed the way beanstalkd parses them (grouped short flags such as ``-VFVukr``,
values attached or separate, exit status 5 for a usage error) and each also has a spelled-out
long form. Parsing is a pure function, :func:`parse_args`, so it is tested without a process.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from tubeworks import __version__
from tubeworks.queue import protocol as P

#: beanstalkd's exit status for a bad command line.
EXIT_USAGE: Final = 5
#: beanstalkd's exit status when it cannot bind or set up signals.
EXIT_BIND: Final = 111
#: beanstalkd's exit status when it cannot become ``-u USER``.
EXIT_USER: Final = 32
#: beanstalkd's exit status when another server holds the log directory.
EXIT_LOCKED: Final = 10
#: The log or an import cannot be read.
EXIT_LOG: Final = 1

DEFAULT_BINLOG_SIZE: Final = 10 * 1024 * 1024
DEFAULT_FSYNC_MS: Final = 50

USAGE: Final = f"""\
Usage: tubeworks queue [OPTIONS]

A job queue server that speaks the beanstalkd protocol (1.13). Flags are beanstalkd's.

Options:
 -b, --binlog-dir DIR      write-ahead log directory: jobs survive a restart
 -f, --fsync-ms MS         fsync the log at most every MS milliseconds (default {DEFAULT_FSYNC_MS};
                           0 = before every reply that acknowledges a change)
 -F, --no-fsync            never fsync the log
 -l, --listen ADDR         listen on address ADDR (default 127.0.0.1, unlike beanstalkd's
                           0.0.0.0: pass -l 0.0.0.0 to accept remote clients);
                           unix:PATH listens on a unix socket
 -p, --port PORT           listen on TCP port PORT (default 11300)
 -u, --user USER           become user USER (and its group) after binding
 -z, --max-job-size BYTES  largest job body accepted (default {P.DEFAULT_MAX_JOB_SIZE})
 -s, --binlog-size BYTES   size of each write-ahead log file (default {DEFAULT_BINLOG_SIZE})
 -c, -n                    accepted for compatibility; they do nothing
 --tls-cert FILE, --tls-key FILE
                           serve TLS on the TCP listener (PEM files; SIGHUP reloads them)
 --tls-client-ca FILE      require client certificates signed by this CA
 --auth-file FILE          access rules: identities (token or TLS name) and the tubes each
                           may put to, reserve from or administer (docs/queue-security.md)
 --max-connections N       refuse connections beyond N (TOO_MANY_CONNECTIONS)
 --max-tubes N             refuse to create tubes beyond N (TOO_MANY_TUBES)
 --max-pending-bytes N     drop a client with more than N bytes of replies it does not read
 --idle-timeout SECONDS    close clients silent this long (a blocked reserve is not silent)
 --unix-mode MODE          permissions of the unix socket file, e.g. 0660
 --metrics-port PORT       serve Prometheus metrics at http://ADDR:PORT/metrics
 --metrics-listen ADDR     address for the metrics endpoint (default 127.0.0.1)
 --store URL               keep jobs in PostgreSQL (postgresql://...[?schema=NAME]); servers
                           on one database share every tube (docs/queue-postgresql.md)
 --import-beanstalkd-binlog DIR
                           load the jobs of a beanstalkd binlog directory (format 7) at
                           start; with -b they are written to our log, so import once
 -V, --verbose             say more (repeat for more)
 -v, --version             print the version and exit
 -h, --help                show this help and exit

Signals: SIGTERM/SIGINT stop gracefully (exit 0); SIGUSR1 enters drain mode (put answers
DRAINING).

Example:
  tubeworks queue -l 0.0.0.0 -p 11300 -b /var/lib/tubeworks -f 50
"""


class UsageError(Exception):
    """A bad command line; the message is shown with the usage text and exit status 5."""


@dataclass(frozen=True)
class QueueOptions:
    """Everything the command line can say."""

    listen: str | None = None  # None: 127.0.0.1
    port: int = 11300
    user: str | None = None
    max_job_size: int = P.DEFAULT_MAX_JOB_SIZE
    binlog_dir: str | None = None
    binlog_size: int = DEFAULT_BINLOG_SIZE
    fsync_ms: int | None = DEFAULT_FSYNC_MS  # None: never (-F)
    verbose: int = 0
    show_version: bool = False
    show_help: bool = False
    import_binlog: str | None = None  # a beanstalkd binlog directory to load jobs from
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    auth_file: str | None = None
    max_connections: int | None = None
    max_tubes: int | None = None
    max_pending_bytes: int | None = None
    idle_timeout: int | None = None
    unix_mode: int | None = None
    metrics_port: int | None = None  # serve Prometheus /metrics on this port
    metrics_listen: str = "127.0.0.1"
    store: str | None = None  # postgresql:// URL: jobs live in PostgreSQL, not in memory
    warnings: tuple[str, ...] = field(default=())


_LONG: Final = {
    "--binlog-dir": "b",
    "--fsync-ms": "f",
    "--no-fsync": "F",
    "--listen": "l",
    "--port": "p",
    "--user": "u",
    "--max-job-size": "z",
    "--binlog-size": "s",
    "--verbose": "V",
    "--version": "v",
    "--help": "h",
    "--import-beanstalkd-binlog": "I",
    "--tls-cert": "tls_cert",
    "--tls-key": "tls_key",
    "--tls-client-ca": "tls_client_ca",
    "--auth-file": "auth_file",
    "--max-connections": "max_connections",
    "--max-tubes": "max_tubes",
    "--max-pending-bytes": "max_pending_bytes",
    "--idle-timeout": "idle_timeout",
    "--unix-mode": "unix_mode",
    "--metrics-port": "metrics_port",
    "--metrics-listen": "metrics_listen",
    "--store": "store",
}
# long-only options that take a path, and those that take a positive whole number
_LONG_PATHS: Final = frozenset(
    {"tls_cert", "tls_key", "tls_client_ca", "auth_file", "metrics_listen", "store"}
)
_LONG_NUMBERS: Final = frozenset(
    {"max_connections", "max_tubes", "max_pending_bytes", "idle_timeout", "metrics_port"}
)
_TAKES_VALUE: Final = frozenset({*"bflpuzsI", *_LONG_PATHS, *_LONG_NUMBERS, "unix_mode"})
_FLAGS: Final = frozenset("bflpuzsFVvhcn")


def _number(flag: str, text: str, *, low: int = 0, high: int = 2**63 - 1) -> int:
    if not text.isdigit():
        raise UsageError(f"-{flag}: expected a whole number, got {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise UsageError(f"-{flag}: {value} is out of range ({low}..{high})")
    return value


def _apply(opts: QueueOptions, flag: str, value: str | None) -> QueueOptions:
    warnings = opts.warnings
    if flag in _LONG_PATHS:
        return replace(opts, **{flag: value})  # type: ignore[arg-type]
    if flag in _LONG_NUMBERS:
        assert value is not None
        number = _number("-" + flag.replace("_", "-"), value, low=1)
        return replace(opts, **{flag: number})  # type: ignore[arg-type]
    if flag == "unix_mode":
        assert value is not None
        try:
            mode = int(value, 8)
        except ValueError:
            raise UsageError(
                f"--unix-mode: expected octal permissions such as 0660, got {value!r}"
            ) from None
        return replace(opts, unix_mode=mode)
    if flag == "b":
        return replace(opts, binlog_dir=value)
    if flag == "f":
        assert value is not None
        return replace(opts, fsync_ms=_number("f", value))
    if flag == "F":
        return replace(opts, fsync_ms=None)
    if flag == "l":
        return replace(opts, listen=value)
    if flag == "p":
        assert value is not None
        return replace(opts, port=_number("p", value, high=65535))
    if flag == "u":
        return replace(opts, user=value)
    if flag == "z":
        assert value is not None
        size = _number("z", value)
        if size > P.MAX_JOB_SIZE_CAP:
            warnings += (f"-z: {size} is above the maximum; using {P.MAX_JOB_SIZE_CAP}",)
            size = P.MAX_JOB_SIZE_CAP
        return replace(opts, max_job_size=size, warnings=warnings)
    if flag == "s":
        assert value is not None
        return replace(opts, binlog_size=_number("s", value, low=1))
    if flag in "cn":
        return replace(
            opts, warnings=(*warnings, f"-{flag} flag was removed. binlog is always compacted.")
        )
    if flag == "V":
        return replace(opts, verbose=opts.verbose + 1)
    if flag == "v":
        return replace(opts, show_version=True)
    if flag == "h":
        return replace(opts, show_help=True)
    if flag == "I":
        return replace(opts, import_binlog=value)
    raise AssertionError(flag)


def parse_args(argv: Sequence[str]) -> QueueOptions:
    """Parse beanstalkd-style flags (plus long forms). Raises :class:`UsageError`."""
    opts = QueueOptions()
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            flag = _LONG.get(name)
            if flag is None:
                raise UsageError(f"unknown flag: {name}")
            value: str | None = None
            if flag in _TAKES_VALUE:
                if eq:
                    value = inline
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    raise UsageError(f"flag {name} requires an argument")
            elif eq:
                raise UsageError(f"flag {name} takes no argument")
            opts = _apply(opts, flag, value)
            continue
        if not arg.startswith("-") or arg == "-":
            raise UsageError(f"unknown argument: {arg}")
        j = 1
        while j < len(arg):
            flag = arg[j]
            j += 1
            if flag not in _FLAGS:
                raise UsageError(f"unknown flag: -{flag}")
            value = None
            if flag in _TAKES_VALUE:
                if j < len(arg):
                    value, j = arg[j:], len(arg)
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    raise UsageError(f"flag -{flag} requires an argument")
            opts = _apply(opts, flag, value)
    return opts


def listen_address(opts: QueueOptions) -> Any:
    from tubeworks.queue.server import ListenAddress

    if opts.listen and opts.listen.startswith("unix:"):
        return ListenAddress(unix_path=opts.listen[5:])
    return ListenAddress(host=opts.listen or "127.0.0.1", port=opts.port)


def run(opts: QueueOptions) -> int:
    """Start the server and serve until a stop signal. Returns the exit status."""
    from tubeworks.queue.core import QueueCore
    from tubeworks.queue.server import QueueServer

    for warning in opts.warnings:
        print(f"tubeworks queue: {warning}", file=sys.stderr)

    def say(message: str) -> None:
        print(message, flush=True)

    # Jobs are freed by reference counting; the cyclic collector only finds the rare cycle of a
    # closed connection. Scanning a million live jobs every 700 allocations would halve put
    # throughput, so collect young objects far less often.
    gc.set_threshold(100_000, 50, 100)

    async def main() -> int:
        core: Any = QueueCore(max_job_size=opts.max_job_size, started_at=time.time())
        if opts.store is not None:
            from tubeworks.queue.pgstore.cli import open_for_cli

            core = await open_for_cli(opts)
            if isinstance(core, int):
                return core  # the exit status; the reason was printed
        core.max_tubes = opts.max_tubes
        try:
            protections = _protections(opts)
        except (OSError, ValueError) as exc:
            print(f"tubeworks queue: {exc}", file=sys.stderr)
            return EXIT_USAGE
        server = QueueServer(
            core, listen_address(opts), verbose=opts.verbose, say=say, protections=protections
        )
        if opts.verbose:
            say(f"pid {os.getpid()}")
        server.install_signal_handlers()
        # Metrics first: once the queue port accepts, the metrics port does too.
        wal_holder: list[Any] = []
        metrics = None
        if opts.metrics_port is not None:
            from tubeworks.queue.metrics import registry_for, serve_metrics

            registry = registry_for(core, lambda: wal_holder[0].stats() if wal_holder else None)
            try:
                metrics = await serve_metrics(registry, opts.metrics_listen, opts.metrics_port)
            except OSError as exc:
                where = f"{opts.metrics_listen}:{opts.metrics_port}"
                print(f"tubeworks queue: cannot serve metrics on {where}: {exc}", file=sys.stderr)
                return EXIT_BIND
        try:
            await server.start()
        except OSError as exc:
            print(f"tubeworks queue: cannot listen on {server.address}: {exc}", file=sys.stderr)
            return EXIT_BIND
        if opts.user:
            # Import what runs later now: the new user may not be able to read our install.
            if opts.binlog_dir is not None or opts.import_binlog is not None:
                import tubeworks.queue.durable
                import tubeworks.queue.wal.beanstalkd_binlog  # noqa: F401
            try:
                _become_user(opts.user)
            except KeyError:
                print(
                    f"tubeworks queue: cannot become user {opts.user}: no such user",
                    file=sys.stderr,
                )
                return EXIT_USER
            except OSError as exc:
                print(
                    f"tubeworks queue: cannot become user {opts.user}: {exc.strerror}",
                    file=sys.stderr,
                )
                return EXIT_USER
        try:
            wal = _load_jobs(opts, core, server)
        except LoadError as exc:
            print(f"tubeworks queue: {exc}", file=sys.stderr)
            return exc.status
        if wal is not None:
            wal_holder.append(wal)
        if opts.tls_cert and opts.tls_key:
            cert, key = opts.tls_cert, opts.tls_key
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, lambda: server.reload_tls(cert, key)
            )
        try:
            await server.start_serving()
            await server.serve_until_stopped()
        finally:
            if metrics is not None:
                metrics.close()
            if wal is not None:
                wal.close()
            if opts.store is not None:
                await core.close()
        return 0

    return _run_loop(main())


def _protections(opts: QueueOptions) -> Any:
    """TLS context, access rules and limits from the options. Raises OSError/ValueError with
    a message that names the option."""
    from tubeworks.queue.access import AccessConfigError, load_policy
    from tubeworks.queue.server import Protections, tls_context

    tls = None
    if bool(opts.tls_cert) != bool(opts.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    if opts.tls_client_ca and not opts.tls_cert:
        raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
    if opts.tls_cert and opts.tls_key:
        import ssl

        try:
            tls = tls_context(opts.tls_cert, opts.tls_key, opts.tls_client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"cannot load the TLS certificate {opts.tls_cert} with key {opts.tls_key}"
                f"{' and client CA ' + opts.tls_client_ca if opts.tls_client_ca else ''}: {exc}"
            ) from exc
    policy = None
    if opts.auth_file:
        try:
            policy = load_policy(opts.auth_file)
        except AccessConfigError as exc:
            raise ValueError(str(exc)) from exc
    return Protections(
        tls=tls,
        policy=policy,
        max_connections=opts.max_connections,
        max_pending_bytes=opts.max_pending_bytes,
        idle_timeout=opts.idle_timeout,
        unix_mode=opts.unix_mode,
    )


class LoadError(Exception):
    """The log or an import cannot be used; ``status`` is the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _load_jobs(opts: QueueOptions, core: Any, server: Any) -> Any:
    """Open the log (``-b``) and replay it, then import a beanstalkd binlog if asked.

    Returns the open :class:`~tubeworks.queue.wal.WriteAheadLog` or None.
    """
    if opts.binlog_dir is None and opts.import_binlog is None:
        return None
    from tubeworks.queue.durable import WalJobLog
    from tubeworks.queue.wal import WalError, WalLockedError, WriteAheadLog
    from tubeworks.queue.wal.beanstalkd_binlog import read_binlog_dir

    wal = None
    if opts.binlog_dir is not None:
        try:
            wal, recovery = WriteAheadLog.open(
                opts.binlog_dir,
                fsync_interval=None if opts.fsync_ms is None else opts.fsync_ms / 1000,
                file_size=opts.binlog_size,
                max_job_size=opts.max_job_size,
            )
        except WalLockedError as exc:
            raise LoadError(str(exc), EXIT_LOCKED) from exc
        except WalError as exc:
            raise LoadError(str(exc), EXIT_LOG) from exc
        for warning in recovery.warnings:
            print(f"tubeworks queue: {warning}", file=sys.stderr)
        core.restore(recovery.jobs, recovery.next_id)
        server.joblog = core.log = WalJobLog(wal, core.jobs.get)
        core.binlog_stats = lambda: _binlog_stats(wal)
        if opts.verbose:
            print(f"recovered {len(recovery.jobs)} jobs from {opts.binlog_dir}", flush=True)
    if opts.import_binlog is not None:
        try:
            imported = read_binlog_dir(opts.import_binlog)
        except WalError as exc:
            if wal is not None:
                wal.close()
            raise LoadError(str(exc), EXIT_LOG) from exc
        for warning in imported.warnings:
            print(f"tubeworks queue: {warning}", file=sys.stderr)
        clash = [r.id for r in imported.jobs if r.id in core.jobs]
        if clash:
            if wal is not None:
                wal.close()
            raise LoadError(
                f"cannot import {opts.import_binlog}: job ids {clash[:5]} already exist "
                f"(import into an empty queue)",
                EXIT_LOG,
            )
        core.restore(imported.jobs, imported.next_id)
        if core.log is not None:
            for r in imported.jobs:
                if not core.log.put(core.jobs[r.id]):
                    wal.close()  # type: ignore[union-attr]
                    raise LoadError(f"cannot write imported job {r.id} to the log", EXIT_LOG)
            server.commit_log()
        print(
            f"tubeworks queue: imported {len(imported.jobs)} jobs from {opts.import_binlog}",
            file=sys.stderr,
        )
    return wal


def _binlog_stats(wal: Any) -> dict[str, object]:
    st = wal.stats()
    return {
        "oldest-index": st.oldest_index,
        "current-index": st.current_index,
        "records-migrated": st.records_migrated,
        "records-written": st.records_written,
        "max-size": st.file_size,
        # ours, after beanstalkd's fields: the log's health at a glance
        "files": st.files,
        "bytes": st.bytes,
        "failing": st.failing,
        "last-error": st.last_error,
    }


def _run_loop(coro: Any) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return int(asyncio.run(coro))
    return int(uvloop.run(coro))


def _become_user(name: str) -> None:
    import pwd

    entry = pwd.getpwnam(name)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def main(argv: Sequence[str]) -> int:
    """``tubeworks queue ARGS``: parse, then run. Used directly for a fast start."""
    try:
        opts = parse_args(argv)
    except UsageError as exc:
        print(f"tubeworks queue: {exc}", file=sys.stderr)
        print(USAGE, file=sys.stderr, end="")
        return EXIT_USAGE
    if opts.show_help:
        print(USAGE, end="")
        return 0
    if opts.show_version:
        print(f"tubeworks {__version__} (beanstalkd protocol {'1.13'})")
        return 0
    return run(opts)

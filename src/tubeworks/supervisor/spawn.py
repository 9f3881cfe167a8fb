"""Turning a ProcessConfig into a running child: command lookup, environment, fork/exec.

Lookup errors are found before forking, with supervisord's messages, so the state machine
can go to BACKOFF without a child ever existing.  The child is started with
``subprocess.Popen`` (fork+exec in C, fds closed with close_range, its own process group,
cwd/umask/user applied in the child).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import shlex
import socket
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from tubeworks.supervisor.config import ProcessConfig
from tubeworks.supervisor.limits import combine, limits_hook
from tubeworks.supervisor.orphans import death_signal_hook
from tubeworks.supervisor.records import FcgiSocket


class SpawnError(Exception):
    """The command cannot be started; ``kind`` picks the XML-RPC fault for startProcess."""

    def __init__(self, message: str, kind: str = "NOT_EXECUTABLE") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # "NO_FILE" or "NOT_EXECUTABLE"


def resolve_command(config: ProcessConfig, base_env: Mapping[str, str]) -> tuple[str, list[str]]:
    """(executable path, argv) for ``config.command``.

    Raises:
        SpawnError: unparsable command, missing file, directory or not executable.
    """
    try:
        argv = shlex.split(config.command)
    except ValueError as exc:
        raise SpawnError(f"can't parse command {config.command!r}: {exc}") from None
    if not argv:
        raise SpawnError(f"can't parse command {config.command!r}: it is empty")
    program = argv[0]
    if "/" in program:
        filename = program
    else:
        path = dict(config.environment).get("PATH", base_env.get("PATH", os.defpath))
        filename = program
        for directory in path.split(os.pathsep):
            candidate = os.path.join(directory, program)
            if os.path.exists(candidate):
                filename = candidate
                break
    try:
        st = os.stat(filename)
    except OSError:
        raise SpawnError(f"can't find command {filename!r}", "NO_FILE") from None
    if stat.S_ISDIR(st.st_mode):
        raise SpawnError(f"command at {filename!r} is a directory")
    if not os.access(filename, os.X_OK):
        raise SpawnError(f"command at {filename!r} is not executable")
    return filename, argv


def child_environment(
    config: ProcessConfig,
    base_env: Mapping[str, str],
    shared: tuple[tuple[str, str], ...],
    serverurl: str | None,
) -> dict[str, str]:
    """supervisord's env, then [supervisord] environment, SUPERVISOR_* and the program's own."""
    env = dict(base_env)
    env.update(shared)
    env["SUPERVISOR_ENABLED"] = "1"
    url = config.serverurl or serverurl
    if url:
        env["SUPERVISOR_SERVER_URL"] = url
    env["SUPERVISOR_PROCESS_NAME"] = config.name
    env["SUPERVISOR_GROUP_NAME"] = config.group
    env.update(config.environment)
    return env


@dataclass
class Child:
    """A started child and the parent's ends of its pipes."""

    popen: subprocess.Popen[bytes]
    pid: int
    stdin: int | None
    stdout: int | None
    stderr: int | None


def _errname(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def _identity(user: str) -> tuple[int, int, list[int]]:
    """(uid, gid, supplementary groups) for ``user=`` (a name or a numeric uid), like
    setuid + setgid + initgroups in supervisord."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise SpawnError(f"couldn't setuid to {user}: no such user") from None
    return entry.pw_uid, entry.pw_gid, os.getgrouplist(entry.pw_name, entry.pw_gid)


def spawn_child(
    config: ProcessConfig,
    filename: str,
    argv: list[str],
    env: dict[str, str],
    stdin: int | None = None,
) -> Child:
    """Fork and exec.  Raises SpawnError with supervisord's ``couldn't ...`` texts.

    ``stdin``: an fd to give the child as fd 0 (the fcgi socket) instead of a pipe.
    """
    identity = _identity(config.user) if config.user else None
    try:
        popen = subprocess.Popen(
            argv,
            executable=filename,
            stdin=subprocess.PIPE if stdin is None else stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if config.redirect_stderr else subprocess.PIPE,
            cwd=config.directory,
            env=env,
            umask=config.umask if config.umask is not None else -1,
            user=identity[0] if identity else None,
            group=identity[1] if identity else None,
            extra_groups=identity[2] if identity else None,
            process_group=0,
            preexec_fn=combine(
                limits_hook(config.rlimits) if config.rlimits else None,
                death_signal_hook(config.pdeathsig) if config.pdeathsig else None,
            ),
            close_fds=True,
            bufsize=0,
        )
    except FileNotFoundError as exc:
        if config.directory and exc.filename == config.directory:
            raise SpawnError(f"couldn't chdir to {config.directory}: {_errname(exc)}") from None
        raise SpawnError(f"couldn't exec {filename}: {_errname(exc)}") from None
    except PermissionError as exc:
        if config.directory and exc.filename == config.directory:
            raise SpawnError(f"couldn't chdir to {config.directory}: {_errname(exc)}") from None
        raise SpawnError(f"couldn't exec {filename}: {_errname(exc)}") from None
    except (OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
        raise SpawnError(f"couldn't spawn {config.name}: {exc}") from None
    fds = [f.fileno() if f else None for f in (popen.stdin, popen.stdout, popen.stderr)]
    for fd in fds:
        if fd is not None:
            os.set_blocking(fd, False)
    return Child(popen, popen.pid, fds[0], fds[1], fds[2])


def make_fcgi_socket(spec: FcgiSocket) -> socket.socket:
    """Bind and listen on an fcgi-program's socket (its processes get it as fd 0)."""
    if spec.url.startswith("unix://"):
        path = spec.url[7:]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, spec.mode)
            if spec.owner:
                user, _, group = spec.owner.partition(":")
                uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
                gid = (
                    -1
                    if not group
                    else (int(group) if group.isdigit() else grp.getgrnam(group).gr_gid)
                )
                os.chown(path, uid, gid)
            sock.listen(spec.backlog)
        except BaseException:
            sock.close()
            raise
    else:
        host, _, port = spec.url[6:].rpartition(":")
        sock = socket.create_server((host.strip("[]"), int(port)), backlog=spec.backlog)
    sock.set_inheritable(False)
    return sock


def close_fcgi_socket(sock: socket.socket) -> None:
    """Close it and remove a unix socket's file."""
    try:
        name = sock.getsockname()
    except OSError:
        name = None
    sock.close()
    if isinstance(name, str) and name:
        with contextlib.suppress(OSError):
            os.unlink(name)

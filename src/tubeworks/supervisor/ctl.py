"""``tubeworks ctl``: control a supervisord (ours or the real one) like ``supervisorctl``.

Same commands, output lines and exit codes as supervisorctl 4.3.0 (scripts, Docker health
checks and Ansible parse them), plus ``status --json`` for programs.  Talks XML-RPC through
the standard ``xmlrpc.client`` over a unix socket or HTTP, with basic auth when configured.
"""

from __future__ import annotations

import os
import shlex
import sys

import click

from tubeworks.supervisor.config import ConfigError, CtlConfig, find_config, load_ctl_config
from tubeworks.supervisor.controller import Controller


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
    maintail, clear, pid, avail, reread, update, add, remove, shutdown, reload, version,
    and ours: wait, roll, reopen.

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

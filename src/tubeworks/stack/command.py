"""``tubeworks up`` and ``tubeworks init``: the click side (flags, messages, exit codes)."""

from __future__ import annotations

import glob
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import click

from tubeworks.stack.config import StackConfig, parse_stack
from tubeworks.stack.starter import CONFIG_NAME, HANDLER_NAME, SAMPLE_HANDLER, STARTER_CONFIG
from tubeworks.supervisor.config import Config, ConfigError

__all__ = ["init_command", "load_stack", "up_command"]


def _read_includes(pattern: str, base: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted(glob.glob(os.path.join(base, pattern))):
        with open(path, encoding="utf-8") as f:
            out.append((path, f.read()))
    return out


def load_stack(
    path: str | None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    var_dir: str | None = None,
) -> StackConfig:
    """Read ``path`` (None: the embedded defaults) and apply ``--port``/``--var-dir``.

    Raises:
        ConfigError: unreadable file or bad value (the message has file:line).
    """
    text = ""
    if path is not None:
        path = os.path.abspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise ConfigError(f"could not read config file {path!r}: {exc.strerror}") from None
    if port is not None:
        text += f"\n[queue]\nport = {port}\n"  # a repeated section merges; the last key wins
    if var_dir is not None:
        text += f"\n[up]\nvar_dir = {os.path.abspath(var_dir).replace('%', '%%')}\n"
    try:
        return parse_stack(
            text,
            path or "",
            os.environ if env is None else env,
            _read_includes,
            cwd=os.getcwd(),
            tmpdir=tempfile.gettempdir(),
        )
    except OSError as exc:
        raise ConfigError(f"could not read included file: {exc}") from None


def _find_config(given: str | None) -> str | None:
    if given is not None:
        return given
    return CONFIG_NAME if os.path.exists(CONFIG_NAME) else None


def _say(text: str) -> None:
    click.echo(text)


def print_status(stack: StackConfig) -> int:
    """The processes (over the control socket) and the autoscalers' last decisions."""
    import xmlrpc.client

    from tubeworks.supervisor.client import Transport, format_status

    transport = Transport(f"unix://{stack.control_socket}", None, None)
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1/RPC2", transport)
    try:
        infos: list[dict[str, Any]] = proxy.supervisor.getAllProcessInfo()  # type: ignore[assignment]
    except (OSError, xmlrpc.client.Error) as exc:
        click.echo(f"tubeworks up is not running here ({stack.control_socket}: {exc})", err=True)
        return 1
    for line in format_status(infos):
        click.echo(line)
    try:
        with open(stack.status_path) as f:
            scalers = json.load(f)
    except (OSError, ValueError):
        scalers = {}
    for name, entry in scalers.items():
        click.echo(
            f"autoscale {name}: {entry['processes']} processes (min {entry['min']}, "
            f"max {entry['max']}, target {entry['target']}), backlog {entry['backlog']}"
        )
        for d in entry["decisions"][-5:]:
            at = time.strftime("%H:%M:%S", time.localtime(d["at"]))
            click.echo(f"  {at} {d['before']} -> {d['to']}: {d['reason']}")
    return 0


@click.command("up", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c", "--configuration", "config_path", metavar="FILE",
    help=f"config file (default: ./{CONFIG_NAME} if it exists, else built-in defaults)",
)
@click.option("-p", "--port", type=click.IntRange(1, 65535), help="queue port (overrides [queue])")
@click.option("--var-dir", metavar="DIR", help="state directory (overrides var_dir in [up])")
@click.option("--status", is_flag=True, help="show the running stack's processes and autoscaling")
def up_command(
    config_path: str | None, port: int | None, var_dir: str | None, status: bool
) -> None:
    """Run the queue server and the worker pools of a config file in the foreground.

    The queue starts first; pools start once it accepts connections. Ctrl-C or SIGTERM stops
    the workers (each finishes the job in hand), then the queue; the exit status is 0.
    """
    from tubeworks.stack.runner import StackError, run_stack

    path = _find_config(config_path)
    try:
        stack = load_stack(path, port, var_dir=var_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if status:
        sys.exit(print_status(stack))

    def loader() -> Config:
        return load_stack(path, port, var_dir=var_dir).supervisor

    try:
        sys.exit(run_stack(stack, loader, _say))
    except StackError as exc:
        click.echo(f"tubeworks up: {exc}", err=True)
        sys.exit(1)


@click.command("init", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="overwrite existing files")
def init_command(directory: str, force: bool) -> None:
    """Write a commented starter config (tubeworks.ini) and a sample handler (handlers.py)."""
    os.makedirs(directory, exist_ok=True)
    files = {CONFIG_NAME: STARTER_CONFIG, HANDLER_NAME: SAMPLE_HANDLER}
    existing = [n for n in files if os.path.exists(os.path.join(directory, n))]
    if existing and not force:
        raise click.ClickException(
            f"{', '.join(existing)} already exists in {directory!r}; pass --force to overwrite"
        )
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"wrote {os.path.join(directory, name)}")
    where = "" if os.path.abspath(directory) == os.getcwd() else f"cd {directory} && "
    job = '\'{"name": "world"}\''
    click.echo(f"next: {where}tubeworks up   (then: tubeworks put -t hello {job})")

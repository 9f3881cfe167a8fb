"""The ``tubeworks`` command: one entry point, subcommands loaded on demand.

Subcommands are imported lazily so that ``tubeworks queue`` starts listening quickly: it never
pays for importing the supervisor, the web dashboard or the admin tools.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

# name -> "module:attribute" of a click command. Each part of tubeworks owns its own entries.
LAZY_COMMANDS: dict[str, str] = {
    "demo": "tubeworks.demo:demo_command",
    "tubes": "tubeworks.admin.tubes:tubes_command",
    "stats": "tubeworks.admin.tubes:stats_command",
    "pause": "tubeworks.admin.tubes:pause_command",
    "top": "tubeworks.admin.tubes:top_command",
    "put": "tubeworks.admin.jobs:put_command",
    "peek": "tubeworks.admin.jobs:peek_command",
    "kick": "tubeworks.admin.jobs:kick_command",
    "delete": "tubeworks.admin.jobs:delete_command",
    "clear": "tubeworks.admin.bulk:clear_command",
    "move": "tubeworks.admin.bulk:move_command",
    "export": "tubeworks.admin.bulk:export_command",
    "import": "tubeworks.admin.bulk:import_command",
    "supervisord": "tubeworks.supervisor.command:supervisord_command",
    "ctl": "tubeworks.supervisor.ctl:ctl_command",
    "worker": "tubeworks.worker.cli:worker_command",
    "up": "tubeworks.stack.command:up_command",
    "init": "tubeworks.stack.command:init_command",
    "examples": "tubeworks.stack.examples_cli:examples_command",
    "pg-store": "tubeworks.queue.pgstore.transfer:pg_store_command",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tubeworks", prog_name="tubeworks")
def cli() -> None:
    """tubeworks: a beanstalkd-compatible job queue, a supervisor and a worker runtime."""


@cli.command(
    "queue",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def queue_command(args: tuple[str, ...]) -> None:
    """Run the queue server (beanstalkd-compatible flags; see tubeworks queue -h)."""
    from tubeworks.queue.cli import main as queue_main

    sys.exit(queue_main(args))


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point (``tubeworks.entry`` skips this for ``queue``)."""
    args = sys.argv[1:] if argv is None else argv
    return cli.main(args=args, prog_name="tubeworks")

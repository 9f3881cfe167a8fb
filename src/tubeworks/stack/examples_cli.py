"""``tubeworks examples run [N...]``: run the examples of a source checkout end to end.

The examples are not part of the installed package (they are meant to be read and copied),
so this finds ``examples/`` next to ``src/`` and imports it from there.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

__all__ = ["examples_command"]


def examples_root() -> Path | None:
    """The checkout holding ``examples/run.py``, or None for an installed package."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "examples" / "run.py").exists() else None


@click.group("examples")
def examples_command() -> None:
    """Runnable examples: thumbnails, an autoscaled mailing, event tracking, a PHP producer."""


@examples_command.command(
    "run", context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_command(args: tuple[str, ...]) -> None:
    """Run examples (default 1 2) with progress and a summary; -h for the options."""
    root = examples_root()
    if root is None:
        raise click.ClickException("examples/ not found: they ship with the source checkout")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    run = importlib.import_module("examples.run")
    sys.exit(run.main(list(args), say=lambda line: click.echo(line)))

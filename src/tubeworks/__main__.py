"""``python -m tubeworks`` is the same as the ``tubeworks`` command."""

from tubeworks.cli import main

main()

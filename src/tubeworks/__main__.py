"""``python -m tubeworks`` is the same as the ``tubeworks`` command."""

from tubeworks.entry import main

main()

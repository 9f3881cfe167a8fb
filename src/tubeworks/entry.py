"""The ``tubeworks`` executable. ``tubeworks queue`` starts without importing click, so the
queue server is listening within 100 ms of start; everything else goes to :mod:`tubeworks.cli`.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["queue"]:
        from tubeworks.queue.cli import main as queue_main

        sys.exit(queue_main(args[1:]))
    from tubeworks.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()

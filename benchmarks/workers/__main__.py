"""``python -m benchmarks.workers``: see :mod:`benchmarks.workers.cli`."""

import sys

from benchmarks.workers.cli import main

sys.exit(main())

"""Worker benchmark (issue #7): tubeworks workers against Dramatiq, RQ and Celery in one run.

Run ``python -m benchmarks.workers`` (``--help`` for options, ``--quick`` for a smoke run);
docs/benchmarks-workers.md explains the method and records the figures of a full run.

Layout: :mod:`.measure` and :mod:`.report` are pure (samples in, numbers and a table out);
:mod:`.frameworks` knows how to enqueue into, start and clean up after each framework;
:mod:`.procs` starts and stops process groups; :mod:`.runner` drives one measurement;
:mod:`.apps` holds the worker-side modules the frameworks' own CLIs import.
"""

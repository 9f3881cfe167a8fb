"""Queue benchmarks: our server and the real beanstalkd, side by side, driven by a C load generator.

Run ``python -m benchmarks`` (or ``./dev bench``); ``--help`` lists the options and
docs/benchmarks.md explains the method and records results.
"""

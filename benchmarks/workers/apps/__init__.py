"""Worker-side modules: what each framework's worker process imports to find its no-op job.

They read their settings from the environment (see :mod:`benchmarks.workers.apps.settings`),
because each framework's own CLI imports them in a fresh process.
"""

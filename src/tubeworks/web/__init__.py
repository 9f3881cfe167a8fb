"""The supervisor's web dashboard, its JSON API and its Prometheus ``/metrics``.

Served by the supervisor's HTTP server (:mod:`tubeworks.supervisor.httpd` hands requests for
``/``, ``/ui/``, ``/api/`` and ``/metrics`` to :class:`tubeworks.web.app.WebApp`). Modules:
``app`` (routing), ``api`` (JSON handlers), ``metrics`` (collector), ``body`` (showing job
bodies safely), ``queues`` (which queue servers, rate history), ``procstat`` (CPU/RSS from
``/proc``), ``static/`` (the page: HTML, JS, CSS, no build step). See ``docs/dashboard.md``.
"""

"""HTTP glue between the supervisor's HTTP server and the dashboard.

The supervisor's server parses requests, checks HTTP basic auth (the same as for XML-RPC) and
hands every request for ``/``, ``/ui/...``, ``/api/...`` and ``/metrics`` to
:meth:`WebApp.respond`, which returns a complete :class:`Response`. Nothing here touches a
socket, so tests can call it directly.

Actions are POSTs that must carry the header ``X-Tubeworks: 1``: a page on another site can
make a browser send a form POST with the user's saved credentials, but not a custom header
(that needs a CORS preflight, which we never grant).
"""

from __future__ import annotations

import json
import urllib.parse
import weakref
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from tubeworks.supervisor.daemon import Supervisor
from tubeworks.supervisor.rpc import RPCInterface
from tubeworks.web.api import BadRequest, Dashboard, Reply
from tubeworks.web.metrics import ProcessCounters, registry_for

PREFIXES: Final = ("/ui/", "/api/")
PATHS: Final = frozenset({"/", "/index.html", "/metrics"})
STATIC: Final = {  # file name -> content type; nothing else is served from the package
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
ACTION_HEADER: Final = "x-tubeworks"
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=lambda: dict(SECURITY_HEADERS))


def handles(path: str) -> bool:
    """Whether a request path belongs to the dashboard (the hook in httpd asks this)."""
    return path in PATHS or path.startswith(PREFIXES)


def _json(status: int, value: Any) -> Response:
    return Response(status, json.dumps(value, ensure_ascii=False).encode() + b"\n")


class WebApp:
    """The dashboard, its API and ``/metrics`` for one supervisor."""

    def __init__(self, sv: Supervisor, rpc: RPCInterface) -> None:
        self.counters = ProcessCounters()
        self.counters.attach(sv)
        self.registry = registry_for(sv, self.counters)
        self.sv = sv
        self.api = Dashboard(sv, rpc)

    async def respond(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response:
        """Answer one request (headers with lowercase names)."""
        url = urllib.parse.urlsplit(target)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        try:
            if method == "GET":
                return await self._get(path, query)
            if method == "POST":
                if headers.get(ACTION_HEADER) != "1":
                    return _json(403, {"error": f"actions need the header {ACTION_HEADER}: 1"})
                return _json(*await self._post(path, body))
        except BadRequest as exc:
            return _json(exc.status, {"error": str(exc)})
        except Exception as exc:  # a bug here must not take the XML-RPC server's connection down
            self.sv.log.log("error", f"dashboard: {method} {path} failed: {exc!r}")
            return _json(500, {"error": f"internal error: {exc!r}"})
        return _json(405, {"error": f"expected GET or POST, got {method}"})

    async def _get(self, path: str, query: dict[str, list[str]]) -> Response:
        if path == "/metrics":
            return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        if path in ("/", "/index.html"):
            return _static("index.html")
        if path.startswith("/ui/"):
            return _static(path[len("/ui/") :])
        if path == "/api/state":
            return _json(*await self.api.state())
        if path == "/api/tube":
            return _json(*await self.api.tube(_arg(query, "queue"), _arg(query, "tube")))
        if path == "/api/log":
            offset = _arg(query, "offset", "-1")
            if not offset.lstrip("-").isdigit():
                raise BadRequest(f"offset: expected an integer, got {offset!r}")
            return _json(
                *self.api.log(_arg(query, "name"), _arg(query, "channel", "stdout"), int(offset))
            )
        return _json(404, {"error": f"no such page {path!r}"})

    async def _post(self, path: str, body: bytes) -> Reply:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise BadRequest("expected a JSON object in the request body") from None
        if not isinstance(request, dict):
            raise BadRequest(f"expected a JSON object, got {type(request).__name__}")
        if path == "/api/queue":
            return await self.api.queue_action(request)
        if path == "/api/process":
            return await self.api.process_action(request)
        return 404, {"error": f"no such action {path!r}"}


def _arg(query: dict[str, list[str]], name: str, default: str | None = None) -> str:
    values = query.get(name)
    if values:
        return values[0]
    if default is None:
        raise BadRequest(f"missing query parameter {name!r}")
    return default


_FILES: dict[str, bytes] = {}


def _static(name: str) -> Response:
    content_type = STATIC.get(name)
    if content_type is None:
        return _json(404, {"error": f"no such file {name!r}"})
    data = _FILES.get(name)
    if data is None:
        data = _FILES[name] = resources.files("tubeworks.web").joinpath("static", name).read_bytes()
    return Response(200, data, content_type)


_APPS: weakref.WeakKeyDictionary[Supervisor, WebApp] = weakref.WeakKeyDictionary()


def web_app(sv: Supervisor, rpc: RPCInterface) -> WebApp:
    """The one app of a supervisor (its unix and TCP servers share it, and its counters)."""
    app = _APPS.get(sv)
    if app is None:
        app = _APPS[sv] = WebApp(sv, rpc)
    return app

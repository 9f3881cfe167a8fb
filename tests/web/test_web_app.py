"""Routing and error handling of :class:`WebApp`, called directly on an idle supervisor.

The supervisor is real (parsed from a config, never run), so no processes or sockets are
involved: what is tested here is what ``respond`` answers for each kind of request.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tubeworks.supervisor.config import parse_config
from tubeworks.supervisor.daemon import Supervisor
from tubeworks.supervisor.logs import ActivityLog
from tubeworks.supervisor.rpc import RPCInterface
from tubeworks.web.app import WebApp, handles, web_app

CONFIG = """\
[supervisord]
logfile={log}

[program:api]
command=/bin/true
autostart=false
stdout_logfile=NONE
"""
ACTION = {"x-tubeworks": "1"}


@pytest.fixture
def app(tmp_path: Path) -> WebApp:
    log = tmp_path / "supervisord.log"
    config = parse_config(CONFIG.format(log=log), str(tmp_path / "sv.conf"), {})
    sv = Supervisor(config, lambda: config, ActivityLog(str(log)))
    for group in config.groups:
        sv.add_group(group)
    return WebApp(sv, RPCInterface(sv))


def call(app: WebApp, method: str, target: str, body: Any = b"", headers: Any = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = asyncio.run(app.respond(method, target, headers or {}, raw))
    return reply.status, json.loads(reply.body) if reply.content_type.startswith("app") else reply


@pytest.mark.parametrize(
    ("path", "mine"),
    [("/", True), ("/index.html", True), ("/metrics", True), ("/ui/app.js", True),
     ("/api/state", True), ("/RPC2", False), ("/logtail/api", False), ("/mainlogtail", False),
     ("/uix", False)],
)  # fmt: skip
def test_which_paths_the_dashboard_takes(path: str, mine: bool) -> None:
    assert handles(path) is mine


def test_one_app_per_supervisor(app: WebApp) -> None:
    sv = app.sv
    rpc = RPCInterface(sv)
    assert web_app(sv, rpc) is web_app(sv, rpc)


def test_state_of_an_idle_supervisor(app: WebApp) -> None:
    status, state = call(app, "GET", "/api/state")
    assert status == 200
    assert [(p["name"], p["state"], p["pid"]) for p in state["processes"]] == [
        ("api", "STOPPED", None)
    ]
    assert state["queues"] == []


@pytest.mark.parametrize(
    ("method", "target", "body", "headers", "status", "error"),
    [
        ("PUT", "/api/state", b"", {}, 405, "expected GET or POST, got PUT"),
        ("POST", "/api/process", b"{}", {}, 403, "actions need the header x-tubeworks: 1"),
        ("POST", "/api/process", b"{nope", ACTION, 400,
         "expected a JSON object in the request body"),
        ("POST", "/api/process", b"[1]", ACTION, 400, "expected a JSON object, got list"),
        ("POST", "/api/zap", b"{}", ACTION, 404, "no such action '/api/zap'"),
        ("GET", "/api/nope", b"", {}, 404, "no such page '/api/nope'"),
        ("GET", "/api/tube?queue=x", b"", {}, 400, "missing query parameter 'tube'"),
        ("GET", "/api/log?name=api&offset=x", b"", {}, 400,
         "offset: expected an integer, got 'x'"),
        ("GET", "/api/log?name=api", b"", {}, 404, "api has no stdout log"),
    ],
)  # fmt: skip
def test_bad_requests_say_what_was_expected(
    app: WebApp, method: str, target: str, body: bytes, headers: dict[str, str], status: int,
    error: str,
) -> None:  # fmt: skip
    assert call(app, method, target, body, headers) == (status, {"error": error})


def test_a_bug_in_a_handler_is_a_500_and_a_log_line(app: WebApp) -> None:
    class Broken:
        async def state(self) -> Any:
            raise KeyError("boom")

    app.api = Broken()  # type: ignore[assignment]
    assert call(app, "GET", "/api/state") == (500, {"error": "internal error: KeyError('boom')"})
    assert app.sv.log.file is not None
    assert (
        "dashboard: GET /api/state failed: KeyError('boom')"
        in Path(app.sv.log.file.path).read_text()
    )


def test_static_files_and_metrics_have_their_types(app: WebApp) -> None:
    _, page = call(app, "GET", "/")
    assert page.content_type == "text/html; charset=utf-8"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    _, metrics = call(app, "GET", "/metrics")
    assert metrics.content_type.startswith("text/plain; version=")
    assert b'tubeworks_supervisor_process_state{group="api",name="api",state="STOPPED"} 1.0' in (
        metrics.body
    )

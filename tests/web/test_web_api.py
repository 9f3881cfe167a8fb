"""The dashboard's HTTP API against a real supervisor, a real queue server and real processes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webharness import Stack, running_stack, wait_for

from servers import free_port
from tubeworks.client import Client

pytestmark = pytest.mark.timeout(60)

AUTH = ("admin", "s3cret")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    dead = f"127.0.0.1:{free_port()}"  # listed, but nothing listens there
    tmp: Path = tmp_path_factory.mktemp("webapi")
    with running_stack(tmp, AUTH, env={"TUBEWORKS_DASHBOARD_QUEUES": dead}) as s:
        s.dead_queue = dead  # type: ignore[attr-defined]
        yield s


@pytest.fixture
def tube(stack: Stack) -> Iterator[tuple[Client, str]]:
    """A client on a fresh tube of the stack's queue server."""
    name = "t-" + uuid.uuid4().hex[:8]
    with Client(stack.queue) as c:
        c.use(name)
        c.watch(name)
        yield c, name


def tube_stats(stack: Stack, name: str) -> dict[str, int]:
    return stack.get(f"/api/tube?queue={stack.queue}&tube={name}")["stats"]  # type: ignore[no-any-return]


def test_everything_needs_the_same_auth_as_xmlrpc(stack: Stack) -> None:
    for path in ("/", "/ui/app.js", "/api/state", "/metrics"):
        status, headers, _ = stack.request("GET", path, auth=False)
        assert status == 401, path
        assert headers["WWW-Authenticate"] == 'Basic realm="default"'
    assert stack.rpc().supervisor.getState()["statename"] == "RUNNING"


def test_the_page_and_its_assets_come_from_the_package(stack: Stack) -> None:
    status, headers, body = stack.request("GET", "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="/ui/app.js" defer></script>' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        status, headers, body = stack.request("GET", "/ui/" + name)
        assert (status, headers["Content-Type"].split(";")[0]) == (200, kind)
        assert len(body) > 1000
    status, _, body = stack.request("GET", "/ui/../app.py")
    assert status == 404
    status, _, body = stack.request("GET", "/ui/app.py")
    assert (status, json.loads(body)) == (404, {"error": "no such file 'app.py'"})


def test_state_lists_processes_and_the_queue_servers_it_knows(stack: Stack) -> None:
    state = stack.get("/api/state")
    procs = {p["name"]: p for p in state["processes"]}
    assert set(procs) == {"queue", "echo"}
    echo = procs["echo"]
    assert echo["state"] == "RUNNING"
    assert echo["pid"] > 0 and echo["uptime"] >= 0 and echo["rss"] > 1024 * 1024
    assert echo["logs"] == ["stdout", "stderr"]
    queues = {q["address"]: q for q in state["queues"]}
    assert queues[stack.queue]["source"] == "queue"
    assert queues[stack.queue]["error"] is None
    assert "default" in [t["name"] for t in queues[stack.queue]["tubes"]]
    dead = queues[stack.dead_queue]  # type: ignore[attr-defined]
    assert dead["source"] == "TUBEWORKS_DASHBOARD_QUEUES"
    assert dead["error"].startswith("ConnectFailed: ")


def test_tube_counts_and_the_next_job_of_each_state(stack: Stack, tube: tuple[Client, str]) -> None:
    c, name = tube
    c.put(b'{"to":"a@example.com"}', priority=5)
    c.put(b"\x00\x01\xfe", delay=600)
    c.put(b"<b>buried</b>")
    first = c.reserve(timeout=0)
    c.bury(first)
    c.reserve(timeout=0)  # the binary job is delayed; this reserves the third
    state = stack.get("/api/state")
    row = next(
        t
        for q in state["queues"]
        if q["address"] == stack.queue
        for t in q["tubes"]
        if t["name"] == name
    )
    assert (row["ready"], row["reserved"], row["delayed"], row["buried"]) == (0, 1, 1, 1)
    detail = stack.get(f"/api/tube?queue={stack.queue}&tube={name}")
    assert detail["stats"]["current-jobs-buried"] == 1
    peek = detail["peek"]
    assert peek["ready"] is None
    assert peek["buried"]["id"] == first.id
    assert peek["buried"]["body"] == {
        "kind": "json",
        "text": '{\n  "to": "a@example.com"\n}',
        "size": 22,
        "truncated": False,
    }
    assert peek["delayed"]["body"]["kind"] == "binary"
    assert peek["delayed"]["body"]["text"].startswith("00000000  00 01 fe")
    assert 0 < peek["delayed"]["time_left"] <= 600


def test_unknown_tube_and_unknown_queue(stack: Stack) -> None:
    status, _, body = stack.request("GET", f"/api/tube?queue={stack.queue}&tube=nothere")
    assert (status, json.loads(body)) == (404, {"error": f"no tube 'nothere' on {stack.queue}"})
    status, _, body = stack.request("GET", "/api/tube?queue=10.9.9.9:1&tube=x")
    assert (status, json.loads(body)) == (400, {"error": "unknown queue server '10.9.9.9:1'"})


def test_actions_need_the_custom_header(stack: Stack, tube: tuple[Client, str]) -> None:
    """A cross-site form POST cannot add a header, so it cannot kick or delete anything."""
    c, name = tube
    c.put(b"x")
    c.bury(c.reserve(timeout=0))
    payload = {"queue": stack.queue, "tube": name, "action": "kick", "bound": 1}
    status, _, body = stack.request("POST", "/api/queue", payload)
    assert (status, json.loads(body)) == (403, {"error": "actions need the header x-tubeworks: 1"})
    assert tube_stats(stack, name)["current-jobs-buried"] == 1


def test_kick_delete_pause_and_clear(stack: Stack, tube: tuple[Client, str]) -> None:
    c, name = tube
    ids = [c.put(f"job {i}") for i in range(4)]
    for _ in range(3):
        c.bury(c.reserve(timeout=0))
    assert stack.post(
        "/api/queue", {"queue": stack.queue, "tube": name, "action": "kick", "bound": 2}
    ) == (200, {"kicked": 2})
    assert stack.post(
        "/api/queue", {"queue": stack.queue, "tube": name, "action": "kick-job", "job": ids[2]}
    ) == (200, {"kicked": 1})
    stats = tube_stats(stack, name)
    assert (stats["current-jobs-ready"], stats["current-jobs-buried"]) == (4, 0)
    assert stack.post(
        "/api/queue", {"queue": stack.queue, "tube": name, "action": "delete", "job": ids[0]}
    ) == (200, {"deleted": 1})
    assert (
        stack.post(
            "/api/queue", {"queue": stack.queue, "tube": name, "action": "delete", "job": ids[0]}
        )[0]
        == 404
    )
    assert stack.post(
        "/api/queue", {"queue": stack.queue, "tube": name, "action": "pause", "seconds": 100}
    ) == (200, {"paused": 100})
    assert c.stats_tube(name).pause == 100
    assert stack.post("/api/queue", {"queue": stack.queue, "tube": name, "action": "clear"}) == (
        200,
        {"deleted": 3},
    )
    assert c.stats_tube(name).current_jobs == 0


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"action": "kick"}, "expected a queue address, got None"),
        ({"queue": "Q", "action": "zap"},
         "expected an action in kick, kick-job, delete, pause, clear, got 'zap'"),
        ({"queue": "Q", "action": "kick"}, "kick needs a tube name, got None"),
        ({"queue": "Q", "action": "kick", "tube": "t", "bound": -1},
         "bound: expected an integer in 1..2147483648, got -1"),
        ({"queue": "Q", "action": "delete", "job": "x"},
         "job: expected an integer in 1..9223372036854775808, got 'x'"),
    ],
)  # fmt: skip
def test_bad_queue_actions_say_what_was_expected(
    stack: Stack, payload: dict[str, object], error: str
) -> None:
    if payload.get("queue") == "Q":
        payload["queue"] = stack.queue
    assert stack.post("/api/queue", payload) == (400, {"error": error})


def test_stop_start_and_restart_a_process(stack: Stack) -> None:
    pid = stack.process("echo")["pid"]
    assert stack.post("/api/process", {"name": "echo", "action": "stop"}) == (200, {"ok": True})
    assert stack.process("echo")["state"] == "STOPPED"
    assert stack.post("/api/process", {"name": "echo", "action": "stop"}) == (
        409,
        {"error": "NOT_RUNNING: echo"},
    )
    assert stack.post("/api/process", {"name": "echo", "action": "start"}) == (200, {"ok": True})
    started = stack.wait_state("echo", "RUNNING")
    assert started["pid"] != pid
    assert stack.post("/api/process", {"name": "echo", "action": "restart"}) == (200, {"ok": True})
    restarted = stack.wait_state("echo", "RUNNING")
    assert restarted["pid"] not in (pid, started["pid"])
    assert stack.post("/api/process", {"name": "nope", "action": "start"}) == (
        409,
        {"error": "BAD_NAME: nope"},
    )
    assert stack.post("/api/process", {"name": "echo", "action": "kill"}) == (
        400,
        {"error": "expected an action in start, stop, restart, got 'kill'"},
    )


def test_log_tail_follows_what_the_process_prints(stack: Stack) -> None:
    stack.wait_state("echo", "RUNNING")
    offset = stack.get("/api/log?name=echo&channel=stdout&offset=-1")["offset"]
    token = uuid.uuid4().hex
    stack.rpc().supervisor.sendProcessStdin("echo", f"<i>{token}</i>\n")
    seen = ""

    def grown() -> bool:
        nonlocal offset, seen
        got = stack.get(f"/api/log?name=echo&channel=stdout&offset={offset}")
        assert got["reset"] is False
        seen += got["text"]
        offset = got["offset"]
        return f"echo: <i>{token}</i>\n" in seen

    wait_for(grown, what="the echoed line in the log")
    status, _, body = stack.request("GET", "/api/log?name=nope")
    assert (status, json.loads(body)) == (404, {"error": "no process 'nope'"})


def test_a_queue_server_that_goes_away_shows_an_error_then_comes_back(stack: Stack) -> None:
    """The shared client reconnects: the section recovers when the server is started again."""

    def section() -> dict[str, Any]:
        return next(q for q in stack.get("/api/state")["queues"] if q["address"] == stack.queue)

    assert section()["error"] is None
    assert stack.post("/api/process", {"name": "queue", "action": "stop"}) == (200, {"ok": True})
    assert section()["error"].startswith(("ConnectFailed: ", "ConnectionBroken: "))
    assert stack.post("/api/process", {"name": "queue", "action": "start"}) == (200, {"ok": True})
    wait_for(lambda: section()["error"] is None, what="the queue section to recover")
    assert [t["name"] for t in section()["tubes"]] == ["default"]  # a new, empty server

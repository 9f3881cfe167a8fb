"""The admin subcommands, run in-process through click against real servers (``any_server``)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from servers import BEANSTALKD, RunningServer
from tubeworks.cli import LAZY_COMMANDS, cli
from tubeworks.client import Client, JobSpec, JobState, NotFound

pytestmark = pytest.mark.timeout(60)

ADMIN = ["tubes", "stats", "pause", "top", "put", "peek", "kick", "delete", "clear", "move",
         "export", "import"]  # fmt: skip


@pytest.fixture
def server(any_server: RunningServer) -> str:
    return f"{any_server.host}:{any_server.port}"


@pytest.fixture
def client(any_server: RunningServer) -> Iterator[Client]:
    with Client(*any_server.address) as c:
        yield c


def run(server: str, *args: str, input: bytes | str | None = None) -> Result:
    return CliRunner().invoke(cli, [args[0], "--server", server, *args[1:]], input=input)


def ok(server: str, *args: str, input: bytes | str | None = None) -> str:
    result = run(server, *args, input=input)
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result.stdout


def test_every_admin_command_is_registered_with_an_example() -> None:
    for name in ADMIN:
        assert LAZY_COMMANDS[name].startswith("tubeworks.admin.")
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.stdout and f"tubeworks {name}" in result.stdout
        assert "Exit codes:" in result.stdout


def test_tubes_table_and_json(server: str, client: Client) -> None:
    client.use("mail")
    client.put_many([b"a", b"b"], priority=5)
    client.put(b"later", delay=100)
    client.watch("mail")
    client.bury(client.reserve(0))
    table = ok(server, "tubes").splitlines()
    assert table[0].split()[:6] == ["TUBE", "READY", "URGENT", "RESERVED", "DELAYED", "BURIED"]
    assert table[2].split()[:6] == ["mail", "1", "1", "0", "1", "1"]
    records = {r["name"]: r for r in json.loads(ok(server, "tubes", "--json"))}
    assert set(records) == {"default", "mail"}
    mail = records["mail"]
    assert (mail["current-jobs-ready"], mail["current-jobs-delayed"]) == (1, 1)
    assert (mail["current-jobs-buried"], mail["total-jobs"]) == (1, 3)


def test_stats(server: str, client: Client) -> None:
    job_id = client.put(b"x", priority=3, ttr=9)
    assert json.loads(ok(server, "stats", "--json"))["cmd-put"] == 1
    assert "current-jobs-ready: 1" in ok(server, "stats").replace("  ", "").replace(": ", ": ")
    assert json.loads(ok(server, "stats", "default", "--json"))["current-jobs-ready"] == 1
    job = json.loads(ok(server, "stats", "--job", str(job_id), "--json"))
    assert (job["pri"], job["ttr"], job["state"]) == (3, 9, "ready")
    missing = run(server, "stats", "nosuch")
    assert (missing.exit_code, missing.stderr) == (1, "tubeworks stats: no tube 'nosuch'\n")


def test_put_from_argument_file_stdin_and_lines(server: str, client: Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = int(ok(server, "put", "--tube", "t", "-p", "7", "-d", "50", "--ttr", "11", "hello"))
    stats = client.stats_job(first)
    assert (stats.tube, stats.pri, stats.delay, stats.ttr) == ("t", 7, 50, 11)
    path = tmp_path / "body.bin"
    path.write_bytes(b"\x00\xffbinary")
    from_file = int(ok(server, "put", "-t", "t", "--file", str(path)))
    assert client.peek(from_file).body == b"\x00\xffbinary"
    from_stdin = int(ok(server, "put", "-t", "t", input=b"piped\n"))
    assert client.peek(from_stdin).body == b"piped\n"
    ids = [int(i) for i in ok(server, "put", "-t", "t", "--lines", input="a\n\nb\nc\n").split()]
    assert [client.peek(i).body for i in ids] == [b"a", b"b", b"c"]
    big = run(server, "put", input=b"x" * 70_000)
    assert (big.exit_code, big.stderr) == (
        1,
        "tubeworks put: server replied JOB_TOO_BIG: the body is larger than the server's "
        "max-job-size (beanstalkd -z)\n",
    )
    big_line = run(server, "put", "--lines", input=b"ok\n" + b"x" * 70_000 + b"\n")
    assert big_line.exit_code == 1
    assert big_line.stderr.startswith("tubeworks put: put_many: 1 of 2 items failed: ")
    both = run(server, "put", "x", "--file", str(path))
    assert (both.exit_code, both.stderr) == (2, "tubeworks put: give BODY or --file, not both\n")


def test_peek(server: str, client: Client) -> None:
    client.use("p")
    ready = client.put(b"ready one", priority=1)
    client.put(b"delayed one", delay=100)
    assert ok(server, "peek", str(ready)) == "ready one"
    assert ok(server, "peek", "--ready", "--tube", "p") == "ready one"
    assert ok(server, "peek", "--delayed", "--tube", "p") == "delayed one"
    record = json.loads(ok(server, "peek", "--json", str(ready)))
    assert record == {"id": ready, "tube": "p", "state": "ready", "pri": 1, "ttr": 60,
                      "delay": 0, "body": "ready one"}  # fmt: skip
    none = run(server, "peek", "--buried", "--tube", "p")
    assert (none.exit_code, none.stderr) == (1, "tubeworks peek: no buried job in 'p'\n")
    missing = run(server, "peek", "424242")
    assert (missing.exit_code, missing.stderr) == (1, "tubeworks peek: no job 424242\n")
    neither = run(server, "peek")
    assert neither.exit_code == 2


def test_kick_and_delete(server: str, client: Client) -> None:
    client.use("k")
    client.watch("k")
    ids = client.put_many([b"1", b"2", b"3"])
    for _ in ids:
        client.bury(client.reserve(0))
    assert ok(server, "kick", "--tube", "k") == "kicked 1 jobs\n"
    assert ok(server, "kick", "--all", "--tube", "k") == "kicked 2 jobs\n"
    for _ in ids:
        client.bury(client.reserve(0))
    assert ok(server, "kick", "2", "--tube", "k") == "kicked 2 jobs\n"  # the two oldest
    assert ok(server, "kick", "--job", str(ids[2])) == f"kicked job {ids[2]}\n"
    again = run(server, "kick", "--job", str(ids[2]))
    assert again.exit_code == 1 and "is not buried or delayed" in again.stderr
    result = run(server, "delete", str(ids[0]), str(ids[1]), "999999")
    assert result.stdout == "deleted 2 jobs\n"
    assert (result.exit_code, result.stderr) == (
        1,
        "tubeworks delete: not found or reserved: 999999\n",
    )
    assert client.stats_tube("k").current_jobs == 1


def test_pause(server: str, client: Client) -> None:
    client.put(b"x")
    assert ok(server, "pause", "default", "600") == "paused default for 600s\n"
    assert client.stats_tube("default").pause == 600
    assert ok(server, "pause", "default", "0") == "resumed default\n"
    assert client.reserve(0).body == b"x"
    missing = run(server, "pause", "nosuch", "5")
    assert (missing.exit_code, missing.stderr) == (1, "tubeworks pause: no tube 'nosuch'\n")


def test_top_prints_frames(server: str, client: Client) -> None:
    client.use("busy")
    client.put(b"x")
    out = ok(server, "top", "--iterations", "2", "--interval", "0.05")
    frames = out.split("tubeworks top")
    assert len(frames) == 3  # "" before the first frame, then two frames
    assert all("busy" in f and "PUT/s" in f for f in frames[1:])
    assert ok(server, "top", "--once").count("tubeworks top") == 1


def fill(client: Client, tube: str, ready: int, buried: int = 0, delayed: int = 0) -> None:
    """Put jobs with distinct bodies into ``tube`` in the given states."""
    client.use(tube)
    client.put_many((f"{tube}-r{i}" for i in range(ready)), priority=5)
    client.put_many(JobSpec(f"{tube}-d{i}", priority=6, delay=500) for i in range(delayed))
    if buried:
        other = client.put_many((f"{tube}-b{i}" for i in range(buried)), priority=1)
        done = client.batch([client._reserve_job_call(i) for i in other])
        assert all(j.id for j in done)
        client.batch([client._bury_call(i, 7) for i in other])


def counts(client: Client, tube: str) -> tuple[int, int, int, int]:
    """(ready, reserved, delayed, buried) of ``tube``; a tube that vanished counts as empty."""
    try:
        s = client.stats_tube(tube)
    except NotFound:
        return (0, 0, 0, 0)
    return (s.current_jobs_ready, s.current_jobs_reserved, s.current_jobs_delayed,
            s.current_jobs_buried)  # fmt: skip


def test_clear_large_tube_exactly(server: str, client: Client) -> None:
    fill(client, "big", ready=20_000, buried=1500, delayed=1500)
    fill(client, "keep", ready=10, buried=3)
    assert ok(server, "clear", "big", "--yes") == "deleted 23000 jobs from big\n"
    assert counts(client, "big") == (0, 0, 0, 0)
    assert counts(client, "keep") == (10, 0, 0, 3)


def test_clear_chosen_states_only(server: str, client: Client) -> None:
    fill(client, "mixed", ready=50, buried=40, delayed=30)
    assert (
        ok(server, "clear", "mixed", "--state", "buried,delayed") == "deleted 70 jobs from mixed\n"
    )
    assert counts(client, "mixed") == (50, 0, 0, 0)
    bad = run(server, "clear", "mixed", "--state", "reserved")
    assert bad.exit_code == 2 and "states must be some of ready, delayed, buried" in bad.stderr


def test_clear_paused_tube_and_missing_tube(server: str, client: Client) -> None:
    fill(client, "held", ready=300)
    client.pause_tube("held", 600)
    assert ok(server, "clear", "held") == "deleted 300 jobs from held\n"
    assert ok(server, "clear", "nosuch") == "deleted 0 jobs from nosuch\n"


def test_move_large_tube_exactly(server: str, client: Client) -> None:
    fill(client, "src", ready=20_000)
    assert ok(server, "move", "src", "dst") == "moved 20000 jobs from src to dst\n"
    assert counts(client, "src") == (0, 0, 0, 0)
    assert counts(client, "dst") == (20_000, 0, 0, 0)
    client.use("dst")
    head = client.peek_ready()
    assert client.stats_job(head).pri == 5 and head.body.startswith(b"src-r")


def test_move_keeps_state_priority_and_limit(server: str, client: Client) -> None:
    fill(client, "from", ready=5, buried=4, delayed=3)
    assert ok(server, "move", "from", "to", "--state", "buried", "--state", "delayed") == (
        "moved 7 jobs from from to to\n"
    )
    assert counts(client, "to") == (0, 0, 3, 4)
    client.use("to")
    buried = client.stats_job(client.peek_buried())
    delayed = client.stats_job(client.peek_delayed())
    assert (buried.pri, delayed.pri) == (7, 6)
    assert 0 < delayed.time_left <= 500
    assert ok(server, "move", "from", "to", "--limit", "2") == "moved 2 jobs from from to to\n"
    assert counts(client, "from") == (3, 0, 0, 0)
    same = run(server, "move", "a", "a")
    assert same.exit_code == 2 and "source and target are the same tube 'a'" in same.stderr


def test_export_import_round_trip(server: str, client: Client) -> None:
    fill(client, "orig", ready=30, buried=5, delayed=4)
    client.use("orig")
    client.put(bytes(range(256)))  # not UTF-8: exported as base64
    exported = [json.loads(line) for line in ok(server, "export", "orig").splitlines()]
    assert len(exported) == 40
    assert [r["id"] for r in exported] == sorted(r["id"] for r in exported)
    assert sum(r["state"] == "buried" for r in exported) == 5
    assert any("body_base64" in r for r in exported)
    text = "".join(json.dumps(r) + "\n" for r in exported)
    assert ok(server, "import", "--tube", "copy", input=text) == "imported 40 jobs\n"
    assert counts(client, "copy") == (31, 0, 4, 5)
    copied = [json.loads(line) for line in ok(server, "export", "copy").splitlines()]

    def key(r: dict[str, object]) -> tuple[object, ...]:
        return (r["state"], r["pri"], r["ttr"], r.get("body"), r.get("body_base64"))

    assert sorted(map(key, copied)) == sorted(map(key, exported))
    only_buried = ok(server, "export", "orig", "--state", "buried").splitlines()
    assert len(only_buried) == 5
    later = exported[20]["id"]
    newer = ok(server, "export", "orig", "--from-id", str(later)).splitlines()
    assert [json.loads(line)["id"] for line in newer] == [r["id"] for r in exported[20:]]
    assert counts(client, "orig") == (31, 0, 4, 5)  # export changed nothing


def test_import_rejects_bad_lines(server: str, client: Client) -> None:
    result = run(server, "import", input='{"body": "ok"}\nnot json\n')
    assert result.exit_code == 2
    assert result.stderr.startswith("tubeworks import: line 2: not JSON: ")
    result = run(server, "import", input='{"nobody": 1}\n')
    assert result.stderr == (
        "tubeworks import: line 1: expected 'body' or 'body_base64' in every record "
        "(jobs before this batch were imported)\n"
    )
    assert client.stats().cmd_put == 0


def test_job_state_enum_round_trip() -> None:
    assert JobState("buried") is JobState.BURIED


def test_unix_socket_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "q.sock"
    proc = subprocess.Popen([BEANSTALKD, "-l", f"unix:{path}"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while run(f"unix:{path}", "tubes").exit_code != 0:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        job_id = ok(f"unix:{path}", "put", "over unix").strip()
        assert ok(f"unix:{path}", "peek", job_id) == "over unix"
    finally:
        proc.terminate()
        proc.wait(10)

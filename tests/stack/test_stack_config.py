"""The ``up`` config: our sections become supervisor programs; errors name file:line."""

from __future__ import annotations

import shlex
import sys

import pytest

from tubeworks.stack.config import parse_stack
from tubeworks.supervisor.config import ConfigError


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_stack(text, "/srv/app/stack.ini", {"HOME": "/root"}, cwd="/cwd")


def test_defaults_without_a_file_run_only_the_queue_under_cwd_var() -> None:
    stack = parse_stack("", "", {}, cwd="/cwd")
    assert stack.var_dir == "/cwd/var"
    assert stack.queue.address == "127.0.0.1:11300"
    assert stack.queue.binlog_dir == "/cwd/var/queue"
    assert [g.name for g in stack.supervisor.groups] == ["queue"]
    queue = stack.supervisor.groups[0].processes[0]
    assert shlex.split(queue.command) == [
        sys.executable, "-m", "tubeworks", "queue", "-l", "127.0.0.1", "-p", "11300",
        "-b", "/cwd/var/queue",
    ]
    assert stack.supervisor.supervisord.nodaemon
    assert stack.supervisor.supervisord.childlogdir == "/cwd/var/log"
    assert stack.control_socket == "/cwd/var/up.sock"
    assert stack.supervisor.warnings == ()


def test_a_pool_becomes_a_program_of_max_processes_started_by_up() -> None:
    stack = parse(
        "[up]\nvar_dir = %(here)s/state\n[queue]\nport = 12000\nargs = -z 1000\n"
        "[pool:mail]\napp = mailer:app\ntubes = mail, bulk\nconcurrency = 4\nautoscale = mail\n"
        "min = 2\nmax = 6\ntarget = 25\ncooldown = 3\nstopsignal = INT\n"
    )
    assert stack.var_dir == "/srv/app/state"
    (pool,) = stack.pools
    assert (pool.min, pool.max, pool.initial, pool.target, pool.cooldown) == (2, 6, 2, 25, 3.0)
    assert pool.autoscale == ("mail",)
    group = stack.supervisor.group("mail")
    assert group is not None and group.priority == 100
    names = [p.name for p in group.processes]
    assert names == [f"mail_{n:02d}" for n in range(6)]
    proc = group.processes[0]
    assert not proc.autostart
    assert proc.directory == "/srv/app"
    assert proc.stopsignal == 2
    assert ("TUBEWORKS_SERVER", "127.0.0.1:12000") in proc.environment
    assert shlex.split(proc.command)[3:] == [
        "worker", "mailer:app", "--address", "127.0.0.1:12000", "--tubes", "mail,bulk",
        "--concurrency", "4", "--grace", "30.0",
    ]
    queue = stack.supervisor.group("queue")
    assert queue is not None and shlex.split(queue.processes[0].command)[-2:] == ["-z", "1000"]


def test_plain_programs_pass_through_and_unknown_keys_warn_with_a_suggestion() -> None:
    stack = parse("[program:web]\ncommand = /bin/true\n[pool:p]\napp = m:app\ntube = x\n")
    assert stack.supervisor.group("web") is not None
    assert stack.supervisor.warnings == (
        "/srv/app/stack.ini:5: [pool:p] unknown key 'tube' (did you mean 'tubes'?)",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pool:p]\napp = nocolon\n", "/srv/app/stack.ini:2: [pool:p] app: expected "
         "MODULE:ATTRIBUTE of a tubeworks App, got 'nocolon'"),
        ("[pool:p]\napp = m:a\nmax = 3\n", "/srv/app/stack.ini:3: [pool:p] max: only means "
         "something with autoscale = TUBE[,TUBE...]"),
        ("[pool:p]\napp = m:a\ncommand = x\n", "/srv/app/stack.ini:3: [pool:p] command: is set "
         "by tubeworks up for [pool:x]; use a [program:x] to set command"),
        ("[queue]\nport = 0\n", "/srv/app/stack.ini:2: [queue] port: "),
        ("[pool:p]\napp = m:a\nautoscale = t\ncooldown = soon\n", "/srv/app/stack.ini:4: "
         "[pool:p] cooldown: expected a number of seconds, got 'soon'"),
    ],
)
def test_bad_values_name_file_line_section_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert str(info.value).startswith(message)


def test_a_var_dir_too_deep_for_a_unix_socket_puts_the_control_socket_in_tmp() -> None:
    deep = "/d" * 60
    stack = parse_stack(f"[up]\nvar_dir = {deep}\n", "/srv/stack.ini", {}, tmpdir="/tmpx")
    assert stack.var_dir == deep
    assert stack.control_socket.startswith("/tmpx/tubeworks-up-")
    assert stack.supervisor.unix_http_server is not None
    assert stack.supervisor.unix_http_server.path == stack.control_socket

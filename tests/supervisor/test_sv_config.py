"""Config parsing: INI dialect, expansions, defaults, errors with file:line, warnings."""

from __future__ import annotations

import signal

import pytest

from tubeworks.supervisor.config import AUTO, ConfigError, parse_config
from tubeworks.supervisor.datatypes import Autorestart, environment
from tubeworks.supervisor.ini import strip_inline_comment


def parse(text: str, env: dict[str, str] | None = None, includes: dict[str, str] | None = None):
    def load(pattern: str, base: str) -> list[tuple[str, str]]:
        import fnmatch

        return sorted(
            (f"{base}/{name}", body)
            for name, body in (includes or {}).items()
            if fnmatch.fnmatch(name, pattern)
        )

    return parse_config(text, "/etc/sv/s.conf", env or {}, load, host_node_name="node1", cwd="/cwd")


def test_program_defaults_match_supervisord() -> None:
    cfg = parse("[program:web]\ncommand=/bin/cat\n")
    (group,) = cfg.groups
    (p,) = group.processes
    assert (group.name, group.priority, p.name, p.group) == ("web", 999, "web", "web")
    assert p.autostart is True and p.autorestart == Autorestart.UNEXPECTED
    assert (p.startsecs, p.startretries, p.exitcodes) == (1, 3, (0,))
    assert (p.stopsignal, p.stopwaitsecs, p.stopasgroup, p.killasgroup) == (
        signal.SIGTERM,
        10,
        False,
        False,
    )
    assert (
        p.stdout.logfile == AUTO
        and p.stdout.maxbytes == 50 * 1024 * 1024
        and p.stdout.backups == 10
    )
    assert p.redirect_stderr is False and p.umask is None and p.directory is None
    assert (
        cfg.supervisord.logfile == "/cwd/supervisord.log"
        and cfg.supervisord.identifier == "supervisor"
    )


def test_numprocs_and_expansions() -> None:
    cfg = parse(
        '[supervisord]\nenvironment=SHARED="x,y"\n'
        "[program:expand]\ncommand=/bin/echo %(ENV_HOME)s %(here)s %(host_node_name)s\n"
        "numprocs=2\nnumprocs_start=5\nprocess_name=%(program_name)s_%(process_num)02d\n"
        'environment=N=%(process_num)d,S="%(ENV_SHARED)s"\n'
        "stdout_logfile=/logs/%(group_name)s-%(ENV_N)s.log\n",
        env={"HOME": "/root"},
    )
    names = [p.name for p in cfg.groups[0].processes]
    assert names == ["expand_05", "expand_06"]
    p = cfg.groups[0].processes[1]
    assert p.command == "/bin/echo /root /etc/sv node1"
    assert p.environment == (("N", "6"), ("S", "x,y"))
    assert p.stdout.logfile == "/logs/expand-6.log"


def test_group_collects_programs_and_priority_orders_groups() -> None:
    cfg = parse(
        "[group:grp]\nprograms=a,b\npriority=5\n[program:a]\ncommand=/bin/a\n"
        "[program:b]\ncommand=/bin/b\n[program:c]\ncommand=/bin/c\npriority=1\n"
    )
    assert [(g.name, g.priority) for g in cfg.groups] == [("c", 1), ("grp", 5)]
    assert [(p.group, p.name) for p in cfg.groups[1].processes] == [("grp", "a"), ("grp", "b")]


def test_inline_comments_follow_supervisord_except_quoted_command() -> None:
    cfg = parse("[program:a]\ncommand=bash -c 'echo a ; echo b' ; trailing\nuser=bob ;x\n")
    p = cfg.groups[0].processes[0]
    assert p.command == "bash -c 'echo a ; echo b'"
    assert p.user == "bob"
    assert strip_inline_comment("a;b ;c") == "a;b"


def test_percent_escape_and_continuation_lines() -> None:
    cfg = parse("[program:a]\ncommand=/bin/echo 100%%\n  more\n")
    assert cfg.groups[0].processes[0].command == "/bin/echo 100%\nmore"


def test_includes_are_read_in_sorted_order_with_their_own_here() -> None:
    cfg = parse(
        "[include]\nfiles=conf.d/*.ini\n",
        includes={
            "conf.d/b.ini": "[program:b]\ncommand=%(here)s/b\n",
            "conf.d/a.ini": "[program:a]\ncommand=/a\n",
        },
    )
    assert sorted(g.name for g in cfg.groups) == ["a", "b"]
    assert cfg.group("b").processes[0].command == "/etc/sv/conf.d/b"  # type: ignore[union-attr]
    assert cfg.files[1:] == ("/etc/sv/conf.d/a.ini", "/etc/sv/conf.d/b.ini")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[program:a]\ncommand=/x\nstartsecs=ten\n",
            r"^/etc/sv/s.conf:3: \[program:a\] startsecs: expected an integer, got 'ten'$",
        ),
        (
            "[program:a]\ncommand=/x\nautorestart=sometimes\n",
            r"^/etc/sv/s.conf:3: \[program:a\] autorestart: expected false, unexpected or true, got 'sometimes'$",  # noqa: E501
        ),
        (
            "[program:a]\nnumprocs=2\n",
            r"^/etc/sv/s.conf:1: \[program:a\] does not specify a command$",
        ),
        (
            "[program:a]\ncommand=/x\nnumprocs=2\n",
            r"^/etc/sv/s.conf:1: \[program:a\] process_name: must contain %\(process_num\) when numprocs > 1$",  # noqa: E501
        ),
        (
            "[program:a]\ncommand=/x %(ENV_NOPE)s\n",
            r"^/etc/sv/s.conf:2: \[program:a\] command: '/x %\(ENV_NOPE\)s' uses %\(ENV_NOPE\)s which is not defined",  # noqa: E501
        ),
        (
            "[program:a]\ncommand=/x\nexitcodes=0,256\n",
            r"^/etc/sv/s.conf:3: \[program:a\] exitcodes: expected a comma list of exit codes 0..255, got '0,256'$",  # noqa: E501
        ),
        (
            "[program:a]\ncommand=/x\nstopasgroup=true\nkillasgroup=false\n",
            r"^/etc/sv/s.conf:4: \[program:a\] killasgroup: cannot be false when stopasgroup=true$",
        ),
        (
            "[group:g]\nprograms=zzz\n",
            r"^/etc/sv/s.conf:2: \[group:g\] programs: names unknown program 'zzz'$",
        ),
        (
            "[program:a:b]\ncommand=/x\n",
            r"^/etc/sv/s.conf:1: \[program:a:b\] invalid name 'a:b': it may not contain ':'$",
        ),
        (
            "[program:a]\ncommand=/x\nstopsignal=FOO\n",
            r"^/etc/sv/s.conf:3: \[program:a\] stopsignal: expected a signal name like TERM or a number, got 'FOO'$",  # noqa: E501
        ),
        (
            "[eventlistener:e]\ncommand=/x\nevents=TICK_7\n",
            r"^/etc/sv/s.conf:3: \[eventlistener:e\] events: unknown event type 'TICK_7' \(did you mean 'TICK_5'\?\)$",  # noqa: E501
        ),
        (
            "[eventlistener:e]\ncommand=/x\nevents=TICK_5\nredirect_stderr=true\n",
            r"redirect_stderr: eventlisteners may not set redirect_stderr=true$",
        ),
        ("key=1\n", r"^/etc/sv/s.conf:1: key 'key' appears before any \[section\]$"),
        (
            "[inet_http_server]\nport=:9001\nusername=u\n",
            r"^/etc/sv/s.conf:1: \[inet_http_server\] password: password is required",
        ),
    ],
)
def test_errors_name_file_line_section_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_unknown_keys_and_sections_warn_with_closest_match() -> None:
    cfg = parse("[program:a]\ncommand=/x\nautorestrat=true\n[supervisorctrl]\nx=1\n")
    assert cfg.warnings == (
        "/etc/sv/s.conf:3: [program:a] unknown key 'autorestrat' (did you mean 'autorestart'?)",
        "/etc/sv/s.conf:4: unknown section [supervisorctrl] (did you mean 'supervisorctl'?)",
    )


def test_duplicate_sections_merge_and_last_key_wins() -> None:
    cfg = parse("[program:a]\ncommand=/one\n[program:a]\ncommand=/two\npriority=3\n")
    assert cfg.groups[0].processes[0].command == "/two"
    assert cfg.groups[0].priority == 3


def test_environment_quoting() -> None:
    assert environment("A=1,B=\"x,y\",C='q'") == (("A", "1"), ("B", "x,y"), ("C", "q"))


def test_equal_configs_compare_equal_regardless_of_location() -> None:
    a = parse("[program:a]\ncommand=/x\n").groups
    b = parse("\n\n[program:a]\n\ncommand=/x\n").groups
    assert a == b
    c = parse("[program:a]\ncommand=/y\n").groups
    assert a != c


def test_servers_and_ctl_sections() -> None:
    cfg = parse(
        "[unix_http_server]\nfile=%(here)s/sv.sock\n[inet_http_server]\nport=127.0.0.1:9002\n"
        "username=u\npassword=p\n[supervisorctl]\nserverurl=unix://%(here)s/sv.sock\n"
    )
    assert cfg.unix_http_server and cfg.unix_http_server.path == "/etc/sv/sv.sock"
    assert cfg.inet_http_server and (cfg.inet_http_server.host, cfg.inet_http_server.port) == (
        "127.0.0.1",
        9002,
    )
    assert cfg.supervisorctl and cfg.supervisorctl.serverurl == "unix:///etc/sv/sv.sock"


def test_fcgi_program_socket() -> None:
    cfg = parse(
        "[fcgi-program:web]\ncommand=/x\nsocket=unix://%(here)s/%(program_name)s.sock\n"
        "socket_mode=0660\nsocket_backlog=8\n"
    )
    fcgi = cfg.groups[0].processes[0].fcgi
    assert fcgi is not None
    assert (fcgi.url, fcgi.mode, fcgi.backlog) == ("unix:///etc/sv/web.sock", 0o660, 8)
    with pytest.raises(
        ConfigError,
        match=r"^/etc/sv/s.conf:3: \[fcgi-program:web\] socket: "
        r"expected tcp://host:port or unix:///path, got 'http://x'$",
    ):
        parse("[fcgi-program:web]\ncommand=/x\nsocket=http://x\n")
    with pytest.raises(ConfigError, match=r"socket_mode: only applies to unix:// sockets$"):
        parse("[fcgi-program:web]\ncommand=/x\nsocket=tcp://127.0.0.1:9\nsocket_mode=0600\n")


def test_syslog_destinations() -> None:
    from tubeworks.supervisor.logs import syslog_lines

    cfg = parse("[supervisord]\nlogfile=syslog\n[program:a]\ncommand=/x\nstdout_logfile=syslog\n")
    assert cfg.supervisord.logfile == "syslog"
    p = cfg.groups[0].processes[0]
    assert (p.stdout.logfile, p.stdout.syslog) == (None, True)  # deprecated spelling
    assert syslog_lines("web", b"one\ntwo\n") == ["web one", "web two"]


def test_unsupported_plugins_are_reported() -> None:
    cfg = parse(
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        "[rpcinterface:extra]\nsupervisor.rpcinterface_factory = pkg.mod:make\n"
        "[ctlplugin:x]\nsupervisor.ctl_factory = pkg.mod:ctl\n"
    )
    assert cfg.warnings == (
        "/etc/sv/s.conf:4: [rpcinterface:extra] rpcinterface factories are not supported; "
        "only the standard supervisor.* interface is served",
        "/etc/sv/s.conf:5: [ctlplugin:x] ctlplugins are not supported; ignored",
    )


def test_log_directories_must_exist() -> None:
    from tubeworks.supervisor.config import check_paths

    cfg = parse("[group:g]\nprograms=a\n[program:a]\ncommand=/x\nstdout_logfile=/no/such/a.log\n")
    with pytest.raises(
        ConfigError,
        match=r"^/etc/sv/s.conf:5: \[program:a\] stdout_logfile: "
        r"the directory of '/no/such/a.log' does not exist$",
    ):
        check_paths(cfg, lambda path: path != "/no/such")
    check_paths(cfg, lambda path: True)  # all fine when the directories exist

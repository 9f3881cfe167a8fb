"""reread / update / add / remove / reload, compared with the real supervisord."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from svharness import HEADER, normalize, running_daemon, wait_for, write_config

BEFORE = """\
[program:steady]
command=sleep 1000
startsecs=0

[program:sleeper]
command=sleep 1000
startsecs=0

[program:badexit]
command=sh -c "exit 5"
startsecs=0
autorestart=false

[program:multi]
command=sleep 1000
numprocs=2
process_name=%(program_name)s_%(process_num)02d
startsecs=0

[group:grp]
programs=g1

[program:g1]
command=sleep 1000
startsecs=0
"""

AFTER = """\
[program:steady]
command=sleep 1000
startsecs=0

[program:sleeper]
command=sleep 1001
startsecs=0

[program:multi]
command=sleep 1000
numprocs=3
process_name=%(program_name)s_%(process_num)02d
startsecs=0

[group:grp]
programs=g1
priority=5

[program:g1]
command=sleep 1000
startsecs=0

[program:newprog]
command=sleep 1000
startsecs=0
"""

COMMANDS = [
    ("reread",),
    ("avail",),
    ("update",),
    ("reread",),
    ("status",),
    ("remove", "newprog"),
    ("stop", "newprog"),
    ("remove", "newprog"),
    ("remove", "newprog"),
    ("add", "newprog"),
    ("add", "newprog"),
    ("add", "nosuch"),
    ("update", "nosuch"),
    ("status",),
]


def transcript(
    kind: str, tmp_path: Path
) -> tuple[list[tuple[tuple[str, ...], int, str]], dict[str, int]]:
    conf = write_config(tmp_path, BEFORE)
    out = []
    with running_daemon(kind, conf) as d:
        d.wait_state("badexit", "EXITED")
        d.wait_settled()
        assert d.ctl("stop", "grp:*")[0] == 0  # stopped by hand; update brings it back
        pids = {name: i["pid"] for name, i in d.info().items()}
        conf.write_text(HEADER + "\n" + AFTER)
        for cmd in COMMANDS:
            if cmd[0] == "status":
                d.wait_settled()
            rc, text = d.ctl(*cmd)
            text = normalize(text)
            if cmd[0] in ("update", "status"):
                text = "\n".join(sorted(text.splitlines()))
            out.append((cmd, rc, text))
        after = {name: i["pid"] for name, i in d.info().items()}
    return out, {name: after[name] for name in after if pids.get(name) == after[name]}


@pytest.mark.timeout(90)
def test_reread_update_add_remove_match_real_supervisord(tmp_path: Path) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "real").mkdir()
    with ThreadPoolExecutor(2) as pool:
        ours_f = pool.submit(transcript, "tubeworks", tmp_path / "ours")
        theirs_f = pool.submit(transcript, "supervisord", tmp_path / "real")
        (ours, ours_kept), (theirs, theirs_kept) = ours_f.result(), theirs_f.result()
    assert ours[0][2].splitlines() == [
        "badexit: disappeared",
        "grp: changed",
        "multi: changed",
        "newprog: available",
        "sleeper: changed",
    ]
    for mine, real in zip(ours, theirs, strict=True):
        assert mine == real
    assert set(ours_kept) == set(theirs_kept) == {"steady"}  # unchanged keeps its pid


@pytest.mark.timeout(60)
def test_reread_reports_config_errors_as_cant_reread(tmp_path: Path) -> None:
    conf = write_config(tmp_path, BEFORE)
    with running_daemon("tubeworks", conf) as d:
        conf.write_text(HEADER + "\n[program:x]\ncommand=/bin/true\nstartsecs=soon\n")
        rc, out = d.ctl("reread")
        assert rc == 1, out
        assert out.startswith("ERROR: CANT_REREAD: "), out
        assert "[program:x] startsecs: expected an integer, got 'soon'" in out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["ctl", "sighup"])
def test_reload_keeps_unchanged_processes_running(tmp_path: Path, how: str) -> None:
    conf = write_config(tmp_path, BEFORE)
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("badexit", "EXITED")
        before = {name: i["pid"] for name, i in d.wait_settled().items()}
        conf.write_text(HEADER + "\n" + AFTER)
        if how == "ctl":
            assert d.ctl("reload") == (0, "Restarted supervisord\n")
        else:
            d.proc.send_signal(1)
        wait_for(lambda: "newprog" in d.info() and d.info()["newprog"]["statename"] == "RUNNING")
        after = d.wait_settled()
        assert after["steady"]["pid"] == before["steady"]  # unchanged: same process
        assert after["sleeper"]["pid"] != before["sleeper"]  # changed: restarted
        assert "badexit" not in after
        assert sorted(n for n in after if n.startswith("multi:")) == [
            "multi:multi_00",
            "multi:multi_01",
            "multi:multi_02",
        ]
        # inside changed groups, processes whose own settings did not change keep running
        for name in ("multi:multi_00", "multi:multi_01", "grp:g1"):
            assert after[name]["pid"] == before[name], name
        assert after["multi:multi_02"]["statename"] == "RUNNING"
        assert d.rpc().supervisor.getState()["statename"] == "RUNNING"
        if how == "sighup":
            assert "WARN received SIGHUP indicating restart request" in d.activity_log()


@pytest.mark.timeout(60)
def test_reload_with_a_broken_config_keeps_running(tmp_path: Path) -> None:
    conf = write_config(tmp_path, BEFORE)
    with running_daemon("tubeworks", conf) as d:
        pid = d.wait_state("steady", "RUNNING")["pid"]
        conf.write_text(HEADER + "\n[program:x]\ncommand=/bin/true\nnumprocs=two\n")
        assert d.ctl("reload") == (0, "Restarted supervisord\n")
        d.wait_log("could not reload the configuration")
        assert "[program:x] numprocs: expected an integer, got 'two'" in d.activity_log()
        assert d.rpc().supervisor.getProcessInfo("steady")["pid"] == pid


@pytest.mark.timeout(60)
def test_reload_applies_changed_servers_and_activity_log(tmp_path: Path) -> None:
    import xmlrpc.client

    from servers import free_port

    conf = write_config(tmp_path, BEFORE)
    port = free_port()
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("steady", "RUNNING")
        header = HEADER.replace("supervisord.log", "second.log")
        header += f"\n[inet_http_server]\nport=127.0.0.1:{port}\n"
        conf.write_text(header + "\n" + AFTER)
        assert d.ctl("reload") == (0, "Restarted supervisord\n")
        tcp = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2")
        wait_for(lambda: tcp.supervisor.getProcessInfo("newprog")["statename"] == "RUNNING")
        assert "spawned: 'newprog'" in (tmp_path / "second.log").read_text()
        assert "spawned: 'newprog'" not in (tmp_path / "supervisord.log").read_text()
        assert d.rpc().supervisor.getState()["statename"] == "RUNNING"  # unix socket too

"""Differential at the XML-RPC level: method names, struct keys and order, fault strings."""

from __future__ import annotations

import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from svharness import running_daemon, write_config

PROGRAMS = """\
[program:sleeper]
command=sleep 1000
startsecs=0
stopsignal=INT

[program:noauto]
command=sleep 1000
autostart=false
priority=5
stdout_logfile=NONE
"""

CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("supervisor.getAPIVersion", ()),
    ("supervisor.getState", ()),
    ("supervisor.getIdentification", ()),
    ("supervisor.getProcessInfo", ("nosuch",)),
    ("supervisor.getProcessInfo", ("sleeper:nosuch",)),
    ("supervisor.startProcess", ("sleeper",)),
    ("supervisor.stopProcess", ("noauto",)),
    ("supervisor.signalProcess", ("sleeper", "NOPE")),
    ("supervisor.readProcessStdoutLog", ("noauto", 0, 10)),
    ("supervisor.readLog", (-5, 5)),
    ("supervisor.tailProcessStdoutLog", ("noauto", 0, 10)),
    ("supervisor.removeProcessGroup", ("sleeper",)),
    ("supervisor.addProcessGroup", ("sleeper",)),
    ("supervisor.addProcessGroup", ("nosuch",)),
    ("supervisor.nosuchMethod", ()),
    ("system.methodSignature", ("supervisor.startProcess",)),
    ("system.methodSignature", ("supervisor.tailProcessStdoutLog",)),
    ("system.methodSignature", ("supervisor.getAllProcessInfo",)),
    ("system.methodSignature", ("system.multicall",)),
    ("system.methodSignature", ("supervisor.signalProcessGroup",)),
    ("system.methodSignature", ("supervisor.readLog",)),
    ("system.methodHelp", ("nosuch.method",)),
]


def probe(kind: str, tmp_path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with running_daemon(kind, write_config(tmp_path, PROGRAMS)) as d:
        d.wait_state("sleeper", "RUNNING")
        proxy = d.rpc()
        out["methods"] = proxy.system.listMethods()
        out["signatures"] = {m: proxy.system.methodSignature(m) for m in out["methods"]}
        info = proxy.supervisor.getProcessInfo("sleeper")
        out["info_keys"] = list(info)
        out["info_types"] = {k: type(v).__name__ for k, v in info.items()}
        config = proxy.supervisor.getAllConfigInfo()
        out["config_keys"] = [list(c) for c in config]
        for c in config:
            for key in ("stdout_logfile", "stderr_logfile"):
                c[key] = "auto" if c[key] != "none" else "none"
        out["config"] = config
        for name, params in CALLS:
            try:
                out[f"{name}{params}"] = getattr(proxy, name)(*params)
            except xmlrpc.client.Fault as fault:
                out[f"{name}{params}"] = (fault.faultCode, fault.faultString)
    return out


@pytest.mark.timeout(60)
def test_xmlrpc_surface_matches_real_supervisord(tmp_path: Path) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "real").mkdir()
    with ThreadPoolExecutor(2) as pool:
        ours_f = pool.submit(probe, "tubeworks", tmp_path / "ours")
        theirs_f = pool.submit(probe, "supervisord", tmp_path / "real")
        ours, theirs = ours_f.result(), theirs_f.result()
    assert len(ours["methods"]) == 41
    assert ours["supervisor.getProcessInfo('nosuch',)"] == (10, "BAD_NAME: nosuch")
    assert set(ours) == set(theirs)
    for key in ours:
        assert (key, ours[key]) == (key, theirs[key])

"""Beyond supervisord: ``depends_on=`` starts a program only after its dependencies are
RUNNING (ready after ``startsecs``); cycles and unknown names are config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from svharness import running_daemon, write_config

from tubeworks.supervisor.config import ConfigError, parse_config
from tubeworks.supervisor.deps import find_cycle


def test_find_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"x"}}) == ["x", "x"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[program:a]\ncommand=/bin/x\ndepends_on=b\n[program:b]\ncommand=/bin/x\n"
            "depends_on=a\n",
            "depends_on cycle: a -> b -> a",
        ),
        (
            "[program:a]\ncommand=/bin/x\ndepends_on=b, nope\n[program:b]\ncommand=/bin/x\n",
            "s.conf:3: [program:a] depends_on: names unknown program 'nope'",
        ),
    ],
)
def test_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "s.conf", {})
    assert str(err.value) == message


@pytest.mark.timeout(60)
def test_chain_starts_in_order_only_after_readiness(tmp_path: Path) -> None:
    programs = (  # priorities alone would start web first
        "[program:web]\ncommand=sleep 1000\nstartsecs=0\npriority=1\ndepends_on=app\n"
        "[program:app]\ncommand=sleep 1000\nstartsecs=1\npriority=2\ndepends_on=db\n"
        "[program:db]\ncommand=sleep 1000\nstartsecs=1\npriority=3\n"
        "[program:free]\ncommand=sleep 1000\nstartsecs=0\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        d.wait_state("web", "RUNNING")
        log = d.activity_log()
        order = [
            log.index(line)
            for line in (
                "success: db entered RUNNING",
                "spawned: 'app'",
                "success: app entered RUNNING",
                "spawned: 'web'",
            )
        ]
        assert order == sorted(order)
        assert "waiting: web for app (depends_on)" in log
        assert "waiting: app for db (depends_on)" in log
        assert d.info()["free"]["statename"] == "RUNNING"

"""Beyond supervisord: ``memory_limit=`` restarts a process tree that grows past it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from svharness import running_daemon, wait_for, write_config

from tubeworks.supervisor.memwatch import group_rss, parse_stat

GROW = (
    "import time\n"
    "hoard = []\n"
    "for _ in range(300):\n"
    "    hoard.append(bytearray(1 << 20)); time.sleep(0.01)\n"
    "time.sleep(1000)\n"
)


def test_group_rss_sums_the_process_group() -> None:
    stat = "{pid} (a b) S 1 {pgid} {pgid} 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 100 {rss} x"
    lines = [
        stat.format(pid=10, pgid=10, rss=100),
        stat.format(pid=11, pgid=10, rss=50),
        stat.format(pid=12, pgid=12, rss=999),
        "garbage",
    ]
    assert parse_stat(lines[1]) == (10, 50)
    assert group_rss(lines, 10, page=4096) == 150 * 4096


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.timeout(60)
def test_memory_limit_recycles_a_growing_child_tree(tmp_path: Path) -> None:
    (tmp_path / "grow.py").write_text(GROW)
    programs = (
        # sh stays the parent: the memory is in its child, counted through the group
        f"[program:leaky]\ncommand=sh -c '{sys.executable} {tmp_path}/grow.py; true'\n"
        "startsecs=0\nmemory_limit=80MB\n"
        "[program:steady]\ncommand=sleep 1000\nstartsecs=0\nmemory_limit=80MB\n"
    )
    conf = write_config(tmp_path, programs)
    with running_daemon("tubeworks", conf) as d:
        first = d.wait_state("leaky", "RUNNING")["pid"]
        steady = d.wait_state("steady", "RUNNING")["pid"]
        d.wait_log("recycling: leaky uses ", timeout=30)
        wait_for(
            lambda: (i := d.info()["leaky"])["statename"] == "RUNNING" and i["pid"] != first,
            what="leaky running again with a new pid",
        )
        assert "memory_limit=83886080" in d.activity_log()
        assert d.info()["steady"]["pid"] == steady
        assert "recycling: steady" not in d.activity_log()

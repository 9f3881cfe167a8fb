"""Beyond supervisord: rolling restarts (``ctl roll``), and numprocs changes by ``reload``
that start or stop only the difference."""

from __future__ import annotations

from pathlib import Path

import pytest
from svharness import running_daemon, wait_for, write_config


def _web(numprocs: int) -> str:
    return (
        f"[program:web]\ncommand=sleep 1000\nnumprocs={numprocs}\nstartsecs=1\n"
        "process_name=%(program_name)s_%(process_num)d\n"
        "[program:other]\ncommand=sleep 1000\nstartsecs=0\n"
    )


def _pids(d: object) -> dict[str, int]:
    return {name: info["pid"] for name, info in d.info().items()}  # type: ignore[attr-defined]


@pytest.mark.timeout(90)
def test_roll_restarts_one_at_a_time_and_reload_scales_only_the_difference(
    tmp_path: Path,
) -> None:
    conf = write_config(tmp_path, _web(3))
    with running_daemon("tubeworks", conf, client="tubeworks") as d:
        for n in range(3):
            d.wait_state(f"web:web_{n}", "RUNNING")
        d.wait_state("other", "RUNNING")
        before = _pids(d)
        rc, out = d.ctl("roll", "web")
        assert (rc, out) == (0, "".join(f"web:web_{n}: restarted\n" for n in range(3)))
        after = _pids(d)
        assert all(after[f"web:web_{n}"] not in (0, before[f"web:web_{n}"]) for n in range(3))
        assert after["other"] == before["other"]
        log = d.activity_log()
        log = log[log.index("stopped: web_0") :]
        order = [
            log.index(line)
            for n in range(3)
            for line in (f"stopped: web_{n}", f"success: web_{n} entered RUNNING")
        ]
        assert order == sorted(order)  # each back up before the next goes down
        rc, out = d.ctl("roll", "nosuch")
        assert (rc, out) == (7, "roll: no such process: nosuch\n")

        # numprocs changed by reload (SIGHUP): only the difference starts or stops
        write_config(tmp_path, _web(5))
        assert d.ctl("reload")[0] == 0
        for n in (3, 4):
            d.wait_state(f"web:web_{n}", "RUNNING")
        grown = _pids(d)
        assert {k: grown[k] for k in after} == after  # untouched processes keep their pid
        write_config(tmp_path, _web(1))
        assert d.ctl("reload")[0] == 0
        shrunk = wait_for(lambda: len(p := _pids(d)) == 2 and p, what="scale down")
        assert shrunk == {"web:web_0": after["web:web_0"], "other": after["other"]}

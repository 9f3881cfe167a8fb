"""Side-by-side timings of our supervisor and the real supervisord on the same config.

    python -m tubeworks.supervisor.bench [--procs 50] [--rounds 10] [--real PATH]

Measures, for each daemon: start-up until every program is RUNNING, how long a child's exit
takes to show in ``getProcessInfo``, XML-RPC calls per second (``getAllProcessInfo``), and
shutdown time with ten groups.  Times include the 5 ms polling of the measuring client.
The real supervisord is found next to this Python (pip-installed supervisor), or given
with ``--real``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tubeworks.supervisor.client import Transport

POLL = 0.005  # seconds between status polls of the measuring client

HEADER = """\
[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s
nodaemon=true
[unix_http_server]
file=%(here)s/sv.sock
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""


def config(procs: int) -> str:
    programs = [
        f"[program:p{i}]\ncommand=sleep 1000\nstartsecs=0\nstdout_logfile=NONE\n"
        f"stderr_logfile=NONE\npriority={i % 10}\n"
        for i in range(procs)
    ]
    trigger = "[program:trigger]\ncommand=sh -c 'read x; exit 1'\nstartsecs=0\nautorestart=false\n"
    return HEADER + "".join(programs) + trigger


def wait(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, xmlrpc.client.Fault):
            if condition():
                return
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(POLL)


@contextlib.contextmanager
def daemon(argv: list[str], workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], Any]]:
    proc = subprocess.Popen(
        [*argv, "-c", str(workdir / "s.conf")],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    transport = Transport(f"unix://{workdir}/sv.sock", None, None)
    rpc = xmlrpc.client.ServerProxy("http://127.0.0.1/RPC2", transport).supervisor
    try:
        yield proc, rpc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def measure(
    name: str, argv: list[str], procs: int, rounds: int, rpc_seconds: float = 2.0
) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=f"svbench-{name}-") as tmp:
        workdir = Path(tmp)
        (workdir / "s.conf").write_text(config(procs))
        started = time.monotonic()
        with daemon(argv, workdir) as (proc, rpc):
            wait(lambda: sum(i["statename"] == "RUNNING" for i in rpc.getAllProcessInfo()) >= procs)
            results["startup_s"] = time.monotonic() - started
            latencies = []
            for _ in range(rounds):
                wait(lambda: rpc.getProcessInfo("trigger")["statename"] == "RUNNING")
                sent = time.monotonic()
                rpc.sendProcessStdin("trigger", "go\n")
                wait(lambda: rpc.getProcessInfo("trigger")["statename"] == "EXITED")
                latencies.append(time.monotonic() - sent)
                rpc.startProcess("trigger")
            results["exit_seen_ms_median"] = statistics.median(latencies) * 1000
            calls, t0 = 0, time.monotonic()
            while time.monotonic() - t0 < rpc_seconds:
                rpc.getAllProcessInfo()
                calls += 1
            results["rpc_calls_per_s"] = calls / (time.monotonic() - t0)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
            results["shutdown_s"] = time.monotonic() - t0
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=50, help="programs to supervise")
    parser.add_argument("--rounds", type=int, default=10, help="exit-latency samples")
    parser.add_argument("--rpc-seconds", type=float, default=2.0, help="RPC loop duration")
    parser.add_argument("--real", default=str(Path(sys.executable).parent / "supervisord"))
    args = parser.parse_args(argv)
    contenders = {"tubeworks": [sys.executable, "-m", "tubeworks", "supervisord"]}
    if os.path.exists(args.real) or shutil.which(args.real):
        contenders["supervisord"] = [args.real]
    table = {
        name: measure(name, cmd, args.procs, args.rounds, args.rpc_seconds)
        for name, cmd in contenders.items()
    }
    metrics = list(next(iter(table.values())))
    print(f"{'metric':<24}" + "".join(f"{name:>14}" for name in table))
    for metric in metrics:
        print(f"{metric:<24}" + "".join(f"{table[n][metric]:>14.2f}" for n in table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

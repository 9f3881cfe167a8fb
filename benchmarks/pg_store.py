"""PostgreSQL store throughput, side by side: ``python -m benchmarks.pg_store``.

Runs the C load generator (``benchmarks/loadgen.c``) against the real beanstalkd, our server
with the in-memory store, our server on PostgreSQL, and two of ours on one PostgreSQL schema.
For two servers the load is split evenly, one generator per server at the same time; their ops
are added and divided by the longer of the two windows. That is done for ``put`` only: in
``drain`` and ``cycle`` each generator counts the jobs it put, and two generators on shared
tubes take each other's. Prints ops/s and the ratios to beanstalkd and to the in-memory store.
Workloads: ``put`` (8 connections), ``drain`` (8 connections reserve-with-timeout 0 + delete
over a prefilled queue), ``cycle`` (4 producers, 4 consumers), and ``drain-py``: the drain with
a Python client (asyncio, 8 connections spread over the servers), for one and two PostgreSQL
servers only.

Needs PostgreSQL (``--dsn``, default the local test server) and gcc. A schema named
``tubeworks_bench_<random>`` is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from benchmarks.loadgen import Result, build, run

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
WORKLOADS = {
    "put": ("put", ("-c", "8", "-s", "64")),
    "drain": ("drain", ("-c", "8", "-s", "64")),
    "cycle": ("cycle", ("-P", "4", "-C", "4", "-w", "64", "-s", "64")),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"{argv[0]} exited: {err}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{argv} is not listening")
            time.sleep(0.02)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ours(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tubeworks", "queue", "-l", "127.0.0.1", "-p", str(port), *extra]


@contextlib.contextmanager
def schema(dsn: str) -> Iterator[str]:
    import psycopg

    name = "tubeworks_bench_" + secrets.token_hex(4)
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())


def measure(ports: list[tuple[int, int]], workload: str, count: int) -> float:
    """ops/s of ``workload`` with ``count`` operations split over the (port, pid) servers."""
    mode, args = WORKLOADS[workload]
    share = count // len(ports)
    with ThreadPoolExecutor(len(ports)) as pool:
        results: list[Result] = list(
            pool.map(lambda p: run(mode, p[0], share, args, p[1], None), ports)
        )
    return sum(r.ops for r in results) / max(r.seconds for r in results)


async def _drain_one(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    while True:
        writer.write(b"reserve-with-timeout 0\r\n")
        line = await reader.readline()
        if not line.startswith(b"RESERVED "):
            break
        _, job, size = line.split()
        await reader.readexactly(int(size) + 2)
        writer.write(b"delete %s\r\n" % job)
        await reader.readline()
        done += 1
    writer.close()
    return done


def py_drain(ports: list[tuple[int, int]], count: int, conns: int = 8) -> float:
    """reserve + delete with a Python client, ``conns`` connections spread over the servers,
    after an untimed prefill of ``count`` jobs through the first: the two-server drain the C
    generator cannot do (it insists on deleting exactly the jobs it put)."""
    run("put", ports[0][0], count, ("-c", "8", "-s", "64"), ports[0][1], None)

    async def drain() -> int:
        tasks = [_drain_one(ports[i % len(ports)][0]) for i in range(conns)]
        return sum(await asyncio.gather(*tasks))

    started = time.monotonic()
    done = asyncio.run(drain())
    return done / (time.monotonic() - started)


def bench(dsn: str, count: int, pg_count: int, workloads: list[str]) -> dict[str, dict[str, float]]:
    build()
    table: dict[str, dict[str, float]] = {}
    beanstalkd = shutil.which("beanstalkd") or "/usr/bin/beanstalkd"
    for workload in workloads:
        row = table.setdefault(workload, {})
        port = free_port()
        with server([beanstalkd, "-l", "127.0.0.1", "-p", str(port)], port) as p:
            row["beanstalkd"] = measure([(port, p.pid)], workload, count)
        port = free_port()
        with server(ours(port), port) as p:
            row["memory"] = measure([(port, p.pid)], workload, count)
        with schema(dsn) as name:
            url = f"{dsn}{'&' if '?' in dsn else '?'}schema={name}"
            port = free_port()
            with server(ours(port, "--store", url), port) as p:
                row["pg x1"] = measure([(port, p.pid)], workload, pg_count)
        if workload != "put":
            continue  # each generator counts its own jobs: two would take each other's
        with schema(dsn) as name:
            url = f"{dsn}{'&' if '?' in dsn else '?'}schema={name}"
            a, b = free_port(), free_port()
            with server(ours(a, "--store", url), a) as pa, server(ours(b, "--store", url), b) as pb:
                row["pg x2"] = measure([(a, pa.pid), (b, pb.pid)], workload, pg_count)
        print(f"{workload}: done", file=sys.stderr)
    row = table.setdefault("drain-py", {})
    for label, n in (("pg x1", 1), ("pg x2", 2)):
        with schema(dsn) as name, contextlib.ExitStack() as stack:
            url = f"{dsn}{'&' if '?' in dsn else '?'}schema={name}"
            ports = []
            for _ in range(n):
                port = free_port()
                proc = stack.enter_context(server(ours(port, "--store", url), port))
                ports.append((port, proc.pid))
            row[label] = py_drain(ports, pg_count)
    return table


def report(table: dict[str, dict[str, float]]) -> str:
    cols = ["beanstalkd", "memory", "pg x1", "pg x2"]
    lines = [
        f"{'workload':<9}" + "".join(f"{c:>12}" for c in cols)
        + f"{'x1/bean':>9}{'x1/mem':>8}{'x2/x1':>7}"
    ]
    for workload, row in table.items():
        x2 = f"{row['pg x2'] / row['pg x1']:>7.2f}" if "pg x2" in row else f"{'-':>7}"
        vs = (
            f"{row['pg x1'] / row['beanstalkd']:>9.3f}{row['pg x1'] / row['memory']:>8.3f}"
            if "beanstalkd" in row else f"{'-':>9}{'-':>8}"
        )
        cells = "".join(f"{row[c]:>12,.0f}" if c in row else f"{'-':>12}" for c in cols)
        lines.append(f"{workload:<9}" + cells + vs + x2)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pg_store", description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("TUBEWORKS_TEST_PG", DEFAULT_DSN))
    parser.add_argument("--count", type=int, default=50_000, help="ops for beanstalkd/memory")
    parser.add_argument("--pg-count", type=int, default=10_000, help="ops for the pg runs")
    parser.add_argument("--workload", action="append", choices=list(WORKLOADS))
    args = parser.parse_args(argv)
    table = bench(args.dsn, args.count, args.pg_count, args.workload or list(WORKLOADS))
    print("ops/s (higher is better); ratios: pg x1 to beanstalkd and to memory, pg x2 to x1")
    print(report(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

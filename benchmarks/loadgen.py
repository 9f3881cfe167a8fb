"""Build the C load generator (``loadgen.c``) and run it.

The binary goes to ``benchmarks/bin/`` (gitignored) and is rebuilt when the source is newer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import HOST, BenchError, child_setup

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "loadgen.c"
BINARY = HERE / "bin" / "loadgen"
RUN_TIMEOUT = 900.0  # seconds; the generator itself fails after 30 s without a reply


@dataclass(frozen=True)
class Result:
    """What one load generator run printed."""

    ops: int
    seconds: float
    ops_per_sec: float
    gen_cpu: float  # generator CPU seconds per wall second over the timed window
    server_cpu: float | None  # the server's, if its pid was given and readable
    p50_us: float | None  # cycle only
    p99_us: float | None


def build(force: bool = False) -> Path:
    """Compile the generator with ``gcc -O2`` unless an up-to-date binary exists.

    Raises:
        BenchError: no gcc, or the compile failed.
    """
    if (
        not force
        and BINARY.exists()
        and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime
    ):
        return BINARY
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise BenchError("cannot build the load generator: no gcc on PATH (apt install gcc)")
    BINARY.parent.mkdir(exist_ok=True)
    tmp = BINARY.with_name(f"loadgen.{os.getpid()}.tmp")
    proc = subprocess.run(
        [gcc, "-O2", "-Wall", "-o", str(tmp), str(SOURCE)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"building the load generator failed:\n{proc.stderr}")
    tmp.replace(BINARY)  # atomic, so parallel runs never see a half-written binary
    return BINARY


def _opt(v: float) -> float | None:
    return None if v < 0 else v


def run(
    mode: str, port: int, count: int, args: tuple[str, ...], server_pid: int, cpu: int | None
) -> Result:
    """Run one timed load against ``127.0.0.1:port`` and return what the generator measured.

    Raises:
        BenchError: the generator failed (server closed, wrong reply, no reply for 30 s).
    """
    argv = [str(BINARY), mode, "-H", HOST, "-p", str(port), "-n", str(count), *args,
            "-S", str(server_pid)]
    try:
        proc = subprocess.run(  # type: ignore[call-overload]
            argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, **child_setup(cpu)
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"load generator still running after {RUN_TIMEOUT:.0f}s") from exc
    if proc.returncode != 0:
        raise BenchError(f"load generator failed: {proc.stderr.strip()}")
    data = json.loads(proc.stdout)
    return Result(
        ops=int(data["ops"]),
        seconds=float(data["seconds"]),
        ops_per_sec=float(data["ops_per_sec"]),
        gen_cpu=float(data["gen_cpu"]),
        server_cpu=_opt(float(data["server_cpu"])),
        p50_us=_opt(float(data["p50_us"])),
        p99_us=_opt(float(data["p99_us"])),
    )

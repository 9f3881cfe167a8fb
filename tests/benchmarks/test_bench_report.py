"""The benchmark harness's pure parts: workload selection, command templates, the table."""

from __future__ import annotations

import pytest

from benchmarks import procs, report, workloads

BASE, OURS, Sample = report.BASE, report.OURS, report.Sample


def test_select_by_prefix_keeps_table_order() -> None:
    names = [w.name for w in workloads.select(["pipelined", "put"])]
    assert names == ["put-1conn", "put-16conn", "pipelined-put-1000"]


def test_select_nothing_means_everything() -> None:
    assert workloads.select(None) == list(workloads.WORKLOADS)


def test_select_unknown_name_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^--only: no workload named 'nope'; expected one of "):
        workloads.select(["nope"])


def test_quick_sizes_have_a_floor() -> None:
    put1 = workloads.select(["put-1conn"])[0]
    assert put1.sized(1.0) == 50_000
    assert put1.sized(0.0001) == workloads.MIN_COUNT


def test_expand_fills_host_and_port() -> None:
    argv = procs.expand("beanstalkd -l {host} -p {port} -b {tmpdir} -z 'a b'", 4242, "--x", "/t")
    assert argv == ["beanstalkd", "-l", "127.0.0.1", "-p", "4242", "-b", "/t", "-z", "a b"]


def test_expand_needs_a_port_placeholder() -> None:
    expected = r"^--ours-cmd: expected a \{port\} placeholder, got 'x'$"
    with pytest.raises(procs.BenchError, match=expected):
        procs.expand("x", 1, "--ours-cmd")


def _samples() -> list[Sample]:
    return [
        Sample("put-1conn", BASE, 1, 100.0, gen_cpu=0.5, server_cpu=1.0, per_cpu_s=400.0),
        Sample("put-1conn", BASE, 2, 300.0, gen_cpu=0.5, server_cpu=1.0, per_cpu_s=300.0),
        Sample("put-1conn", OURS, 1, 50.0, per_cpu_s=70.0),
        Sample("put-1conn", OURS, 2, 70.0),
        Sample("cycle-4p4c", BASE, 1, 1000.0, p50_us=10.0, p99_us=20.0),
        Sample("cycle-4p4c", OURS, 1, 900.0, p50_us=30.0, p99_us=90.0),
        Sample("memory-1M", BASE, 1, 300.0),
        Sample("memory-1M", BASE, 2, 310.0),
        Sample("memory-1M", OURS, 1, 700.0),
        Sample("memory-1M", OURS, 2, 650.0),
    ]


def test_rows_use_best_rounds_and_bars() -> None:
    rows = {r.name: r for r in report.build_rows(workloads.WORKLOADS, _samples())}
    assert list(rows) == ["put-1conn", "cycle-4p4c", "cycle-4p4c p50", "cycle-4p4c p99",
                          "memory-1M"]
    put = rows["put-1conn"]
    assert (put.base, put.ours, put.ratio, put.ok) == (300.0, 70.0, 70.0 / 300.0, False)
    assert rows["cycle-4p4c"].ok is True
    assert (rows["cycle-4p4c p99"].ratio, rows["cycle-4p4c p99"].ok) == (4.5, None)
    # memory: lower is better, and 700 > 2 x 300 misses the bar
    assert (rows["memory-1M"].base, rows["memory-1M"].ours) == (300.0, 650.0)
    assert (rows["memory-1M"].bar, rows["memory-1M"].ok) == ("<= 2.00", False)


def test_table_round_trips_through_parse_table() -> None:
    rows = report.build_rows(workloads.WORKLOADS, _samples())
    parsed = report.parse_table(report.format_table(rows))
    assert parsed["put-1conn"] == (300.0, 70.0, 0.23)
    assert parsed["cycle-4p4c p50"] == (10.0, 30.0, 3.0)
    assert len(parsed) == len(rows)


def test_cpu_table_shows_missing_as_dash() -> None:
    text = report.format_cpu_table(report.build_cpu_rows(workloads.WORKLOADS, _samples()))
    put_line = next(line for line in text.splitlines() if line.startswith("put-1conn"))
    # per-CPU-second figures are medians: 350 for beanstalkd, 70 (the only one) for ours
    assert put_line.split()[1:] == ["100%", "50%", "-", "-", "350", "70.0", "0.20"]


def test_cpu_table_flags_a_busy_generator() -> None:
    samples = [Sample("put-16conn", BASE, 1, 1.0, gen_cpu=0.95, server_cpu=0.5),
               Sample("put-16conn", OURS, 1, 1.0, gen_cpu=0.2, server_cpu=1.0)]
    text = report.format_cpu_table(report.build_cpu_rows(workloads.WORKLOADS, samples))
    line = text.splitlines()[-1]
    assert line.split()[:8] == ["put-16conn", "50%", "95%", "100%", "20%", "-", "-", "-"]
    assert line.endswith("  generator near its limit")
    quiet = report.format_cpu_table(report.build_cpu_rows(workloads.WORKLOADS, _samples()))
    assert "near its limit" not in quiet

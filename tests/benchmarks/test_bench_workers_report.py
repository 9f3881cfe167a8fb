"""The worker benchmark's pure parts: which stretch of a run is timed, ratios, the table, the
command line's refusals. No processes, no Redis."""

from __future__ import annotations

import pytest
from benchmarks.workers import cli, report
from benchmarks.workers.frameworks import INSTALL_HINT, _installed, by_name
from benchmarks.workers.measure import NoWindow, Sample, Window, window


def test_window_starts_when_all_workers_consume_and_ends_at_the_last_job() -> None:
    samples = [
        Sample(0.5, 0, 0),
        Sample(1.0, 10, 1),  # one of two workers running: start-up, not timed
        Sample(2.0, 30, 2),  # both running: the window opens here
        Sample(3.0, 80, 2),
        Sample(4.0, 130, 2),  # all 130 done
        Sample(4.5, 130, 2),
    ]
    w = window(samples, workers=2, jobs=130)
    assert w == Window(jobs=100, seconds=2.0, startup=2.0, total=4.0, all_started=True)
    assert w.rate == 50.0


def test_cpu_per_job_comes_from_the_samples_that_bound_the_window() -> None:
    samples = [
        Sample(1.0, 10, 1, cpu=0.5),
        Sample(2.0, 30, 2, cpu=1.0),
        Sample(3.0, 80, 2),
        Sample(4.0, 130, 2, cpu=1.25),
    ]
    assert window(samples, workers=2, jobs=130).cpu_per_job == pytest.approx(0.0025)
    samples[1] = Sample(2.0, 30, 2)  # not read at the window's start: unknown, not guessed
    assert window(samples, workers=2, jobs=130).cpu_per_job is None


def test_window_falls_back_to_the_first_completion_when_a_worker_never_got_a_job() -> None:
    samples = [Sample(0.1, 0, 0), Sample(0.2, 5, 1), Sample(0.7, 55, 1)]
    w = window(samples, workers=4, jobs=55)
    assert (w.jobs, w.seconds, w.all_started) == (50, pytest.approx(0.5), False)


def test_window_needs_every_job_done() -> None:
    with pytest.raises(NoWindow, match=r"^expected 100 jobs done, the last sample shows 99$"):
        window([Sample(0.1, 1, 1), Sample(0.2, 99, 1)], workers=1, jobs=100)


def test_window_that_would_be_empty_is_refused() -> None:
    with pytest.raises(NoWindow, match=r"^all 10 jobs finished between two samples"):
        window([Sample(0.1, 0, 0), Sample(0.2, 10, 1)], workers=1, jobs=10)


def _result(name: str, n: int, *rates: float, errors: tuple[str, ...] = ()) -> report.Result:
    return report.Result(
        name, n, "settings", tuple(rates), 0.5, True, cpu_per_job=250e-6, errors=errors
    )


def test_ratio_is_tubeworks_over_the_row_at_the_same_n() -> None:
    rows = [
        _result("tubeworks", 1, 900, 1000, 1100),  # median 1000
        _result("celery", 1, 250),
        _result("celery", 4, 500),  # no tubeworks at N=4
    ]
    assert rows[0].rate == 1000
    assert report.ratio(rows, rows[1]) == 4.0
    assert report.ratio(rows, rows[0]) == 1.0
    assert report.ratio(rows, rows[2]) is None


def test_table_shows_rates_ratios_and_failures() -> None:
    rows = [
        _result("tubeworks", 1, 1000),
        _result("rq", 1, 400),
        _result("celery", 1, errors=("celery worker exited with 1: boom",)),
    ]
    lines = report.table(rows).splitlines()
    assert lines[0].split()[:3] == ["framework", "N", "jobs/s"]
    assert lines[1].split()[:7] == ["tubeworks", "1", "1000", "1.00", "0.50", "250", "settings"]
    assert lines[2].split()[:6] == ["rq", "1", "400", "2.50", "0.50", "250"]
    assert lines[3].split()[:5] == ["celery", "1", "-", "-", "-"]
    assert lines[3].endswith("FAILED: celery worker exited with 1: boom")


def test_verdicts_name_the_faster_frameworks_and_ignore_tubeworks_variants() -> None:
    rows = [
        _result("tubeworks", 1, 1000),
        _result("tubeworks+beanstalkd", 1, 5000),
        _result("rq", 1, 400),
        _result("celery", 1, 800),
        _result("tubeworks", 4, 1000),
        _result("dramatiq-redis", 4, 2000),
        _result("rq", 4, 100),
    ]
    assert report.verdicts(rows) == [
        "N=1: tubeworks is faster than all 2 (closest: celery, x1.25)",
        "N=4: tubeworks is slower than dramatiq-redis",
    ]


def test_a_missing_module_says_how_to_install_the_frameworks() -> None:
    reason = _installed("json", "no_such_module_for_twbench")
    hint = f"(install the frameworks with `{INSTALL_HINT}`)"
    assert reason == f"no_such_module_for_twbench is not installed {hint}"
    assert INSTALL_HINT == "uv sync --group bench"
    assert _installed("json") is None


def test_unknown_framework_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^unknown framework 'sidekiq'; expected one of tubeworks,"
    ):
        by_name(["tubeworks", "sidekiq"])


def test_cli_refuses_bad_options_before_touching_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--frameworks", "tubeworks,sidekiq"]) == 2
    assert "error: unknown framework 'sidekiq'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["--workers", "0"])
    assert exc.value.code == 2
    assert "expected numbers >= 1, got '0'" in capsys.readouterr().err
    assert cli.main(["--jobs", "0"]) == 2
    assert "--jobs and --repeat must be at least 1" in capsys.readouterr().err

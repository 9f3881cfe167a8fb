"""``tubeworks examples run``: the command the README starts with, on small inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from example_harness import no_children_left


@pytest.mark.timeout(60)
def test_examples_run_prints_progress_and_a_summary_and_stops_cleanly(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tubeworks", "examples", "run", "1", "--small", "--out",
         str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("1. thumbnails: 6 images (+1 truncated JPEG, +1 text file) in ")
    assert any(line.startswith("  [thumbs] 8/8 handled, 0 in progress") for line in lines)
    at = lines.index(next(line for line in lines if line.startswith("summary (")))
    assert lines[at].endswith("every stack stopped cleanly):")
    thumbs = tmp_path / "thumbnails" / "thumbnails"
    assert lines[at + 1] == f"  1. thumbnails: 6 thumbnails (<= 128x128) in {thumbs}"
    assert len(list((tmp_path / "thumbnails" / "thumbnails").glob("*.thumb.png"))) == 6
    assert no_children_left()


def test_an_unknown_example_number_is_refused() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tubeworks", "examples", "run", "9"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2
    assert out.stdout == "unknown example(s) 9; choose from 1, 2, 3, 4\n"

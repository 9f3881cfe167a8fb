"""Example 1 (thumbnails) and 4 (PHP producer) with small inputs; outputs checked here too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from example_harness import Said, no_children_left
from examples.run import run_php, run_thumbnails
from PIL import Image


@pytest.mark.timeout(60)
def test_thumbnails_of_every_image_and_bad_files_buried_with_a_reason(tmp_path: Path) -> None:
    said = Said()
    summary = run_thumbnails(tmp_path / "ex1", said, images=5)
    out = tmp_path / "ex1" / "thumbnails"
    uploads = tmp_path / "ex1" / "uploads"
    for source in sorted(uploads.glob("photo_*")):
        with Image.open(source) as original, Image.open(out / f"{source.stem}.thumb.png") as t:
            w, h = original.size
            assert max(t.size) == 128
            assert t.size[0] <= 128 and t.size[1] <= 128
            assert abs(t.size[0] / t.size[1] - w / h) < 0.05
    assert len(list(out.glob("*.thumb.png"))) == 5
    rejected = {
        r["file"]: r["reason"]
        for r in map(json.loads, (out / "rejected.jsonl").read_text().splitlines())
    }
    assert rejected["notes.txt"] == "not an image Pillow can read"
    assert rejected["broken.jpg"].startswith("corrupt image: ")
    assert summary[0] == f"1. thumbnails: 5 thumbnails (<= 128x128) in {out}"
    assert any("7/7 handled" in line and "2 buried" in line for line in said)
    assert no_children_left()


@pytest.mark.timeout(60)
@pytest.mark.skipif(shutil.which("php") is None, reason="php-cli is not installed")
def test_php_producer_feeds_the_python_pool(tmp_path: Path) -> None:
    summary = run_php(tmp_path / "ex4", Said(), count=6)
    answers = [
        json.loads(p.read_text()) for p in sorted((tmp_path / "ex4" / "greetings").glob("*.json"))
    ]
    assert [a["seq"] for a in answers] == [1, 2, 3, 4, 5, 6]
    assert answers[2]["greeting"] == "hello, elephpant 3!"
    assert all(a["sent_by"].startswith("PHP ") for a in answers)
    assert all(a["answered_by"].startswith("Python worker pid ") for a in answers)
    assert summary[0].startswith("4. php producer: 6 jobs from PHP ")
    assert no_children_left()

"""Example 1's worker: one job per uploaded file -> a thumbnail next to the others.

A job is ``{"path": SOURCE, "out": DIRECTORY}``. Files Pillow cannot read (not an image,
truncated, corrupt) are buried with the reason, and the reason is also appended to
``OUT/rejected.jsonl`` so the producer's summary can show it without a queue client.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from tubeworks.worker import App, Bury

THUMB_SIZE = (128, 128)  # bounding box; the aspect ratio is kept

app = App()


def thumbnail_path(out: Path, source: Path) -> Path:
    return out / f"{source.stem}.thumb.png"


def reject(out: Path, source: Path, reason: str) -> Bury:
    with open(out / "rejected.jsonl", "a") as f:
        f.write(json.dumps({"file": source.name, "reason": reason}) + "\n")
    return Bury(f"{source.name}: {reason}")


@app.handler("images", max_attempts=3)
def make_thumbnail(payload: dict[str, str]) -> None:
    source, out = Path(payload["path"]), Path(payload["out"])
    try:
        with Image.open(source) as image:
            image.load()  # decode now: a truncated file fails here, not later
            image.thumbnail(THUMB_SIZE)
            converted = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    except FileNotFoundError:
        raise reject(out, source, "file vanished before it was processed") from None
    except UnidentifiedImageError:
        raise reject(out, source, "not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise reject(out, source, f"corrupt image: {exc}") from None
    target = thumbnail_path(out, source)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    converted.save(tmp, format="PNG")
    os.replace(tmp, target)  # a reader never sees half a thumbnail

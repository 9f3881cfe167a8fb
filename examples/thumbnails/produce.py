"""Example 1's producer: enqueue every file of a folder; and a generator of sample images.

    python -m examples.thumbnails.produce SOURCE_DIR OUT_DIR [--make N]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from tubeworks.client import Client

TUBE = "images"


def make_samples(folder: Path, count: int, seed: int = 8) -> dict[str, tuple[int, int]]:
    """Write ``count`` real images of assorted sizes and formats, one truncated JPEG and one
    text file; returns the size of each good image."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, tuple[int, int]] = {}
    for i in range(count):
        w, h = rnd.randint(160, 900), rnd.randint(120, 700)
        image = Image.new("RGB", (w, h), (rnd.randrange(256), rnd.randrange(256), 90))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            box = sorted((rnd.randrange(w), rnd.randrange(w))), sorted(
                (rnd.randrange(h), rnd.randrange(h))
            )
            colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
            draw.ellipse((box[0][0], box[1][0], box[0][1], box[1][1]), fill=colour)
        ext = ("jpg", "png", "webp")[i % 3]
        name = f"photo_{i:03d}.{ext}"
        image.save(folder / name)
        sizes[name] = (w, h)
    good = (folder / "photo_000.jpg").read_bytes() if count else b"\xff\xd8\xff"
    (folder / "broken.jpg").write_bytes(good[: max(3, len(good) // 3)])  # cut short
    (folder / "notes.txt").write_text("not a picture\n")
    return sizes


def enqueue_folder(client: Client, folder: Path, out: Path) -> int:
    """One job per file in ``folder`` (sorted); returns how many were put."""
    out.mkdir(parents=True, exist_ok=True)
    client.use(TUBE)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    bodies = [json.dumps({"path": str(p.resolve()), "out": str(out.resolve())}) for p in files]
    client.put_many(bodies)
    return len(bodies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--make", type=int, default=0, help="first write N sample images")
    parser.add_argument("--server", default="127.0.0.1:11300")
    args = parser.parse_args()
    if args.make:
        make_samples(args.source, args.make)
    with Client(args.server) as client:
        print(f"put {enqueue_folder(client, args.source, args.out)} jobs on {TUBE!r}")


if __name__ == "__main__":
    main()

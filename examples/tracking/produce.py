"""Example 3's producer: page views and clicks, one job per event.

    python -m examples.tracking.produce COUNT [--server HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import random

from tubeworks.client import Client

TUBE = "events"
KINDS = ["page_view", "page_view", "page_view", "click", "signup", "purchase"]


def events(count: int, seed: int = 3, start: float = 1_700_000_000.0) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    return [
        {"id": f"ev-{i:07d}", "kind": rnd.choice(KINDS), "user": rnd.randint(1, 500),
         "at": start + i * 0.25}
        for i in range(count)
    ]


def enqueue(client: Client, batch: list[dict[str, object]]) -> int:
    client.use(TUBE)
    client.put_many([json.dumps(e) for e in batch])
    return len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", type=int)
    parser.add_argument("--server", default="127.0.0.1:11300")
    args = parser.parse_args()
    with Client(args.server) as client:
        print(f"put {enqueue(client, events(args.count))} events on {TUBE!r}")


if __name__ == "__main__":
    main()

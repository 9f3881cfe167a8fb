"""Example 2's producer: a mailing of personalised messages, one job each.

    python -m examples.mailing.produce COUNT [--server HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import random

from tubeworks.client import Client

TUBE = "mail"
FIRST = ["Ada", "Grace", "Linus", "Guido", "Barbara", "Ken", "Margaret", "Dennis", "Radia"]
PRODUCTS = ["teapot", "bicycle bell", "paper lantern", "chess set", "kite", "umbrella"]


def mailing(count: int, seed: int = 2) -> list[dict[str, str]]:
    """``count`` distinct messages; ``id`` becomes the Message-ID."""
    rnd = random.Random(seed)
    jobs = []
    for i in range(count):
        name = f"{rnd.choice(FIRST)} {chr(65 + i % 26)}."
        jobs.append({
            "id": f"mailing-{i:06d}",
            "to": f"customer{i}@example.org",
            "name": name,
            "order": f"#{100000 + i}",
            "product": rnd.choice(PRODUCTS),
        })
    return jobs


def enqueue(client: Client, jobs: list[dict[str, str]]) -> int:
    client.use(TUBE)
    client.put_many([json.dumps(job) for job in jobs])
    return len(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", type=int)
    parser.add_argument("--server", default="127.0.0.1:11300")
    args = parser.parse_args()
    with Client(args.server) as client:
        print(f"put {enqueue(client, mailing(args.count))} messages on {TUBE!r}")


if __name__ == "__main__":
    main()

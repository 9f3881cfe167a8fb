"""What the demo prints: one line per step as it happens, and the summary at the end.

Pure formatting; :mod:`tubeworks.demo.run` feeds it events and numbers. The producer's steps
arrive as JSON events (see ``producer.php``) and are rendered here, so the PHP side stays a
plain Pheanstalk program with no presentation in it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The queue `stats` counters worth showing after a run, in this order.
SUMMARY_COUNTERS = (
    "cmd-put",
    "cmd-reserve",
    "cmd-reserve-with-timeout",
    "cmd-delete",
    "cmd-bury",
    "cmd-kick",
    "total-jobs",
    "current-jobs-ready",
    "current-jobs-buried",
    "total-connections",
)


def describe_producer_event(event: Mapping[str, Any]) -> str:
    """One human-readable line for a producer step."""
    kind = event.get("event")
    if kind == "connected":
        return f"[php] connected to 127.0.0.1:{event['port']} with Pheanstalk 4"
    if kind == "use":
        return f"[php] useTube({event['tube']!r})"
    if kind == "put":
        return f"[php] put({event['body']!r}) on {event['tube']!r} -> job {event['id']}"
    if kind == "watch":
        return f"[php] watch({event['tube']!r})"
    if kind == "reserve":
        return f"[php] reserve() -> job {event['id']} {event['body']!r}"
    if kind == "bury":
        return f"[php] bury(job {event['id']}) -> state {event['state']}"
    if kind == "kick":
        return (
            f"[php] kick(1) -> kicked {event['kicked']}; job {event['id']} is {event['state']} "
            f"again, body {event['body']!r}"
        )
    if kind == "batch":
        return (
            f"[php] put {event['count']} word-count jobs on {event['tube']!r} "
            f"(ids {event['first_id']}..{event['last_id']}) in {event['seconds']:.2f} s"
            f" ({rate(event['count'], event['seconds'])})"
        )
    return f"[php] {dict(event)}"


def rate(count: int, seconds: float) -> str:
    """``count`` per second, readable; a run too quick to time says so instead of dividing by 0."""
    if seconds <= 0:
        return "too quick to time"
    return f"{count / seconds:,.0f} jobs/s"


@dataclass(frozen=True)
class Summary:
    """The numbers a demo run ends with."""

    server: str  # what served the queue, e.g. "tubeworks queue"
    intro_tube: str  # where the bury/kick walk-through happened
    batch_tube: str  # where the word-count jobs went
    batch: int  # word-count jobs put by the producer
    consumed: int  # jobs reserved and deleted by the consumer
    buried: int  # jobs the producer buried
    kicked: int  # jobs the producer kicked back to ready
    produce_seconds: float  # time the producer spent putting the batch
    consume_seconds: float  # time the consumer spent draining the queue
    words: Counter[str]  # word totals from the job bodies
    expected_words: Counter[str]  # word totals read straight from the text
    stats: Mapping[str, object]  # the queue's `stats` after the run


def summary_lines(s: Summary) -> list[str]:
    """The closing report; the word-count line says whether the totals match the text."""
    produced = s.batch + 1
    top = ", ".join(f"{w} {n}" for w, n in s.words.most_common(5))
    match = "matches the text" if s.words == s.expected_words else "DOES NOT match the text"
    counters = [f"{k} {s.stats[k]}" for k in SUMMARY_COUNTERS if k in s.stats]
    stats_lines = [", ".join(counters[i : i + 5]) for i in range(0, len(counters), 5)] or ["-"]
    return [
        "summary:",
        f"  server          {s.server}",
        f"  jobs produced   {produced} (1 on {s.intro_tube!r} + {s.batch} on {s.batch_tube!r})",
        f"  jobs consumed   {s.consumed}",
        f"  jobs buried     {s.buried}",
        f"  jobs kicked     {s.kicked}",
        f"  produce rate    {rate(s.batch, s.produce_seconds)} (php, one put per round trip)",
        f"  consume rate    {rate(s.consumed, s.consume_seconds)} (python, reserve + delete)",
        f"  words counted   {sum(s.words.values())} ({match}); top: {top}",
        f"  queue stats     {stats_lines[0]}",
        *(f"                  {line}" for line in stats_lines[1:]),
    ]

"""The demo's work: count the words on each line of a small text, one job per line.

Pure functions only, so the consumer's arithmetic can be checked against the text itself: the
totals the consumer accumulates from job bodies must equal :func:`expected_counts`, which reads
the same text directly. A dropped, duplicated or mangled job shows up as a mismatch.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class WordTask:
    """One job body, decoded."""

    text: str  # the line whose words are counted
    seq: int | None  # position in the producer's batch; None for a plain-text job
    line: int | None  # 1-based line number in the corpus; None for a plain-text job


def count_words(text: str) -> Counter[str]:
    """Lowercased words of ``text``; punctuation and digits are not words."""
    return Counter(_WORD.findall(text.lower()))


def parse_task(body: str) -> WordTask:
    """Decode a job body: a ``word-count`` JSON task, or any other text taken as-is.

    Raises:
        ValueError: the body is JSON but not a word-count task.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return WordTask(text=body, seq=None, line=None)
    if not isinstance(data, dict) or data.get("task") != "word-count":
        raise ValueError(f"expected a word-count task, got {body[:60]!r}")
    text, seq, line = data.get("text"), data.get("seq"), data.get("line")
    if not isinstance(text, str) or not isinstance(seq, int) or not isinstance(line, int):
        raise ValueError(f"word-count task needs text, seq and line, got {body[:60]!r}")
    return WordTask(text=text, seq=seq, line=line)


def corpus_lines(text: str) -> list[str]:
    """The non-empty lines of the corpus, as the PHP producer reads them."""
    return [line for line in text.splitlines() if line.strip()]


def expected_counts(lines: Sequence[str], jobs: int, extra: Sequence[str] = ()) -> Counter[str]:
    """Word totals for ``jobs`` tasks cycling through ``lines``, plus the ``extra`` texts."""
    total: Counter[str] = Counter()
    per_line = [count_words(line) for line in lines]
    full, rest = divmod(jobs, len(lines))
    for i, counts in enumerate(per_line):
        times = full + (1 if i < rest else 0)
        for word, n in counts.items():
            total[word] += n * times
    for text in extra:
        total.update(count_words(text))
    return total

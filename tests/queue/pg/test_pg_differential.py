"""The differential cases of ``tests/queue/test_differential.py``, PostgreSQL store vs beanstalkd.

Each case plays the same script against a fresh real beanstalkd and a fresh
``tubeworks queue --store`` on an empty schema (so job ids start at 1 on both) and demands the
same replies, with difftool's normalisation. Cases where the shared store deliberately differs
are listed in :data:`KNOWN_DIFFS` with the reason (also in ``docs/queue-postgresql.md``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from pg_helpers import needs_pg, pg_schema, pg_server

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

from difftool import Close, Read, Send, Step, WaitStat, differences, run_script
from test_differential import CASES

from servers import running

pytestmark = needs_pg

#: Scripts run at once (each runs two servers; CI has two cores).
PARALLEL = 2
#: Cases joined into one script (see :func:`chained`).
CASES_PER_RUN = 12
#: Cases about parsing only: the protocol layer is the same code with either store.
PARSER_ONLY = frozenset({
    "quit-prefix", "unknown-command", "bad-format-words", "words-without-args",
    "extra-spaces-and-tabs", "put-extra-arg", "job-too-big-checked-first", "id-parsing",
    "release-bad-format", "kick-lax-numbers", "pause-tube-parsing", "tube-names",
    "tube-name-length", "two-commands-one-packet", "pipelined-byte-by-byte",
    "pipelined-odd-splits", "long-line-224", "long-line-500", "long-line-300-then-more",
    "expected-crlf-short-body", "reserve-with-timeout-plain",
})

#: Cases whose replies differ with the shared store, and why.
KNOWN_DIFFS: dict[str, str] = {
    "bare-cr-in-line": "the same parser difference as the in-memory store (1.12 bug)",
}


def pg_differential(steps: Sequence[Step], drop: frozenset[str] = frozenset()) -> list[str]:
    """Play ``steps`` on a fresh beanstalkd and a fresh PostgreSQL-backed server; the
    differences (empty when the replies match), ignoring the YAML keys in ``drop``."""
    with (
        pg_schema() as schema,
        running("beanstalkd") as oracle_srv,
        pg_server(schema) as cand_srv,
        ThreadPoolExecutor(2) as pool,
    ):
        f_oracle = pool.submit(run_script, oracle_srv, steps)
        f_cand = pool.submit(run_script, cand_srv, steps)
        oracle, candidate = f_oracle.result(), f_cand.result()
    if any(isinstance(s, WaitStat) for s in steps):
        drop |= {"cmd-stats"}
    return differences(oracle, candidate, drop)


def run_cases(
    cases: dict[str, list[Step]], drop: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Run cases a few at a time (each starts two servers: most of the time is start-up)."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {
            name: pool.submit(pg_differential, steps, drop) for name, steps in cases.items()
        }
        return {name: f.result() for name, f in futures.items()}


def chained(cases: dict[str, list[Step]], per_run: int) -> dict[str, list[Step]]:
    """Join cases into longer scripts, each case on connections of its own.

    Both servers still see identical histories, so the comparison stays exact; later cases
    merely start with the earlier ones' jobs and tubes around (and ids further on). It saves
    starting two servers per case, which is most of a case's cost.
    """
    names = [n for n in cases if not _alone(n, cases[n])]
    out: dict[str, list[Step]] = {n: cases[n] for n in cases if _alone(n, cases[n])}
    for start in range(0, len(names), per_run):
        group = names[start:start + per_run]
        out[" + ".join(group)] = [
            replace(step, conn=f"{i}:{step.conn}")  # type: ignore[type-var]
            for i, name in enumerate(group)
            for step in cases[name]
        ]
    return out


def _alone(name: str, steps: list[Step]) -> bool:
    """A pause would outlast its case; a slow case would age the next case's jobs."""
    slow = name == "pipelined-500-puts"
    return slow or any(b"pause-tube" in getattr(step, "data", b"") for step in steps)


def report(results: dict[str, list[str]]) -> str:
    return "\n".join(f"[{name}]\n" + "\n".join(p) for name, p in results.items() if p)


@pytest.mark.timeout(120)
def test_pg_single_connection_cases() -> None:
    """Every single-connection case of the in-memory store's differential suite."""
    cases = {n: steps for n, steps in CASES.items() if n not in PARSER_ONLY | set(KNOWN_DIFFS)}
    assert len(cases) > 40
    # Chained, a job put in an earlier case is older on the slower server: ages are not compared.
    results = run_cases(chained(cases, CASES_PER_RUN), drop=frozenset({"age"}))
    assert not any(results.values()), "replies differ from beanstalkd:\n" + report(results)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(KNOWN_DIFFS))
def test_pg_known_differences(name: str) -> None:
    """The listed differences are real (if one disappears, take it off the list)."""
    assert pg_differential(CASES[name])


def waiting(n: int) -> WaitStat:
    return WaitStat("current-waiting", str(n))


MULTI: dict[str, list[Step]] = {
    "blocked-reserve-gets-put": [
        Send("a", b"reserve\r\nlist-tube-used\r\n", read=False, usings=1), waiting(1),
        Send("b", b"put 0 0 10 1\r\nj\r\n"), Read("a"), Send("b", b"stats-job 1\r\n"),
    ],
    "delete-reserved-by-other": [
        Send("a", b"put 0 0 10 5\r\nhello\r\n"), Send("b", b"reserve\r\n"),
        Send("a", b"delete 1\r\nrelease 1 0 0\r\nbury 1 0\r\ntouch 1\r\npeek 1\r\n"
                  b"reserve-job 1\r\nkick-job 1\r\nstats-job 1\r\n"),
        Send("b", b"delete 1\r\n"),
    ],
    "close-releases-job": [
        Send("a", b"put 0 0 100 1\r\nq\r\n"), Send("b", b"reserve\r\n"),
        Send("c", b"reserve\r\n", read=False), waiting(1),
        Close("b"), Read("c"), Send("c", b"stats-job 1\r\nstats-tube default\r\n"),
    ],
    "watch-sets-of-two-connections": [
        Send("a", b"watch x\r\nignore default\r\n"),
        Send("a", b"reserve\r\n", read=False), waiting(1),
        Send("b", b"reserve\r\n", read=False), waiting(2),
        Send("p", b"use x\r\nput 3 0 10 1\r\nX\r\nuse default\r\nput 4 0 10 1\r\nD\r\n"),
        Read("a"), Read("b"), Send("p", b"stats-tube x\r\nstats-tube default\r\n"),
    ],
    "waiting-counts-per-tube": [
        Send("a", b"watch x\r\nreserve\r\n", read=False), waiting(1),
        Send("b", b"watch x\r\nignore default\r\nreserve\r\n", read=False), waiting(2),
        Send("c", b"stats-tube x\r\nstats-tube default\r\nuse x\r\nput 0 0 10 1\r\n1\r\n"
                  b"put 0 0 10 1\r\n2\r\nstats-tube x\r\n"),
        Read("a"), Read("b"),
    ],
}


@pytest.mark.timeout(60)
def test_pg_several_connections() -> None:
    """Blocked reserves, closes and cross-connection rules, with several clients at once."""
    results = run_cases(MULTI)
    assert not any(results.values()), "replies differ from beanstalkd:\n" + report(results)

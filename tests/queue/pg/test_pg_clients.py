"""The real-client suite (greenstalk, pystalk, Pheanstalk 4, beaneater) against a server on the
PostgreSQL store: the tests of ``tests/queue/test_real_clients.py`` that take ``any_server`` or
``tubeworks_queue`` (less those in :data:`COVERED_ELSEWHERE`), each given a fresh
``tubeworks queue --store`` on an empty schema instead."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from pg_helpers import needs_pg, pg_schema, pg_server

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import test_real_clients as R

from servers import RunningServer

pytestmark = needs_pg

#: Left out to keep the suite's time budget: each checks something the differential or basic
#: tests here already check against this store (bodies, parse errors, closing, reconnecting).
COVERED_ELSEWHERE = frozenset({
    "test_greenstalk_binary_and_empty_bodies", "test_greenstalk_errors",
    "test_greenstalk_reservations_return_when_connection_closes",
    "test_greenstalk_delayed_job_wakes_a_waiting_reserve", "test_pystalk_put_reserve_delete",
    "test_pystalk_reconnect_replays_use_and_watch", "test_pheanstalk_readme_flow_bury_then_kick",
})

CLIENT_TESTS: dict[str, Callable[[RunningServer], None]] = {
    name: fn
    for name, fn in vars(R).items()
    if name.startswith("test_")
    and callable(fn)
    and fn.__code__.co_varnames[:1] in (("any_server",), ("tubeworks_queue",))
    and fn.__code__.co_argcount == 1
    and name not in COVERED_ELSEWHERE
}


def run_one(fn: Callable[[RunningServer], None]) -> str | None:
    """Run one client test against a fresh PostgreSQL-backed server; the failure, if any."""
    try:
        with pg_schema() as schema, pg_server(schema) as srv:
            fn(srv)
    except pytest.skip.Exception:
        return None
    except BaseException:
        return traceback.format_exc(limit=-3)
    return None


@pytest.mark.timeout(120)
def test_pg_real_clients() -> None:
    assert len(CLIENT_TESTS) >= 10
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(CLIENT_TESTS, pool.map(run_one, CLIENT_TESTS.values()), strict=True))
    failed = {name: err for name, err in results.items() if err}
    assert not failed, "\n".join(f"[{n}]\n{e}" for n, e in failed.items())

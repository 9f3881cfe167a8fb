"""Resources: lazy, once per process, closed newest first; a forked child opens its own."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from tubeworks.resources import Database, Resources


class Thing:
    def __init__(self, name: str, log: list[str], fail_close: bool = False) -> None:
        self.name, self.log, self.fail_close = name, log, fail_close
        log.append(f"open {name}")

    def close(self) -> None:
        self.log.append(f"close {self.name}")
        if self.fail_close:
            raise RuntimeError(f"{self.name} would not close")


def test_opened_on_first_use_once_and_closed_newest_first() -> None:
    log: list[str] = []
    resources = Resources()
    resources.add("a", lambda: Thing("a", log))
    resources.add("b", lambda: Thing("b", log, fail_close=True))
    resources.add("c", lambda: Thing("c", log))
    assert log == [] and "a" in resources
    assert resources["b"] is resources["b"]
    resources["a"]
    assert resources.opened() == ["b", "a"]
    errors = resources.close()
    assert [str(e) for e in errors] == ["b would not close"]
    assert log == ["open b", "open a", "close a", "close b"]  # c was never opened
    assert resources.opened() == []
    resources["a"]  # usable again after close
    assert log[-1] == "open a"


def test_errors() -> None:
    resources = Resources()
    resources.add("db", object)
    with pytest.raises(ValueError, match=r"^resource 'db' is already registered$"):
        resources.add("db", object)
    with pytest.raises(KeyError, match=r"no resource named 'mail'; registered: db"):
        resources["mail"]


def test_context_manager_closes() -> None:
    log: list[str] = []
    with Resources() as resources:
        resources.add("a", lambda: Thing("a", log))
        resources["a"]
    assert log == ["open a", "close a"]


@pytest.mark.timeout(30)
def test_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(
    mysql_connect: Callable[..., Any],
) -> None:
    resources = Resources()
    resources.add("db", lambda: Database(mysql_connect))
    parent_id = resources["db"].execute("SELECT CONNECTION_ID()").rows[0][0]
    resources["db"].commit()

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its connection id, close its resources, exit at once
        try:
            child_id = resources["db"].execute("SELECT CONNECTION_ID()").rows[0][0]
            resources.close()
            os.write(write, str(child_id).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        child_id = int(f.read() or 0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert child_id not in (0, parent_id)
    # The parent's session survived the child's start and shutdown.
    assert resources["db"].execute("SELECT CONNECTION_ID()").rows == [(parent_id,)]
    assert resources["db"].statistics().disconnects_seen == 0
    resources.close()


def test_one_instance_per_thread_or_scope_unless_shared() -> None:
    import threading

    from tubeworks.resources import resource_scope

    resources = Resources()
    resources.add("conn", object)
    resources.add("pool", object, shared=True)
    mine, pool = resources["conn"], resources["pool"]
    seen: dict[str, object] = {}

    def other_thread() -> None:
        seen["conn"], seen["pool"] = resources["conn"], resources["pool"]
        with resource_scope("slot-1"):
            seen["slot"] = resources["conn"]

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert seen["conn"] is not mine and seen["pool"] is pool
    with resource_scope("slot-1"):  # the same scope from another thread: the same instance
        assert resources["conn"] is seen["slot"]
    assert resources["conn"] is mine
    assert sorted(resources.opened()) == ["conn", "conn", "conn", "pool"]

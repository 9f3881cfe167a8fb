"""The queue core through the session layer: bytes in, bytes out, time as an argument.

No sockets and no sleeps: ``Harness.advance`` moves a fake clock and runs the store's tick.
"""

from __future__ import annotations

import re

from tubeworks.queue.core import QueueCore
from tubeworks.queue.session import Session


class Client:
    def __init__(self, harness: Harness) -> None:
        self.h = harness
        self.received = bytearray()
        self.session = Session(harness.core, self._woken)

    def _woken(self) -> None:
        self.received += self.session.take_output()
        self.session.run(self.h.now)
        self.received += self.session.take_output()

    def send(self, data: bytes) -> bytes:
        """Send bytes; return what came back (everything not yet read)."""
        self.session.parser.feed(data)
        self.session.run(self.h.now)
        self.received += self.session.take_output()
        return self.read()

    def read(self) -> bytes:
        out = bytes(self.received)
        self.received.clear()
        return out

    def close(self) -> None:
        self.session.close(self.h.now)


class Harness:
    def __init__(self, **kw: object) -> None:
        self.now = 1_000_000.0
        self.core = QueueCore(started_at=self.now, **kw)  # type: ignore[arg-type]

    def client(self) -> Client:
        return Client(self)

    def advance(self, seconds: float) -> None:
        """Move the clock, running every timer that falls due on the way, in order."""
        target = self.now + seconds
        while (wake := self.core.next_wakeup()) is not None and wake <= target:
            self.now = max(self.now, wake)
            self.core.tick(self.now)
        self.now = target
        self.core.tick(self.now)


def field(yaml: bytes, key: str) -> str:
    m = re.search(rb"\n" + key.encode() + rb": ([^\n]*)\n", yaml)
    assert m, (key, yaml)
    return m.group(1).decode()


def test_put_reserve_delete() -> None:
    c = Harness().client()
    assert c.send(b"put 0 0 60 5\r\nhello\r\n") == b"INSERTED 1\r\n"
    assert c.send(b"reserve\r\n") == b"RESERVED 1 5\r\nhello\r\n"
    assert c.send(b"delete 1\r\n") == b"DELETED\r\n"
    assert c.send(b"delete 1\r\n") == b"NOT_FOUND\r\n"


def test_priority_then_id_across_watched_tubes() -> None:
    c = Harness().client()
    for tube, pri in [(b"a", 10), (b"a", 5), (b"b", 5), (b"b", 1), (b"default", 5)]:
        c.send(b"use %s\r\nput %d 0 10 1\r\nx\r\n" % (tube, pri))
    c.send(b"watch a\r\nwatch b\r\n")
    got = [re.match(rb"RESERVED (\d+)", c.send(b"reserve\r\n")).group(1) for _ in range(5)]
    assert got == [b"4", b"2", b"3", b"5", b"1"]


def test_waiting_clients_take_order_matches_beanstalkd() -> None:
    h = Harness()
    waiters = [h.client() for _ in range(6)]
    for w in waiters:
        assert w.send(b"reserve\r\n") == b""
    producer = h.client()
    producer.send(b"".join(b"put 0 0 10 1\r\nx\r\n" for _ in range(6)))
    got = [int(re.match(rb"RESERVED (\d+)", w.read()).group(1)) for w in waiters]
    assert got == [1, 2, 3, 6, 5, 4]


def test_blocked_reserve_holds_back_pipelined_commands() -> None:
    h = Harness()
    worker, producer = h.client(), h.client()
    assert worker.send(b"reserve\r\nlist-tube-used\r\n") == b""
    producer.send(b"put 0 0 10 1\r\nj\r\n")
    assert worker.read() == b"RESERVED 1 1\r\nj\r\nUSING default\r\n"


def test_ttr_expiry_is_never_missed_while_the_worker_is_idle() -> None:
    h = Harness()
    worker, other = h.client(), h.client()
    worker.send(b"put 0 0 2 1\r\nx\r\nreserve\r\n")
    h.advance(2.001)
    stats = other.send(b"stats-job 1\r\n")
    assert field(stats, "state") == "ready"
    assert field(stats, "timeouts") == "1"
    assert field(other.send(b"stats\r\n"), "job-timeouts") == "1"


def test_deadline_soon_for_a_blocked_reserve_and_an_immediate_one() -> None:
    h = Harness()
    c = h.client()
    c.send(b"put 0 0 3 1\r\nx\r\n")
    assert c.send(b"reserve\r\n").startswith(b"RESERVED 1")
    assert c.send(b"reserve\r\n") == b""
    h.advance(1.9)
    assert c.read() == b""
    h.advance(0.2)
    assert c.read() == b"DEADLINE_SOON\r\n"
    assert c.send(b"reserve-with-timeout 0\r\n") == b"DEADLINE_SOON\r\n"
    assert field(c.send(b"stats-job 1\r\n"), "state") == "reserved"


def test_deadline_soon_yields_to_a_ready_job() -> None:
    c = Harness().client()
    c.send(b"put 0 0 1 1\r\na\r\n")
    c.send(b"reserve\r\n")
    c.send(b"put 0 0 1 1\r\nb\r\n")
    assert c.send(b"reserve\r\n") == b"RESERVED 2 1\r\nb\r\n"


def test_reserve_with_timeout_times_out() -> None:
    h = Harness()
    c = h.client()
    assert c.send(b"reserve-with-timeout 0\r\n") == b"TIMED_OUT\r\n"
    assert c.send(b"reserve-with-timeout 2\r\nstats-tube default\r\n") == b""
    h.advance(1.5)
    assert c.read() == b""
    h.advance(0.6)
    out = c.read()
    assert out.startswith(b"TIMED_OUT\r\nOK ")


def test_delayed_job_becomes_ready_and_kick_prefers_buried() -> None:
    h = Harness()
    c = h.client()
    c.send(b"put 0 5 10 1\r\nd\r\nput 0 0 10 1\r\nb\r\nput 0 0 10 1\r\nc\r\n")
    c.send(b"reserve\r\nbury 2 0\r\nreserve\r\nbury 3 0\r\n")
    assert c.send(b"peek-delayed\r\n") == b"FOUND 1 1\r\nd\r\n"
    assert c.send(b"peek-buried\r\n") == b"FOUND 2 1\r\nb\r\n"
    assert c.send(b"kick 10\r\n") == b"KICKED 2\r\n"
    assert c.send(b"kick 10\r\n") == b"KICKED 1\r\n"
    assert c.send(b"kick 10\r\n") == b"KICKED 0\r\n"
    c.send(b"put 0 1 10 1\r\ne\r\n")
    h.advance(1.0)
    assert field(c.send(b"stats-job 4\r\n"), "state") == "ready"


def test_pause_blocks_reserve_until_unpaused() -> None:
    h = Harness()
    worker, admin = h.client(), h.client()
    admin.send(b"put 0 0 10 1\r\nx\r\n")
    assert admin.send(b"pause-tube default 100\r\n") == b"PAUSED\r\n"
    assert worker.send(b"reserve-with-timeout 0\r\n") == b"TIMED_OUT\r\n"
    assert worker.send(b"reserve\r\n") == b""
    assert admin.send(b"peek-ready\r\n") == b"FOUND 1 1\r\nx\r\n"
    assert admin.send(b"pause-tube default 0\r\n") == b"PAUSED\r\n"
    assert worker.read() == b"RESERVED 1 1\r\nx\r\n"


def test_closing_a_connection_releases_its_jobs_at_once() -> None:
    h = Harness()
    worker, other = h.client(), h.client()
    worker.send(b"put 0 0 100 1\r\nx\r\nreserve\r\n")
    worker.close()
    stats = other.send(b"stats-job 1\r\n")
    assert field(stats, "state") == "ready"
    assert field(stats, "timeouts") == "0"


def test_tubes_vanish_when_nothing_refers_to_them() -> None:
    c = Harness().client()
    c.send(b"use x\r\n")
    assert b"- x\n" in c.send(b"list-tubes\r\n")
    c.send(b"use default\r\n")
    assert c.send(b"stats-tube x\r\n") == b"NOT_FOUND\r\n"
    assert c.send(b"pause-tube x 1\r\n") == b"NOT_FOUND\r\n"


def test_ignore_and_watch_counts() -> None:
    c = Harness().client()
    assert c.send(b"watch w1\r\n") == b"WATCHING 2\r\n"
    assert c.send(b"watch w1\r\n") == b"WATCHING 2\r\n"
    assert c.send(b"ignore nosuch\r\n") == b"WATCHING 2\r\n"
    assert c.send(b"ignore default\r\n") == b"WATCHING 1\r\n"
    assert c.send(b"ignore w1\r\n") == b"NOT_IGNORED\r\n"


def test_ids_are_never_reused_and_failed_puts_burn_ids() -> None:
    h = Harness()
    c = h.client()
    c.send(b"put 0 0 1 1\r\nabc\r\n")  # EXPECTED_CRLF burns id 1
    assert c.send(b"put 0 0 1 1\r\nx\r\n") == b"INSERTED 2\r\n"
    h.core.draining = True
    assert c.send(b"put 0 0 1 1\r\nx\r\n") == b"DRAINING\r\n"
    h.core.draining = False
    assert c.send(b"delete 2\r\nput 0 0 1 1\r\nx\r\n") == b"DELETED\r\nINSERTED 4\r\n"


def test_stats_id_always_has_a_letter() -> None:
    c = Harness().client()
    ident = field(c.send(b"stats\r\n"), "id")
    assert re.fullmatch(r"[0-9a-f]{16}", ident)
    assert any(ch.isalpha() for ch in ident)


def test_many_stale_heap_entries_are_compacted() -> None:
    h = Harness()
    c = h.client()
    for _ in range(1000):
        c.send(b"put 0 0 10 1\r\nx\r\n")
    c.send(b"".join(b"delete %d\r\n" % i for i in range(1, 1000)))
    assert len(h.core.default.ready) < 200
    assert c.send(b"reserve\r\n") == b"RESERVED 1000 1\r\nx\r\n"

"""Bulk operations on whole tubes: clear, move, export, import. Pipelined, interruptible, exact.

beanstalk has no "clear tube" or "list jobs" command, so these are built from the standard ones
and pipelined (``window`` commands per round trip), so 100k jobs take seconds, not minutes:

* **ready** jobs (tube not paused) are taken with ``reserve-with-timeout 0`` x window, then acted
  on. Reserving first means no worker can take a job while we handle it.
* **delayed/buried** jobs (and ready jobs of a paused tube) are found with a *head walk*: peek the
  head of the list, ``stats-job`` the ids after it (jobs put together have neighbouring ids), act
  on those that match; the window grows while it keeps matching and shrinks when it does not.
* **export** reads every id from 1 up (``stats-job`` + ``peek``), a window at a time, read-only.

Each operation checks ``stop()`` between round trips: a Ctrl-C finishes the batch in flight, so
no job is lost or handled twice. ``move`` puts a job into the target tube *before* deleting it
from the source, so a crash in between can leave a duplicate but never loses a job. Each runs on a
connection of its own (made from the client you pass), so your client's tubes are untouched.

Theory of the flows: each is a generator yielding lists of calls (see :mod:`._base`), driven by
``Client._drive``; the I/O-free form keeps the batching logic in one place.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tubeworks.client import protocol as p
from tubeworks.client._base import DEFAULT_TUBE, DEFAULT_WINDOW, BaseClient, Call, Flow, JobSpec
from tubeworks.client.errors import BatchFailed, CommandError, LocalProtocolError, NotFound
from tubeworks.client.models import Job, JobState, JobStats
from tubeworks.client.sync import Client

__all__ = [
    "CLEARABLE",
    "BulkResult",
    "clear_tube",
    "export_jobs",
    "import_jobs",
    "job_record",
    "move_jobs",
    "record_spec",
]

# States a job can be removed from by another connection (reserved jobs belong to their worker).
CLEARABLE = ("ready", "delayed", "buried")
ALL_STATES = ("ready", "reserved", "delayed", "buried")
_FIRST_WALK = 8  # initial head-walk window; grows to `window` while ids keep matching

StopFn = Callable[[], bool]
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class BulkResult:
    """How a bulk operation ended."""

    done: int  # jobs deleted / moved / exported / imported
    interrupted: bool = False  # stop() said so; the batch in flight was finished first
    total: int = 0  # how many jobs there were to handle when it started (an estimate)


def _never() -> bool:
    return False


def _no_progress(done: int, total: int) -> None:
    pass


def _check_states(states: Iterable[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(states))
    bad = [s for s in out if s not in allowed]
    if bad or not out:
        raise LocalProtocolError(
            f"states must be some of {', '.join(allowed)}; got {bad or 'none'}"
        )
    return out


def _ok(results: list[Any]) -> list[Any]:
    for r in results:
        if isinstance(r, CommandError):
            raise r
    return results


def _dedicated(client: Client) -> Client:
    return Client(
        client.address,
        timeout=client.timeout,
        connect_timeout=client.connect_timeout,
        reconnect=False,  # a bulk operation never silently continues on a new connection
        encoding=client.encoding,
        **client.security.client_kwargs(),  # the same TLS settings and token
    )


def _run(client: Client, make: Callable[[Client], Flow[BulkResult]]) -> BulkResult:
    with _dedicated(client) as own:
        return own._drive(make(own))


# -- clear ----------------------------------------------------------------------


def clear_tube(
    client: Client,
    tube: str,
    states: Iterable[str] = CLEARABLE,
    *,
    window: int = DEFAULT_WINDOW,
    stop: StopFn = _never,
    progress: ProgressFn = _no_progress,
) -> BulkResult:
    """Delete every job of ``tube`` in ``states`` (ready, delayed, buried).

    Reserved jobs are left alone: only their worker may delete them.
    """
    chosen = _check_states(states, CLEARABLE)
    p.check_tube(tube)
    return _run(client, lambda c: _clear_flow(c, tube, chosen, window, stop, progress))


def _setup(b: BaseClient, tube: str) -> list[Call[Any]]:
    """Use and watch only ``tube`` on this (dedicated) connection."""
    calls: list[Call[Any]] = [b._use_call(tube), b._watch_call(tube)]
    if tube != DEFAULT_TUBE:
        calls.append(b._ignore_call(DEFAULT_TUBE))
    return calls


def _clear_flow(
    b: BaseClient,
    tube: str,
    states: tuple[str, ...],
    window: int,
    stop: StopFn,
    progress: ProgressFn,
) -> Flow[BulkResult]:
    stats = (yield [b._stats_tube_call(tube)])[0]
    if isinstance(stats, NotFound):
        return BulkResult(0)
    _ok([stats])
    total = sum(stats.count(JobState(s)) for s in states)
    _ok((yield _setup(b, tube)))
    done = 0

    def delete(matches: list[JobStats]) -> Flow[int]:
        nonlocal done
        results = yield [b._delete_call(s.id) for s in matches]
        deleted = sum(r is None for r in results)
        done += deleted
        progress(done, total)
        return deleted

    for state in states:
        if state == "ready":
            while True:
                if stop():
                    return BulkResult(done, True, total)
                got = yield [b._reserve_call(0)] * window
                jobs = [j for j in got if isinstance(j, Job)]
                if jobs:
                    deleted = yield [b._delete_call(j.id) for j in jobs]
                    done += sum(r is None for r in deleted)
                    progress(done, total)
                if len(jobs) < window:
                    break
        if (yield from _walk(b, tube, state, window, stop, delete)):
            return BulkResult(done, True, total)
    return BulkResult(done, False, total)


def _walk(
    b: BaseClient,
    tube: str,
    state: str,
    window: int,
    stop: StopFn,
    act: Callable[[list[JobStats]], Flow[int]],
) -> Generator[list[Call[Any]], list[Any], bool]:
    """Hand jobs of ``tube`` in ``state`` to ``act`` until none are left (see the module doc).

    Returns True if ``stop()`` ended it early.
    """
    peek = b._peek_state_call(state)
    head = (yield [peek])[0]
    size = _FIRST_WALK
    stuck = 0
    while isinstance(head, Job):
        if stop():
            return True
        ids = range(head.id, min(head.id + size, p.MAX_U64 + 1))
        found = yield [b._stats_job_call(i) for i in ids]
        matches = [
            s
            for s in found
            if isinstance(s, JobStats) and s.tube == tube and s.state.value == state
        ]
        handled = (yield from act(matches)) if matches else 0
        size = min(window, size * 2) if 2 * len(matches) >= len(ids) else max(1, size // 2)
        previous, head = head, (yield [peek])[0]
        # The head did not go away although we tried: do not spin on it forever.
        stuck = stuck + 1 if isinstance(head, Job) and head.id == previous.id and not handled else 0
        if stuck >= 3:
            raise BatchFailed(f"job {previous.id} in {tube!r} keeps failing; stopped", [])
    if isinstance(head, CommandError) and not isinstance(head, NotFound):
        raise head
    return False


# -- move ----------------------------------------------------------------------


def move_jobs(
    client: Client,
    source: str,
    target: str,
    states: Iterable[str] = ("ready",),
    *,
    limit: int | None = None,
    window: int = DEFAULT_WINDOW,
    stop: StopFn = _never,
    progress: ProgressFn = _no_progress,
) -> BulkResult:
    """Move jobs of ``source`` in ``states`` to ``target``, keeping priority, ttr, remaining delay
    and buried-ness. Each job is put into ``target`` before it is deleted from ``source``.
    """
    chosen = _check_states(states, CLEARABLE)
    p.check_tube(source)
    p.check_tube(target)
    if source == target:
        raise LocalProtocolError(f"source and target are the same tube {source!r}")
    if limit is not None and limit < 0:
        raise LocalProtocolError(f"limit must be >= 0, got {limit}")
    return _run(
        client, lambda c: _move_flow(c, source, target, chosen, limit, window, stop, progress)
    )


def _move_flow(
    b: BaseClient,
    source: str,
    target: str,
    states: tuple[str, ...],
    limit: int | None,
    window: int,
    stop: StopFn,
    progress: ProgressFn,
) -> Flow[BulkResult]:
    stats = (yield [b._stats_tube_call(source)])[0]
    if isinstance(stats, NotFound):
        return BulkResult(0)
    _ok([stats])
    total = sum(stats.count(JobState(s)) for s in states)
    if limit is not None:
        total = min(total, limit)
    _ok((yield _setup(b, source)))
    done = 0

    def room() -> int:
        return window if limit is None else min(window, limit - done)

    def put_then_delete(pairs: list[tuple[JobStats, Job]], reserved: bool) -> Flow[int]:
        """Put each job into target; delete the originals that arrived; give back the rest."""
        puts = [
            b._put_call(
                job.body,
                st.pri,
                max(st.time_left, 0) if st.state is JobState.DELAYED else 0,
                st.ttr,
            )
            for st, job in pairs
        ]
        results = (yield [b._use_call(target), *puts, b._use_call(source)])[1:-1]
        moved = [
            (st, new) for (st, _), new in zip(pairs, results, strict=True) if isinstance(new, int)
        ]
        follow: list[Call[Any]] = []
        for st, new in moved:
            if st.state is JobState.BURIED:  # keep it buried in the target
                follow += [b._reserve_job_call(new), b._bury_call(new, st.pri)]
            follow.append(b._delete_call(st.id))
        if reserved:
            follow += [
                b._release_call(st.id, st.pri, 0)
                for (st, _), r in zip(pairs, results, strict=True)
                if not isinstance(r, int)
            ]
        if follow:
            yield follow
        errors = [r for r in results if isinstance(r, CommandError)]
        if errors:
            raise BatchFailed(
                f"move: {len(errors)} jobs could not be put into {target!r}: {errors[0]}", results
            )
        return len(moved)

    def walk_act(matches: list[JobStats]) -> Flow[int]:
        nonlocal done
        matches = matches[: room()]
        bodies = yield [b._peek_call(s.id) for s in matches]
        pairs = [(s, j) for s, j in zip(matches, bodies, strict=True) if isinstance(j, Job)]
        moved = (yield from put_then_delete(pairs, reserved=False)) if pairs else 0
        done += moved
        progress(done, total)
        return moved

    for state in states:
        if state == "ready":
            while room() > 0:
                if stop():
                    return BulkResult(done, True, total)
                got = yield [b._reserve_call(0)] * room()
                jobs = [j for j in got if isinstance(j, Job)]
                if jobs:
                    found = yield [b._stats_job_call(j.id) for j in jobs]
                    pairs = [
                        (s, j) for s, j in zip(found, jobs, strict=True) if isinstance(s, JobStats)
                    ]
                    done += yield from put_then_delete(pairs, reserved=True)
                    progress(done, total)
                if len(jobs) < len(got):
                    break
        if room() <= 0:
            break
        interrupted = yield from _walk(
            b, source, state, window, lambda: stop() or room() <= 0, walk_act
        )
        if interrupted and room() > 0:
            return BulkResult(done, True, total)
    return BulkResult(done, False, total)


# -- export / import ----------------------------------------------------------------------


def job_record(stats: JobStats, body: bytes) -> dict[str, Any]:
    """One job as a JSON-able dict: the line format of ``export``/``import``."""
    record: dict[str, Any] = {
        "id": stats.id,
        "tube": stats.tube,
        "state": stats.state.value,
        "pri": stats.pri,
        "ttr": stats.ttr,
        "delay": max(stats.time_left, 0) if stats.state is JobState.DELAYED else 0,
    }
    try:
        record["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        record["body_base64"] = base64.b64encode(body).decode("ascii")
    return record


def record_spec(record: Mapping[str, Any]) -> tuple[str, JobSpec, bool]:
    """(tube, job to put, bury it?) from one export record; LocalProtocolError if malformed."""
    if not isinstance(record, Mapping):
        raise LocalProtocolError(f"expected a JSON object per line, got {type(record).__name__}")
    try:
        if "body_base64" in record:
            body = base64.b64decode(record["body_base64"], validate=True)
        else:
            text = record["body"]
            if not isinstance(text, str):
                raise LocalProtocolError(f"'body' must be a string, got {type(text).__name__}")
            body = text.encode("utf-8")
        tube = str(record.get("tube", DEFAULT_TUBE))
        spec = JobSpec(
            body,
            priority=int(record.get("pri", 2**16)),
            delay=int(record.get("delay", 0)),
            ttr=int(record.get("ttr", 60)),
        )
    except KeyError:
        raise LocalProtocolError("expected 'body' or 'body_base64' in every record") from None
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"bad record: {exc}") from None
    return tube, spec, record.get("state") == "buried"


def export_jobs(
    client: Client,
    tube: str,
    emit: Callable[[dict[str, Any]], None],
    states: Iterable[str] = ALL_STATES,
    *,
    window: int = DEFAULT_WINDOW,
    stop: StopFn = _never,
    progress: ProgressFn = _no_progress,
    start: int = 1,
) -> BulkResult:
    """Call ``emit(record)`` for every job of ``tube`` in ``states``, oldest id first; read-only.

    Scans job ids from ``start`` up, ``window`` ids per round trip (beanstalk cannot list a
    tube), until it has seen as many jobs as the tube had when it began or passed the newest id;
    so its cost grows with the ids the server handed out before the tube's last job.
    """
    if start < 1:
        raise LocalProtocolError(f"start must be >= 1, got {start}")
    chosen = _check_states(states, ALL_STATES)
    p.check_tube(tube)
    return _run(
        client, lambda c: _export_flow(c, tube, chosen, emit, window, stop, progress, start)
    )


def _export_flow(
    b: BaseClient,
    tube: str,
    states: tuple[str, ...],
    emit: Callable[[dict[str, Any]], None],
    window: int,
    stop: StopFn,
    progress: ProgressFn,
    start: int,
) -> Flow[BulkResult]:
    server, tstats = yield [b._stats_call(), b._stats_tube_call(tube)]
    if isinstance(tstats, NotFound):
        return BulkResult(0)
    _ok([server, tstats])
    total = sum(tstats.count(JobState(s)) for s in states)
    heads = yield [b._use_call(tube), *(b._peek_state_call(s) for s in CLEARABLE)]
    newest = max([server.total_jobs, *(h.id for h in heads[1:] if isinstance(h, Job))])
    done, first = 0, start
    while True:
        if stop():
            return BulkResult(done, True, total)
        ids = range(first, first + window)
        found = [s for s in (yield [b._stats_job_call(i) for i in ids]) if isinstance(s, JobStats)]
        matches = [s for s in found if s.tube == tube and s.state.value in states]
        if matches:
            bodies = yield [b._peek_call(s.id) for s in matches]
            for s, job in zip(matches, bodies, strict=True):
                if isinstance(job, Job):
                    emit(job_record(s, job.body))
                    done += 1
            progress(done, total)
        first += window
        if done >= total:  # every job the tube had at the start is out: no need to scan further
            return BulkResult(done, False, total)
        if found:
            newest = max(newest, found[-1].id)
        elif first > newest:
            return BulkResult(done, False, total)


def import_jobs(
    client: Client,
    records: Iterable[Mapping[str, Any]],
    *,
    tube: str | None = None,
    window: int = DEFAULT_WINDOW,
    stop: StopFn = _never,
    progress: ProgressFn = _no_progress,
) -> BulkResult:
    """Put jobs from export records (into ``tube`` if given, else each record's tube).

    Priority, ttr and remaining delay are kept; buried jobs are buried again.
    """
    if tube is not None:
        p.check_tube(tube)
    return _run(client, lambda c: _import_flow(c, records, tube, window, stop, progress))


def _import_flow(
    b: BaseClient,
    records: Iterable[Mapping[str, Any]],
    tube: str | None,
    window: int,
    stop: StopFn,
    progress: ProgressFn,
) -> Flow[BulkResult]:
    done = 0
    used: str | None = None
    batch: list[tuple[str, JobSpec, bool]] = []

    def flush() -> Flow[int]:
        nonlocal used
        calls: list[Call[Any]] = []
        slots: list[int] = []  # index of each put's reply in calls
        for name, spec, _ in batch:
            if name != used:
                calls.append(b._use_call(name))
                used = name
            slots.append(len(calls))
            calls.append(b._put_call(spec.body, spec.priority, spec.delay, spec.ttr))
        results = yield calls
        ids = [results[i] for i in slots]
        errors = [r for r in results if isinstance(r, CommandError)]
        rebury: list[Call[Any]] = []
        for (_, spec, bury), new in zip(batch, ids, strict=True):
            if bury and isinstance(new, int):
                rebury += [b._reserve_job_call(new), b._bury_call(new, spec.priority)]
        if rebury:
            _ok((yield rebury))
        if errors:
            raise BatchFailed(f"import: {len(errors)} puts failed: {errors[0]}", ids)
        return len(ids)

    for record in records:
        name, spec, bury = record_spec(record)
        batch.append((tube or name, spec, bury))
        if len(batch) == window:
            if stop():
                return BulkResult(done, True)
            done += yield from flush()
            progress(done, 0)
            batch = []
    if batch:
        done += yield from flush()
        progress(done, 0)
    return BulkResult(done, False, done)

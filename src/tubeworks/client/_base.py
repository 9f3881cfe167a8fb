"""Everything both clients share, with no I/O: commands as :class:`Call` records, the tube state
to restore after a reconnect, the retry policy, and multi-step flows.

Theory of operation. A *call* is the bytes of one command plus a function that turns its reply
into a result (or raises the matching :class:`CommandError`). The facades (:mod:`.sync`,
:mod:`.aio`) only write the bytes of a list of calls in one go and read one reply per call; each
holds a ``_execute(calls)`` driver and a ``_drive(flow)`` driver. A *flow* is a generator that
yields lists of calls and receives their results (values, or ``CommandError`` instances, which are
returned rather than raised so a pipelined batch can report each item); it is how ``put_many``
and the bulk operations in :mod:`.bulk` run identically in both worlds.

Security. A connection is wrapped in TLS when :class:`Security` says so, and a client with a
token sends ``auth <token>`` first on every new connection, before ``use``/``watch`` are
restored (access control may forbid those to strangers).

Reconnects. Before a call, the driver reconnects if the connection is gone (never opened, or
closed by the server while idle): nothing was sent, so any command is safe. If the connection
breaks *after* calls were sent, the replies already read are kept and the remaining calls are
resent on a new connection only when each is safe to repeat (:class:`Retry`); a ``put`` whose
reply was lost raises :class:`PutNotConfirmed` unless the caller opted in with ``retry_puts``.
"""

from __future__ import annotations

import enum
import ssl
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tubeworks.client import protocol as p
from tubeworks.client.address import Address
from tubeworks.client.errors import (
    ERROR_REPLIES,
    BatchFailed,
    Buried,
    CommandError,
    ConnectionBroken,
    DeadlineSoon,
    LocalProtocolError,
    PutNotConfirmed,
    RemoteProtocolError,
    TimedOut,
)
from tubeworks.client.models import Job, JobStats, ServerStats, TubeStats
from tubeworks.client.security import Security

T = TypeVar("T")

DEFAULT_PRIORITY = 2**16  # the same default as greenstalk, pystalk and beaneater
DEFAULT_TTR = 60
DEFAULT_TUBE = "default"
DEFAULT_WINDOW = 1000  # commands in flight per round trip in pipelined batches


class Retry(enum.Enum):
    """May a call be resent on a new connection after the old one broke mid-call?"""

    SAFE = "safe"  # reads and state commands: repeating them changes nothing
    PUT = "put"  # would duplicate the job if the first one was stored: only with retry_puts
    NEVER = "never"  # acts on a reservation the old connection held, or is not idempotent


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One command: its bytes, how to read its reply, and whether it may be resent."""

    name: str  # command name, for error messages
    data: bytes
    interpret: Callable[[p.Reply], T]
    retry: Retry = Retry.SAFE
    blocking: float | None = 0.0  # extra seconds the server may wait before replying; None: forever


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job to put, for :meth:`put_many` when jobs differ in priority, delay or ttr."""

    body: bytes | str
    priority: int = DEFAULT_PRIORITY
    delay: float = 0
    ttr: float = DEFAULT_TTR


Flow = Generator[list[Call[Any]], list[Any], T]


def error_for(reply: p.Reply, command: str) -> CommandError | None:
    cls = ERROR_REPLIES.get(reply.word)
    return cls(reply.line, command) if cls else None


def _expect(command: str, word: bytes, reply: p.Reply) -> p.Reply:
    """Return the reply if it has the expected word; raise the error reply otherwise."""
    if reply.word == word:
        return reply
    err = error_for(reply, command)
    if err is not None:
        raise err
    raise RemoteProtocolError(
        f"{command}: expected {word.decode()}, got {reply.line.decode('ascii', 'replace')!r}"
    )


def _job_id(value: int | Job) -> int:
    return value.id if isinstance(value, Job) else value


class BaseClient:
    """Connection-independent state and the command set. Subclasses add the I/O."""

    def __init__(self, *, encoding: str = "utf-8", retry_puts: bool = False) -> None:
        self.encoding = encoding
        self.retry_puts = retry_puts
        self.security = Security()
        self._ssl: ssl.SSLContext | None = None  # set by _secure
        self._server_hostname: str | None = None
        self._token: bytes | None = None
        # What the caller asked for, replayed after a reconnect.
        self._using = DEFAULT_TUBE
        self._watching: list[str] = [DEFAULT_TUBE]

    # -- state replay -------------------------------------------------------------------------

    def _secure(self, address: Address, security: Security) -> None:
        """Check the security settings now, so mistakes show before the first connect."""
        self.security = security
        self._ssl = security.context(address)
        self._server_hostname = security.hostname(address) if self._ssl is not None else None
        self._token = None if security.token is None else p.check_token(security.token)

    def _restore_calls(self) -> list[Call[Any]]:
        """Calls that bring a fresh connection to the caller's auth and use/watch state."""
        calls: list[Call[Any]] = []
        if self._token is not None:
            calls.append(self._auth_call(self._token))
        if self._using != DEFAULT_TUBE:
            calls.append(self._use_call(self._using))
        for tube in self._watching:
            if tube != DEFAULT_TUBE:
                calls.append(self._watch_call(tube))
        if DEFAULT_TUBE not in self._watching:
            calls.append(self._ignore_call(DEFAULT_TUBE))
        return calls

    def _setup_lost(self, answered: int, cause: BaseException | None) -> ConnectionBroken:
        """The error for a new connection that broke during auth or the tube restore."""
        step = "authenticating" if self._token is not None and answered == 0 else "restoring tubes"
        hint = ""
        if self._ssl is not None and answered == 0:  # the server may not like our certificate
            hint = "; does the server want a client certificate (tls_cert) it trusts?"
        return ConnectionBroken(f"connection lost while {step}: {cause}{hint}")

    def _may_resend(self, calls: list[Call[Any]]) -> bool:
        return all(
            c.retry is Retry.SAFE or (c.retry is Retry.PUT and self.retry_puts) for c in calls
        )

    def _broken_error(self, unanswered: list[Call[Any]], exc: BaseException) -> ConnectionBroken:
        """The error to raise when unanswered calls cannot be resent."""
        names = ", ".join(sorted({c.name for c in unanswered}))
        if any(c.retry is Retry.PUT for c in unanswered):
            err: ConnectionBroken = PutNotConfirmed(
                f"connection lost before the reply to {names}; the job may or may not be stored "
                "(not resent: pass retry_puts=True to allow duplicates)"
            )
        else:
            err = ConnectionBroken(f"connection lost before the reply to {names}: {exc}")
        return err

    @staticmethod
    def _results(calls: list[Call[Any]], replies: list[p.Reply]) -> list[Any]:
        """Interpret replies; command errors become values so a batch reports each item."""
        out: list[Any] = []
        for call, reply in zip(calls, replies, strict=True):
            try:
                out.append(call.interpret(reply))
            except CommandError as err:
                out.append(err)
        return out

    def _body(self, body: bytes | str) -> bytes:
        if isinstance(body, str):
            return body.encode(self.encoding)
        if isinstance(body, (bytes, bytearray, memoryview)):
            return bytes(body)
        raise LocalProtocolError(f"job body must be bytes or str, got {type(body).__name__}")

    # -- calls ----------------------------------------------------------------------------------

    def _put_call(
        self,
        body: bytes | str,
        priority: int = DEFAULT_PRIORITY,
        delay: float = 0,
        ttr: float = DEFAULT_TTR,
    ) -> Call[int]:
        data = p.encode_put(self._body(body), priority, delay, ttr)

        def interpret(reply: p.Reply) -> int:
            if reply.word == b"BURIED":
                raise Buried(reply.line, "put")
            return _expect("put", b"INSERTED", reply).int_arg()

        return Call("put", data, interpret, Retry.PUT)

    def _auth_call(self, token: bytes) -> Call[None]:
        def interpret(reply: p.Reply) -> None:
            if _expect("auth", b"OK", reply).line != p.AUTHENTICATED_LINE:
                raise RemoteProtocolError(f"auth: expected OK AUTHENTICATED, got {reply.line!r}")

        return Call("auth", p.encode_command(b"auth", token), interpret)

    def _use_call(self, tube: str) -> Call[str]:
        data = p.encode_command(b"use", p.check_tube(tube))
        return Call("use", data, lambda r: _expect("use", b"USING", r).args[0].decode())

    def _watch_call(self, tube: str) -> Call[int]:
        data = p.encode_command(b"watch", p.check_tube(tube))
        return Call("watch", data, lambda r: _expect("watch", b"WATCHING", r).int_arg())

    def _ignore_call(self, tube: str) -> Call[int]:
        data = p.encode_command(b"ignore", p.check_tube(tube))
        return Call("ignore", data, lambda r: _expect("ignore", b"WATCHING", r).int_arg())

    def _reserve_call(self, timeout: float | None = None) -> Call[Job]:
        if timeout is None:
            data, blocking = b"reserve\r\n", None
        else:
            secs = p.seconds("timeout", timeout)
            data, blocking = p.encode_command(b"reserve-with-timeout", secs), float(int(secs))
        return Call("reserve", data, _job_reply("reserve", b"RESERVED"), Retry.SAFE, blocking)

    def _reserve_job_call(self, job: int | Job) -> Call[Job]:
        data = p.encode_command(b"reserve-job", p.check_int("job id", _job_id(job), p.MAX_U64))
        return Call("reserve-job", data, _job_reply("reserve-job", b"RESERVED"), Retry.NEVER)

    def _simple(self, name: str, word: bytes, args: tuple[bytes, ...], retry: Retry) -> Call[None]:
        def interpret(reply: p.Reply) -> None:
            if reply.word == b"BURIED" and word != b"BURIED":
                raise Buried(reply.line, name)
            _expect(name, word, reply)

        return Call(name, p.encode_command(name.encode(), *args), interpret, retry)

    def _id(self, job: int | Job) -> bytes:
        return p.check_int("job id", _job_id(job), p.MAX_U64)

    def _delete_call(self, job: int | Job) -> Call[None]:
        return self._simple("delete", b"DELETED", (self._id(job),), Retry.NEVER)

    def _release_call(self, job: int | Job, priority: int, delay: float) -> Call[None]:
        args = (self._id(job), p.check_int("priority", priority), p.seconds("delay", delay))
        return self._simple("release", b"RELEASED", args, Retry.NEVER)

    def _bury_call(self, job: int | Job, priority: int) -> Call[None]:
        args = (self._id(job), p.check_int("priority", priority))
        return self._simple("bury", b"BURIED", args, Retry.NEVER)

    def _touch_call(self, job: int | Job) -> Call[None]:
        return self._simple("touch", b"TOUCHED", (self._id(job),), Retry.NEVER)

    def _kick_call(self, bound: int) -> Call[int]:
        data = p.encode_command(b"kick", p.check_int("kick bound", bound))
        return Call("kick", data, lambda r: _expect("kick", b"KICKED", r).int_arg(), Retry.NEVER)

    def _kick_job_call(self, job: int | Job) -> Call[None]:
        return self._simple("kick-job", b"KICKED", (self._id(job),), Retry.NEVER)

    def _peek_call(self, job: int | Job) -> Call[Job]:
        data = p.encode_command(b"peek", self._id(job))
        return Call("peek", data, _job_reply("peek", b"FOUND"))

    def _peek_state_call(self, state: str) -> Call[Job]:
        if state not in ("ready", "delayed", "buried"):
            raise LocalProtocolError(f"peek state must be ready, delayed or buried, got {state!r}")
        name = f"peek-{state}"
        return Call(name, f"{name}\r\n".encode(), _job_reply(name, b"FOUND"))

    def _stats_job_call(self, job: int | Job) -> Call[JobStats]:
        data = p.encode_command(b"stats-job", self._id(job))
        return Call("stats-job", data, lambda r: JobStats.from_mapping(_yaml_dict("stats-job", r)))

    def _stats_tube_call(self, tube: str) -> Call[TubeStats]:
        data = p.encode_command(b"stats-tube", p.check_tube(tube))
        return Call(
            "stats-tube", data, lambda r: TubeStats.from_mapping(_yaml_dict("stats-tube", r))
        )

    def _stats_call(self) -> Call[ServerStats]:
        return Call(
            "stats", b"stats\r\n", lambda r: ServerStats.from_mapping(_yaml_dict("stats", r))
        )

    def _list_call(self, name: str) -> Call[list[str]]:
        def interpret(reply: p.Reply) -> list[str]:
            return p.parse_yaml_list(_expect(name, b"OK", reply).body or b"")

        return Call(name, f"{name}\r\n".encode(), interpret)

    def _using_call(self) -> Call[str]:
        return Call(
            "list-tube-used",
            b"list-tube-used\r\n",
            lambda r: _expect("list-tube-used", b"USING", r).args[0].decode(),
        )

    def _pause_call(self, tube: str, delay: float) -> Call[None]:
        args = (p.check_tube(tube), p.seconds("delay", delay))
        return self._simple("pause-tube", b"PAUSED", args, Retry.SAFE)

    # -- local state updates (after a successful reply) --------------------------------------------

    def _after_use(self, tube: str) -> None:
        self._using = tube

    def _after_watch(self, tube: str) -> None:
        if tube not in self._watching:
            self._watching.append(tube)

    def _after_ignore(self, tube: str) -> None:
        if tube in self._watching:
            self._watching.remove(tube)

    # -- flows ---------------------------------------------------------------------------

    def _put_many_flow(
        self,
        items: Iterable[bytes | str | JobSpec],
        priority: int,
        delay: float,
        ttr: float,
        window: int,
    ) -> Flow[list[int]]:
        calls = (
            self._put_call(item.body, item.priority, item.delay, item.ttr)
            if isinstance(item, JobSpec)
            else self._put_call(item, priority, delay, ttr)
            for item in items
        )
        return (yield from _batched("put_many", calls, window))

    def _keep_priority_flow(
        self, job: int | Job, priority: int | None, make: Callable[[int], Call[None]]
    ) -> Flow[None]:
        """Run ``make(priority)``; with no priority, the job's current one (one more round trip)."""
        if priority is None:
            stats = (yield [self._stats_job_call(job)])[0]
            if isinstance(stats, CommandError):
                raise stats
            priority = stats.pri
        result = (yield [make(priority)])[0]
        if isinstance(result, CommandError):
            raise result

    def _delete_many_flow(self, jobs: Iterable[int | Job], window: int) -> Flow[None]:
        yield from _batched("delete_many", (self._delete_call(j) for j in jobs), window)

    def _reserve_many_flow(self, count: int) -> Flow[list[Job]]:
        if count < 0:
            raise LocalProtocolError(f"count must be >= 0, got {count}")
        if count == 0:
            return []
        results = yield [self._reserve_call(0)] * count
        for r in results:  # TIMED_OUT / DEADLINE_SOON just mean "no more right now"
            if isinstance(r, CommandError) and not isinstance(r, (TimedOut, DeadlineSoon)):
                raise r
        return [r for r in results if isinstance(r, Job)]

    def _stats_tubes_flow(self) -> Flow[list[TubeStats]]:
        names = (yield [self._list_call("list-tubes")])[0]
        if isinstance(names, CommandError):
            raise names
        results = yield [self._stats_tube_call(n) for n in names]
        # A tube can disappear between the two round trips; leave it out rather than fail.
        return [r for r in results if isinstance(r, TubeStats)]


def _batched(name: str, calls: Iterable[Call[Any]], window: int) -> Flow[list[Any]]:
    """Send ``calls`` ``window`` at a time; raise BatchFailed after the first chunk with errors."""
    if window < 1:
        raise LocalProtocolError(f"window must be >= 1, got {window}")
    results: list[Any] = []
    chunk: list[Call[Any]] = []
    for call in calls:
        chunk.append(call)
        if len(chunk) == window:
            results += yield chunk
            chunk = []
            _raise_batch(name, results)
    if chunk:
        results += yield chunk
        _raise_batch(name, results)
    return results


def _raise_batch(name: str, results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, CommandError)]
    if errors:
        raise BatchFailed(
            f"{name}: {len(errors)} of {len(results)} items failed: {errors[0]}", results
        )


def _job_reply(command: str, word: bytes) -> Callable[[p.Reply], Job]:
    def interpret(reply: p.Reply) -> Job:
        r = _expect(command, word, reply)
        return Job(r.int_arg(0), r.body or b"")

    return interpret


def _yaml_dict(command: str, reply: p.Reply) -> dict[str, str]:
    return p.parse_yaml_dict(_expect(command, b"OK", reply).body or b"")

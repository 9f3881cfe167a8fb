"""The process state machine, as pure data and functions.

Theory of operation
-------------------
A :class:`Proc` is an immutable snapshot of one supervised process.  The daemon feeds it
events (a start or stop request, "the fork worked", "the child exited", a timer firing) with
the current time, and :func:`step` returns the next snapshot plus a list of effects for the
daemon to carry out: spawn a child, send a signal, arm a timer, write a log line, announce a
state change.  Nothing here reads a clock, forks or logs, so every rule of supervisord's
life-cycle (startsecs, the 1 s / 2 s / 3 s back-off, FATAL after startretries+1 failed
starts, autorestart, SIGKILL after stopwaitsecs) can be tested with plain numbers.

Timers are never cancelled: each timer event re-checks its own condition against ``now``
and the snapshot, so a timer left over from an earlier attempt is harmless.

The transition table :data:`TRANSITIONS` maps (state, event type) to a rule; a pair that is
not in it raises :class:`IllegalTransition` naming the process, the state and the event, except
for timer events, which are ignored outside the state that armed them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace

from tubeworks.supervisor.config import ProcessConfig
from tubeworks.supervisor.datatypes import Autorestart, signal_name
from tubeworks.supervisor.restartpolicy import backoff_delay
from tubeworks.supervisor.states import ProcessState as S

TOO_QUICK = "Exited too quickly (process log may have details)"
# an autorestart never respawns a process sooner than this after its previous spawn, so a
# program that exits at once with startsecs=0 restarts about once a second (as supervisord
# does) instead of spinning
MIN_RESTART_INTERVAL = 1.0


@dataclass(frozen=True)
class Proc:
    """One supervised process at one moment."""

    config: ProcessConfig
    state: S = S.STOPPED
    pid: int = 0
    backoff: int = 0  # failed starts in a row; BACKOFF waits this many seconds
    laststart: float = 0.0  # epoch of the last spawn attempt (0: never started)
    laststop: float = 0.0  # epoch of the last exit
    delay: float = 0.0  # BACKOFF: when to retry; STOPPING: when to SIGKILL
    exitstatus: int | None = None  # None after a too-quick exit (reported as 0)
    spawnerr: str = ""  # why the last start failed, shown as the description
    killing: bool = False  # a stop signal was sent; the next exit means STOPPED
    recycling: bool = False  # stopped for max_age: start again once it has exited

    @property
    def name(self) -> str:
        return self.config.name


# ---- events (inputs) ----


@dataclass(frozen=True)
class Start:
    """A start request: autostart, autorestart or a manual start."""


@dataclass(frozen=True)
class Spawned:
    pid: int


@dataclass(frozen=True)
class SpawnFailed:
    message: str


@dataclass(frozen=True)
class Exited:
    status: int  # raw wait status from waitpid
    may_restart: bool = True  # False while the daemon shuts down


@dataclass(frozen=True)
class Stop:
    """A stop request (or part of a shutdown)."""


@dataclass(frozen=True)
class SignalFailed:
    message: str


@dataclass(frozen=True)
class GiveUp:
    """Shutdown: a process waiting in BACKOFF will not be retried."""


@dataclass(frozen=True)
class StartSecsElapsed:
    """Timer: startsecs may have passed."""


@dataclass(frozen=True)
class BackoffElapsed:
    """Timer: a back-off delay may have passed."""


@dataclass(frozen=True)
class StopTimeout:
    """Timer: stopwaitsecs may have passed."""


@dataclass(frozen=True)
class RestartDue:
    """Timer: a rate-limited autorestart may go ahead."""


@dataclass(frozen=True)
class AgeReached:
    """Timer: a RUNNING process may have lived ``max_age`` seconds (recycle it)."""


@dataclass(frozen=True)
class Unhealthy:
    """Health checks failed healthcheck_retries times in a row (restart it)."""

    reason: str


@dataclass(frozen=True)
class MemoryExceeded:
    """The process group's RSS is over ``memory_limit`` (recycle it)."""

    rss: int


Event = (
    Start
    | Spawned
    | SpawnFailed
    | Exited
    | Stop
    | SignalFailed
    | GiveUp
    | StartSecsElapsed
    | BackoffElapsed
    | StopTimeout
    | RestartDue
    | AgeReached
    | MemoryExceeded
    | Unhealthy
)
TIMER_EVENTS = (StartSecsElapsed, BackoffElapsed, StopTimeout, RestartDue, AgeReached)

# ---- effects (outputs) ----


@dataclass(frozen=True)
class Spawn:
    """Fork and exec the command; answer with Spawned or SpawnFailed."""


@dataclass(frozen=True)
class Kill:
    signal: int
    group: bool  # signal the whole process group (-pid)


@dataclass(frozen=True)
class Timer:
    at: float  # epoch seconds
    event: StartSecsElapsed | BackoffElapsed | StopTimeout | RestartDue | AgeReached


@dataclass(frozen=True)
class Log:
    level: str  # "info", "warn", "critical", ...
    message: str


@dataclass(frozen=True)
class StateChanged:
    old: S
    new: S
    extras: tuple[tuple[str, str], ...] = ()  # event payload tokens (tries, pid, expected)


Effect = Spawn | Kill | Timer | Log | StateChanged


class IllegalTransition(RuntimeError):
    """An event that makes no sense in the current state (a bug in the caller)."""

    def __init__(self, proc: Proc, event: Event) -> None:
        super().__init__(
            f"process {proc.name!r} in state {proc.state.name} cannot handle {type(event).__name__}"
        )


def decode_wait_status(status: int) -> tuple[int, str]:
    """(exit code or -1 for a signal, human text) from a raw wait status."""
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return code, f"exit status {code}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        text = f"terminated by {signal_name(sig)}"
        if os.WCOREDUMP(status):
            text += " (core dumped)"
        return -1, text
    return -1, f"unknown termination cause 0x{status:04x}"


Result = tuple[Proc, list[Effect]]


def _change(p: Proc, new: S, fx: list[Effect], **changes: object) -> Proc:
    extras: tuple[tuple[str, str], ...] = ()
    if new in (S.STARTING, S.BACKOFF):
        extras = (("tries", str(changes.get("backoff", p.backoff))),)
    elif new in (S.RUNNING, S.STOPPING, S.STOPPED):
        extras = (("pid", str(changes.get("pid", p.pid))),)
    fx.append(StateChanged(p.state, new, extras))
    return replace(p, state=new, **changes)  # type: ignore[arg-type]


def _start(p: Proc, event: Event, now: float) -> Result:
    fx: list[Effect] = []
    p = _change(p, S.STARTING, fx, laststart=now, spawnerr="", killing=False, recycling=False)
    fx.append(Spawn())
    return p, fx


def _spawned(p: Proc, event: Event, now: float) -> Result:
    assert isinstance(event, Spawned)
    fx: list[Effect] = [Log("info", f"spawned: '{p.name}' with pid {event.pid}")]
    p = replace(p, pid=event.pid)
    if p.config.startsecs == 0:
        return _running(p, fx)
    fx.append(Timer(p.laststart + p.config.startsecs, StartSecsElapsed()))
    return p, fx


def _running(p: Proc, fx: list[Effect]) -> Result:
    p = _change(p, S.RUNNING, fx, delay=0.0, backoff=0)
    fx.append(
        Log(
            "info",
            f"success: {p.name} entered RUNNING state, process has stayed up for > than "
            f"{p.config.startsecs} seconds (startsecs)",
        )
    )
    if p.config.max_age > 0:
        fx.append(Timer(p.laststart + p.config.max_age, AgeReached()))
    return p, fx


def _memory_exceeded(p: Proc, event: Event, now: float) -> Result:
    assert isinstance(event, MemoryExceeded)
    p, fx = _stop(p, event, now)
    limit = p.config.memory_limit
    fx.insert(0, Log("warn", f"recycling: {p.name} uses {event.rss} bytes > memory_limit={limit}"))
    return replace(p, recycling=True), fx


def _unhealthy(p: Proc, event: Event, now: float) -> Result:
    assert isinstance(event, Unhealthy)
    p, fx = _stop(p, event, now)
    n = p.config.healthcheck_retries
    fx.insert(0, Log("warn", f"recycling: {p.name} failed {n} health checks ({event.reason})"))
    return replace(p, recycling=True), fx


def _age_reached(p: Proc, event: Event, now: float) -> Result:
    due = p.laststart + p.config.max_age
    if p.config.max_age <= 0:
        return p, []
    if now < due:
        return p, [Timer(due, AgeReached())]
    p, fx = _stop(p, event, now)
    fx.insert(0, Log("info", f"recycling: {p.name} has run for max_age={p.config.max_age:g}s"))
    return replace(p, recycling=True), fx


def _startsecs(p: Proc, event: Event, now: float) -> Result:
    if now - p.laststart < p.config.startsecs:
        return p, [Timer(p.laststart + p.config.startsecs, StartSecsElapsed())]
    return _running(p, [])


def _backoff(p: Proc, fx: list[Effect], now: float, **changes: object) -> Result:
    backoff = p.backoff + 1
    c = p.config
    wait = backoff_delay(c.restart_backoff, backoff, c.backoff_max, c.backoff_jitter, p.name, now)
    p = _change(p, S.BACKOFF, fx, backoff=backoff, delay=now + wait, pid=0, **changes)
    if 0 <= p.config.startretries < backoff:
        return _give_up(p, fx)
    fx.append(Timer(p.delay, BackoffElapsed()))
    return p, fx


def _give_up(p: Proc, fx: list[Effect]) -> Result:
    p = _change(p, S.FATAL, fx, backoff=0, delay=0.0)
    fx.append(
        Log("info", f"gave up: {p.name} entered FATAL state, too many start retries too quickly")
    )
    return p, fx


def _spawn_failed(p: Proc, event: Event, now: float) -> Result:
    assert isinstance(event, SpawnFailed)
    fx: list[Effect] = [Log("info", f"spawnerr: {event.message}")]
    return _backoff(p, fx, now, spawnerr=event.message)


def _backoff_elapsed(p: Proc, event: Event, now: float) -> Result:
    if now < p.delay:
        return p, [Timer(p.delay, BackoffElapsed())]
    return _start(p, event, now)


def _exited(p: Proc, event: Event, now: float) -> Result:
    assert isinstance(event, Exited)
    code, text = decode_wait_status(event.status)
    expected = code in p.config.exitcodes
    p = replace(p, laststop=now)
    fx: list[Effect] = []
    if p.state == S.STOPPING:
        fx.append(Log("info" if expected else "warn", f"stopped: {p.name} ({text})"))
        p = _change(p, S.STOPPED, fx, killing=False, delay=0.0, exitstatus=code)
        p = replace(p, pid=0)
        if p.recycling and event.may_restart:
            p, more = _start(p, event, now)
            fx.extend(more)
        return p, fx
    if p.state == S.STARTING and now - p.laststart < p.config.startsecs:
        fx.append(Log("warn", f"exited: {p.name} ({text}; not expected)"))
        return _backoff(p, fx, now, exitstatus=None, spawnerr=TOO_QUICK)
    if p.state == S.STARTING:
        p, fx = _running(p, fx)
    pid = p.pid
    p = replace(p, delay=0.0, backoff=0, exitstatus=code, pid=0)
    if expected:
        fx.append(Log("info", f"exited: {p.name} ({text}; expected)"))
    else:
        p = replace(p, spawnerr=f"Bad exit code {code}")
        fx.append(Log("warn", f"exited: {p.name} ({text}; not expected)"))
    fx.append(
        StateChanged(p.state, S.EXITED, (("expected", str(int(expected))), ("pid", str(pid))))
    )
    p = replace(p, state=S.EXITED)
    restart = p.config.autorestart == Autorestart.ALWAYS or (
        p.config.autorestart == Autorestart.UNEXPECTED and not expected
    )
    if restart and event.may_restart:
        due = max(p.laststart + MIN_RESTART_INTERVAL, now + p.config.restart_delay)
        if now < due:
            fx.append(Timer(due, RestartDue()))
            return p, fx
        p, more = _start(p, event, now)
        fx.extend(more)
    return p, fx


def _restart_due(p: Proc, event: Event, now: float) -> Result:
    return _start(p, event, now)


def _stop(p: Proc, event: Event, now: float) -> Result:
    fx: list[Effect] = [Kill(p.config.stopsignal, p.config.stopasgroup)]
    delay = now + p.config.stopwaitsecs
    p = _change(p, S.STOPPING, fx, killing=True, delay=delay)
    fx.append(Timer(delay, StopTimeout()))
    return p, fx


def _stop_backoff(p: Proc, event: Event, now: float) -> Result:
    fx: list[Effect] = []
    return _change(p, S.STOPPED, fx, delay=0.0, backoff=0), fx


def _stop_again(p: Proc, event: Event, now: float) -> Result:
    return replace(p, recycling=False), []  # a stop by hand wins over recycling


def _stop_timeout(p: Proc, event: Event, now: float) -> Result:
    if now < p.delay:
        return p, [Timer(p.delay, StopTimeout())]
    delay = now + p.config.stopwaitsecs
    fx: list[Effect] = [
        Log("warn", f"killing '{p.name}' ({p.pid}) with SIGKILL"),
        Kill(signal.SIGKILL, p.config.killasgroup),
        Timer(delay, StopTimeout()),
    ]
    return replace(p, delay=delay), fx


def _give_up_event(p: Proc, event: Event, now: float) -> Result:
    return _give_up(p, [])


def _signal_failed(p: Proc, event: Event, now: float) -> Result:
    assert isinstance(event, SignalFailed)
    fx: list[Effect] = [Log("critical", event.message)]
    return _change(p, S.UNKNOWN, fx), fx


Rule = Callable[[Proc, Event, float], Result]

TRANSITIONS: dict[tuple[S, type], Rule] = {
    (S.STOPPED, Start): _start,
    (S.EXITED, Start): _start,
    (S.FATAL, Start): _start,
    (S.BACKOFF, Start): _start,
    (S.STARTING, Spawned): _spawned,
    (S.STARTING, SpawnFailed): _spawn_failed,
    (S.STARTING, StartSecsElapsed): _startsecs,
    (S.STARTING, Exited): _exited,
    (S.RUNNING, Exited): _exited,
    (S.STOPPING, Exited): _exited,
    (S.BACKOFF, BackoffElapsed): _backoff_elapsed,
    (S.BACKOFF, GiveUp): _give_up_event,
    (S.EXITED, RestartDue): _restart_due,
    (S.RUNNING, AgeReached): _age_reached,
    (S.RUNNING, MemoryExceeded): _memory_exceeded,
    (S.RUNNING, Unhealthy): _unhealthy,
    (S.STARTING, Stop): _stop,
    (S.RUNNING, Stop): _stop,
    (S.BACKOFF, Stop): _stop_backoff,
    (S.STOPPING, Stop): _stop_again,
    (S.STOPPING, StopTimeout): _stop_timeout,
    (S.STARTING, SignalFailed): _signal_failed,
    (S.RUNNING, SignalFailed): _signal_failed,
    (S.STOPPING, SignalFailed): _signal_failed,
}


def step(proc: Proc, event: Event, now: float) -> Result:
    """Apply ``event`` at time ``now`` (epoch seconds): the next snapshot and the effects.

    Raises:
        IllegalTransition: the event cannot happen in this state (timer events never raise;
            a stale timer is simply ignored).
    """
    rule = TRANSITIONS.get((proc.state, type(event)))
    if rule is None:
        if isinstance(event, TIMER_EVENTS):
            return proc, []
        raise IllegalTransition(proc, event)
    return rule(proc, event, now)

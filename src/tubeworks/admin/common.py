"""What every admin command shares: ``--server`` and the TLS/token options, turning errors into
exit codes, Ctrl-C handling and progress output.
"""

from __future__ import annotations

import functools
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tubeworks.admin.render import progress_line
from tubeworks.client import Address, Client, Security, default_address, parse_address
from tubeworks.client.errors import (
    BatchFailed,
    ClientError,
    CommandError,
    LocalProtocolError,
    RemoteProtocolError,
    TransportError,
)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_REFUSED = 1  # the server answered with an error word or found nothing
EXIT_USAGE = 2  # click's own code for bad usage; also bad input data
EXIT_CONNECTION = 3
EXIT_PROTOCOL = 4
EXIT_INTERRUPTED = 130  # the shell convention for SIGINT

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 refused or not found, 2 bad usage or input, 3 server unreachable, "
    "4 not a beanstalk server, 130 interrupted."
)


if TYPE_CHECKING:  # click >= 8.4 types ParamType as a generic; older clicks are not subscriptable
    _ParamBase = click.ParamType[Address]
else:
    _ParamBase = click.ParamType


class ServerAddress(_ParamBase):
    name = "host:port|tls://host:port|unix:/path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Address):
            return value
        try:
            return parse_address(str(value))
        except LocalProtocolError as exc:
            self.fail(str(exc), param, ctx)


def _default_server() -> Address:
    try:
        return default_address()
    except LocalProtocolError as exc:
        raise click.UsageError(f"TUBEWORKS_SERVER: {exc}") from None


# The click context's meta key under which admin_command leaves the Security for connect().
_SECURITY = "tubeworks.security"

_SECURITY_OPTIONS = (
    click.option(
        "--tls/--no-tls",
        default=None,
        help="Speak TLS, verifying the server's certificate. "
        "[default: on for tls://host:port or when a CA or client certificate is given]",
    ),
    click.option(
        "--tls-ca",
        metavar="FILE",
        default=None,
        help="CA certificates (PEM) the server's certificate must be signed by. "
        "[default: $TUBEWORKS_TLS_CA, else the system's CAs]",
    ),
    click.option(
        "--tls-cert",
        metavar="FILE",
        default=None,
        help="Client certificate (PEM), for servers that want one. "
        "[default: $TUBEWORKS_TLS_CERT]",
    ),
    click.option(
        "--tls-key",
        metavar="FILE",
        default=None,
        help="Key of --tls-cert, if not in that file. [default: $TUBEWORKS_TLS_KEY]",
    ),
    click.option(
        "--tls-insecure",
        is_flag=True,
        help="Accept any server certificate (no verification). For tests only.",
    ),
    click.option(
        "--token",
        metavar="TOKEN",
        default=None,
        help="Send 'auth TOKEN' after connecting (prefer the variable: command lines are "
        "visible to other users). [default: $TUBEWORKS_TOKEN]",
    ),
)


def security_options(fn: F) -> F:
    """Add ``--tls/--no-tls``, ``--tls-ca``, ``--tls-cert``, ``--tls-key``, ``--tls-insecure`` and
    ``--token``, and pass them to ``fn`` as one ``security`` argument (a :class:`Security` with
    the ``TUBEWORKS_*`` environment variables as defaults). The worker command uses it too."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        tls: bool | None,
        tls_ca: str | None,
        tls_cert: str | None,
        tls_key: str | None,
        tls_insecure: bool,
        token: str | None,
        **kwargs: Any,
    ) -> Any:
        kwargs["security"] = Security.from_env(
            tls=tls,
            tls_ca=tls_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_verify=not tls_insecure,
            token=token,
        )
        return fn(*args, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_SECURITY_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def admin_command(name: str, example: str) -> Callable[[F], click.Command]:
    """A click command with ``--server`` and the TLS/token options, an example in its help and
    errors mapped to exit codes. The command calls :func:`connect` to get a client."""

    def decorate(fn: F) -> click.Command:
        @functools.wraps(fn)
        def wrapper(*args: Any, security: Security, **kwargs: Any) -> Any:
            if kwargs.get("server") is None:
                kwargs["server"] = _default_server()
            click.get_current_context().meta[_SECURITY] = security
            with exit_on_errors(name):
                return fn(*args, **kwargs)

        option = click.option(
            "--server",
            "-s",
            type=ServerAddress(),
            default=None,
            metavar="ADDRESS",
            help="Server to talk to, host:port, tls://host:port or unix:/path. "
            "[default: $TUBEWORKS_SERVER, else $BEANSTALKD_HOST:$BEANSTALKD_PORT, "
            "else 127.0.0.1:11300]",
        )
        epilog = f"\b\nExample:\n  {example}\n\n{EXIT_CODES_HELP}"
        return click.command(
            name,
            epilog=epilog,
            context_settings={"help_option_names": ["-h", "--help"]},
        )(option(security_options(wrapper)))

    return decorate


def fail(command: str, message: str, code: int) -> None:
    """Print one line to stderr and exit with ``code``."""
    click.echo(f"tubeworks {command}: {message}", err=True)
    sys.exit(code)


# What an error reply means, for the one-line message on stderr.
_MEANING: dict[bytes, str] = {
    b"JOB_TOO_BIG": "the body is larger than the server's max-job-size (beanstalkd -z)",
    b"DRAINING": "the server is draining and accepts no new jobs",
    b"OUT_OF_MEMORY": "the server could not store the job",
    b"INTERNAL_ERROR": "the server hit an internal error",
    b"BAD_FORMAT": "the server could not parse the command",
    b"UNKNOWN_COMMAND": "the server does not support this command",
    b"BURIED": "stored but buried: the server is out of memory",
    b"UNAUTHORIZED": "not authenticated or wrong token (--token, $TUBEWORKS_TOKEN)",
    b"FORBIDDEN": "this identity lacks the right on that tube (the server's --auth-file)",
    b"TOO_MANY_CONNECTIONS": "the server is at its --max-connections limit",
    b"TOO_MANY_TUBES": "the server is at its --max-tubes limit",
}


@contextmanager
def exit_on_errors(command: str) -> Iterator[None]:
    try:
        yield
    except BatchFailed as exc:
        hint = _MEANING.get(exc.errors[0].word, "") if exc.errors else ""
        fail(command, f"{exc}" + (f" ({hint})" if hint else ""), EXIT_REFUSED)
    except CommandError as exc:
        reply = exc.reply.decode("ascii", "replace")
        why = _MEANING.get(exc.word)
        fail(command, f"server replied {reply}" + (f": {why}" if why else ""), EXIT_REFUSED)
    except TransportError as exc:
        fail(command, str(exc), EXIT_CONNECTION)
    except RemoteProtocolError as exc:
        fail(command, f"not a beanstalk reply: {exc}", EXIT_PROTOCOL)
    except LocalProtocolError as exc:
        fail(command, str(exc), EXIT_USAGE)
    except ClientError as exc:
        fail(command, str(exc), EXIT_REFUSED)


def current_security() -> Security:
    """The TLS/token settings of the running admin command (else from the environment)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.meta.get(_SECURITY) if ctx is not None else None
    return found if isinstance(found, Security) else Security.from_env()


def connect(server: Address, *, lazy: bool = False) -> Client:
    """A client for an admin command, with the command's TLS and token settings."""
    # Admin commands must never resend a put on their own; reconnecting is fine for reads.
    return Client(
        server, timeout=30.0, retry_puts=False, lazy=lazy, **current_security().client_kwargs()
    )


class StopFlag:
    """The first Ctrl-C asks the running bulk operation to stop after its batch in flight;
    a second one interrupts at once (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        def on_sigint(signum: int, frame: FrameType | None) -> None:
            self.requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
            click.echo("\nstopping after the batch in flight (Ctrl-C again to abort)", err=True)

        try:
            previous = signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread: no handler, stop() stays False
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


class Progress:
    """Progress on stderr, rewritten in place; on by default only when stderr is a terminal."""

    def __init__(self, verb: str, enabled: bool | None, every: float = 0.1) -> None:
        self.verb = verb
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.every = every  # seconds between redraws: a terminal cannot show more anyway
        self.shown = False
        self._next = 0.0
        self._last: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        self._last = (done, total)
        now = time.monotonic()
        if self.enabled and now >= self._next:
            self._next = now + self.every
            self._draw(done, total)

    def _draw(self, done: int, total: int) -> None:
        click.echo("\r" + progress_line(self.verb, done, total), err=True, nl=False)
        self.shown = True

    def finish(self) -> None:
        if self.enabled and self._last is not None:
            self._draw(*self._last)
        if self.shown:
            click.echo("", err=True)


def progress_option(fn: F) -> F:
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Show progress on stderr. [default: when stderr is a terminal]",
    )(fn)


def window_option(fn: F) -> F:
    return click.option(
        "--window",
        type=click.IntRange(1, 100_000),
        default=1000,
        show_default=True,
        help="Commands in flight per round trip.",
    )(fn)

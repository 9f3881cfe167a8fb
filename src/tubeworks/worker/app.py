"""An application: handlers declared per tube, a way to enqueue jobs, shared resources.

    app = App()

    @app.handler("emails", max_attempts=3)
    def send_email(payload, ctx):
        ...

    app.put("emails", {"to": "a@example.com"}, delay=10)

Run it with ``tubeworks worker mymodule:app``.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tubeworks.client import (
    DEFAULT_PRIORITY,
    DEFAULT_TTR,
    Address,
    Client,
    Security,
    default_address,
)
from tubeworks.client.address import make_address
from tubeworks.resources import Resources
from tubeworks.worker.policy import Backoff
from tubeworks.worker.serializers import JSON, Serializer

__all__ = ["App", "Handler"]


@dataclass(frozen=True)
class Handler:
    """One registered handler and how its jobs are treated."""

    tube: str
    func: Callable[..., Any]
    is_async: bool  # a coroutine function: run on the worker thread's event loop
    wants_context: bool  # takes a second argument, the JobContext
    serializer: Serializer
    backoff: Backoff


class App:
    """Handlers per tube, an enqueue method, and the resources the handlers share.

    Args:
        address: the queue server (``host:port``, ``tls://host:port`` or ``unix:/path``);
            default from the environment (see :func:`tubeworks.client.default_address`).
        security: TLS settings and auth token for every connection; default from the
            ``TUBEWORKS_TOKEN`` and ``TUBEWORKS_TLS_*`` environment variables.
        serializer: how payloads become bodies; JSON unless told otherwise.
        backoff: retry schedule for handlers that don't set their own.
    """

    def __init__(
        self,
        address: str | Address | None = None,
        *,
        security: Security | None = None,
        serializer: Serializer = JSON,
        backoff: Backoff | None = None,
    ) -> None:
        self.address = default_address() if address is None else make_address(address, None, None)
        self.security = Security.from_env() if security is None else security
        self.serializer = serializer
        self.backoff = backoff or Backoff()
        self.handlers: dict[str, Handler] = {}
        self.resources = Resources()
        self._local = threading.local()

    def handler(
        self,
        tube: str,
        *,
        serializer: Serializer | None = None,
        max_attempts: int | None = None,
        backoff: Backoff | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated function for jobs on ``tube``.

        The function takes the decoded payload, and optionally a :class:`JobContext`. It may
        be ``async``. Returning normally deletes the job; raising :class:`Retry` or
        :class:`Bury` does what they say; any other exception releases the job with back-off
        until ``max_attempts``, then buries it.

        Raises:
            ValueError: a handler for ``tube`` is already registered.
        """

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            if tube in self.handlers:
                raise ValueError(f"tube {tube!r} already has a handler")
            schedule = backoff or self.backoff
            if max_attempts is not None:
                schedule = replace(schedule, max_attempts=max_attempts)
            params = [
                p
                for p in inspect.signature(func).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            self.handlers[tube] = Handler(
                tube=tube,
                func=func,
                is_async=inspect.iscoroutinefunction(func),
                wants_context=len(params) >= 2,
                serializer=serializer or self.serializer,
                backoff=schedule,
            )
            return func

        return register

    def put(
        self,
        tube: str,
        payload: Any,
        *,
        priority: int = DEFAULT_PRIORITY,
        delay: float = 0,
        ttr: float = DEFAULT_TTR,
        serializer: Serializer | None = None,
    ) -> int:
        """Enqueue ``payload`` on ``tube`` and return the job id.

        Uses the tube's handler serializer if one is registered here, else the app's. One
        connection per thread, opened on first use.
        """
        chosen = serializer or (self.handlers[tube].serializer if tube in self.handlers else None)
        body = (chosen or self.serializer).dumps(payload)
        client = self._client()
        if getattr(self._local, "tube", None) != tube:
            client.use(tube)  # the client restores it after a reconnect
            self._local.tube = tube
        return client.put(body, priority=priority, delay=delay, ttr=ttr)

    def close(self) -> None:
        """Close this thread's producer connection and every opened resource."""
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
            self._local.client = self._local.tube = None
        self.resources.close()

    def new_client(self, **kwargs: Any) -> Client:
        """A new connection to the app's queue with its security settings (``kwargs`` go to
        :class:`~tubeworks.client.Client`: ``watch=``, ``lazy=``...)."""
        return Client(self.address, **self.security.client_kwargs(), **kwargs)

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self.new_client()
            self._local.client, self._local.tube = client, None
        return client

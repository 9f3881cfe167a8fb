"""A local SMTP server (aiosmtpd) that keeps what it receives and misbehaves on purpose.

Every ``close_every``-th MAIL gets ``421`` (service closing), every ``drop_every``-th RCPT
has the connection cut, and every ``busy_every``-th DATA gets ``421`` after the body came in
(so the message was *not* accepted).  It never drops a connection after accepting a message,
so a correct sender can deliver everything exactly once; the counts show whether it did.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class SinkStats:
    connections: int = 0
    replied_421: int = 0
    dropped: int = 0
    received: Counter[str] = field(default_factory=Counter)  # Message-ID -> times accepted

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.received.values() if n > 1)


class FlakyHandler:
    def __init__(self, mailbox: Path, close_every: int, drop_every: int, busy_every: int):
        self.mailbox = mailbox
        self.close_every, self.drop_every, self.busy_every = close_every, drop_every, busy_every
        self.stats = SinkStats()
        self._lock = threading.Lock()
        self._n = Counter[str]()

    def _nth(self, what: str, every: int) -> bool:
        with self._lock:
            self._n[what] += 1
            return every > 0 and self._n[what] % every == 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        with self._lock:
            self.stats.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self._nth("mail", self.close_every):
            with self._lock:
                self.stats.replied_421 += 1
            return "421 4.3.2 closing for maintenance, try again"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self._nth("rcpt", self.drop_every):
            with self._lock:
                self.stats.dropped += 1
            server.transport.abort()
            return "250 OK"  # never seen: the connection is gone
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._nth("data", self.busy_every):
            with self._lock:
                self.stats.replied_421 += 1
            return "421 4.3.0 too busy to take this one"
        message = message_from_bytes(envelope.content)
        message_id = str(message["Message-ID"] or "").strip("<>").partition("@")[0]
        with self._lock:
            self.stats.received[message_id] += 1
            copy = self.stats.received[message_id]
        name = message_id if copy == 1 else f"{message_id}.copy{copy}"
        (self.mailbox / f"{name}.eml").write_bytes(envelope.content)
        return "250 OK: queued"


class SmtpSink:
    """Start with :meth:`start`, stop with :meth:`stop`; ``stats`` and ``mailbox`` tell."""

    def __init__(self, mailbox: Path, port: int, *, close_every: int = 97, drop_every: int = 89,
                 busy_every: int = 113) -> None:
        mailbox.mkdir(parents=True, exist_ok=True)
        self.mailbox = mailbox
        self.handler = FlakyHandler(mailbox, close_every, drop_every, busy_every)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port)
        self.port = port

    @property
    def stats(self) -> SinkStats:
        return self.handler.stats

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

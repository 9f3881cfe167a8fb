"""Errors raised by the resource wrappers when a connection dies under them.

The tree (all under :class:`tubeworks.errors.TubeworksError`)::

    ResourceError
        ConnectionLost           nothing was committed/accepted: redoing the whole unit is safe
        OutcomeUnknown           the server may or may not have applied it: do not blindly redo
            CommitOutcomeUnknown     a COMMIT (or autocommit write) lost its reply
            DeliveryOutcomeUnknown   an SMTP message lost the reply to its final "."
        MessageRejected          the SMTP server answered the message with a 4xx/5xx code

``ConnectionLost`` and ``OutcomeUnknown`` are siblings on purpose: code that retries a job on
``ConnectionLost`` must never catch a lost commit by accident.
"""

from __future__ import annotations

from tubeworks.errors import TubeworksError

__all__ = [
    "CommitOutcomeUnknown",
    "ConnectionLost",
    "DeliveryOutcomeUnknown",
    "MessageRejected",
    "OutcomeUnknown",
    "ResourceError",
]


class ResourceError(TubeworksError):
    """Base class for errors of the database and SMTP wrappers."""


class ConnectionLost(ResourceError):
    """The connection died and the wrapper could not safely retry on a new one.

    Raised when a statement fails inside a transaction that already did work (the server rolled
    that transaction back), when a retry on a fresh connection failed too, or when reconnecting
    failed. Nothing of the current transaction was committed, so re-running the whole unit of
    work (for a worker: the whole job) is safe.
    """


class OutcomeUnknown(ResourceError):
    """The connection died after the server may have acted, and before it said so."""


class CommitOutcomeUnknown(OutcomeUnknown):
    """A COMMIT, or a write in autocommit mode, was sent but its reply never arrived.

    The write may or may not be durable. Check for it (e.g. by an idempotency key) before
    doing it again; the wrapper never retries it.
    """


class DeliveryOutcomeUnknown(OutcomeUnknown):
    """An SMTP message was sent in full but the server's verdict never arrived.

    The server may have queued it. The message's ``Message-ID`` lets a receiver spot a
    duplicate if the caller decides to send again.
    """


class MessageRejected(ResourceError):
    """The SMTP server refused the message (or every recipient) with a reply code.

    Attributes:
        code: the SMTP reply code, e.g. 450 or 550.
        reply: the reply text.
    """

    def __init__(self, message: str, code: int, reply: str) -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply

    @property
    def permanent(self) -> bool:
        """True for a 5xx reply: sending the same message again will fail again."""
        return self.code >= 500

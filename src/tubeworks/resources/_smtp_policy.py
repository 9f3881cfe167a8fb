"""When an SMTP message may be sent again, and how it is framed: pure, no sockets.

Theory of operation. A server takes responsibility for a message only by answering 2xx to
the end of its data (the line holding a single "."). So anything that fails before that line
was written — connecting, MAIL, RCPT, DATA, the body itself, or a server that hung up while
we were sending the body — cannot have delivered it, and the message may be sent again on a
new connection. A ``421`` reply at any point is the server closing the channel without
taking the message, so it is the same. Once the final "." was written, a lost reply leaves
the outcome unknown (:class:`DeliveryOutcomeUnknown`), and the message is never resent.
Other 4xx/5xx replies are verdicts on the message, not on the connection
(:class:`MessageRejected`).
"""

from __future__ import annotations

import email.policy
import email.utils
import enum
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

__all__ = ["Envelope", "Phase", "Verdict", "after_disconnect", "after_reply", "envelope", "frame"]


class Phase(enum.IntEnum):
    """How far one attempt to send a message got. Ordered: later phases compare greater."""

    CONNECT = 1  # opening the connection, greeting, EHLO, STARTTLS, AUTH
    ENVELOPE = 2  # MAIL FROM and RCPT TO
    DATA = 3  # the DATA command, before the server's 354
    BODY = 4  # writing the message, before the final "." was written
    END_SENT = 5  # the final "." was written; waiting for the verdict

    def __repr__(self) -> str:
        return f"Phase.{self.name}"


class Verdict(enum.Enum):
    """What to do after an attempt ended."""

    CONTINUE = "continue"  # the command succeeded; go on to the next one
    DELIVERED = "delivered"
    RESEND = "resend"  # reconnect and send again: the server cannot have taken it
    UNKNOWN = "unknown"  # raise DeliveryOutcomeUnknown
    REJECTED = "rejected"  # raise MessageRejected

    def __repr__(self) -> str:
        return f"Verdict.{self.name}"


SERVICE_CLOSING = 421  # RFC 5321 4.2.3: the server is closing the transmission channel


def after_disconnect(phase: Phase) -> Verdict:
    """The connection broke (reset, EOF, broken pipe) during ``phase``."""
    return Verdict.UNKNOWN if phase >= Phase.END_SENT else Verdict.RESEND


def after_reply(phase: Phase, code: int) -> Verdict:
    """The server answered ``code`` to the command that ends ``phase``."""
    if code == SERVICE_CLOSING:
        return Verdict.RESEND
    if phase is Phase.END_SENT:
        return Verdict.DELIVERED if 200 <= code < 300 else Verdict.REJECTED
    if 200 <= code < 300 or (phase is Phase.DATA and code == 354):
        return Verdict.CONTINUE
    return Verdict.REJECTED


@dataclass(frozen=True)
class Envelope:
    """A message ready for the wire."""

    sender: str  # MAIL FROM
    recipients: tuple[str, ...]  # RCPT TO, in order, without duplicates
    data: bytes  # CRLF lines, dot-stuffed, ending in CRLF, without the final "."
    message_id: str | None  # the Message-ID header, to recognise a duplicate downstream
    eight_bit: bool  # the data holds bytes above 127 (wants BODY=8BITMIME)


_LINE_END = re.compile(rb"\r\n|\r|\n")


def frame(data: bytes) -> bytes:
    """Normalise line ends to CRLF, dot-stuff (RFC 5321 4.5.2) and end with CRLF."""
    lines = _LINE_END.split(data)
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def envelope(
    message: Message | bytes,
    sender: str | None = None,
    recipients: list[str] | tuple[str, ...] | None = None,
) -> Envelope:
    """Build the envelope, taking sender and recipients from the headers when not given.

    An :class:`~email.message.Message` without a Message-ID gets one (in place), so every
    attempt carries the same id. Bcc headers are left out of the data.

    Raises:
        ValueError: no sender or no recipient could be found.
    """
    message_id: str | None = None
    if isinstance(message, Message):
        if message["Message-ID"] is None:
            message["Message-ID"] = email.utils.make_msgid()
        message_id = str(message["Message-ID"])
        if sender is None:
            found = message["Sender"] or message["From"]
            sender = email.utils.parseaddr(str(found))[1] if found else None
        if recipients is None:
            fields = [str(v) for h in ("To", "Cc", "Bcc") for v in message.get_all(h, [])]
            recipients = [addr for _, addr in email.utils.getaddresses(fields) if addr]
        copy = _without_bcc(message)
        policy = email.policy.SMTP if isinstance(copy, EmailMessage) else email.policy.compat32
        raw = copy.as_bytes(policy=policy)
    else:
        raw = message
    if not sender:
        raise ValueError("no sender: pass sender= or set a From header")
    if not recipients:
        raise ValueError("no recipients: pass recipients= or set To/Cc/Bcc headers")
    unique = tuple(dict.fromkeys(recipients))
    return Envelope(sender, unique, frame(raw), message_id, any(b > 127 for b in raw))


def _without_bcc(message: Message) -> Message:
    if message["Bcc"] is None:
        return message
    copy: Message = email.message_from_bytes(message.as_bytes(), policy=message.policy)
    del copy["Bcc"]
    return copy

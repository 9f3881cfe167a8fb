"""An SMTP sender that survives 421 replies and dropped connections without duplicating mail.

:class:`Mailer` drives :mod:`smtplib` one command at a time, so it always knows how far a
message got, and asks :mod:`tubeworks.resources._smtp_policy` what a failure means. It writes
the final "." separately from the body and first checks, without sending, whether the server
already hung up: that turns "dropped mid-DATA" into a knowable, resendable case.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message

from tubeworks.resources._drivers import peek_byte, socket_has_news
from tubeworks.resources._errors import ConnectionLost, DeliveryOutcomeUnknown, MessageRejected
from tubeworks.resources._smtp_policy import (
    Envelope,
    Phase,
    Verdict,
    after_disconnect,
    after_reply,
    envelope,
)

__all__ = ["Mailer", "MailerStatistics", "Sent"]


@dataclass(frozen=True)
class Sent:
    """The result of one delivered message."""

    message_id: str | None  # the Message-ID header, if the message had or got one
    attempts: int  # 1, or more after resends
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # per-recipient refusals


@dataclass(frozen=True)
class MailerStatistics:
    """Counters of one :class:`Mailer` since it was created."""

    connects: int  # connections opened
    sent: int  # messages accepted by the server
    resends: int  # attempts repeated because the server cannot have taken the message
    outcome_unknown: int  # DeliveryOutcomeUnknown raised


_WHERE = {
    Phase.CONNECT: "connecting",
    Phase.ENVELOPE: "at MAIL/RCPT",
    Phase.DATA: "at DATA",
    Phase.BODY: "sending the body",
    Phase.END_SENT: "after the final '.'",
}


class _Failed(Exception):
    """One attempt ended; carries what the policy said (internal)."""

    def __init__(self, verdict: Verdict, phase: Phase, detail: str, code: int = 0) -> None:
        super().__init__(detail)
        self.verdict, self.phase, self.detail, self.code = verdict, phase, detail, code


class Mailer:
    """Sends mail over one reused SMTP connection, reconnecting when the server drops it.

    Args:
        host, port: the SMTP server.
        connect: builds a connected, greeted ``smtplib.SMTP`` (with STARTTLS and login if
            needed); the default connects to ``host:port`` and says EHLO.
        timeout: socket timeout in seconds for the default ``connect``.
        reconnect_every: if set, start a new connection after this many messages (servers
            often cap messages per connection).
        max_attempts: how many times one message may be tried when the server cannot have
            accepted it.

    Not thread-safe: use one per thread or process.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 25,
        *,
        connect: Callable[[], smtplib.SMTP] | None = None,
        timeout: float = 30.0,
        reconnect_every: int | None = None,
        max_attempts: int = 3,
    ) -> None:
        if reconnect_every is not None and reconnect_every < 1:
            raise ValueError(f"reconnect_every: expected an integer >= 1, got {reconnect_every!r}")
        self._host, self._port, self._timeout = host, port, timeout
        self._connect = connect or self._default_connect
        self._reconnect_every = reconnect_every
        self._max_attempts = max_attempts
        self._smtp: smtplib.SMTP | None = None
        self._on_this_connection = 0
        self._counts = {"connects": 0, "sent": 0, "resends": 0, "unknown": 0}

    def send(
        self,
        message: Message | bytes,
        *,
        sender: str | None = None,
        recipients: list[str] | tuple[str, ...] | None = None,
    ) -> Sent:
        """Send one message, resending it only while the server cannot have accepted it.

        Args:
            message: an email message (envelope from its headers, Bcc removed, a Message-ID
                added if missing) or raw bytes (then pass sender and recipients).
            sender, recipients: the envelope, overriding the headers.

        Returns:
            :class:`Sent`, with the recipients the server refused if it took the rest.

        Raises:
            MessageRejected: the server refused the message or every recipient (``permanent``
                for 5xx). Nothing was delivered.
            DeliveryOutcomeUnknown: the whole message was sent and the verdict was lost.
            ConnectionLost: every attempt failed before the server could accept the message.
            ValueError: no sender or no recipients.
        """
        env = envelope(message, sender, recipients)
        last = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                refused = self._attempt(env)
            except _Failed as failed:
                self._drop()
                last = failed.detail
                if failed.verdict is Verdict.RESEND:
                    if attempt < self._max_attempts:
                        self._counts["resends"] += 1
                    continue
                if failed.verdict is Verdict.UNKNOWN:
                    self._counts["unknown"] += 1
                    raise DeliveryOutcomeUnknown(
                        f"message {env.message_id or '(no Message-ID)'} was sent in full but "
                        f"its verdict was lost: {failed.detail}"
                    ) from failed.__cause__
                raise MessageRejected(
                    f"message refused: {failed.detail}", failed.code, failed.detail
                ) from None
            self._counts["sent"] += 1
            self._on_this_connection += 1
            if self._reconnect_every and self._on_this_connection >= self._reconnect_every:
                self.close()
            return Sent(env.message_id, attempt, refused)
        raise ConnectionLost(
            f"message not sent after {self._max_attempts} attempts (max_attempts); the server "
            f"cannot have accepted it: {last}"
        )

    def close(self) -> None:
        """Say QUIT and close; the next message opens a new connection."""
        smtp, self._smtp = self._smtp, None
        self._on_this_connection = 0
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def statistics(self) -> MailerStatistics:
        """A snapshot of the counters."""
        c = self._counts
        return MailerStatistics(c["connects"], c["sent"], c["resends"], c["unknown"])

    # -- internals ---------------------------------------------------------------------------

    def _default_connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        smtp.ehlo_or_helo_if_needed()
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        self._on_this_connection = 0
        if smtp is not None:
            smtp.close()

    def _ensure(self) -> smtplib.SMTP:
        if self._smtp is not None and self._server_hung_up(self._smtp):
            self._drop()  # an idle connection the server closed: nothing was sent on it
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                code = getattr(exc, "smtp_code", 0)
                verdict = Verdict.RESEND if code in (0, 421) else Verdict.REJECTED
                raise _Failed(verdict, Phase.CONNECT, f"connecting: {exc}", code) from exc
            self._counts["connects"] += 1
        return self._smtp

    @staticmethod
    def _server_hung_up(smtp: smtplib.SMTP) -> bool:
        """True if the server spoke or closed while it had nothing to answer."""
        sock = smtp.sock
        if sock is None:
            return True
        fd = sock.fileno()
        return fd < 0 or (socket_has_news(fd) and peek_byte(fd) is not None)

    def _attempt(self, env: Envelope) -> dict[str, tuple[int, str]]:
        smtp = self._ensure()
        phase = Phase.ENVELOPE
        try:
            options = ["BODY=8BITMIME"] if env.eight_bit and smtp.has_extn("8bitmime") else []
            self._expect(phase, *smtp.mail(env.sender, options))
            refused: dict[str, tuple[int, str]] = {}
            for rcpt in env.recipients:
                code, text = smtp.rcpt(rcpt)
                if code == 421:
                    self._expect(phase, code, text)
                if code not in (250, 251):
                    refused[rcpt] = (code, text.decode("utf-8", "replace"))
            if len(refused) == len(env.recipients):
                self._reset(smtp)
                code, reason = refused[env.recipients[-1]]
                detail = f"every recipient refused, the last with: {code} {reason}"
                raise _Failed(Verdict.REJECTED, phase, detail, code)
            phase = Phase.DATA
            code, text = smtp.docmd("DATA")
            if code != 354:
                self._reset(smtp)
                self._expect(phase, code, text)
                raise _Failed(Verdict.REJECTED, phase, f"at DATA: expected 354, got {code}", code)
            phase = Phase.BODY
            smtp.send(env.data)
            if self._server_hung_up(smtp):
                raise _Failed(Verdict.RESEND, phase, "the server hung up before the final '.'")
            smtp.send(b".\r\n")
            phase = Phase.END_SENT
            self._expect(phase, *smtp.getreply())
            return refused
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            detail = f"{_WHERE[phase]}: {exc}"
            raise _Failed(after_disconnect(phase), phase, detail) from exc

    @staticmethod
    def _expect(phase: Phase, code: int, text: bytes) -> None:
        verdict = after_reply(phase, code)
        if verdict not in (Verdict.CONTINUE, Verdict.DELIVERED):
            detail = f"{_WHERE[phase]}: {code} {text.decode('utf-8', 'replace')}"
            raise _Failed(verdict, phase, detail, code)

    @staticmethod
    def _reset(smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            pass

"""The Mailer against a real aiosmtpd server that misbehaves on purpose.

Each server keeps what it accepted; "exactly once" is checked on the Message-IDs it stored.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from resources.conftest import wait_until
from resources.faultproxy import FaultProxy, Link
from servers import free_port
from tubeworks.resources import ConnectionLost, DeliveryOutcomeUnknown, MessageRejected
from tubeworks.resources._drivers import socket_has_news
from tubeworks.resources.smtp import Mailer

pytestmark = pytest.mark.timeout(20)


class Handler:
    """Stores accepted messages; the ``plan`` makes it misbehave in scripted ways."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, list[str], bytes]] = []
        self.plan: dict[str, Any] = {}
        self.sessions: set[int] = set()
        self.lock = threading.Lock()

    def message_ids(self) -> list[str]:
        ids = []
        for _, _, content in self.accepted:
            for line in content.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    ids.append(line.split(b":", 1)[1].strip().decode())
        return ids

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.sessions.add(id(session))
        count = getattr(session, "tw_count", 0)
        if self.plan.get("mail_421_once"):
            self.plan["mail_421_once"] = False
            return "421 try again later"
        cap = self.plan.get("cap_per_session")
        if cap is not None and count >= cap:
            return "421 too many messages on this connection"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.plan.get("refuse", ()):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.plan.get("data_421_once"):
            self.plan["data_421_once"] = False
            return "421 shutting down"
        if self.plan.get("data_450"):
            return "450 mailbox busy"
        with self.lock:
            self.accepted.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        session.tw_count = getattr(session, "tw_count", 0) + 1
        close_after = self.plan.get("close_after")
        if close_after is not None and session.tw_count >= close_after:
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 OK queued"


@pytest.fixture
def smtpd() -> Iterator[tuple[Controller, Handler]]:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def mailer(smtpd: tuple[Controller, Handler]) -> Iterator[Mailer]:
    controller, _ = smtpd
    m = Mailer(controller.hostname, controller.port, timeout=10)
    yield m
    m.close()


def message(n: int, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "jobs@example.com"
    msg["To"] = "user@example.com"
    msg["Subject"] = f"message {n}"
    for k, v in headers.items():
        msg[k] = v
    msg.set_content(f"body {n}\n.leading dot\n")
    return msg


def test_sends_with_headers_envelope_and_a_stable_message_id(
    smtpd: tuple[Controller, Handler], mailer: Mailer
) -> None:
    _, handler = smtpd
    msg = message(1, Cc="cc@example.com", Bcc="hidden@example.com")
    sent = mailer.send(msg)
    assert sent.attempts == 1 and sent.message_id == msg["Message-ID"]
    [(sender, rcpts, content)] = handler.accepted
    assert sender == "jobs@example.com"
    assert rcpts == ["user@example.com", "cc@example.com", "hidden@example.com"]
    assert b"hidden@example.com" not in content and b"\r\n.leading dot\r\n" in content
    assert handler.message_ids() == [msg["Message-ID"]]


def test_421_at_end_of_data_once_is_resent_and_delivered_once(
    smtpd: tuple[Controller, Handler], mailer: Mailer
) -> None:
    _, handler = smtpd
    handler.plan["data_421_once"] = True
    msg = message(1)
    assert mailer.send(msg).attempts == 2
    assert handler.message_ids() == [msg["Message-ID"]]
    assert mailer.statistics().connects == 2


def test_421_at_mail_once_is_resent_and_delivered_once(
    smtpd: tuple[Controller, Handler], mailer: Mailer
) -> None:
    _, handler = smtpd
    handler.plan["mail_421_once"] = True
    msg = message(1)
    assert mailer.send(msg).attempts == 2
    assert handler.message_ids() == [msg["Message-ID"]]


@pytest.mark.parametrize("plan", [{"close_after": 2}, {"cap_per_session": 2}], ids=repr)
def test_server_that_closes_or_refuses_after_n_messages(
    smtpd: tuple[Controller, Handler], mailer: Mailer, plan: dict[str, int]
) -> None:
    _, handler = smtpd
    handler.plan.update(plan)
    msgs = [message(n) for n in range(5)]
    for msg in msgs:
        mailer.send(msg)
    assert handler.message_ids() == [m["Message-ID"] for m in msgs]
    assert len(handler.sessions) == 3


def test_reconnect_every_n_messages(smtpd: tuple[Controller, Handler]) -> None:
    controller, handler = smtpd
    mailer = Mailer(controller.hostname, controller.port, reconnect_every=2)
    try:
        for n in range(5):
            mailer.send(message(n))
    finally:
        mailer.close()
    assert len(handler.accepted) == 5
    assert len(handler.sessions) == 3
    assert mailer.statistics().connects == 3


def test_idle_connection_closed_by_the_server_is_replaced_before_sending() -> None:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), timeout=1)
    controller.start()
    mailer = Mailer(controller.hostname, controller.port)
    try:
        mailer.send(message(1))
        sock = mailer._smtp.sock  # type: ignore[union-attr]
        fd = sock.fileno()
        wait_until(lambda: socket_has_news(fd), what="the server's idle timeout")
        msg = message(2)
        assert mailer.send(msg).attempts == 1  # found dead before MAIL, so not even a resend
        assert handler.message_ids()[-1] == msg["Message-ID"] and len(handler.accepted) == 2
    finally:
        mailer.close()
        controller.stop()


class DropMidData(FaultProxy):
    """On the first connection, answers DATA with 354 and hangs up, before the body arrives."""

    def from_server(self, link: Link, data: bytes) -> None:
        if link.number == 0 and link.state.get("rcpt_sent") and data.startswith(b"250"):
            link.end_client(data + b"354 go ahead\r\n")
            return
        link.to_client(data)

    def from_client(self, link: Link, data: bytes) -> None:
        if data.upper().startswith(b"RCPT TO"):
            link.state["rcpt_sent"] = True
        link.to_server(data)


class LoseVerdict(FaultProxy):
    """On the first connection, forwards the final '.' and drops the server's verdict."""

    def from_client(self, link: Link, data: bytes) -> None:
        tail = link.state.get("tail", b"") + data
        link.state["tail"] = tail[-5:]
        if link.number == 0 and b"\r\n.\r\n" in tail:
            link.state["end_sent"] = True
        link.to_server(data)

    def from_server(self, link: Link, data: bytes) -> None:
        if link.state.get("end_sent"):
            link.cut()
            return
        link.to_client(data)


def test_dropped_mid_data_is_resent_and_delivered_once(smtpd: tuple[Controller, Handler]) -> None:
    controller, handler = smtpd
    proxy = DropMidData((controller.hostname, controller.port))
    mailer = Mailer("127.0.0.1", proxy.port)
    try:
        msg = message(1)
        assert mailer.send(msg).attempts == 2
        assert handler.message_ids() == [msg["Message-ID"]]
    finally:
        mailer.close()
        proxy.close()


def test_lost_verdict_after_final_dot_is_outcome_unknown_and_not_resent(
    smtpd: tuple[Controller, Handler],
) -> None:
    controller, handler = smtpd
    proxy = LoseVerdict((controller.hostname, controller.port))
    mailer = Mailer("127.0.0.1", proxy.port)
    try:
        msg = message(1)
        with pytest.raises(
            DeliveryOutcomeUnknown,
            match=r"^message <[^>]+> was sent in full but its verdict was lost: after the final "
            r"'\.': Connection unexpectedly closed$",
        ):
            mailer.send(msg)
        wait_until(lambda: len(handler.accepted) == 1, what="the server to store the message")
        assert handler.message_ids() == [msg["Message-ID"]]  # it had been accepted: no resend
        mailer.send(message(2))  # and the mailer carries on with a new connection
        assert len(handler.accepted) == 2
    finally:
        mailer.close()
        proxy.close()


def test_refusals_are_rejections_not_resends(
    smtpd: tuple[Controller, Handler], mailer: Mailer
) -> None:
    _, handler = smtpd
    handler.plan["refuse"] = {"user@example.com"}
    with pytest.raises(
        MessageRejected,
        match=r"^message refused: every recipient refused, the last with: 550 no such user$",
    ) as info:
        mailer.send(message(1))
    assert info.value.code == 550 and info.value.permanent
    sent = mailer.send(message(2, Cc="ok@example.com"))
    assert sent.refused == {"user@example.com": (550, "no such user")}
    assert handler.accepted[0][1] == ["ok@example.com"]
    handler.plan["data_450"], handler.plan["refuse"] = True, set()
    with pytest.raises(
        MessageRejected, match=r"^message refused: after the final '\.': 450 mailbox busy$"
    ) as info:
        mailer.send(message(3))
    assert not info.value.permanent
    assert len(handler.accepted) == 1


def test_server_down_is_connection_lost_after_max_attempts() -> None:
    mailer = Mailer("127.0.0.1", free_port(), timeout=2, max_attempts=2)
    with pytest.raises(
        ConnectionLost, match=r"^message not sent after 2 attempts \(max_attempts\)"
    ):
        mailer.send(message(1))
    assert mailer.statistics().connects == 0

"""Example 2's worker: one job per message; sent through :class:`tubeworks.resources.Mailer`.

The Mailer resends a message only while the server cannot have taken it (a 421 reply, a
connection dropped before the final "."), so a flaky server costs retries, never duplicates.
What it cannot resend safely (the verdict on a fully sent message was lost) is buried for a
human, and a temporary refusal is retried later through the queue.
"""

from __future__ import annotations

import os
import smtplib
import socket
from email.message import EmailMessage

from tubeworks.resources import ConnectionLost, DeliveryOutcomeUnknown, Mailer, MessageRejected
from tubeworks.worker import App, Bury, Retry

SENDER = "newsletter@tubeworks.example"

app = App()


def _mailer() -> Mailer:
    host, _, port = os.environ.get("EXAMPLE_SMTP", "127.0.0.1:8025").rpartition(":")

    def connect() -> smtplib.SMTP:
        smtp = smtplib.SMTP(host, int(port), timeout=10)
        # the Mailer writes the final "." on its own: without this, Nagle's algorithm and the
        # server's delayed ACK hold every message back by some 40 ms
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo()
        return smtp

    return Mailer(host, int(port), connect=connect, max_attempts=5)


app.resources.add("mailer", _mailer)


def compose(job: dict[str, str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = job["to"]
    message["Subject"] = f"{job['name']}, your {job['product']} has shipped"
    message["Message-ID"] = f"<{job['id']}@tubeworks.example>"
    message.set_content(
        f"Dear {job['name']},\n\nyour order {job['order']} ({job['product']}) left our "
        "warehouse today.\n\n-- the tubeworks example shop\n"
    )
    return message


@app.handler("mail", max_attempts=10)
def send(job: dict[str, str]) -> None:
    mailer: Mailer = app.resources["mailer"]
    try:
        mailer.send(compose(job))
    except ConnectionLost:
        raise Retry(delay=1) from None  # the server cannot have taken it: try again later
    except MessageRejected as exc:
        if exc.permanent:
            raise Bury(f"refused for good: {exc}") from None
        raise Retry(delay=1) from None
    except DeliveryOutcomeUnknown as exc:
        raise Bury(f"maybe delivered, not resent: {exc}") from None

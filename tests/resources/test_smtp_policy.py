"""SMTP resend rules and message framing, without a server."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tubeworks.resources._smtp_policy import (
    Phase,
    Verdict,
    after_disconnect,
    after_reply,
    envelope,
    frame,
)


@pytest.mark.parametrize("phase", list(Phase), ids=repr)
def test_a_disconnect_is_resendable_until_the_final_dot_was_written(phase: Phase) -> None:
    expected = Verdict.UNKNOWN if phase is Phase.END_SENT else Verdict.RESEND
    assert after_disconnect(phase) is expected


@pytest.mark.parametrize(
    ("phase", "code", "verdict"),
    [
        (Phase.ENVELOPE, 250, Verdict.CONTINUE),
        (Phase.ENVELOPE, 421, Verdict.RESEND),
        (Phase.ENVELOPE, 451, Verdict.REJECTED),
        (Phase.ENVELOPE, 550, Verdict.REJECTED),
        (Phase.DATA, 354, Verdict.CONTINUE),
        (Phase.DATA, 421, Verdict.RESEND),
        (Phase.DATA, 554, Verdict.REJECTED),
        (Phase.END_SENT, 250, Verdict.DELIVERED),
        (Phase.END_SENT, 421, Verdict.RESEND),  # "closing channel" is not an acceptance
        (Phase.END_SENT, 452, Verdict.REJECTED),
        (Phase.END_SENT, 554, Verdict.REJECTED),
        (Phase.END_SENT, 354, Verdict.REJECTED),
    ],
    ids=repr,
)
def test_replies(phase: Phase, code: int, verdict: Verdict) -> None:
    assert after_reply(phase, code) is verdict


@pytest.mark.parametrize(
    ("data", "framed"),
    [
        (b"a\nb", b"a\r\nb\r\n"),
        (b"a\r\nb\r\n", b"a\r\nb\r\n"),
        (b".\n..x\nend\r", b"..\r\n...x\r\nend\r\n"),
        (b"", b""),
    ],
)
def test_frame(data: bytes, framed: bytes) -> None:
    assert frame(data) == framed


@given(st.binary(max_size=200))
def test_framed_data_never_ends_the_message_early(data: bytes) -> None:
    framed = frame(data)
    assert b"\r\n.\r\n" not in b"\r\n" + framed
    assert framed == b"" or framed.endswith(b"\r\n")
    assert b"\r" not in framed.replace(b"\r\n", b"") and b"\n" not in framed.replace(b"\r\n", b"")


def test_envelope_from_headers_adds_a_message_id_and_hides_bcc() -> None:
    msg = EmailMessage()
    msg["From"] = "Jobs <jobs@example.com>"
    msg["To"] = "a@example.com, B <b@example.com>"
    msg["Bcc"] = "a@example.com, c@example.com"
    msg.set_content("hé")
    env = envelope(msg)
    assert env.sender == "jobs@example.com"
    assert env.recipients == ("a@example.com", "b@example.com", "c@example.com")
    assert env.message_id == msg["Message-ID"] is not None
    assert b"Bcc" not in env.data and msg["Bcc"] is not None  # the caller's copy is intact
    assert envelope(msg).message_id == env.message_id  # stable across attempts


def test_envelope_errors() -> None:
    with pytest.raises(ValueError, match=r"^no sender: pass sender= or set a From header$"):
        envelope(b"Subject: x\r\n\r\nhi\r\n", recipients=["a@example.com"])
    msg = EmailMessage()
    msg["From"] = "jobs@example.com"
    with pytest.raises(ValueError, match=r"^no recipients: pass recipients= or set To/Cc/Bcc"):
        envelope(msg)

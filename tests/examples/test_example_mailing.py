"""Example 2: an autoscaled pool mails through a flaky SMTP sink; each message lands once."""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from example_harness import Said, no_children_left
from examples.mailing.produce import mailing
from examples.run import run_mailing


@pytest.mark.timeout(90)
def test_every_message_arrives_once_and_the_pool_grows_and_shrinks(tmp_path: Path) -> None:
    said = Said()
    summary = run_mailing(tmp_path / "ex2", said, messages=320)
    mailbox = tmp_path / "ex2" / "mailbox"
    files = sorted(mailbox.glob("*.eml"))
    assert not [f for f in files if ".copy" in f.name]  # no message accepted twice
    expected = {job["id"]: job for job in mailing(320)}
    got = {}
    for f in files:
        message = email.message_from_bytes(f.read_bytes())
        got[str(message["Message-ID"]).strip("<>").partition("@")[0]] = message
    assert set(got) == set(expected)
    sample = got["mailing-000123"]
    assert sample["To"] == "customer123@example.org"
    assert f"Dear {expected['mailing-000123']['name']}," in sample.get_payload()
    assert summary[0] == f"2. mailing: 320 messages delivered exactly once to {mailbox}"
    assert "with 421 and dropped" in summary[1]
    sizes = [int(n) for n in summary[2].split(":")[1].split("processes")[0].split("->")]
    assert sizes[0] == 1 and max(sizes) > 1 and sizes[-1] == 1
    assert no_children_left()

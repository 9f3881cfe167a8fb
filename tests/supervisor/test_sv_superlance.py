"""superlance's event listeners run unchanged against our daemon, as against supervisord.

``crashmail`` (PyPI superlance) is started as an ``[eventlistener:x]``; it reads events with
the listener protocol and "mails" a crash through a sendmail stand-in that writes the message
to a file.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from svharness import VENV_BIN, running_daemon, wait_for, write_config

SENDMAIL = """#!/bin/sh
cat > "$(dirname "$0")/mail.$$.tmp" && mv "$(dirname "$0")/mail.$$.tmp" "$(dirname "$0")/mail.$$"
"""


def sent_mails(directory: Path) -> list[Path]:
    """Mails the sendmail stand-in has finished writing (not its ``.tmp`` files)."""
    return sorted(p for p in directory.glob("mail.*") if not p.name.endswith(".tmp"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["tubeworks", "supervisord"])
def test_crashmail_reports_an_unexpected_exit(tmp_path: Path, kind: str) -> None:
    sendmail = tmp_path / "sendmail.sh"
    sendmail.write_text(SENDMAIL)
    sendmail.chmod(sendmail.stat().st_mode | stat.S_IEXEC)
    config = write_config(
        tmp_path,
        f"""
        [eventlistener:crashmail]
        command={VENV_BIN / "crashmail"} -a -m ops@example.com -s {sendmail}
        events=PROCESS_STATE_EXITED
        stderr_logfile=%(here)s/logs/crashmail.err

        [program:crasher]
        command={sys.executable} -c "import time; time.sleep(0.5); raise SystemExit(3)"
        autorestart=false
        startsecs=0
        exitcodes=0
        """,
    )
    with running_daemon(kind, config):
        mails = wait_for(lambda: sent_mails(tmp_path), 30, "a crash mail")
    text = mails[0].read_text()
    assert "To: ops@example.com" in text
    assert "crasher" in text
    assert "unexpectedly" in text


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["tubeworks", "supervisord"])
def test_memmon_restarts_a_process_over_its_memory_limit(tmp_path: Path, kind: str) -> None:
    """memmon listens for TICK_5, reads process info over XML-RPC (SUPERVISOR_SERVER_URL) and
    restarts a program whose RSS is over its limit, then mails about it."""
    sendmail = tmp_path / "sendmail.sh"
    sendmail.write_text(SENDMAIL)
    sendmail.chmod(sendmail.stat().st_mode | stat.S_IEXEC)
    config = write_config(
        tmp_path,
        f"""
        [eventlistener:memmon]
        command={VENV_BIN / "memmon"} -p hog=30MB -m ops@example.com -s {sendmail}
        events=TICK_5
        stderr_logfile=%(here)s/logs/memmon.err

        [program:hog]
        command={sys.executable} -c "import time; x = bytearray(80 << 20); time.sleep(600)"
        startsecs=0
        """,
    )
    with running_daemon(kind, config):
        mails = wait_for(lambda: sent_mails(tmp_path), 60, "a memmon mail")
    text = mails[0].read_text()
    assert "To: ops@example.com" in text
    assert "hog" in text and "restarted" in text

"""Differential: the real supervisorctl against the real supervisord and against ours.

Same config, same commands (svtranscript.py); outputs and exit codes must match once pids,
uptimes and dates are masked.
"""

from __future__ import annotations

import pytest
from svtranscript import Transcript


@pytest.mark.timeout(150)
def test_supervisorctl_output_matches_real_supervisord(
    transcripts: dict[str, Transcript],
) -> None:
    ours, theirs = transcripts["ours"], transcripts["real"]
    assert ours[0][1] == 3 and "sleeper" in ours[0][2]  # the transcript is not vacuous
    for (cmd, rc, text), (_, rc2, text2) in zip(ours, theirs, strict=True):
        assert (cmd, rc, text) == (cmd, rc2, text2)

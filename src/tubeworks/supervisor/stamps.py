"""``stdout_log_timestamps=true``: each captured output line gets the time it was read.

Output arrives in arbitrary chunks, so the stamper remembers whether the last chunk ended
mid-line (that line already has its stamp).  Pure: bytes and a clock value in, bytes out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def stamp(now: float) -> bytes:
    """``2026-12-03 15:31:45,052 `` in local time, like the activity log's lines."""
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    return f"{text},{int((now % 1) * 1000):03d} ".encode()


@dataclass
class LineStamper:
    """Prefixes every line that starts in a chunk with the chunk's time."""

    at_line_start: bool = True

    def feed(self, data: bytes, now: float) -> bytes:
        if not data:
            return data
        prefix = stamp(now)
        lines = data.split(b"\n")
        out = bytearray()
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and not line:
                break  # the chunk ended with a newline: the next line starts later
            if i > 0 or self.at_line_start:
                out += prefix
            out += line
            if not last:
                out += b"\n"
        self.at_line_start = data.endswith(b"\n")
        return bytes(out)

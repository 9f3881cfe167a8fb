"""Capture mode: text a child brackets with supervisord's tokens becomes one event.

With ``stdout_capture_maxbytes > 0`` (or stderr), output between ``<!--XSUPERVISOR:BEGIN-->``
and ``<!--XSUPERVISOR:END-->`` is not logged; it is collected (at most ``maxbytes``, the
oldest bytes dropped beyond that) and published as one PROCESS_COMMUNICATION_STDOUT/STDERR
event.  Tokens may be split across reads, so the splitter holds back a possible partial
token at the end of a chunk.  Pure: bytes in, pieces out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BEGIN = b"<!--XSUPERVISOR:BEGIN-->"
END = b"<!--XSUPERVISOR:END-->"


def _partial_suffix(data: bytes, token: bytes) -> int:
    """Length of the longest suffix of ``data`` that is a proper prefix of ``token``."""
    for size in range(min(len(token) - 1, len(data)), 0, -1):
        if data.endswith(token[:size]):
            return size
    return 0


@dataclass
class CaptureSplitter:
    """Feed output chunks; get back bytes to log and finished captured messages."""

    maxbytes: int
    capturing: bool = False
    held: bytes = b""  # a possible partial token carried to the next chunk
    captured: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """(bytes to log, completed captures) for one chunk of output."""
        data = self.held + data
        self.held = b""
        log = bytearray()
        done: list[bytes] = []
        while data:
            token = END if self.capturing else BEGIN
            at = data.find(token)
            if at < 0:
                keep = _partial_suffix(data, token)
                body, self.held = (data[:-keep], data[-keep:]) if keep else (data, b"")
                self._take(body, log)
                break
            self._take(data[:at], log)
            data = data[at + len(token) :]
            if self.capturing:
                done.append(bytes(self.captured))
                self.captured.clear()
            self.capturing = not self.capturing
        return bytes(log), done

    def _take(self, body: bytes, log: bytearray) -> None:
        if not self.capturing:
            log += body
            return
        self.captured += body
        if len(self.captured) > self.maxbytes:
            del self.captured[: len(self.captured) - self.maxbytes]

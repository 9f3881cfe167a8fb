"""How the dashboard shows a job body: JSON pretty-printed, text as is, anything else as hex.

The result is plain data for the page to put into the DOM as text (never as HTML), so a body
holding ``<script>`` is shown, not run. Bodies can be up to the server's job size limit;
only the first :data:`SHOW_BYTES` are rendered.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

SHOW_BYTES: Final = 16 * 1024  # enough to recognise a job; the rest is cut
HEX_ROW: Final = 16  # bytes per line of the hex dump

# control characters other than tab, LF and CR make "text" unreadable: show those as hex
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def render_body(body: bytes) -> dict[str, Any]:
    """``{"kind": "json"|"text"|"binary", "text": ..., "size": n, "truncated": bool}``."""
    head = body[:SHOW_BYTES]
    truncated = len(body) > SHOW_BYTES
    out: dict[str, Any] = {"size": len(body), "truncated": truncated}
    text = _as_text(head, truncated)
    if text is None:
        return {**out, "kind": "binary", "text": hex_dump(head)}
    if not truncated:
        try:
            value = json.loads(text)
        except ValueError:
            pass
        else:
            if isinstance(value, dict | list):
                pretty = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
                return {**out, "kind": "json", "text": pretty}
    return {**out, "kind": "text", "text": text}


def _as_text(data: bytes, truncated: bool) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a cut through a multi-byte character at the end is still text
        cut_at_end = exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"
        if not (truncated and cut_at_end):
            return None
        text = data[: exc.start].decode("utf-8")
    return None if _CONTROL.search(text) else text


def hex_dump(data: bytes) -> str:
    """``offset  hex bytes  |ascii|`` lines, 16 bytes each."""
    lines = []
    for at in range(0, len(data), HEX_ROW):
        row = data[at : at + HEX_ROW]
        hexes = " ".join(f"{b:02x}" for b in row)
        ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{at:08x}  {hexes:<{HEX_ROW * 3 - 1}}  |{ascii_}|")
    return "\n".join(lines)

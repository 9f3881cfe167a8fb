"""Example 4's worker: the Python side of jobs put by PHP.

Each job ``{"seq", "name", "sent_by", "out"}`` becomes ``OUT/greeting_SEQ.json``, written
atomically, saying which worker process answered it. The queue neither knows nor cares that
the producer was PHP: the body is bytes, JSON by agreement.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tubeworks.worker import App

app = App()


@app.handler("phpsw")
def greet(payload: dict[str, object], ctx: object) -> None:
    out = Path(str(payload["out"]))
    out.mkdir(parents=True, exist_ok=True)
    answer = {
        "seq": payload["seq"],
        "greeting": f"hello, {payload['name']}!",
        "sent_by": payload["sent_by"],
        "answered_by": f"Python worker pid {os.getpid()}",
        "job_id": getattr(ctx, "id", None),
    }
    target = out / f"greeting_{int(str(payload['seq'])):05d}.json"
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(answer) + "\n")
    os.replace(tmp, target)

"""How payloads become job bodies and back. JSON by default; bytes pass through untouched."""

from __future__ import annotations

import json
from typing import Any, Protocol

__all__ = ["JSON", "RAW", "DecodeError", "Serializer"]


class DecodeError(ValueError):
    """A job body the serializer cannot read; the runner buries such jobs at once."""


class Serializer(Protocol):
    def dumps(self, payload: Any) -> bytes: ...

    def loads(self, body: bytes) -> Any: ...


class JsonSerializer:
    """UTF-8 JSON. ``bytes`` payloads are sent as they are (and come back as decoded JSON)."""

    def dumps(self, payload: Any) -> bytes:
        if isinstance(payload, bytes):
            return payload
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(self, body: bytes) -> Any:
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DecodeError(f"job body is not JSON: {exc}") from exc


class RawSerializer:
    """Bodies are bytes both ways (``str`` payloads are encoded as UTF-8)."""

    def dumps(self, payload: Any) -> bytes:
        if isinstance(payload, str):
            return payload.encode()
        if not isinstance(payload, bytes):
            raise TypeError(f"raw payloads must be bytes or str, got {type(payload).__name__}")
        return payload

    def loads(self, body: bytes) -> Any:
        return body


JSON = JsonSerializer()
RAW = RawSerializer()

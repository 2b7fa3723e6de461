"""Reading a router's SSE answer in tests: (event name, parsed data) pairs."""

from __future__ import annotations

from typing import Any

import orjson

from providers.sse import SSEDecoder


def parse_sse(raw: bytes) -> list[tuple[str | None, Any]]:
    decoder = SSEDecoder()
    frames = decoder.feed(raw) + decoder.flush()
    return [(name, data if data == b"[DONE]" else orjson.loads(data)) for name, data in frames]

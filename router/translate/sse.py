"""SSE frame encoding for both APIs."""

from __future__ import annotations

import orjson

from router.types import JSON

DONE = b"data: [DONE]\n\n"


def data_frame(payload: JSON) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event_frame(event: str, payload: JSON) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

"""SSE frame encoding, and each API's in-band stream error (built here only)."""

from __future__ import annotations

import orjson

from router.types import JSON

DONE = b"data: [DONE]\n\n"


def data_frame(payload: JSON) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event_frame(event: str, payload: JSON) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def openai_error_frames(error_type: str, message: str) -> list[bytes]:
    """How a Chat Completions stream that broke after its first byte ends: an error chunk, then
    [DONE] (what OpenAI itself sends, and what the SDKs raise on)."""
    err = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return [data_frame(err), DONE]


def anthropic_error_frame(error_type: str, message: str) -> bytes:
    return event_frame("error", {"type": "error", "error": {"type": error_type, "message": message}})

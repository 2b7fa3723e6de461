"""Token counts reported by an upstream, in either API's shape, for metrics and the access log."""

from __future__ import annotations

from typing import Any

from router.types import JSON, Api


def _int(usage: Any, key: str) -> int:
    v = usage.get(key) if isinstance(usage, dict) else None
    return v if isinstance(v, int) and v > 0 else 0


def _openai(payload: JSON) -> tuple[int, int] | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    return _int(usage, "prompt_tokens"), _int(usage, "completion_tokens")


def _anthropic(payload: JSON) -> tuple[int, int] | None:
    # A whole message, or a stream's message_start (nested) or message_delta (cumulative output).
    message = payload.get("message")
    usage = (message if isinstance(message, dict) else payload).get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = (_int(usage, "input_tokens") + _int(usage, "cache_read_input_tokens")
              + _int(usage, "cache_creation_input_tokens"))
    return prompt, _int(usage, "output_tokens")


_READERS = {Api.OPENAI: _openai, Api.ANTHROPIC: _anthropic}


def reported(api: Api, payload: JSON) -> tuple[int, int] | None:
    """(prompt, completion) tokens in a response body or stream event, if it reports any."""
    return _READERS[api](payload)

"""Token usage between the APIs: OpenAI's prompt count includes cached tokens, Anthropic's
input count excludes cache reads and writes (wire.md §2.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.types import JSON


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def to_openai(usage: Mapping[str, Any]) -> JSON:
    cache_read = _count(usage, "cache_read_input_tokens")
    prompt = _count(usage, "input_tokens") + cache_read + _count(usage, "cache_creation_input_tokens")
    completion = _count(usage, "output_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }


def to_anthropic(usage: Mapping[str, Any]) -> JSON:
    details = usage.get("prompt_tokens_details")
    cached = _count(details, "cached_tokens") if isinstance(details, dict) else 0
    return {
        "input_tokens": max(_count(usage, "prompt_tokens") - cached, 0),
        "output_tokens": _count(usage, "completion_tokens"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def estimated_anthropic(prompt_tokens: int) -> JSON:
    """What an Anthropic client sees before (or without) the upstream's own count."""
    return {
        "input_tokens": prompt_tokens,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }

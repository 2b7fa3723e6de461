"""Request analysis of a messages-shaped body (Chat Completions or Anthropic Messages, before any
translation): which capabilities it needs and how long its prompt is. Each client API (router.wire)
finds its own sticky session key and calls this."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from router.types import JSON, Capability, Needs

# A rough, fast estimate: ~4 characters per token for text and JSON schemas, and a flat cost per
# image (providers bill a typical image at 500-1600 tokens; base64 length says nothing useful).
CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1000
MESSAGE_OVERHEAD_TOKENS = 4
MAX_DEPTH = 32


def analyse(body: JSON, session_key: str | None = None) -> Needs:
    needs: set[Capability] = set()
    chars = 0
    images = 0
    messages = body.get("messages")
    count = len(messages) if isinstance(messages, list) else 0
    for text_len, image_count, tool_turn in _walk_messages(messages):
        chars += text_len
        images += image_count
        if tool_turn:
            needs.add(Capability.TOOLS)
    system = body.get("system")
    chars += _text_len(system)
    tools = body.get("tools")
    if tools:
        needs.add(Capability.TOOLS)
        chars += _json_len(tools)
    if images:
        needs.add(Capability.VISION)
    needs |= _format_needs(body)
    tokens = chars // CHARS_PER_TOKEN + images * IMAGE_TOKENS + count * MESSAGE_OVERHEAD_TOKENS
    return Needs(
        capabilities=frozenset(needs),
        prompt_tokens=tokens,
        session_key=session_key,
        stream=body.get("stream") is True,
    )


def _walk_messages(messages: Any) -> Iterable[tuple[int, int, bool]]:
    """Per message: (text characters, image parts, whether it is a tool turn)."""
    if not isinstance(messages, list):
        return
    for m in messages:
        if not isinstance(m, dict):
            continue
        tool_turn = m.get("role") in ("tool", "function") or bool(m.get("tool_calls"))
        content = m.get("content")
        if isinstance(content, str):
            yield len(content), 0, tool_turn
            continue
        chars = images = 0
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                kind = part.get("type")
                if kind in ("image_url", "image"):
                    images += 1
                elif kind in ("tool_use", "tool_result"):
                    tool_turn = True
                    chars += _json_len(part.get("input") or part.get("content") or "")
                else:
                    chars += _text_len(part.get("text"))
        if m.get("tool_calls"):
            chars += _json_len(m["tool_calls"])
        yield chars, images, tool_turn


def _format_needs(body: JSON) -> set[Capability]:
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind == "json_object":
            return {Capability.JSON_OBJECT}
        if kind == "json_schema":
            return {Capability.JSON_SCHEMA}
    output = body.get("output_config")  # Anthropic structured outputs (or the beta's spelling)
    if (isinstance(output, dict) and isinstance(output.get("format"), dict)) or isinstance(
            body.get("output_format"), dict):
        return {Capability.JSON_SCHEMA}
    return set()


def _text_len(v: Any) -> int:
    if isinstance(v, str):
        return len(v)
    if isinstance(v, list):
        return sum(len(b.get("text", "")) for b in v if isinstance(b, dict)
                   and isinstance(b.get("text"), str))
    return 0


def _json_len(v: Any, depth: int = 0) -> int:
    # Cheap size of a JSON-ish value without serialising it; bounded depth, so a hostile,
    # deeply nested schema cannot exhaust the stack.
    if isinstance(v, str):
        return len(v)
    if depth > MAX_DEPTH:
        return 4
    if isinstance(v, dict):
        return sum(len(k) + _json_len(x, depth + 1) + 4 for k, x in v.items())
    if isinstance(v, list):
        return sum(_json_len(x, depth + 1) + 1 for x in v)
    return 4

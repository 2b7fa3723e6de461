"""Request analysis of a client's body before any translation: which capabilities it needs and
how long its prompt is. `analyse` reads a messages-shaped body (Chat Completions or Anthropic
Messages), `analyse_items` a Responses API body (input items). Each client API (router.wire)
finds its own sticky session key and calls one of them."""

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
_OUTPUT_FIELDS = ("max_tokens", "max_completion_tokens")  # Chat Completions and Messages


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
        max_output=_ceiling(body, _OUTPUT_FIELDS),
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


# Responses API items that are a tool turn, and the field holding what they carry.
_TOOL_ITEMS = {"function_call": "arguments", "function_call_output": "output",
               "custom_tool_call": "input", "custom_tool_call_output": "output"}
_TRANSLATED_TOOLS = frozenset({"function", "custom", "namespace"})  # the others are dropped
_RESPONSES_FORMATS = {"json_object": Capability.JSON_OBJECT, "json_schema": Capability.JSON_SCHEMA}


def analyse_items(body: JSON, session_key: str | None = None) -> Needs:
    needs: set[Capability] = set()
    raw = body.get("input")
    items = raw if isinstance(raw, list) else []
    chars = _text_len(raw) if isinstance(raw, str) else 0
    images = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        carried = _TOOL_ITEMS.get(kind) if isinstance(kind, str) else None
        if carried is not None:
            needs.add(Capability.TOOLS)
            value = item.get(carried)
            if isinstance(value, list):
                text, seen = _parts_len(value)
                chars, images = chars + text, images + seen
            else:
                chars += _json_len(value or "")
            continue
        text, seen = _parts_len(item.get("content"))
        chars, images = chars + text, images + seen
    chars += _text_len(body.get("instructions"))
    tools = [t for t in body.get("tools") or () if isinstance(t, dict)
             and isinstance(t.get("type"), str) and t["type"] in _TRANSLATED_TOOLS]
    if tools:
        needs.add(Capability.TOOLS)
        chars += _json_len(tools)
    if images:
        needs.add(Capability.VISION)
    options = body.get("text")
    fmt = options.get("format") if isinstance(options, dict) else None
    if isinstance(fmt, dict) and isinstance(fmt.get("type"), str) and fmt["type"] in _RESPONSES_FORMATS:
        needs.add(_RESPONSES_FORMATS[fmt["type"]])
        chars += _json_len(fmt.get("schema") or "")
    tokens = chars // CHARS_PER_TOKEN + images * IMAGE_TOKENS + len(items) * MESSAGE_OVERHEAD_TOKENS
    return Needs(capabilities=frozenset(needs), prompt_tokens=tokens, session_key=session_key,
                 stream=body.get("stream") is True,
                 max_output=_ceiling(body, ("max_output_tokens",)))


def _ceiling(body: JSON, fields: tuple[str, ...]) -> int | None:
    """The smallest positive integer among the body's output-bound fields (None: none set)."""
    least: int | None = None
    for name in fields:
        value = body.get(name)
        # type() is int: a bool is not a token count (and this runs on every request).
        if type(value) is int and value > 0 and (least is None or value < least):
            least = value
    return least


def _parts_len(content: Any) -> tuple[int, int]:
    """(text characters, images) of a Responses `content`: a string or a part list."""
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "input_image":
            images += 1
        else:
            chars += _text_len(part.get("text"))
    return chars, images


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

"""An OpenAI chat.completion as an Anthropic Messages answer (wire.md §2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.translate import usage
from router.translate.context import ResponseContext
from router.translate.ids import anthropic_tool_id, message_id, minted_tool_id
from router.translate.reasons import stop_reason
from router.types import JSON


def reasoning_of(holder: Mapping[str, Any]) -> str:
    """Reasoning text under either de-facto name (DeepSeek/vLLM vs OpenRouter)."""
    for key in ("reasoning_content", "reasoning"):
        value = holder.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def tool_use_id(raw: Any, response_id: str, index: int) -> str:
    return anthropic_tool_id(raw) if isinstance(raw, str) and raw else minted_tool_id(response_id, index)


def _input(arguments: Any) -> JSON:
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def message_shell(upstream_id: Any, ctx: ResponseContext) -> JSON:
    """An assistant message with no content yet: the non-streaming answer's frame and the
    stream's message_start payload."""
    return {
        "id": message_id(upstream_id),
        "type": "message",
        "role": "assistant",
        "model": ctx.served_model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage.estimated_anthropic(ctx.prompt_tokens),
    }


def translate(body: JSON, ctx: ResponseContext) -> JSON:
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    response_id = str(body.get("id") or "")
    blocks: list[JSON] = []
    reasoning = reasoning_of(message)
    if reasoning:
        # an empty signature: clients require the field; it cannot be replayed upstream anyway
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    for text in (message.get("content"), message.get("refusal")):
        if isinstance(text, str) and text:
            blocks.append({"type": "text", "text": text})
    calls = [c for c in message.get("tool_calls") or () if isinstance(c, dict)]
    for k, call in enumerate(calls):
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_use_id(call.get("id"), response_id, k),
                "name": ctx.tool_names.get(name, name),
                "input": _input(function.get("arguments")),
            }
        )
    out = message_shell(body.get("id"), ctx)
    out["content"] = blocks
    out["stop_reason"] = stop_reason(choice.get("finish_reason"), bool(calls))
    if isinstance(body.get("usage"), dict):
        out["usage"] = usage.to_anthropic(body["usage"])
    return out

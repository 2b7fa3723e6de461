"""An Anthropic Messages answer as an OpenAI chat.completion (wire.md §2)."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from router.translate import usage
from router.translate.context import ResponseContext
from router.translate.ids import completion_id
from router.translate.reasons import finish_reason
from router.types import JSON


def tool_call(block: JSON, index: int, names: Mapping[str, str]) -> JSON:
    name = str(block.get("name") or "")
    return {
        "index": index,
        "id": str(block.get("id") or ""),
        "type": "function",
        "function": {
            "name": names.get(name, name),
            "arguments": orjson.dumps(block.get("input") or {}).decode(),
        },
    }


def translate(body: JSON, ctx: ResponseContext) -> JSON:
    blocks = [b for b in body.get("content") or () if isinstance(b, dict)]
    # text blocks are concatenated without a separator, as their streamed deltas would be
    text = "".join(b.get("text") or "" for b in blocks if b.get("type") == "text")
    reasoning = "".join(b.get("thinking") or "" for b in blocks if b.get("type") == "thinking")
    uses = [b for b in blocks if b.get("type") == "tool_use"]
    message: JSON = {"role": "assistant", "content": text or None, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning  # de-facto field (DeepSeek, vLLM, litellm)
    if uses:
        message["tool_calls"] = [tool_call(b, i, ctx.tool_names) for i, b in enumerate(uses)]
    return {
        "id": completion_id(body.get("id")),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.served_model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(body.get("stop_reason")),
                "logprobs": None,
            }
        ],
        "usage": usage.to_openai(body.get("usage") or {}),
    }

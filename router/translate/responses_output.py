"""The parts of a Responses API answer, built the same way for a JSON answer and a stream: the
response object (which repeats the request's parameters), its output items and its usage.

Ids are derived from the router's answer id (`ResponseContext.answer_id`, fresh per attempt):
`resp_{answer}` for the response and `{kind}_{answer}_{output index}` for its items, so a
stream and its collected form agree, and an `item_reference` names the response that holds
the item (router.api.responses resolves it from there)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from router.translate.context import ResponseContext
from router.translate.responses_tools import ToolKind, ToolRef, custom_input
from router.types import JSON

RESPONSE_PREFIX = "resp_"
ITEM_PREFIXES = ("msg", "fc", "ctc")


class Status(enum.Enum):
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    IN_PROGRESS = "in_progress"
    FAILED = "failed"


# Chat Completions finish reasons (what every upstream's stop is first mapped to) that end an
# answer early, with the `incomplete_details.reason` they give.
_INCOMPLETE: Mapping[str, str] = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_id(ctx: ResponseContext) -> str:
    return RESPONSE_PREFIX + ctx.answer_id


def item_id(ctx: ResponseContext, kind: str, index: int) -> str:
    return f"{kind}_{ctx.answer_id}_{index}"


def minted_call_id(ctx: ResponseContext, index: int) -> str:
    """A call id for a tool call the upstream left without one."""
    return f"call_{ctx.answer_id}_{index}"


def response_of_item(item: str) -> str | None:
    """The id of the response that produced an output item, from the item's id."""
    kind, _, rest = item.partition("_")
    answer, _, index = rest.rpartition("_")
    if kind not in ITEM_PREFIXES or not answer or not index.isdigit():
        return None
    return RESPONSE_PREFIX + answer


def message_item(ident: str, text: str, status: str = "completed") -> JSON:
    return {"type": "message", "id": ident, "status": status, "role": "assistant",
            "content": [output_text(text)]}


def output_text(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def call_item(ident: str, call_id: str, ref: ToolRef, arguments: str, status: str = "completed") -> JSON:
    """A `function_call` item, or a `custom_tool_call` item with the raw input unwrapped."""
    if ref.kind is ToolKind.CUSTOM:
        item: JSON = {"type": "custom_tool_call", "id": ident, "call_id": call_id,
                      "name": ref.name, "input": custom_input(arguments), "status": status}
    else:
        item = {"type": "function_call", "id": ident, "call_id": call_id, "name": ref.name,
                "arguments": arguments, "status": status}
    if ref.namespace is not None:
        item["namespace"] = ref.namespace
    return item


def call_kind(ref: ToolRef) -> str:
    return "ctc" if ref.kind is ToolKind.CUSTOM else "fc"


def ended(finish: str) -> tuple[Status, str | None]:
    """The status an answer ended with, and why it is incomplete when it is."""
    reason = _INCOMPLETE.get(finish)
    return (Status.INCOMPLETE, reason) if reason else (Status.COMPLETED, None)


def usage(prompt: int, output: int, cached: int = 0, cache_write: int = 0, reasoning: int = 0) -> JSON:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": cache_write},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output,
    }


def _count(usage: Any, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and value > 0 else 0


def usage_of_chat(counts: Any) -> JSON:
    prompt_details = counts.get("prompt_tokens_details") if isinstance(counts, dict) else None
    output_details = counts.get("completion_tokens_details") if isinstance(counts, dict) else None
    return usage(_count(counts, "prompt_tokens"), _count(counts, "completion_tokens"),
                 cached=_count(prompt_details, "cached_tokens"),
                 reasoning=_count(output_details, "reasoning_tokens"))


def usage_of_anthropic(counts: Any) -> JSON:
    cached = _count(counts, "cache_read_input_tokens")
    written = _count(counts, "cache_creation_input_tokens")
    return usage(_count(counts, "input_tokens") + cached + written, _count(counts, "output_tokens"),
                 cached=cached, cache_write=written)


def response(ctx: ResponseContext, status: Status, output: list[JSON], counts: JSON | None,
             incomplete: str | None = None, error: JSON | None = None) -> JSON:
    """The response object: the answer, and the request's parameters as the API repeats them."""
    body = ctx.request
    asked = body.get("reasoning")
    reasoning: JSON = asked if isinstance(asked, dict) else {}
    text = body.get("text")
    return {
        "id": response_id(ctx),
        "object": "response",
        "created_at": ctx.created,
        "status": status.value,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": _string(body.get("instructions")),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": ctx.served_model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": _string(body.get("previous_response_id")),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": body.get("store") is not False,
        "temperature": body.get("temperature", 1.0),
        "text": text if isinstance(text, dict) and text else {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") if isinstance(body.get("tools"), list) else [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": counts,
        "user": _string(body.get("user")),
        "safety_identifier": _string(body.get("safety_identifier")),
        "prompt_cache_key": _string(body.get("prompt_cache_key")),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
    }


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None

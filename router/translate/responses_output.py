"""The parts of a Responses API answer, built the same way for a JSON answer and a stream: the
response object (which repeats the request's parameters), its output items and its usage.

Ids are derived from the router's answer id (`ResponseContext.answer_id`, fresh per attempt):
`resp_{answer}` for the response and `{kind}_{answer}_{output index}` for its items, so a
stream and its collected form agree, and an `item_reference` names the response that holds
the item (router.api.responses resolves it from there)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
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


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _fields(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _NO_FIELDS


_NO_FIELDS: Mapping[str, Any] = {}


def usage_of_chat(counts: Any) -> JSON:
    fields = _fields(counts)
    prompt = fields.get("prompt_tokens_details")
    output = fields.get("completion_tokens_details")
    # Most upstreams send neither detail object: no lookup into an empty one for them.
    return usage(_count(fields.get("prompt_tokens")), _count(fields.get("completion_tokens")),
                 cached=_count(prompt.get("cached_tokens")) if isinstance(prompt, dict) else 0,
                 reasoning=_count(output.get("reasoning_tokens")) if isinstance(output, dict) else 0)


def usage_of_anthropic(counts: Any) -> JSON:
    fields = _fields(counts)
    cached = _count(fields.get("cache_read_input_tokens"))
    written = _count(fields.get("cache_creation_input_tokens"))
    return usage(_count(fields.get("input_tokens")) + cached + written,
                 _count(fields.get("output_tokens")), cached=cached, cache_write=written)


def response(ctx: ResponseContext, status: Status, output: list[JSON], counts: JSON | None,
             incomplete: str | None = None, error: JSON | None = None) -> JSON:
    """The response object: the answer, and the request's parameters as the API repeats them."""
    shown: JSON = {
        "id": response_id(ctx),
        "object": "response",
        "created_at": ctx.created,
        "status": status.value,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        # The request's parameters, as the API repeats them when the request left them out
        # (a fresh dict each: the literal is cheaper than copying a template).
        "instructions": None,
        "max_output_tokens": None,
        "model": ctx.served_model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": counts,
        "user": None,
        "safety_identifier": None,
        "prompt_cache_key": None,
        "metadata": {},
    }
    # Only the fields the request sent are looked at: most requests send a few of the fifteen.
    for key, value in ctx.request.items():
        show = _ECHOED.get(key)
        if show is not None:
            shown[key] = show(value, shown[key])
    return shown


def _as_sent(value: Any, _absent: Any) -> Any:
    return value


def _string_or_none(value: Any, _absent: Any) -> str | None:
    return value if isinstance(value, str) else None


def _unless_false(value: Any, _absent: Any) -> bool:
    return value is not False


def _reasoning(value: Any, absent: Any) -> Any:
    return ({"effort": value.get("effort"), "summary": value.get("summary")}
            if isinstance(value, dict) else absent)


def _non_empty_object(value: Any, absent: Any) -> Any:
    return value if isinstance(value, dict) and value else absent


def _object(value: Any, absent: Any) -> Any:
    return value if isinstance(value, dict) else absent


def _array(value: Any, absent: Any) -> Any:
    return value if isinstance(value, list) else absent


# How a request parameter the response repeats is shown when the request sent it (the second
# argument: what is shown when it did not; a value of the wrong shape shows as that).
_ECHOED: Mapping[str, Callable[[Any, Any], Any]] = {
    "instructions": _string_or_none,
    "max_output_tokens": _as_sent,
    "parallel_tool_calls": _unless_false,
    "previous_response_id": _string_or_none,
    "reasoning": _reasoning,
    "store": _unless_false,
    "temperature": _as_sent,
    "text": _non_empty_object,
    "tool_choice": _as_sent,
    "tools": _array,
    "top_p": _as_sent,
    "user": _string_or_none,
    "safety_identifier": _string_or_none,
    "prompt_cache_key": _string_or_none,
    "metadata": _object,
}

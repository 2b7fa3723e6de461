"""An upstream's whole answer (a chat.completion, or an Anthropic message) as a Responses API
response object: the text as one `message` item (split where a tool call comes between two
texts), each tool call as a `function_call` or `custom_tool_call` item, a length stop as
`status: "incomplete"` (its last item, the one cut short, `incomplete` too). Reasoning is not
returned (it is counted in the usage)."""

from __future__ import annotations

from typing import Any

import orjson

from router.translate.context import ResponseContext
from router.translate.reasons import finish_reason
from router.translate.responses_output import (
    Status,
    call_item,
    call_kind,
    ended,
    item_id,
    message_item,
    minted_call_id,
    response,
    usage,
    usage_of_anthropic,
    usage_of_chat,
)
from router.translate.responses_tools import ToolTable
from router.types import JSON


class _Output:
    """The output items under construction; lives for one translation only."""

    def __init__(self, ctx: ResponseContext) -> None:
        self.ctx = ctx
        self._table: ToolTable | None = None  # built for the first tool call: most answers have none
        self.items: list[JSON] = []
        self._text: list[str] = []

    def text(self, text: Any) -> None:
        if isinstance(text, str) and text:
            self._text.append(text)

    def flush(self) -> None:
        if self._text:
            index = len(self.items)
            self.items.append(message_item(item_id(self.ctx, "msg", index), "".join(self._text)))
            self._text = []

    def call(self, call_id: Any, upstream_name: Any, arguments: str) -> None:
        self.flush()
        name = str(upstream_name or "")
        if self._table is None:
            self._table = ToolTable(self.ctx.request.get("tools"))
        ref = self._table.ref(self.ctx.tool_names.get(name, name))
        index = len(self.items)
        ident = call_id if isinstance(call_id, str) and call_id else minted_call_id(self.ctx, index)
        self.items.append(call_item(item_id(self.ctx, call_kind(ref), index), ident, ref,
                                    arguments or "{}"))

    def response(self, finish: str, counts: JSON) -> JSON:
        self.flush()
        status, reason = ended(finish)
        if status is Status.INCOMPLETE and self.items:
            self.items[-1]["status"] = status.value  # the item the stop cut short
        return response(self.ctx, status, self.items, counts, reason)


def from_chat(body: JSON, ctx: ResponseContext) -> JSON:
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    out = _Output(ctx)
    out.text(message.get("content"))
    out.text(message.get("refusal"))
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            function = call.get("function") or {}
            arguments = function.get("arguments")
            out.call(call.get("id"), function.get("name"),
                     arguments if isinstance(arguments, str) else "")
    counts = usage_of_chat(body["usage"]) if isinstance(body.get("usage"), dict) \
        else usage(ctx.prompt_tokens, 0)
    return out.response(str(choice.get("finish_reason") or "stop"), counts)


def from_anthropic(body: JSON, ctx: ResponseContext) -> JSON:
    out = _Output(ctx)
    for block in body.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            out.text(block.get("text"))
        elif block.get("type") == "tool_use":
            out.call(block.get("id"), block.get("name"),
                     orjson.dumps(block.get("input") or {}).decode())
    counts = usage_of_anthropic(body["usage"]) if isinstance(body.get("usage"), dict) \
        else usage(ctx.prompt_tokens, 0)
    return out.response(finish_reason(body.get("stop_reason")), counts)

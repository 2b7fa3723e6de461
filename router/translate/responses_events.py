"""A Responses API stream, written event by event from what an upstream stream says (text, a
tool call starting, its arguments, the end), whichever API the upstream speaks.

Every event is an SSE `event:` + `data:` frame with a `sequence_number` rising from 0, and no
`[DONE]`: `response.created` and `response.in_progress` first; per item
`response.output_item.added` before anything else about it and `response.output_item.done`
with the whole item (Codex runs tool calls from there); text as `content_part.added`,
`output_text.delta`..., `output_text.done`, `content_part.done`; function arguments as
`function_call_arguments.delta`... and `.done`; a custom tool's input, which is only known whole
once its JSON wrapper is complete, as one `custom_tool_call_input.delta` and `.done`; last
`response.completed` (or `response.incomplete`) carrying the full `output` and `usage`. A
message item is opened only for text that is not empty. An answer that ended early (a length
stop) marks the item it was producing, its last, `incomplete`, as OpenAI does. A failure ends
the stream with an `error` event and `response.failed`, whose `output` holds everything
produced so far: the items done, and those still open marked `incomplete`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.translate.context import ResponseContext
from router.translate.responses_output import (
    Status,
    call_item,
    call_kind,
    ended,
    item_id,
    message_item,
    minted_call_id,
    output_text,
    response,
    usage,
)
from router.translate.responses_tools import ToolKind, ToolRef, ToolTable
from router.translate.sse import event_frame
from router.types import JSON

_TEXT = object()  # the open message item, among the open calls' keys
# A failed Response's `error.code` is one of OpenAI's own codes (the SDK's model lists them, and
# Codex acts on them: it waits and retries on these two). The in-band `error` event keeps the
# router's or the upstream's word for what happened.
_RATE_LIMITED = frozenset({"rate_limit_exceeded", "rate_limit_error", "rate_limited", "tokens",
                           "requests"})


def failed_code(code: str) -> str:
    return "rate_limit_exceeded" if code in _RATE_LIMITED else "server_error"


@dataclass(slots=True)
class _Text:
    index: int
    id: str
    parts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Call:
    index: int
    id: str
    call_id: str
    ref: ToolRef
    parts: list[str] = field(default_factory=list)


class ResponseEvents:
    def __init__(self, ctx: ResponseContext) -> None:
        self._ctx = ctx
        self._table = ToolTable(ctx.request.get("tools"))
        self._sequence = 0
        self._output: list[JSON | None] = []  # by output index; None while the item is open
        self._text: _Text | None = None
        self._calls: dict[Any, _Call] = {}  # open calls, by the upstream's key for them
        self.started = False
        self.done = False
        self.answer: JSON | None = None

    def _event(self, kind: str, payload: JSON) -> bytes:
        payload["type"] = kind
        payload["sequence_number"] = self._sequence
        self._sequence += 1
        return event_frame(kind, payload)

    def start(self) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        shell = response(self._ctx, Status.IN_PROGRESS, [], None)
        return [self._event("response.created", {"response": shell}),
                self._event("response.in_progress", {"response": shell})]

    # -- text --------------------------------------------------------------------------------

    def text(self, delta: str) -> list[bytes]:
        if not delta:
            return []
        frames: list[bytes] = []
        item = self._text
        if item is None:
            index = len(self._output)
            item = self._text = _Text(index, item_id(self._ctx, "msg", index))
            self._output.append(None)
            shell = {**message_item(item.id, "", "in_progress"), "content": []}
            frames.append(self._event("response.output_item.added",
                                      {"output_index": index, "item": shell}))
            frames.append(self._event("response.content_part.added", {
                "item_id": item.id, "output_index": index, "content_index": 0,
                "part": output_text("")}))
        item.parts.append(delta)
        frames.append(self._event("response.output_text.delta", {
            "item_id": item.id, "output_index": item.index, "content_index": 0, "delta": delta,
            "logprobs": []}))
        return frames

    def _close_text(self, status: Status = Status.COMPLETED) -> list[bytes]:
        item = self._text
        if item is None:
            return []
        self._text = None
        text = "".join(item.parts)
        whole = message_item(item.id, text, status.value)
        self._output[item.index] = whole
        where = {"item_id": item.id, "output_index": item.index, "content_index": 0}
        return [
            self._event("response.output_text.done", {**where, "text": text, "logprobs": []}),
            self._event("response.content_part.done", {**where, "part": output_text(text)}),
            self._event("response.output_item.done", {"output_index": item.index, "item": whole}),
        ]

    # -- tool calls ----------------------------------------------------------------------------

    def call(self, key: Any, call_id: str, upstream_name: str) -> list[bytes]:
        """A tool call starts; `key` is how the upstream refers to it later."""
        frames = self._close_text()
        name = self._ctx.tool_names.get(upstream_name, upstream_name)
        ref = self._table.ref(name)
        index = len(self._output)
        call = _Call(index, item_id(self._ctx, call_kind(ref), index),
                     call_id or minted_call_id(self._ctx, index), ref)
        self._calls[key] = call
        self._output.append(None)
        shell = call_item(call.id, call.call_id, ref, "", "in_progress")
        if ref.kind is ToolKind.CUSTOM:
            shell["input"] = ""
        frames.append(self._event("response.output_item.added", {"output_index": index, "item": shell}))
        return frames

    def has_call(self, key: Any) -> bool:
        return key in self._calls

    def arguments(self, key: Any, delta: str) -> list[bytes]:
        call = self._calls.get(key)
        if call is None or not delta:
            return []
        call.parts.append(delta)
        if call.ref.kind is ToolKind.CUSTOM:
            return []  # the input is inside a JSON string: known once the arguments are whole
        return [self._event("response.function_call_arguments.delta", {
            "item_id": call.id, "output_index": call.index, "delta": delta})]

    def close_call(self, key: Any, status: Status = Status.COMPLETED) -> list[bytes]:
        call = self._calls.pop(key, None)
        if call is None:
            return []
        arguments = "".join(call.parts) or "{}"
        whole = call_item(call.id, call.call_id, call.ref, arguments, status.value)
        self._output[call.index] = whole
        where = {"item_id": call.id, "output_index": call.index}
        if call.ref.kind is ToolKind.CUSTOM:
            frames = [self._event("response.custom_tool_call_input.delta",
                                  {**where, "delta": whole["input"]}),
                      self._event("response.custom_tool_call_input.done",
                                  {**where, "input": whole["input"]})]
        else:
            frames = [self._event("response.function_call_arguments.done",
                                  {**where, "name": call.ref.name, "arguments": arguments})]
        frames.append(self._event("response.output_item.done", {"output_index": call.index, "item": whole}))
        return frames

    # -- the end -------------------------------------------------------------------------------

    def finish(self, finish_reason: str, counts: JSON | None) -> list[bytes]:
        """The upstream finished (`finish_reason` in Chat Completions words): close every open
        item in output order, then the terminal event with the whole response."""
        frames = self.start()
        status, reason = ended(finish_reason)
        cut = len(self._output) - 1 if status is Status.INCOMPLETE else None  # the last item
        pending: list[tuple[int, Any]] = [(c.index, key) for key, c in self._calls.items()]
        if self._text is not None:
            pending.append((self._text.index, _TEXT))
        for index, key in sorted(pending, key=lambda p: p[0]):
            item_status = Status.INCOMPLETE if index == cut else Status.COMPLETED
            frames += (self._close_text(item_status) if key is _TEXT
                       else self.close_call(key, item_status))
        output = [item for item in self._output if item is not None]
        whole = response(self._ctx, status, output,
                         counts if counts is not None else usage(self._ctx.prompt_tokens, 0), reason)
        self.done = True
        self.answer = whole
        kind = "response.completed" if status is Status.COMPLETED else "response.incomplete"
        frames.append(self._event(kind, {"response": whole}))
        return frames

    def fail(self, code: str, message: str) -> list[bytes]:
        if self.done:
            return []
        frames = self.start()  # a stream always opens with response.created, even one failing
        self.done = True
        failed = response(self._ctx, Status.FAILED, self._produced(), None,
                          error={"code": failed_code(code), "message": message})
        return [*frames, self._event("error", {"code": code, "message": message, "param": None}),
                self._event("response.failed", {"response": failed})]

    def _produced(self) -> list[JSON]:
        """Every item so far in output order, those still open as they stand, `incomplete`."""
        partial: dict[int, JSON] = {}
        if self._text is not None:
            item = self._text
            partial[item.index] = message_item(item.id, "".join(item.parts), Status.INCOMPLETE.value)
        for call in self._calls.values():
            partial[call.index] = call_item(call.id, call.call_id, call.ref, "".join(call.parts),
                                            Status.INCOMPLETE.value)
        return [item if item is not None else partial[index]
                for index, item in enumerate(self._output)]

"""OpenAI chat.completion.chunk events -> Anthropic stream frames (wire.md §3.3).

Blocks are opened and closed strictly one after another; an OpenAI tool call index gets its
own Anthropic block index, independent of the text or thinking blocks before it."""

from __future__ import annotations

from typing import Any

from router.translate import usage
from router.translate.context import ResponseContext
from router.translate.errors import anthropic_type_of
from router.translate.reasons import stop_reason
from router.translate.response_to_anthropic import message_shell, reasoning_of, tool_use_id
from router.translate.sse import anthropic_error_frame, event_frame
from router.types import JSON

_EARLY_EOF = "The upstream stream ended before the message was complete."


def _event(kind: str, **payload: Any) -> bytes:
    return event_frame(kind, {"type": kind, **payload})


class OpenAIToAnthropicStream:
    def __init__(self, ctx: ResponseContext) -> None:
        self._ctx = ctx
        self._upstream_id = ""
        self._started = False
        self._open: tuple[str, int] | None = None  # (block kind, block index)
        self._next_block = 0
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool call index -> block index
        self._finish: str | None = None  # held until the usage chunk or the end
        self._usage: JSON | None = None
        self._done = False

    @property
    def answer(self) -> JSON | None:
        return None  # not kept

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: JSON) -> list[bytes]:
        if self._done:
            return []
        error = event.get("error")
        if error is not None:
            detail = error if isinstance(error, dict) else {"message": str(error)}
            return self.fail(anthropic_type_of(detail, "api_error"), str(detail.get("message", "")))
        frames = self._start(event)
        if isinstance(event.get("usage"), dict):
            self._usage = usage.to_anthropic(event["usage"])
        choices = event.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else None
        if choice is not None:
            frames += self._choice(choice)
        elif self._finish is not None and self._usage is not None:
            frames += self._end()  # the include_usage chunk closes the stream
        return frames

    def finish(self) -> list[bytes]:
        if self._done:
            return []
        if self._finish is None:
            return self.fail("api_error", _EARLY_EOF)
        return self._end()

    def fail(self, error_type: str, message: str) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [anthropic_error_frame(error_type, message)]

    def _start(self, event: JSON) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        self._upstream_id = str(event.get("id") or "")
        return [_event("message_start", message=message_shell(event.get("id"), self._ctx))]

    def _choice(self, choice: JSON) -> list[bytes]:
        delta = choice.get("delta") or {}
        frames: list[bytes] = []
        reasoning = reasoning_of(delta)
        if reasoning:
            frames += self._text("thinking", reasoning)
        for key in ("content", "refusal"):
            if isinstance(delta.get(key), str) and delta[key]:
                frames += self._text("text", delta[key])
        for k, call in enumerate(delta.get("tool_calls") or ()):
            if isinstance(call, dict):
                frames += self._tool_call(call, k)
        # content arriving with the finish (fake streams) was handled above, first
        if choice.get("finish_reason") and self._finish is None:
            frames += self._close()
            self._finish = stop_reason(choice["finish_reason"], bool(self._tool_blocks))
        return frames

    def _open_block(self, kind: str, block: JSON) -> tuple[list[bytes], int]:
        frames = self._close()
        index = self._next_block
        self._next_block += 1
        self._open = (kind, index)
        return [*frames, _event("content_block_start", index=index, content_block=block)], index

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        index = self._open[1]
        self._open = None
        return [_event("content_block_stop", index=index)]

    def _text(self, kind: str, text: str) -> list[bytes]:
        frames: list[bytes] = []
        if self._open is not None and self._open[0] == kind:
            index = self._open[1]
        else:
            block = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {"type": "text", "text": ""}
            )
            frames, index = self._open_block(kind, block)
        delta = (
            {"type": "thinking_delta", "thinking": text}
            if kind == "thinking"
            else {"type": "text_delta", "text": text}
        )
        return [*frames, _event("content_block_delta", index=index, delta=delta)]

    def _tool_call(self, call: JSON, position: int) -> list[bytes]:
        raw_index = call.get("index")
        tool_index = raw_index if isinstance(raw_index, int) else position
        function = call.get("function") or {}
        frames: list[bytes] = []
        if tool_index not in self._tool_blocks:
            name = str(function.get("name") or "")
            block = {
                "type": "tool_use",
                "id": tool_use_id(call.get("id"), self._upstream_id, tool_index),
                "name": self._ctx.tool_names.get(name, name),
                "input": {},
            }
            frames, self._tool_blocks[tool_index] = self._open_block("tool_use", block)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            index = self._tool_blocks[tool_index]
            frames.append(_event("content_block_delta", index=index, delta=delta))
        return frames

    def _end(self) -> list[bytes]:
        self._done = True
        counts = self._usage or usage.estimated_anthropic(self._ctx.prompt_tokens)
        return [
            *self._close(),
            _event(
                "message_delta",
                delta={"stop_reason": self._finish, "stop_sequence": None},
                usage=counts,
            ),
            _event("message_stop"),
        ]

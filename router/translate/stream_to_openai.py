"""Anthropic stream events -> OpenAI chat.completion.chunk frames (wire.md §3.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from router.translate import usage
from router.translate.context import ResponseContext
from router.translate.ids import completion_id
from router.translate.reasons import finish_reason
from router.translate.sse import DONE, data_frame, openai_error_frames
from router.types import JSON

_EARLY_EOF = "The upstream stream ended before the message was complete."


class AnthropicToOpenAIStream:
    def __init__(self, ctx: ResponseContext) -> None:
        self._ctx = ctx
        self._id = completion_id(None)  # replaced by the upstream's id at message_start
        self._created = ctx.created
        self._usage: JSON = {}
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool index
        self._finished = False  # a message_delta (the finish) was seen
        self._done = False

    @property
    def answer(self) -> JSON | None:
        return None  # not kept

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: JSON) -> list[bytes]:
        handler = self._HANDLERS.get(event.get("type"))
        if self._done or handler is None:
            return []
        return handler(self, event)

    def finish(self) -> list[bytes]:
        if self._done:
            return []
        if not self._finished:
            return self.fail("api_error", _EARLY_EOF)
        return self._end()

    def fail(self, error_type: str, message: str) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return openai_error_frames(error_type, message)

    def _chunk(self, delta: JSON, finish: str | None = None) -> bytes:
        return data_frame(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._ctx.served_model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
        )

    def _merge_usage(self, counts: Any) -> None:
        if isinstance(counts, dict):
            self._usage.update({k: v for k, v in counts.items() if v is not None})

    def _message_start(self, event: JSON) -> list[bytes]:
        message = event.get("message") or {}
        self._id = completion_id(message.get("id"))
        self._merge_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, event: JSON) -> list[bytes]:
        block = event.get("content_block") or {}
        if block.get("type") != "tool_use":
            return []
        # OpenAI tool indices count tool calls only; a text block before them must not shift them
        tool_index = len(self._tool_index)
        self._tool_index[int(event.get("index", -1))] = tool_index
        name = str(block.get("name") or "")
        call = {
            "index": tool_index,
            "id": str(block.get("id") or ""),
            "type": "function",
            "function": {"name": self._ctx.tool_names.get(name, name), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, event: JSON) -> list[bytes]:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        tool_index = self._tool_index.get(int(event.get("index", -1)))
        if kind == "input_json_delta" and delta.get("partial_json") and tool_index is not None:
            call = {"index": tool_index, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _message_delta(self, event: JSON) -> list[bytes]:
        self._merge_usage(event.get("usage"))
        if self._finished:
            return []
        self._finished = True
        reason = finish_reason((event.get("delta") or {}).get("stop_reason"))
        return [self._chunk({}, reason)]

    def _message_stop(self, _event: JSON) -> list[bytes]:
        return self.finish()

    def _error(self, event: JSON) -> list[bytes]:
        error = event.get("error") or {}
        return self.fail(str(error.get("type") or "api_error"), str(error.get("message") or ""))

    def _end(self) -> list[bytes]:
        self._done = True
        frames: list[bytes] = []
        if self._ctx.include_usage:
            frames.append(
                data_frame(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self._created,
                        "model": self._ctx.served_model,
                        "choices": [],
                        "usage": usage.to_openai(self._usage),
                    }
                )
            )
        return [*frames, DONE]

    _HANDLERS: ClassVar[dict[Any, Callable[[AnthropicToOpenAIStream, JSON], list[bytes]]]] = {
        "message_start": _message_start,
        "content_block_start": _block_start,
        "content_block_delta": _block_delta,
        "message_delta": _message_delta,
        "message_stop": _message_stop,
        "error": _error,
    }

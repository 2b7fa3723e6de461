"""An upstream's stream (chat.completion.chunk events, or Anthropic Messages events) as a
Responses API stream, event by event (router.translate.responses_events writes it).

Chat Completions tool calls stay open until the finish: a server may interleave the arguments
of parallel calls by index, and an item, once done, cannot take more. Anthropic blocks come one
after another; text blocks in a row make one message item, as the collected answer has it. A
tool_use block is done once the next block starts or the message ends: only the stop reason,
after the last block, says whether that block was cut short (its item then `incomplete`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import orjson

from router.translate.context import ResponseContext
from router.translate.reasons import finish_reason
from router.translate.responses_events import ResponseEvents
from router.translate.responses_output import usage_of_anthropic, usage_of_chat
from router.types import JSON

_EARLY_EOF = "The upstream stream ended before the response was complete."
_UPSTREAM_ERROR = "upstream_error"


class _Stream:
    """What both translators share: the writer, and the StreamTranslator ends."""

    def __init__(self, ctx: ResponseContext) -> None:
        self._events = ResponseEvents(ctx)
        self._finish: str | None = None

    @property
    def done(self) -> bool:
        return self._events.done

    @property
    def answer(self) -> JSON | None:
        return self._events.answer

    def fail(self, error_type: str, message: str) -> list[bytes]:
        return self._events.fail(error_type, message)

    def _in_band(self, error: Any) -> list[bytes]:
        detail = error if isinstance(error, Mapping) else {"message": str(error)}
        kind = detail.get("type") or detail.get("code")
        return self.fail(kind if isinstance(kind, str) and kind else _UPSTREAM_ERROR,
                         str(detail.get("message") or ""))


class ChatToResponsesStream(_Stream):
    def __init__(self, ctx: ResponseContext) -> None:
        super().__init__(ctx)
        self._usage: JSON | None = None

    def feed(self, event: JSON) -> list[bytes]:
        if self.done:
            return []
        if event.get("error") is not None:
            return self._in_band(event["error"])
        frames = self._events.start()
        if isinstance(event.get("usage"), dict):
            self._usage = usage_of_chat(event["usage"])
        choices = event.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else None
        if choice is not None:
            frames += self._choice(choice)
        if self._finish is not None and self._usage is not None:
            frames += self._events.finish(self._finish, self._usage)  # the usage chunk ends it
        return frames

    def _choice(self, choice: JSON) -> list[bytes]:
        delta = choice.get("delta") or {}
        frames: list[bytes] = []
        for key in ("content", "refusal"):
            if isinstance(delta.get(key), str):
                frames += self._events.text(delta[key])
        for k, call in enumerate(delta.get("tool_calls") or ()):
            if not isinstance(call, dict):
                continue
            index = call["index"] if isinstance(call.get("index"), int) else k
            function = call.get("function") or {}
            if not self._events.has_call(index):
                call_id = call.get("id")
                frames += self._events.call(index, call_id if isinstance(call_id, str) else "",
                                            str(function.get("name") or ""))
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                frames += self._events.arguments(index, arguments)
        if choice.get("finish_reason") and self._finish is None:
            self._finish = str(choice["finish_reason"])
        return frames

    def finish(self) -> list[bytes]:
        if self.done:
            return []
        if self._finish is None:
            return self.fail("api_error", _EARLY_EOF)
        return self._events.finish(self._finish, self._usage)


class AnthropicToResponsesStream(_Stream):
    def __init__(self, ctx: ResponseContext) -> None:
        super().__init__(ctx)
        self._usage: JSON = {}
        self._tools: dict[int, str] = {}  # open tool_use block index -> input sent whole in its start
        self._streamed: set[int] = set()  # tool blocks whose input came in deltas
        self._stopped: int | None = None  # a stopped tool block not yet done (it may be the last)

    def feed(self, event: JSON) -> list[bytes]:
        handler = self._HANDLERS.get(event.get("type"))
        if self.done or handler is None:
            return []
        return handler(self, event)

    def finish(self) -> list[bytes]:
        if self.done:
            return []
        if self._finish is None:
            return self.fail("api_error", _EARLY_EOF)
        return self._events.finish(self._finish, usage_of_anthropic(self._usage))

    def fail(self, error_type: str, message: str) -> list[bytes]:
        # a tool block that stopped before the break is whole: done, not left incomplete
        frames = [] if self.done else self._done_stopped()
        return frames + super().fail(error_type, message)

    def _merge_usage(self, counts: Any) -> None:
        if isinstance(counts, dict):
            self._usage.update({k: v for k, v in counts.items() if v is not None})

    def _message_start(self, event: JSON) -> list[bytes]:
        message = event.get("message")
        self._merge_usage(message.get("usage") if isinstance(message, dict) else None)
        return self._events.start()

    def _block_start(self, event: JSON) -> list[bytes]:
        frames = self._events.start() + self._done_stopped()
        block = event.get("content_block") or {}
        index = event.get("index")
        if block.get("type") == "text":
            text = block.get("text")
            frames += self._events.text(text) if isinstance(text, str) else []
        elif block.get("type") == "tool_use" and isinstance(index, int):
            frames += self._events.call(index, str(block.get("id") or ""), str(block.get("name") or ""))
            whole = block.get("input")
            self._tools[index] = orjson.dumps(whole).decode() if isinstance(whole, dict) and whole else ""
        return frames

    def _block_delta(self, event: JSON) -> list[bytes]:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str):
            return self._events.text(delta["text"])
        index = event.get("index")
        if kind == "input_json_delta" and index in self._tools and delta.get("partial_json"):
            self._streamed.add(index)
            return self._events.arguments(index, str(delta["partial_json"]))
        return []

    def _block_stop(self, event: JSON) -> list[bytes]:
        index = event.get("index")
        if not isinstance(index, int) or index not in self._tools:
            return []
        whole = self._tools.pop(index)
        # a server that sent the input whole in the block's start sends no deltas: keep it
        frames = [] if index in self._streamed else self._events.arguments(index, whole)
        self._stopped = index
        return frames

    def _done_stopped(self) -> list[bytes]:
        index, self._stopped = self._stopped, None
        return [] if index is None else self._events.close_call(index)

    def _message_delta(self, event: JSON) -> list[bytes]:
        self._merge_usage(event.get("usage"))
        if self._finish is None:
            self._finish = finish_reason((event.get("delta") or {}).get("stop_reason"))
        return []

    def _message_stop(self, _event: JSON) -> list[bytes]:
        return self.finish()

    def _error(self, event: JSON) -> list[bytes]:
        return self._in_band(event.get("error") or {})

    _HANDLERS: ClassVar[dict[Any, Callable[[AnthropicToResponsesStream, JSON], list[bytes]]]] = {
        "message_start": _message_start,
        "content_block_start": _block_start,
        "content_block_delta": _block_delta,
        "content_block_stop": _block_stop,
        "message_delta": _message_delta,
        "message_stop": _message_stop,
        "error": _error,
    }

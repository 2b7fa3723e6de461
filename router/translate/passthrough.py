"""Same-API translation: the body passes through; only `model` becomes the backend id."""

from __future__ import annotations

from router.translate import errors
from router.translate.context import ResponseContext, TranslatedRequest
from router.translate.sse import (
    DONE,
    anthropic_error_frame,
    data_frame,
    event_frame,
    openai_error_frames,
)
from router.types import JSON


def request(body: JSON) -> TranslatedRequest:
    return TranslatedRequest(body=body)


def anthropic_request(body: JSON) -> TranslatedRequest:
    """Anthropic to Anthropic, except for thinking blocks with an empty signature: another
    (OpenAI) backend produced those earlier in the conversation, and Anthropic refuses them."""
    messages = body.get("messages")
    if isinstance(messages, list) and any(_unsigned_thinking(m) for m in messages):
        body["messages"] = [_without_unsigned_thinking(m) for m in messages]
    return TranslatedRequest(body=body)


def _is_unsigned(block: object) -> bool:
    return (isinstance(block, dict) and block.get("type") == "thinking"
            and not block.get("signature"))


def _unsigned_thinking(message: object) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(_is_unsigned(b) for b in content)


def _without_unsigned_thinking(message: object) -> object:
    if not _unsigned_thinking(message):
        return message
    assert isinstance(message, dict)
    return {**message, "content": [b for b in message["content"] if not _is_unsigned(b)]}


def response(body: JSON, ctx: ResponseContext) -> JSON:
    if "model" in body:
        body["model"] = ctx.served_model
    return body


def openai_error(body: JSON) -> JSON:
    """An OpenAI-format error passes as it is; whatever else a compatible server sent is
    rewritten into that format (errors always use the caller's format)."""
    inner = body.get("error")
    if isinstance(inner, dict) and isinstance(inner.get("message"), str):
        return body
    return errors.to_openai(body)


def anthropic_error(body: JSON) -> JSON:
    inner = body.get("error")
    if (body.get("type") == "error" and isinstance(inner, dict)
            and isinstance(inner.get("message"), str) and isinstance(inner.get("type"), str)):
        return body
    return errors.to_anthropic(body)


class OpenAIStream:
    """OpenAI chunks pass through with `model` rewritten; always ends with [DONE]."""

    def __init__(self, ctx: ResponseContext) -> None:
        self._model = ctx.served_model
        self._usage = ctx.include_usage
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
        if not self._usage and event.get("choices") == [] and "usage" in event:
            return []  # the router asked for usage for its metrics; the client did not
        if "error" in event:
            self._done = True
            return [data_frame(event), DONE]
        event["model"] = self._model
        event.setdefault("object", "chat.completion.chunk")
        return [data_frame(event)]

    def finish(self) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [DONE]

    def fail(self, error_type: str, message: str) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return openai_error_frames(error_type, message)


class AnthropicStream:
    """Anthropic events pass through with the message's `model` rewritten."""

    def __init__(self, ctx: ResponseContext) -> None:
        self._model = ctx.served_model
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
        kind = event.get("type")
        if not isinstance(kind, str):
            return []
        if kind == "message_start" and isinstance(event.get("message"), dict):
            event["message"]["model"] = self._model
        if kind in ("message_stop", "error"):
            self._done = True
        return [event_frame(kind, event)]

    def finish(self) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [event_frame("message_stop", {"type": "message_stop"})]

    def fail(self, error_type: str, message: str) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [anthropic_error_frame(error_type, message)]

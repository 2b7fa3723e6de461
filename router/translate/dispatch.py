"""The (source, target) tables that pick a translation; cross-API entries live in their own
modules and register here."""

from __future__ import annotations

from collections.abc import Callable

from router.translate import (
    errors,
    passthrough,
    request_to_anthropic,
    request_to_openai,
    response_to_anthropic,
    response_to_openai,
)
from router.translate.context import ResponseContext, StreamTranslator, TranslatedRequest
from router.translate.stream_to_anthropic import OpenAIToAnthropicStream
from router.translate.stream_to_openai import AnthropicToOpenAIStream
from router.types import JSON, Api

Pair = tuple[Api, Api]  # (client api, upstream api)

_REQUESTS: dict[Pair, Callable[[JSON], TranslatedRequest]] = {
    (Api.OPENAI, Api.OPENAI): passthrough.request,
    (Api.ANTHROPIC, Api.ANTHROPIC): passthrough.anthropic_request,
    (Api.OPENAI, Api.ANTHROPIC): request_to_anthropic.translate,
    (Api.ANTHROPIC, Api.OPENAI): request_to_openai.translate,
}
_RESPONSES: dict[Pair, Callable[[JSON, ResponseContext], JSON]] = {
    (Api.OPENAI, Api.OPENAI): passthrough.response,
    (Api.ANTHROPIC, Api.ANTHROPIC): passthrough.response,
    (Api.OPENAI, Api.ANTHROPIC): response_to_openai.translate,
    (Api.ANTHROPIC, Api.OPENAI): response_to_anthropic.translate,
}
_STREAMS: dict[Pair, Callable[[ResponseContext], StreamTranslator]] = {
    (Api.OPENAI, Api.OPENAI): passthrough.OpenAIStream,
    (Api.ANTHROPIC, Api.ANTHROPIC): passthrough.AnthropicStream,
    (Api.OPENAI, Api.ANTHROPIC): AnthropicToOpenAIStream,
    (Api.ANTHROPIC, Api.OPENAI): OpenAIToAnthropicStream,
}
_ERRORS: dict[Pair, Callable[[JSON], JSON]] = {
    (Api.OPENAI, Api.OPENAI): passthrough.openai_error,
    (Api.ANTHROPIC, Api.ANTHROPIC): passthrough.anthropic_error,
    (Api.OPENAI, Api.ANTHROPIC): errors.to_openai,
    (Api.ANTHROPIC, Api.OPENAI): errors.to_anthropic,
}


def translate_request(body: JSON, client: Api, upstream: Api) -> TranslatedRequest:
    """The client's request body in the upstream's format (the body may be modified)."""
    return _REQUESTS[(client, upstream)](body)


def translate_response(body: JSON, client: Api, upstream: Api, ctx: ResponseContext) -> JSON:
    """The upstream's non-streaming answer in the client's format."""
    return _RESPONSES[(client, upstream)](body, ctx)


def stream_translator(client: Api, upstream: Api, ctx: ResponseContext) -> StreamTranslator:
    return _STREAMS[(client, upstream)](ctx)


def translate_error(body: JSON, client: Api, upstream: Api) -> JSON:
    """An upstream error body (a 400 relayed to the client) in the client's format."""
    return _ERRORS[(client, upstream)](body)


def is_content_event(upstream: Api, event: JSON) -> bool:
    """Whether an upstream stream event carries something real (text, a tool call, a finish),
    as opposed to preamble: the router commits a stream to the client only after one."""
    return _CONTENT[upstream](event)


def _openai_content(event: JSON) -> bool:
    # A finish_reason alone is not content: a stream that finishes with nothing in it is an
    # empty answer, to fail over from like an empty JSON answer.
    choices = event.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta") or {}
        if isinstance(delta, dict) and (
            delta.get("content")
            or delta.get("tool_calls")
            or delta.get("reasoning_content")
            or delta.get("reasoning")
            or delta.get("refusal")
        ):
            return True
    return False


def _anthropic_content(event: JSON) -> bool:
    kind = event.get("type")
    if kind == "content_block_start":
        block = event.get("content_block")
        # A tool call, redacted thinking or a server tool is content as it starts; so is a
        # text or thinking block that some compatible servers send whole in its start.
        return isinstance(block, dict) and (
            block.get("type") not in ("text", "thinking")
            or bool(block.get("text") or block.get("thinking"))
        )
    if kind == "content_block_delta":
        delta = event.get("delta")
        return isinstance(delta, dict) and bool(
            delta.get("text") or delta.get("partial_json") or delta.get("thinking")
            or delta.get("signature")
        )
    return False


_CONTENT: dict[Api, Callable[[JSON], bool]] = {
    Api.OPENAI: _openai_content,
    Api.ANTHROPIC: _anthropic_content,
}

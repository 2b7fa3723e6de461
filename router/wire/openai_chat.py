"""OpenAI Chat Completions: the default client API, and the API most upstreams speak."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from router.analysis import analyse
from router.errors import RouterError
from router.translate import errors, passthrough, request_to_anthropic, response_to_openai
from router.translate.sse import openai_error_frames
from router.translate.stream_to_openai import AnthropicToOpenAIStream
from router.types import JSON, Api, Needs
from router.wire.base import ModelEntry, Translation
from router.wire.session import first_key

_TRANSLATIONS: Mapping[Api, Translation] = MappingProxyType({
    Api.OPENAI: Translation(passthrough.request, passthrough.response, passthrough.OpenAIStream,
                            passthrough.openai_error),
    Api.ANTHROPIC: Translation(request_to_anthropic.translate, response_to_openai.translate,
                               AnthropicToOpenAIStream, errors.to_openai),
})
_SESSION_KEYS = (("prompt_cache_key",), ("user",))  # INTERFACE.md's order
_OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens")


class OpenAIChat:
    api = Api.OPENAI
    overloaded_status = 503
    stream_failure_type = "upstream_error"

    # -- as the client's API ----------------------------------------------------------------------

    def claims(self, path: str, headers: Mapping[str, str]) -> bool:
        return True  # the default: asked last, it takes every request no other API claims

    def error_type(self, exc: RouterError, status: int) -> str:
        return exc.error_type

    def error_body(self, error_type: str, message: str, *, param: str | None = None,
                   code: str | None = None, request_id: str | None = None) -> JSON:
        return {"error": {"message": message, "type": error_type, "param": param, "code": code}}

    def stream_error(self, error_type: str, message: str) -> list[bytes]:
        return openai_error_frames(error_type, message)

    def analyse(self, body: JSON, session_header: str | None) -> Needs:
        return analyse(body, session_header or first_key(body, _SESSION_KEYS))

    def wants_stream_usage(self, body: JSON) -> bool:
        opts = body.get("stream_options")
        return isinstance(opts, dict) and opts.get("include_usage") is True

    def translation(self, upstream: Api) -> Translation:
        return _TRANSLATIONS[upstream]

    def model_object(self, entry: ModelEntry) -> JSON:
        return {"id": entry.id, "object": "model", "created": entry.created,
                "owned_by": entry.owner, "capabilities": list(entry.capabilities),
                "context_length": entry.context_length}

    def model_list(self, entries: Sequence[ModelEntry], query: Mapping[str, str]) -> JSON:
        return {"object": "list", "data": [self.model_object(e) for e in entries]}

    # -- as the upstream's API --------------------------------------------------------------------

    def is_content(self, event: JSON) -> bool:
        # A finish_reason alone is not content: a stream that finishes with nothing in it is an
        # empty answer, to fail over from like an empty JSON answer.
        choices = event.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, dict) and (
                delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content")
                or delta.get("reasoning") or delta.get("refusal")
            ):
                return True
        return False

    def usage(self, payload: JSON) -> tuple[int, int] | None:
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            return None
        return _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")

    def prepare(self, body: JSON, room: int, stream: bool) -> None:
        for key in _OUTPUT_FIELDS:  # clamped where sent, never added
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                body[key] = min(value, room)
        if stream:  # for the token metrics; passed to the client only when it asked
            body["stream_options"] = {"include_usage": True}

    def declare_output(self, body: JSON, most: int) -> None:
        declared = False
        for key in _OUTPUT_FIELDS:
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                body[key] = min(value, most)
                declared = True
        if not declared:  # the current name; max_tokens is the deprecated one
            body["max_completion_tokens"] = most


def _count(usage: Mapping[str, object], key: str) -> int:
    v = usage.get(key)
    return v if isinstance(v, int) and v > 0 else 0

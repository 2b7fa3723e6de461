"""Anthropic Messages, as a client's API (Claude Code, the Anthropic SDKs) and an upstream's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType

from router.analysis import analyse
from router.errors import RequestError, RouterError
from router.translate import errors, passthrough, request_to_openai, response_to_anthropic, thinking
from router.translate.sse import anthropic_error_frame
from router.translate.stream_to_anthropic import OpenAIToAnthropicStream
from router.types import JSON, Api, Needs
from router.wire.base import ModelEntry, Translation
from router.wire.session import first_key

_TRANSLATIONS: Mapping[Api, Translation] = MappingProxyType({
    Api.ANTHROPIC: Translation(passthrough.anthropic_request, passthrough.response,
                               passthrough.AnthropicStream, passthrough.anthropic_error),
    Api.OPENAI: Translation(request_to_openai.translate, response_to_anthropic.translate,
                            OpenAIToAnthropicStream, errors.to_anthropic),
})
# An Anthropic error `type` for each HTTP status the router answers with (wire.md §4.1).
_TYPE_FOR_STATUS: Mapping[int, str] = MappingProxyType({
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 405: "not_found_error",
    409: "conflict_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 502: "api_error", 504: "timeout_error", 529: "overloaded_error",
})
_SESSION_KEYS = (("metadata", "user_id"),)
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; an OpenAI client may send none
DEFAULT_PAGE = 20
MAX_PAGE = 1000


class AnthropicMessages:
    api = Api.ANTHROPIC
    overloaded_status = 529
    stream_failure_type = "api_error"

    # -- as the client's API ----------------------------------------------------------------------

    def claims(self, path: str, headers: Mapping[str, str]) -> bool:
        # Every Anthropic SDK sends anthropic-version, which is how GET /v1/models tells them apart.
        return path.startswith("/v1/messages") or (
            path.startswith("/v1/models") and "anthropic-version" in headers)

    def error_type(self, exc: RouterError, status: int) -> str:
        if status in _TYPE_FOR_STATUS:
            return _TYPE_FOR_STATUS[status]
        return "invalid_request_error" if status < 500 else "api_error"

    def error_body(self, error_type: str, message: str, *, param: str | None = None,
                   code: str | None = None, request_id: str | None = None) -> JSON:
        body: JSON = {"type": "error", "error": {"type": error_type, "message": message}}
        if request_id:
            body["request_id"] = request_id
        return body

    def stream_error(self, error_type: str, message: str) -> list[bytes]:
        return [anthropic_error_frame(error_type, message)]

    def analyse(self, body: JSON, session_header: str | None) -> Needs:
        return analyse(body, session_header or first_key(body, _SESSION_KEYS))

    def wants_stream_usage(self, body: JSON) -> bool:
        return False  # message_start and message_delta always carry usage

    def translation(self, upstream: Api) -> Translation:
        return _TRANSLATIONS[upstream]

    def model_object(self, entry: ModelEntry) -> JSON:
        stamp = datetime.fromtimestamp(entry.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"type": "model", "id": entry.id, "display_name": entry.id, "created_at": stamp,
                "owned_by": entry.owner, "capabilities": list(entry.capabilities),
                "max_input_tokens": entry.context_length}

    def model_list(self, entries: Sequence[ModelEntry], query: Mapping[str, str]) -> JSON:
        """Anthropic's paged shape: `limit`, `after_id`, `before_id`."""
        try:
            limit = int(query.get("limit", str(DEFAULT_PAGE)))
        except ValueError:
            raise RequestError("limit must be an integer", param="limit") from None
        if not 1 <= limit <= MAX_PAGE:
            raise RequestError(f"limit must be between 1 and {MAX_PAGE}", param="limit")
        ids = [e.id for e in entries]
        if "before_id" in query:
            end = _index(ids, query["before_id"], "before_id")
            start = max(end - limit, 0)
            has_more = start > 0
        else:
            start = _index(ids, query["after_id"], "after_id") + 1 if "after_id" in query else 0
            end = min(start + limit, len(entries))
            has_more = end < len(entries)
        page = [self.model_object(e) for e in entries[start:end]]
        return {"data": page, "has_more": has_more,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None}

    # -- as the upstream's API --------------------------------------------------------------------

    def is_content(self, event: JSON) -> bool:
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

    def usage(self, payload: JSON) -> tuple[int, int] | None:
        # A whole message, or a stream's message_start (nested) or message_delta (cumulative).
        message = payload.get("message")
        usage = (message if isinstance(message, dict) else payload).get("usage")
        if not isinstance(usage, dict):
            return None
        prompt = (_count(usage, "input_tokens") + _count(usage, "cache_read_input_tokens")
                  + _count(usage, "cache_creation_input_tokens"))
        return prompt, _count(usage, "output_tokens")

    def prepare(self, body: JSON, room: int, stream: bool) -> None:
        asked = body.get("max_tokens")
        if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
            body["max_tokens"] = min(asked, room)
        else:
            body["max_tokens"] = min(room, DEFAULT_MAX_TOKENS)
        thinking.fit(body)  # after the clamp: the budget stays below what is really sent

    def declare_output(self, body: JSON, most: int) -> None:
        asked = body.get("max_tokens")  # prepare() always sets it
        body["max_tokens"] = min(asked, most) if isinstance(asked, int) else most
        thinking.fit(body)


def _index(ids: list[str], value: str, param: str) -> int:
    try:
        return ids.index(value)
    except ValueError:
        raise RequestError(f"{param} {value!r} is not a model id", param=param) from None


def _count(usage: Mapping[str, object], key: str) -> int:
    v = usage.get(key)
    return v if isinstance(v, int) and v > 0 else 0

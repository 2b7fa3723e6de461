"""The OpenAI Responses API, as a client's API (the Codex CLI, the Agents SDK, the AI SDK's
default provider, `client.responses`): translated to either upstream API. Its errors and model
lists are OpenAI's own, as for Chat Completions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from router.analysis import analyse_items
from router.errors import RouterError
from router.translate import errors, passthrough, response_to_responses, responses_request
from router.translate.context import ResponseContext
from router.translate.responses_events import ResponseEvents
from router.translate.stream_to_responses import AnthropicToResponsesStream, ChatToResponsesStream
from router.types import JSON, Api, Needs
from router.wire.base import ModelEntry, Translation
from router.wire.openai_chat import OpenAIChat
from router.wire.session import first_key

_TRANSLATIONS: Mapping[Api, Translation] = MappingProxyType({
    Api.OPENAI: Translation(responses_request.to_chat, response_to_responses.from_chat,
                            ChatToResponsesStream, passthrough.openai_error),
    Api.ANTHROPIC: Translation(responses_request.to_anthropic, response_to_responses.from_anthropic,
                               AnthropicToResponsesStream, errors.to_openai),
})
_SESSION_KEYS = (("prompt_cache_key",), ("safety_identifier",), ("user",))  # INTERFACE.md's order
PATH = "/v1/responses"


class OpenAIResponses:
    api = Api.RESPONSES
    overloaded_status = 503
    stream_failure_type = "upstream_error"

    def __init__(self) -> None:
        self._openai = OpenAIChat()  # the same error and model-list shapes

    def claims(self, path: str, headers: Mapping[str, str]) -> bool:
        return path == PATH or path.startswith(PATH + "/")

    def error_type(self, exc: RouterError, status: int) -> str:
        return self._openai.error_type(exc, status)

    def error_body(self, error_type: str, message: str, *, param: str | None = None,
                   code: str | None = None, request_id: str | None = None) -> JSON:
        return self._openai.error_body(error_type, message, param=param, code=code)

    def stream_error(self, error_type: str, message: str) -> list[bytes]:
        events = ResponseEvents(ResponseContext(served_model=""))
        events.started = True  # the stream broke after its first byte: it was opened already
        return events.fail(error_type, message)

    def analyse(self, body: JSON, session_header: str | None) -> Needs:
        return analyse_items(body, session_header or first_key(body, _SESSION_KEYS))

    def wants_stream_usage(self, body: JSON) -> bool:
        return False  # response.completed always carries usage

    def translation(self, upstream: Api) -> Translation:
        return _TRANSLATIONS[upstream]

    def model_object(self, entry: ModelEntry) -> JSON:
        return self._openai.model_object(entry)

    def model_list(self, entries: Sequence[ModelEntry], query: Mapping[str, str]) -> JSON:
        return self._openai.model_list(entries, query)

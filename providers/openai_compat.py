"""The OpenAI-compatible adapter: POST {base_url}/chat/completions, GET {base_url}/models."""

from __future__ import annotations

from providers.exchange import Exchange, check_openai_event, transport_for
from providers.transport import AsyncTransport
from router.errors import BadResponse
from router.types import JSON
from router.upstream import ProviderSettings, UpstreamReply, UpstreamRequest


class OpenAIProvider:
    def __init__(self, settings: ProviderSettings, transport: AsyncTransport | None = None) -> None:
        self._transport = Exchange(transport or transport_for(settings), settings.wall)
        self._chat_url = f"{settings.base_url}/chat/completions"
        self._models_url = f"{settings.base_url}/models"
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self._stream_headers = {**self._headers, "Accept": "text/event-stream"}
        if settings.api_key:
            auth = f"Bearer {settings.api_key}"
            self._headers["Authorization"] = self._stream_headers["Authorization"] = auth

    async def send(self, request: UpstreamRequest) -> UpstreamReply:
        headers = self._stream_headers if request.stream else self._headers
        reply = await self._transport.post(
            self._chat_url, headers, request.body, request.stream, check_openai_event
        )
        if reply.json is not None:
            _require_answer(reply.json)
        return reply

    async def probe(self) -> None:
        await self._transport.get(self._models_url, self._headers)

    async def aclose(self) -> None:
        await self._transport.aclose()


def _require_answer(body: JSON) -> None:
    """A 200 with nothing in it is a failure to fail over from, not an answer."""
    if "error" in body:
        raise BadResponse("the upstream answered 200 with an error body")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadResponse("the upstream's answer has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise BadResponse("the upstream's answer has no message")
    if not (message.get("content") or message.get("tool_calls") or message.get("refusal")
            or message.get("reasoning_content")):
        raise BadResponse("the upstream's answer is empty")

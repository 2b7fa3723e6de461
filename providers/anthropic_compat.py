"""The Anthropic Messages adapter: POST {base_url}/messages, GET {base_url}/models.

Anthropic authenticates with `x-api-key` and requires `anthropic-version`. When the client spoke
Anthropic too, its own version and betas go along (the proxy passes them in the request's
headers), so features it opted into keep working; otherwise the stable version is sent."""

from __future__ import annotations

from collections.abc import Mapping

from providers.exchange import Exchange, check_anthropic_event, transport_for
from providers.transport import AsyncTransport
from router.errors import BadResponse
from router.types import JSON
from router.upstream import ProviderSettings, UpstreamReply, UpstreamRequest

DEFAULT_VERSION = "2023-06-01"
CLIENT_HEADERS = ("anthropic-version", "anthropic-beta")


class AnthropicProvider:
    def __init__(self, settings: ProviderSettings, transport: AsyncTransport | None = None) -> None:
        self._transport = Exchange(transport or transport_for(settings), settings.wall)
        self._messages_url = f"{settings.base_url}/messages"
        self._models_url = f"{settings.base_url}/models"
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "anthropic-version": DEFAULT_VERSION,
        }
        if settings.api_key:
            self._headers["x-api-key"] = settings.api_key

    def _request_headers(self, stream: bool, client: Mapping[str, str]) -> dict[str, str]:
        headers = dict(self._headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        for name in CLIENT_HEADERS:
            value = client.get(name)
            if value:
                headers[name] = value
        return headers

    async def send(self, request: UpstreamRequest) -> UpstreamReply:
        headers = self._request_headers(request.stream, request.headers)
        reply = await self._transport.post(
            self._messages_url, headers, request.body, request.stream, check_anthropic_event
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
    if body.get("type") == "error" or "error" in body:
        raise BadResponse("the upstream answered 200 with an error body")
    content = body.get("content")
    if not isinstance(content, list) or not content:
        raise BadResponse("the upstream's answer has no content blocks")
    if not all(isinstance(block, dict) for block in content):
        raise BadResponse("the upstream's answer has malformed content blocks")

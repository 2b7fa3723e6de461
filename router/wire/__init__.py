"""The API registry: one object per client API and per upstream API (router.wire.base), looked up
once per request."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from router.types import Api
from router.wire.anthropic_messages import AnthropicMessages
from router.wire.base import ClientApi, ModelEntry, Translation, UpstreamApi
from router.wire.openai_chat import OpenAIChat
from router.wire.openai_responses import OpenAIResponses

OPENAI_CHAT = OpenAIChat()
ANTHROPIC_MESSAGES = AnthropicMessages()
OPENAI_RESPONSES = OpenAIResponses()

# Asked in this order which API a request speaks; the last one claims whatever is left.
_CLIENT_APIS: tuple[ClientApi, ...] = (ANTHROPIC_MESSAGES, OPENAI_RESPONSES, OPENAI_CHAT)
_CLIENT_BY_API: Mapping[Api, ClientApi] = MappingProxyType({c.api: c for c in _CLIENT_APIS})
_UPSTREAM_BY_API: Mapping[Api, UpstreamApi] = MappingProxyType(
    {u.api: u for u in (OPENAI_CHAT, ANTHROPIC_MESSAGES)})
UPSTREAM_APIS = frozenset(_UPSTREAM_BY_API)  # what a provider's `api` may name


def recognise(path: str, headers: Mapping[str, str]) -> ClientApi:
    """The API whose formats (errors included) a request to `path` expects."""
    for client in _CLIENT_APIS:
        if client.claims(path, headers):
            return client
    return OPENAI_CHAT


def client_api(api: Api) -> ClientApi:
    return _CLIENT_BY_API[api]


def upstream_api(api: Api) -> UpstreamApi:
    return _UPSTREAM_BY_API[api]


def translation(client: Api, upstream: Api) -> Translation:
    return _CLIENT_BY_API[client].translation(upstream)


__all__ = ["ANTHROPIC_MESSAGES", "OPENAI_CHAT", "OPENAI_RESPONSES", "UPSTREAM_APIS", "ClientApi",
           "ModelEntry", "Translation", "UpstreamApi", "client_api", "recognise", "translation",
           "upstream_api"]

"""Model discovery: one async `discover` that fetches a provider's model list by method name and
parses it with providers.model_lists, and the `answers` probe for local servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import orjson

from providers.model_lists import (
    DiscoveredModel,
    parse_cloudflare_models,
    parse_llamacpp,
    parse_lmstudio_models,
    parse_ollama_show,
    parse_ollama_tags,
    parse_openai_models,
    parse_openrouter_free,
)
from providers.transport import AsyncTransport
from providers.upstream_errors import classify
from router.errors import BadResponse, UpstreamError
from router.types import DISCOVERY_METHODS

# ---- fetching -----------------------------------------------------------------------------------


def _server_root(base_url: str) -> str:
    """Native endpoints (Ollama /api, LM Studio /api, llama.cpp /props) sit beside /v1."""
    return base_url.rstrip("/").removesuffix("/v1")


MAX_LISTING_BYTES = 64 * 1024 * 1024  # OpenRouter's full listing is a few MB


async def _request_json(
    transport: AsyncTransport,
    method: str,
    url: str,
    headers: Mapping[str, str],
    now: float,
    *,
    params: Mapping[str, str] | None = None,
    json_body: object = None,
) -> object:
    """One request in the router's error tree (the transport maps the HTTP library's), so the
    refresher treats a failed listing the way it treats a failed request."""
    data = None if json_body is None else orjson.dumps(json_body)
    if data is not None:
        headers = {**headers, "Content-Type": "application/json"}
    response = await transport.request(method, url, headers, data, params)
    try:
        body = await response.read(MAX_LISTING_BYTES)
    finally:
        response.release()
    if response.status >= 400:
        raise classify(response.status, response.headers, body, now=now)
    if response.status != 200:
        raise BadResponse(f"model list answered {response.status}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadResponse("model list is not JSON") from exc


@dataclass(frozen=True, slots=True)
class _Fetch:
    transport: AsyncTransport
    base_url: str
    headers: Mapping[str, str]
    now: float

    async def get(self, url: str, params: Mapping[str, str] | None = None) -> object:
        return await _request_json(self.transport, "GET", url, self.headers, self.now, params=params)

    async def post(self, url: str, body: object) -> object:
        return await _request_json(self.transport, "POST", url, self.headers, self.now, json_body=body)


async def _none(fetch: _Fetch) -> list[DiscoveredModel]:
    return []


async def _models(fetch: _Fetch) -> list[DiscoveredModel]:
    return parse_openai_models(await fetch.get(f"{fetch.base_url}/models"))


async def _openrouter_free(fetch: _Fetch) -> list[DiscoveredModel]:
    return parse_openrouter_free(await fetch.get(f"{fetch.base_url}/models"), fetch.now)


async def _ollama(fetch: _Fetch) -> list[DiscoveredModel]:
    root = _server_root(fetch.base_url)
    names = parse_ollama_tags(await fetch.get(f"{root}/api/tags"))
    shows = await asyncio.gather(*(fetch.post(f"{root}/api/show", {"model": n}) for n in names))
    models = (parse_ollama_show(n, s) for n, s in zip(names, shows, strict=True))
    return [m for m in models if m is not None]


async def _cloudflare(fetch: _Fetch) -> list[DiscoveredModel]:
    # base_url is .../accounts/{id}/ai/v1; the catalog search lives at .../ai/models/search.
    url = f"{_server_root(fetch.base_url)}/models/search"
    return parse_cloudflare_models(await fetch.get(url, {"task": "Text Generation"}))


async def _lmstudio(fetch: _Fetch) -> list[DiscoveredModel]:
    return parse_lmstudio_models(await fetch.get(f"{_server_root(fetch.base_url)}/api/v0/models"))


async def _llamacpp(fetch: _Fetch) -> list[DiscoveredModel]:
    models, props = await asyncio.gather(
        fetch.get(f"{fetch.base_url}/models"), fetch.get(f"{_server_root(fetch.base_url)}/props")
    )
    return parse_llamacpp(models, props)


_METHODS: Mapping[str, Callable[[_Fetch], Awaitable[list[DiscoveredModel]]]] = MappingProxyType(
    {
        "none": _none,
        "models": _models,
        "openrouter-free": _openrouter_free,
        "ollama": _ollama,
        "cloudflare": _cloudflare,
        "lmstudio": _lmstudio,
        "llamacpp": _llamacpp,
    }
)


async def discover(
    transport: AsyncTransport, method: str, base_url: str, api_key: str | None, now: float
) -> list[DiscoveredModel]:
    """List the models behind `base_url` by `method`. Raises an UpstreamError (classified like a
    failed request) when the listing cannot be had, so the caller keeps its previous pool."""
    try:
        run = _METHODS[method]
    except KeyError:
        raise ValueError(f"unknown discovery method {method!r}") from None
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return await run(_Fetch(transport, base_url.rstrip("/"), headers, now))


async def answers(transport: AsyncTransport, url: str) -> bool:
    """Whether a local server answers 200 at `url` (for `--local`); any failure means no."""
    try:
        response = await transport.request("GET", url, {})
        try:
            await response.read(MAX_LISTING_BYTES)
        finally:
            response.release()
    except UpstreamError:
        return False
    return response.status == 200


__all__ = ["DISCOVERY_METHODS", "answers", "discover"]

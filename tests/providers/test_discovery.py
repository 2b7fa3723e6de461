"""Discovery parsers over the documented model-list shapes (providers.md sections 1.1, 2 and 4),
and `discover` against fake providers on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpServer

from providers import discovery
from providers.discovery import DISCOVERY_METHODS, answers, discover
from providers.http11 import Http11Transport
from providers.model_lists import (
    DiscoveredModel,
    filter_globs,
    matches_globs,
    parse_cloudflare_models,
    parse_llamacpp,
    parse_lmstudio_models,
    parse_ollama_show,
    parse_ollama_tags,
    parse_openai_models,
    parse_openrouter_free,
)
from router.errors import BadResponse, RateLimited, UpstreamClientError, UpstreamConnectError
from router.types import Capability

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()
T, V, JO, JS, R = (
    Capability.TOOLS,
    Capability.VISION,
    Capability.JSON_OBJECT,
    Capability.JSON_SCHEMA,
    Capability.REASONING,
)


def openrouter_model(model_id: str, **overrides: object) -> dict[str, object]:
    model: dict[str, object] = {
        "id": model_id,
        "canonical_slug": model_id.removesuffix(":free"),
        "name": model_id,
        "created": 1754414229,
        "context_length": 131072,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "GPT",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": "0",
            "completion": "0",
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
        },
        "top_provider": {"context_length": 131072, "max_completion_tokens": 32768, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature", "seed"],
        "default_parameters": None,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{model_id}/endpoints"},
    }
    model.update(overrides)
    return model


OPENROUTER_MODELS = {
    "data": [
        openrouter_model(
            "openai/gpt-oss-20b:free",
            supported_parameters=[
                "max_tokens",
                "reasoning",
                "include_reasoning",
                "response_format",
                "tools",
                "tool_choice",
                "temperature",
                "seed",
            ],
        ),
        openrouter_model(
            "google/gemma-4-27b-it:free",
            context_length=None,
            top_provider={"context_length": 96000, "max_completion_tokens": None, "is_moderated": False},
            architecture={
                "modality": "text+image->text",
                "input_modalities": ["text", "image"],
                "output_modalities": ["text"],
                "tokenizer": "Gemini",
                "instruct_type": None,
            },
            supported_parameters=["response_format", "structured_outputs", "max_tokens"],
        ),
        # paid
        openrouter_model(
            "openai/gpt-oss-20b",
            pricing={"prompt": "0.00000003", "completion": "0.00000014"},
        ),
        # the dynamic router: -1 sentinels
        openrouter_model("openrouter/auto", pricing={"prompt": "-1", "completion": "-1"}),
        openrouter_model("openrouter/free"),
        # a ":free" id with the negative "dynamic price" sentinel is not free
        openrouter_model("acme/dynamic:free", pricing={"prompt": "-1", "completion": "-1"}),
        # a ":free" id that still charges for image output
        openrouter_model(
            "acme/imagine:free",
            pricing={"prompt": "0", "completion": "0", "image_output": "0.00004"},
            architecture={"input_modalities": ["text"], "output_modalities": ["image", "text"]},
        ),
        # image-only output
        openrouter_model(
            "acme/painter:free",
            architecture={"input_modalities": ["text"], "output_modalities": ["image"]},
        ),
        # expired yesterday, expires tomorrow
        openrouter_model("acme/old:free", expiration_date="2026-11-21"),
        openrouter_model("acme/leaving:free", expiration_date="2026-11-23T00:00:00Z"),
        # a long-context price override
        openrouter_model(
            "acme/long:free",
            pricing={"prompt": "0", "completion": "0", "overrides": [{"prompt": "0.000001"}]},
        ),
        # pricing missing entirely, alias ids, garbage
        openrouter_model("acme/unpriced:free", pricing=None),
        openrouter_model("~anthropic/claude-opus-latest"),
        "not a model",
        {"id": 42},
        # only the old single "modality" string
        openrouter_model(
            "acme/legacy:free", architecture={"modality": "text->text"}, supported_parameters=None
        ),
        openrouter_model(
            "acme/discounted:free",
            pricing={"prompt": "0", "completion": "0", "discount": 0.25},
        ),
    ]
}


def test_openrouter_strict_free_rule() -> None:
    found = {m.name: m for m in parse_openrouter_free(OPENROUTER_MODELS, NOW)}
    assert list(found) == [
        "openai/gpt-oss-20b:free",
        "google/gemma-4-27b-it:free",
        "acme/leaving:free",
        "acme/legacy:free",
        "acme/discounted:free",
    ]
    assert found["openai/gpt-oss-20b:free"] == DiscoveredModel(
        "openai/gpt-oss-20b:free", frozenset({T, JO, R}), 131072
    )
    gemma = found["google/gemma-4-27b-it:free"]
    assert gemma.capabilities == {V, JO, JS}
    assert gemma.context_length == 96000  # from top_provider when the top level is null
    assert found["acme/legacy:free"].capabilities == frozenset()


def test_openrouter_expiry_is_relative_to_now() -> None:
    later = datetime(2026, 11, 23, 0, 0, 1, tzinfo=UTC).timestamp()
    names = [m.name for m in parse_openrouter_free(OPENROUTER_MODELS, later)]
    assert "acme/leaving:free" not in names
    assert "openai/gpt-oss-20b:free" in names


@pytest.mark.parametrize("payload", [None, [], {}, {"data": None}, {"data": "x"}, "text"])
def test_openrouter_odd_payloads_give_nothing(payload: object) -> None:
    assert parse_openrouter_free(payload, NOW) == []


GROQ_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "openai/gpt-oss-120b",
            "object": "model",
            "created": 1754408224,
            "owned_by": "OpenAI",
            "active": True,
            "context_window": 131072,
            "public_apps": None,
            "max_completion_tokens": 65536,
        },
        {
            "id": "whisper-large-v3",
            "object": "model",
            "owned_by": "OpenAI",
            "active": True,
            "context_window": 448,
        },
        {
            "id": "llama-3.3-70b-versatile",
            "object": "model",
            "owned_by": "Meta",
            "active": False,
            "context_window": 131072,
        },
    ],
}


def test_groq_listing_drops_inactive_and_reads_context_window() -> None:
    found = parse_openai_models(GROQ_MODELS)
    assert found == [
        DiscoveredModel("openai/gpt-oss-120b", frozenset(), 131072),
        DiscoveredModel("whisper-large-v3", frozenset(), 448),
    ]
    # the non-chat ones go through the preset's exclude globs
    assert [m.name for m in filter_globs(found, exclude=["*whisper*"])] == ["openai/gpt-oss-120b"]


def test_gemini_compat_listing_strips_the_models_prefix() -> None:
    payload = {
        "object": "list",
        "data": [
            {"id": "models/gemini-2.5-flash", "object": "model", "owned_by": "google"},
            {
                "id": "models/gemini-embedding-001",
                "object": "model",
                "owned_by": "google",
                "display_name": "Gemini Embedding 001",
            },
        ],
    }
    assert [m.name for m in parse_openai_models(payload)] == [
        "gemini-2.5-flash",
        "gemini-embedding-001",
    ]


def test_vllm_listing_reads_max_model_len() -> None:
    payload = {
        "object": "list",
        "data": [
            {
                "id": "Qwen/Qwen3-8B",
                "object": "model",
                "created": 1,
                "owned_by": "vllm",
                "root": "/models/qwen3-8b",
                "parent": None,
                "max_model_len": 32768,
                "permission": [],
            }
        ],
    }
    assert parse_openai_models(payload) == [DiscoveredModel("Qwen/Qwen3-8B", frozenset(), 32768)]


MISTRAL_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "mistral-small-2506",
            "object": "model",
            "owned_by": "mistralai",
            "name": "mistral-small-2506",
            "capabilities": {
                "completion_chat": True,
                "completion_fim": False,
                "function_calling": True,
                "fine_tuning": False,
                "vision": True,
                "classification": False,
            },
            "max_context_length": 131072,
            "aliases": ["mistral-small-latest"],
            "deprecation": None,
            "type": "base",
        },
        {
            "id": "mistral-small-latest",
            "object": "model",
            "owned_by": "mistralai",
            "capabilities": {"completion_chat": True, "function_calling": True, "vision": True},
            "max_context_length": 131072,
            "aliases": ["mistral-small-2506"],
            "deprecation": None,
            "type": "base",
        },
        {
            "id": "mistral-embed",
            "object": "model",
            "capabilities": {"completion_chat": False, "function_calling": False},
            "max_context_length": 8192,
            "aliases": [],
            "deprecation": None,
            "type": "base",
        },
        {
            "id": "open-mistral-7b",
            "object": "model",
            "capabilities": {"completion_chat": True, "function_calling": True},
            "max_context_length": 32768,
            "aliases": [],
            "deprecation": "2025-03-30T12:00:00Z",
            "type": "base",
        },
        {
            "id": "magistral-small-2509",
            "object": "model",
            "capabilities": {"completion_chat": True, "function_calling": True, "reasoning": True},
            "max_context_length": 40000,
            "aliases": [],
            "deprecation": None,
            "type": "base",
        },
    ],
}


def test_mistral_listing_capabilities_aliases_and_deprecation() -> None:
    assert parse_openai_models(MISTRAL_MODELS) == [
        DiscoveredModel("mistral-small-2506", frozenset({T, V}), 131072),
        DiscoveredModel("magistral-small-2509", frozenset({T, R}), 40000),
    ]


def test_together_bare_array_and_types() -> None:
    payload = [
        {"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "type": "chat", "context_length": 131072},
        {"id": "BAAI/bge-large-en-v1.5", "type": "embedding", "context_length": 512},
    ]
    assert parse_openai_models(payload) == [
        DiscoveredModel("meta-llama/Llama-3.3-70B-Instruct-Turbo", frozenset(), 131072)
    ]


def test_huggingface_listing_reads_live_providers() -> None:
    payload = {
        "object": "list",
        "data": [
            {
                "id": "Qwen/Qwen3-8B",
                "object": "model",
                "owned_by": "Qwen",
                "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                "providers": [
                    {
                        "provider": "nscale",
                        "status": "live",
                        "context_length": 40960,
                        "pricing": {"input": 0.07, "output": 0.21},
                        "supports_tools": True,
                        "supports_structured_output": False,
                        "is_model_author": False,
                    },
                    {
                        "provider": "featherless-ai",
                        "status": "staging",
                        "context_length": 131072,
                        "supports_tools": False,
                        "supports_structured_output": True,
                    },
                ],
            },
            {
                "id": "google/gemma-3-27b-it",
                "object": "model",
                "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
                "providers": [
                    {
                        "provider": "nebius",
                        "status": "live",
                        "context_length": 110000,
                        "supports_tools": False,
                        "supports_structured_output": True,
                    }
                ],
            },
        ],
    }
    assert parse_openai_models(payload) == [
        DiscoveredModel("Qwen/Qwen3-8B", frozenset({T}), 40960),
        DiscoveredModel("google/gemma-3-27b-it", frozenset({V, JO, JS}), 110000),
    ]


def test_llamacpp_uses_the_running_context_and_template_caps() -> None:
    models = {
        "object": "list",
        "data": [
            {
                "id": "qwen3-8b-q4_k_m.gguf",
                "object": "model",
                "created": 1,
                "owned_by": "llamacpp",
                "meta": {"n_ctx_train": 40960, "n_params": 8190735360},
            }
        ],
    }
    props = {
        "default_generation_settings": {"n_ctx": 8192},
        "total_slots": 1,
        "model_alias": "qwen3-8b-q4_k_m.gguf",
        "modalities": {"vision": False, "audio": False},
        "chat_template_caps": {"supports_tools": True, "supports_parallel_tool_calls": True},
    }
    assert parse_llamacpp(models, props) == [DiscoveredModel("qwen3-8b-q4_k_m.gguf", frozenset({T}), 8192)]
    assert parse_llamacpp(models, {}) == [DiscoveredModel("qwen3-8b-q4_k_m.gguf", frozenset(), None)]


OLLAMA_TAGS = {
    "models": [
        {
            "name": "qwen3:8b",
            "model": "qwen3:8b",
            "modified_at": "2026-10-01T10:00:00Z",
            "size": 5225388164,
            "digest": "500a1f067a9f",
            "details": {"family": "qwen3", "parameter_size": "8.2B", "quantization_level": "Q4_K_M"},
        },
        {"name": "llava:7b", "model": "llava:7b", "details": {"family": "llama"}},
        {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest"},
    ]
}
OLLAMA_SHOWS = {
    "qwen3:8b": {
        "modelfile": "...",
        "parameters": "temperature 0.6",
        "details": {"family": "qwen3"},
        "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
        "capabilities": ["completion", "tools", "thinking"],
    },
    "llava:7b": {
        "model_info": {"general.architecture": "llama", "llama.context_length": 4096},
        "capabilities": ["completion", "vision"],
    },
    "nomic-embed-text:latest": {
        "model_info": {"nomic-bert.context_length": 2048},
        "capabilities": ["embedding"],
    },
}


def test_ollama_tags_and_show() -> None:
    assert parse_ollama_tags(OLLAMA_TAGS) == ["qwen3:8b", "llava:7b", "nomic-embed-text:latest"]
    found = [parse_ollama_show(n, OLLAMA_SHOWS[n]) for n in parse_ollama_tags(OLLAMA_TAGS)]
    assert found == [
        DiscoveredModel("qwen3:8b", frozenset({T, R, JO, JS}), 40960),
        DiscoveredModel("llava:7b", frozenset({V, JO, JS}), 4096),
        None,
    ]


CLOUDFLARE_SEARCH = {
    "success": True,
    "errors": [],
    "messages": [],
    "result": [
        {
            "id": "a1",
            "name": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
            "task": {"id": "t1", "name": "Text Generation"},
            "properties": [
                {"property_id": "context_window", "value": "24000"},
                {"property_id": "function_calling", "value": "true"},
                {
                    "property_id": "price",
                    "value": [{"unit": "per M input tokens", "price": 0.29, "currency": "USD"}],
                },
            ],
        },
        {
            "id": "a2",
            "name": "@cf/openai/gpt-oss-120b",
            "task": {"name": "Text Generation"},
            "properties": [
                {"property_id": "context_window", "value": 128000},
                {"property_id": "reasoning", "value": "true"},
            ],
        },
        {
            "id": "a3",
            "name": "@cf/big/paid-only",
            "task": {"name": "Text Generation"},
            "properties": [{"property_id": "require_workers_paid", "value": "true"}],
        },
        {"id": "a4", "name": "@cf/baai/bge-m3", "task": {"name": "Text Embeddings"}, "properties": []},
    ],
}


def test_cloudflare_search_keeps_free_text_generation() -> None:
    assert parse_cloudflare_models(CLOUDFLARE_SEARCH) == [
        DiscoveredModel("@cf/meta/llama-3.3-70b-instruct-fp8-fast", frozenset({T}), 24000),
        DiscoveredModel("@cf/openai/gpt-oss-120b", frozenset({R}), 128000),
    ]


def test_lmstudio_v0_and_v1_listings_loaded_first() -> None:
    v0 = {
        "object": "list",
        "data": [
            {
                "id": "qwen2-vl-7b-instruct",
                "object": "model",
                "type": "vlm",
                "publisher": "mlx-community",
                "arch": "qwen2_vl",
                "quantization": "4bit",
                "state": "not-loaded",
                "max_context_length": 32768,
            },
            {
                "id": "meta-llama-3.1-8b-instruct",
                "object": "model",
                "type": "llm",
                "state": "loaded",
                "max_context_length": 131072,
            },
            {"id": "text-embedding-nomic-embed-text-v1.5", "type": "embeddings", "state": "not-loaded"},
        ],
    }
    assert parse_lmstudio_models(v0) == [
        DiscoveredModel("meta-llama-3.1-8b-instruct", frozenset(), 131072),
        DiscoveredModel("qwen2-vl-7b-instruct", frozenset({V}), 32768),
    ]
    v1 = {
        "models": [
            {
                "key": "openai/gpt-oss-20b",
                "type": "llm",
                "loaded_instances": [],
                "max_context_length": 131072,
                "capabilities": {"vision": False, "trained_for_tool_use": True},
            }
        ]
    }
    assert parse_lmstudio_models(v1) == [DiscoveredModel("openai/gpt-oss-20b", frozenset({T}), 131072)]


@given(
    name=st.text(alphabet="abc-/:", max_size=12),
    include=st.lists(st.text(alphabet="abc*-/:", max_size=5), max_size=3),
    exclude=st.lists(st.text(alphabet="abc*-/:", max_size=5), max_size=3),
)
def test_globs_exclude_wins_and_empty_include_admits(name: str, include: list[str],
                                                     exclude: list[str]) -> None:
    admitted = matches_globs(name, include, exclude)
    if name in exclude:
        assert not admitted
    if not include and not exclude:
        assert admitted
    if admitted:
        assert matches_globs(name, include, ())


@asynccontextmanager
async def real_transport() -> AsyncIterator[Http11Transport]:
    transport = Http11Transport()
    try:
        yield transport
    finally:
        await transport.aclose()


# ---- discover() against loopback fakes ----------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def fake_provider(
    aiohttp_server: AiohttpServer, routes: Mapping[tuple[str, str], Handler | object]
) -> tuple[TestServer, list[web.Request]]:
    """A fake upstream: (method, path) -> a handler or a JSON payload. It records the requests
    it saw."""
    seen: list[web.Request] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        answer = routes.get((request.method, request.path))
        if answer is None:
            return web.json_response({"error": "not found"}, status=404)
        if callable(answer):
            response: web.StreamResponse = await answer(request)
            return response
        return web.json_response(answer)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = await aiohttp_server(app)
    return server, seen


async def test_discover_openrouter_free_over_http(aiohttp_server: AiohttpServer) -> None:
    server, seen = await fake_provider(aiohttp_server, {("GET", "/api/v1/models"): OPENROUTER_MODELS})
    async with real_transport() as session:
        found = await discover(
            session, "openrouter-free", str(server.make_url("/api/v1")), "sk-or-v1-test", NOW
        )
    assert [m.name for m in found][:2] == ["openai/gpt-oss-20b:free", "google/gemma-4-27b-it:free"]
    assert seen[0].headers["Authorization"] == "Bearer sk-or-v1-test"


async def test_discover_models_without_key_sends_no_authorization(aiohttp_server: AiohttpServer) -> None:
    server, seen = await fake_provider(aiohttp_server, {("GET", "/openai/v1/models"): GROQ_MODELS})
    async with real_transport() as session:
        found = await discover(session, "models", str(server.make_url("/openai/v1/")), None, NOW)
    assert [m.name for m in found] == ["openai/gpt-oss-120b", "whisper-large-v3"]
    assert "Authorization" not in seen[0].headers


async def test_discover_ollama_tags_then_show(aiohttp_server: AiohttpServer) -> None:
    async def show(request: web.Request) -> web.StreamResponse:
        name = (await request.json())["model"]
        return web.json_response(OLLAMA_SHOWS[name])

    server, seen = await fake_provider(
        aiohttp_server, {("GET", "/api/tags"): OLLAMA_TAGS, ("POST", "/api/show"): show}
    )
    async with real_transport() as session:
        found = await discover(session, "ollama", str(server.make_url("/v1")), None, NOW)
    assert [m.name for m in found] == ["qwen3:8b", "llava:7b"]
    assert sum(r.path == "/api/show" for r in seen) == 3


async def test_discover_cloudflare_search_path_and_task(aiohttp_server: AiohttpServer) -> None:
    path = "/client/v4/accounts/acct123/ai/models/search"
    server, seen = await fake_provider(aiohttp_server, {("GET", path): CLOUDFLARE_SEARCH})
    base = str(server.make_url("/client/v4/accounts/acct123/ai/v1"))
    async with real_transport() as session:
        found = await discover(session, "cloudflare", base, "cf-token", NOW)
    assert len(found) == 2
    assert seen[0].query["task"] == "Text Generation"


async def test_discover_lmstudio_and_llamacpp(aiohttp_server: AiohttpServer) -> None:
    server, _ = await fake_provider(
        aiohttp_server,
        {
            ("GET", "/api/v0/models"): {"data": [{"id": "m", "type": "llm", "state": "loaded"}]},
            ("GET", "/v1/models"): {"data": [{"id": "gguf", "owned_by": "llamacpp"}]},
            ("GET", "/props"): {"default_generation_settings": {"n_ctx": 16384}},
        },
    )
    base = str(server.make_url("/v1"))
    async with real_transport() as session:
        assert await discover(session, "lmstudio", base, None, NOW) == [
            DiscoveredModel("m", frozenset(), None)
        ]
        assert await discover(session, "llamacpp", base, None, NOW) == [
            DiscoveredModel("gguf", frozenset(), 16384)
        ]


async def test_discover_none_makes_no_request() -> None:
    async with real_transport() as session:
        assert await discover(session, "none", "http://127.0.0.1:9/v1", "k", NOW) == []


async def test_discover_unknown_method() -> None:
    async with real_transport() as session:
        with pytest.raises(ValueError, match="bogus"):
            await discover(session, "bogus", "http://127.0.0.1:9/v1", None, NOW)


async def test_discover_maps_a_401_into_the_error_tree(aiohttp_server: AiohttpServer) -> None:
    async def unauthorized(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"message": "Invalid API Key"}}, status=401)

    server, _ = await fake_provider(aiohttp_server, {("GET", "/v1/models"): unauthorized})
    async with real_transport() as session:
        with pytest.raises(UpstreamClientError):
            await discover(session, "models", str(server.make_url("/v1")), "wrong", NOW)


async def test_discover_maps_a_429(aiohttp_server: AiohttpServer) -> None:
    async def limited(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"message": "slow"}}, status=429, headers={"Retry-After": "3"})

    server, _ = await fake_provider(aiohttp_server, {("GET", "/v1/models"): limited})
    async with real_transport() as session:
        with pytest.raises(RateLimited) as caught:
            await discover(session, "models", str(server.make_url("/v1")), "k", NOW)
    assert caught.value.retry_after_s == 3


async def test_discover_non_json_is_a_bad_response(aiohttp_server: AiohttpServer) -> None:
    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    server, _ = await fake_provider(aiohttp_server, {("GET", "/v1/models"): html})
    async with real_transport() as session:
        with pytest.raises(BadResponse):
            await discover(session, "models", str(server.make_url("/v1")), None, NOW)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_discover_connection_refused_is_a_connect_error() -> None:
    async with real_transport() as session:
        with pytest.raises(UpstreamConnectError):
            await discover(session, "models", f"http://127.0.0.1:{closed_port()}/v1", None, NOW)


async def test_answers(aiohttp_server: AiohttpServer) -> None:
    async def loading(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}},
            status=503,
        )

    server, _ = await fake_provider(
        aiohttp_server, {("GET", "/health"): {"status": "ok"}, ("GET", "/loading"): loading}
    )
    async with real_transport() as session:
        assert await answers(session, str(server.make_url("/health")))
        assert not await answers(session, str(server.make_url("/loading")))
        assert not await answers(session, f"http://127.0.0.1:{closed_port()}/health")


def test_method_table_is_what_the_catalog_may_name() -> None:
    assert {"none", "models", "openrouter-free", "ollama"} <= DISCOVERY_METHODS
    # Every word the config accepts has an implementation, and nothing else does.
    assert discovery._METHODS.keys() == DISCOVERY_METHODS

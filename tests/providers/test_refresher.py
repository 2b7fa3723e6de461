"""Discovery wired into the running router: fake providers on loopback list their models in the
documented shapes, the router's pool (GET /v1/models, /status) follows the listings at startup
and on every refresh, and a discovered model serves requests end to end."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from providers.catalog import load_catalog
from providers.model_lists import DiscoveredModel, matches_globs
from router.app import create_app
from router.appkeys import RELOADER, RUNTIME
from router.config import Config, ConfigError, ModelConfig, ProviderConfig, parse
from router.discovery import (
    DISCOVERY,
    RETRY_AFTER_FAILURE_S,
    Listing,
    Refresher,
    apply_listings,
    discovered_models,
)
from router.plugins import load_plugins
from router.runtime import RuntimeRef, build_runtime
from router.types import Api, Capability
from tests.clock import FakeClock
from tests.providers.model_server import ModelServer
from tests.providers.test_discovery import NOW, OLLAMA_SHOWS, OPENROUTER_MODELS, openrouter_model

KEYS = {"OPENROUTER_API_KEY": "sk-or-test-0123456789", "GENERIC_KEY": "generic-test-key"}
QUIET = {"health": {"probe_interval_s": 0}}  # no prober traffic in the listings' hit counts


def presets(env: Mapping[str, str]) -> dict[str, Callable[[], Mapping[str, Any]]]:
    return {name: partial(p.provider_fields, env) for name, p in load_catalog().items()}


def config_of(raw: Mapping[str, Any], env: Mapping[str, str] = KEYS) -> Config:
    plugins = load_plugins()
    return parse({**QUIET, **raw}, env, list(plugins.strategies), presets(env))


Serve = Callable[[ModelServer], Awaitable[str]]
Route = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a ModelServer on loopback; returns its base_url (…/v1)."""
    servers: list[TestServer] = []

    async def start(fake: ModelServer) -> str:
        server = TestServer(fake.app(), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/v1"))

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(epoch=NOW)


@pytest.fixture
async def router(clock: FakeClock) -> AsyncIterator[Route]:
    """Start the router app (its lifecycle included: the first listing happens at startup)."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(
        raw: Mapping[str, Any], *, reload: Callable[[], Config] | None = None
    ) -> TestClient[web.Request, web.Application]:
        app = create_app(config_of(raw), load_plugins(), clock=clock, rng=random.Random(7),
                         reload_config=reload)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def listed(client: TestClient[web.Request, web.Application]) -> dict[str, dict[str, Any]]:
    """The backends of GET /v1/models (routes left out), by id."""
    response = await client.get("/v1/models")
    assert response.status == 200
    return {m["id"]: m for m in (await response.json())["data"] if m["owned_by"] != "freerouter"}


async def status_ids(client: TestClient[web.Request, web.Application]) -> set[str]:
    response = await client.get("/status")
    assert response.status == 200
    return {b["id"] for b in (await response.json())["backends"]}


def refresher(client: TestClient[web.Request, web.Application]) -> Refresher:
    return client.app[DISCOVERY]


def openrouter(base_url: str, **extra: Any) -> dict[str, Any]:
    return {"providers": [{"preset": "openrouter", "base_url": base_url, **extra}]}


def generic(base_url: str, **extra: Any) -> dict[str, Any]:
    return {"providers": [{"name": "acme", "api": "openai", "base_url": base_url,
                           "api_key_env": "GENERIC_KEY", "discover": "models", **extra}]}


GENERIC_MODELS = {
    "object": "list",
    "data": [
        {"id": "llama-3.3-70b", "object": "model", "owned_by": "Meta", "active": True,
         "context_window": 131072},
        {"id": "qwen3-32b", "object": "model", "owned_by": "Alibaba", "active": True,
         "context_window": 40960, "capabilities": ["tool-calling"]},
        {"id": "whisper-large-v3", "object": "model", "owned_by": "OpenAI", "active": True,
         "type": "audio"},
        {"id": "old-model", "object": "model", "owned_by": "Meta", "active": False},
        {"id": "guard-8b", "object": "model", "owned_by": "Meta", "active": True,
         "context_window": 8192},
    ],
}


# ---- the discovered pool --------------------------------------------------------------------


async def test_openrouter_free_models_are_the_pool_at_startup(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.models = OPENROUTER_MODELS
    client = await router(openrouter(await serve(fake)))

    backends = await listed(client)
    # The strict free rule: paid, dynamic-priced, image-output, expired and unpriced ones stay out,
    # and the catalog's known models that the listing no longer has are gone.
    assert set(backends) == {
        "openrouter/openai/gpt-oss-20b:free",
        "openrouter/google/gemma-4-27b-it:free",
        "openrouter/acme/leaving:free",
        "openrouter/acme/legacy:free",
        "openrouter/acme/discounted:free",
    }
    gpt = backends["openrouter/openai/gpt-oss-20b:free"]
    assert gpt["capabilities"] == ["json_object", "reasoning", "tools"]
    gemma = backends["openrouter/google/gemma-4-27b-it:free"]
    assert gemma["capabilities"] == ["json_object", "json_schema", "vision"]
    assert gemma["context_length"] == 96000
    assert backends["openrouter/acme/legacy:free"]["capabilities"] == []
    assert all(b["owned_by"] == "openrouter" for b in backends.values())
    assert await status_ids(client) == set(backends)
    assert fake.authorization == [f"Bearer {KEYS['OPENROUTER_API_KEY']}"]


async def test_generic_listing_with_globs_and_a_configured_model(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.models = GENERIC_MODELS
    raw = generic(
        await serve(fake), include=["llama-*", "qwen*", "guard-*"], exclude=["guard-*"],
        models=[{"name": "llama-3.3-70b", "capabilities": ["tools", "json_object"], "weight": 2.0}],
    )
    client = await router(raw)

    backends = await listed(client)
    # Inactive and audio models never chat; guard-* is excluded though included.
    assert set(backends) == {"acme/llama-3.3-70b", "acme/qwen3-32b"}
    # A model the config spells out keeps the config's table; the others take the listing's.
    assert backends["acme/llama-3.3-70b"]["capabilities"] == ["json_object", "tools"]
    assert backends["acme/qwen3-32b"]["capabilities"] == ["tools"]
    assert backends["acme/qwen3-32b"]["context_length"] == 40960
    pool = client.app[RUNTIME].current.pool
    assert pool.backends["acme/llama-3.3-70b"].weight == 2.0


async def test_ollama_tags_and_show_capabilities(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.tags = ["qwen3:8b", "llava:7b", "nomic-embed-text:latest"]
    fake.shows = OLLAMA_SHOWS
    raw = {"providers": [{"name": "ollama", "api": "openai", "base_url": await serve(fake),
                          "discover": "ollama"}]}
    client = await router(raw)

    backends = await listed(client)
    assert set(backends) == {"ollama/qwen3:8b", "ollama/llava:7b"}  # the embedding model cannot chat
    assert backends["ollama/qwen3:8b"]["capabilities"] == ["json_object", "json_schema", "reasoning", "tools"]
    assert backends["ollama/qwen3:8b"]["context_length"] == 40960
    assert backends["ollama/llava:7b"]["capabilities"] == ["json_object", "json_schema", "vision"]
    assert fake.hits["/api/show"] == 3
    assert fake.authorization == [None, None, None, None]  # no key configured: none sent


async def test_a_discovered_model_serves_requests_end_to_end(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/solo:free")]}
    client = await router(openrouter(await serve(fake)))

    response = await client.post("/v1/chat/completions", json={
        "model": "free", "messages": [{"role": "user", "content": "hello"}]})
    assert response.status == 200, await response.text()
    assert response.headers["x-freerouter-backend"] == "openrouter/acme/solo:free"
    assert (await response.json())["model"] == "openrouter/acme/solo:free"
    [sent] = fake.upstream.chat_requests
    assert sent.body["model"] == "acme/solo:free"
    assert sent.headers["Authorization"] == f"Bearer {KEYS['OPENROUTER_API_KEY']}"

    # Asked for by its upstream name, with and without the :free suffix rule.
    response = await client.post("/v1/chat/completions", json={
        "model": "acme/solo:free", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert response.status == 200
    assert "data: [DONE]" in await response.text()


async def test_capabilities_of_discovered_models_route_requests(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.models = OPENROUTER_MODELS
    client = await router(openrouter(await serve(fake)))
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    response = await client.post("/v1/chat/completions", json={
        "model": "free",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "what is it"}, image]}]})
    assert response.status == 200, await response.text()
    # gemma is the only discovered model whose listing says it takes images.
    assert response.headers["x-freerouter-backend"] == "openrouter/google/gemma-4-27b-it:free"


# ---- refresh ----------------------------------------------------------------------------------


async def test_a_refresh_adds_and_removes_models(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/a:free"), openrouter_model("acme/b:free")]}
    client = await router(openrouter(await serve(fake)))
    assert set(await listed(client)) == {"openrouter/acme/a:free", "openrouter/acme/b:free"}
    adapters = client.app[RUNTIME].current.providers

    fake.models = {"data": [
        openrouter_model("acme/b:free"),
        openrouter_model("acme/c:free", supported_parameters=["tools"]),
        openrouter_model("acme/a:free", expiration_date="2026-11-22T09:00:00Z"),  # ended an hour ago
    ]}
    await refresher(client).refresh_now(force=True)

    backends = await listed(client)
    assert set(backends) == {"openrouter/acme/b:free", "openrouter/acme/c:free"}
    assert backends["openrouter/acme/c:free"]["capabilities"] == ["tools"]
    assert await status_ids(client) == set(backends)
    # The pool is new; the adapters (and their connection pools) are the same objects.
    assert client.app[RUNTIME].current.providers is adapters


async def test_health_survives_a_refresh(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/a:free")]}
    client = await router(openrouter(await serve(fake)))
    response = await client.post("/v1/chat/completions", json={
        "model": "free", "messages": [{"role": "user", "content": "hello"}]})
    assert response.status == 200
    fake.models = {"data": [openrouter_model("acme/a:free"), openrouter_model("acme/b:free")]}
    await refresher(client).refresh_now(force=True)

    body = await (await client.get("/status")).json()
    requests = {b["id"]: b["requests"] for b in body["backends"]}
    assert requests == {"openrouter/acme/a:free": 1, "openrouter/acme/b:free": 0}


async def test_an_unchanged_listing_keeps_the_pool_object(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/a:free")]}
    client = await router(openrouter(await serve(fake)))
    before = client.app[RUNTIME].current
    await refresher(client).refresh_now(force=True)
    assert fake.hits["/v1/models"] == 2
    assert client.app[RUNTIME].current is before


async def test_a_refresh_within_the_interval_reuses_the_listing(
    serve: Serve, router: Route, clock: FakeClock
) -> None:
    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/a:free")]}
    client = await router({"routing": {"discovery_interval_s": 600}, **openrouter(await serve(fake))})
    assert fake.hits["/v1/models"] == 1

    fake.models = {"data": [openrouter_model("acme/b:free")]}
    clock.advance(599)
    assert await refresher(client).refresh_now() == pytest.approx(1.0)
    assert fake.hits["/v1/models"] == 1
    assert set(await listed(client)) == {"openrouter/acme/a:free"}

    clock.advance(1)
    assert await refresher(client).refresh_now() == pytest.approx(600.0)
    assert fake.hits["/v1/models"] == 2
    assert set(await listed(client)) == {"openrouter/acme/b:free"}


async def test_a_provider_interval_overrides_the_routing_one(
    serve: Serve, router: Route, clock: FakeClock
) -> None:
    slow, fast = ModelServer(), ModelServer()
    slow.models = fast.models = GENERIC_MODELS
    raw = {"routing": {"discovery_interval_s": 3600}, "providers": [
        {**generic(await serve(slow))["providers"][0], "name": "slow"},
        {**generic(await serve(fast))["providers"][0], "name": "fast", "discovery_interval_s": 60},
    ]}
    client = await router(raw)
    clock.advance(60)
    await refresher(client).refresh_now()
    assert (slow.hits["/v1/models"], fast.hits["/v1/models"]) == (1, 2)


async def test_a_failed_listing_keeps_the_previous_models(
    serve: Serve, router: Route, clock: FakeClock
) -> None:
    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/a:free")]}
    client = await router(openrouter(await serve(fake)))
    before = await listed(client)

    fake.fail_status = 503
    clock.advance(3600)
    # Retried sooner than a whole interval.
    assert await refresher(client).refresh_now() == pytest.approx(RETRY_AFTER_FAILURE_S)
    assert await listed(client) == before

    fake.fail_status = None
    fake.models = {"data": []}  # a listing that succeeds with nothing is believed
    clock.advance(RETRY_AFTER_FAILURE_S)
    await refresher(client).refresh_now()
    assert await listed(client) == {}


async def test_a_failed_first_listing_keeps_the_catalog_models(serve: Serve, router: Route) -> None:
    fake = ModelServer()
    fake.fail_status = 500
    client = await router(openrouter(await serve(fake)))
    known = {f"openrouter/{m.name}" for m in load_catalog()["openrouter"].models}
    assert set(await listed(client)) == known


async def test_the_loop_lists_again_once_due(serve: Serve, router: Route, clock: FakeClock) -> None:
    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/a:free")]}
    client = await router(openrouter(await serve(fake)))
    running = refresher(client)
    rounds = running.rounds
    fake.models = {"data": [openrouter_model("acme/b:free")]}
    clock.advance(3600)
    running.wake()
    await running.wait_rounds(rounds + 1)
    assert set(await listed(client)) == {"openrouter/acme/b:free"}


async def test_a_reload_gets_the_cached_listing_and_lists_new_providers(
    serve: Serve, router: Route
) -> None:
    first, second = ModelServer(), ModelServer()
    first.models = {"data": [openrouter_model("acme/a:free")]}
    second.models = GENERIC_MODELS
    first_url, second_url = await serve(first), await serve(second)
    reloaded = openrouter(first_url)
    client = await router(reloaded, reload=lambda: config_of(reloaded))

    reloaded["providers"].append(generic(second_url, include=["qwen*"])["providers"][0])
    running = refresher(client)
    rounds = running.rounds
    runtime = client.app[RELOADER]()
    # Applied at once from the cache: no fetch, and not the catalog's static models.
    assert set(runtime.pool.backends) == {"openrouter/acme/a:free"}
    assert first.hits["/v1/models"] == 1
    client.app[RUNTIME].current = runtime  # what server._reload does (swap_runtime)
    await running.wait_rounds(rounds + 1)  # woken: the new provider is listed now
    assert set(await listed(client)) == {"openrouter/acme/a:free", "acme/qwen3-32b"}
    assert first.hits["/v1/models"] == 1


async def test_an_ended_free_variant_is_parked_by_health(serve: Serve, router: Route) -> None:
    from router.demo.scripted import Fault

    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/a:free"), openrouter_model("acme/b:free")]}
    client = await router(openrouter(await serve(fake)))
    ended = (b'{"error": {"code": 404, "message": "The free variant of this model is no longer '
             b'available", "metadata": {"availability": {"code": "free_variant_ended"}}}}')
    fake.upstream.inject(Fault(status=404, body=ended, model="acme/a:free"))
    response = await client.post("/v1/chat/completions", json={
        "model": "openrouter/acme/a:free", "models": ["openrouter/acme/b:free"],
        "messages": [{"role": "user", "content": "hello"}]})
    assert response.status == 200
    assert response.headers["x-freerouter-backend"] == "openrouter/acme/b:free"
    body = await (await client.get("/status")).json()
    parked = next(b for b in body["backends"] if b["id"] == "openrouter/acme/a:free")
    assert parked["state"] == "cooling"
    assert parked["cooldown_s"] > 3600


# ---- the pieces -------------------------------------------------------------------------------


def test_discover_must_be_a_known_method() -> None:
    with pytest.raises(ConfigError) as caught:
        config_of(generic("http://127.0.0.1:9/v1", discover="scrape"))
    assert any(e.startswith("providers[0].discover: unknown discovery method 'scrape'")
               for e in caught.value.errors)


@pytest.mark.parametrize(("raw", "key"), [
    (generic("http://127.0.0.1:9/v1", include="llama-*"), "providers[0].include"),
    (generic("http://127.0.0.1:9/v1", exclude=[1]), "providers[0].exclude"),
    (generic("http://127.0.0.1:9/v1", discovery_interval_s=0), "providers[0].discovery_interval_s"),
    ({"routing": {"discovery_interval_s": 0}, **generic("http://127.0.0.1:9/v1")},
     "routing.discovery_interval_s"),
])
def test_discovery_keys_are_checked(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_of(raw)
    assert any(e.startswith(f"{key}:") for e in caught.value.errors), caught.value.errors


def test_discovery_keys_parse() -> None:
    config = config_of({"routing": {"discovery_interval_s": 90}, **generic(
        "http://127.0.0.1:9/v1", include=["a*"], exclude=["ab*"], discovery_interval_s=30)})
    [provider] = config.providers
    assert (provider.include, provider.exclude, provider.discovery_interval_s) == (("a*",), ("ab*",), 30.0)
    assert config.routing.discovery_interval_s == 90.0


# ---- properties of the pure step ----------------------------------------------------------------

_NAMES = st.sampled_from(["a", "ab", "b:free", "c/d", "c/e:free", "x"])
_GLOBS = st.lists(st.sampled_from(["a*", "*:free", "c/*", "x", "zz*"]), max_size=2)


@given(names=st.lists(_NAMES, max_size=8), include=_GLOBS, exclude=_GLOBS,
       configured=st.sets(_NAMES, max_size=3))
def test_a_listing_gives_the_admitted_names_once_each_configured_ones_as_written(
    names: list[str], include: list[str], exclude: list[str], configured: set[str]
) -> None:
    tools = frozenset({Capability.TOOLS})
    written = tuple(ModelConfig(n, tools, 4096, weight=3.0) for n in sorted(configured))
    provider = ProviderConfig("p", Api.OPENAI, "http://127.0.0.1:9/v1", discover="models",
                              include=tuple(include), exclude=tuple(exclude), models=written)
    found = [DiscoveredModel(n, frozenset(), None) for n in names]
    models = discovered_models(provider, found, None)
    admitted = [n for n in dict.fromkeys(names) if matches_globs(n, include, exclude)]
    assert [m.name for m in models] == admitted
    for m in models:
        assert (m.weight == 3.0) == (m.name in configured)


@given(names=st.lists(_NAMES, max_size=5), moved=st.booleans())
def test_listings_apply_only_to_the_provider_and_place_they_came_from(names: list[str], moved: bool) -> None:
    static = (ModelConfig("static"),)
    listed = ProviderConfig("p", Api.OPENAI, "http://127.0.0.1:9/v1", discover="models", models=static)
    fixed = ProviderConfig("q", Api.OPENAI, "http://127.0.0.1:9/v1", models=static)
    config = Config(providers=(listed, fixed))
    listing = Listing("models", "http://127.0.0.1:8/v1" if moved else listed.base_url,
                      tuple(DiscoveredModel(n, frozenset(), None) for n in names), 0.0)
    applied = apply_listings(config, {"p": listing, "q": listing}, {})
    assert applied.providers[1] == fixed
    expected = static if moved else tuple(ModelConfig(n) for n in dict.fromkeys(names))
    assert applied.providers[0].models == expected


async def test_a_failing_round_neither_ends_the_loop_nor_holds_up_startup(
    serve: Serve, clock: FakeClock
) -> None:
    fake = ModelServer()
    fake.models = {"data": [openrouter_model("acme/a:free")]}
    config = config_of(openrouter(await serve(fake)))
    ref = RuntimeRef(build_runtime(config, load_plugins(), random.Random(1), clock.wall))
    # No strategies at all: building the new pool raises, as a bug in it would.
    broken = Refresher(ref, {}, random.Random(1), clock, startup_wait_s=30)
    lifecycle = broken.context(web.Application())
    async with asyncio.timeout(10):
        await anext(lifecycle)  # startup returned: the failed round counted as one
        assert broken.rounds == 1
        known = {f"openrouter/{m.name}" for m in load_catalog()["openrouter"].models}
        assert ref.current.pool.backends.keys() == known
        broken.wake()
        await broken.wait_rounds(2)  # the loop lives on
        with pytest.raises(StopAsyncIteration):
            await anext(lifecycle)
    await ref.current.aclose()

"""Stored Responses shared by two router replicas through one real redis-server: a response
created on one replica is retrieved, continued (previous_response_id), referenced
(item_reference) and deleted on the other, with the openai SDK; with `store: false` neither
replica keeps anything."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp import web

from bench.redis_server import RedisServer
from router.app import create_app
from router.config import parse
from router.demo.anthropic_upstream import FakeAnthropicUpstream
from router.demo.scripted import Behaviour
from router.demo.upstream import FakeUpstream
from router.plugins import load_plugins
from tests.api.conftest import ANTHROPIC_KEY, CLIENT_KEY, ENV, OPENAI_KEY, port_of, raw_config, serve

pytestmark = pytest.mark.slow


@pytest.fixture
async def replicas(redis_server: RedisServer) -> AsyncIterator[list[openai.AsyncOpenAI]]:
    oai = FakeUpstream({"gpt-sim": Behaviour(), "mini-sim": Behaviour()}, api_key=OPENAI_KEY)
    ant = FakeAnthropicUpstream({"claude-sim": Behaviour(), "haiku-sim": Behaviour()},
                                api_key=ANTHROPIC_KEY)
    runners: list[web.AppRunner] = [await serve(oai.app()), await serve(ant.app())]
    raw = raw_config(port_of(runners[0]), port_of(runners[1]))
    raw["state"] = {"backend": "redis", "url_env": "FR_TEST_REDIS",
                    "key_prefix": f"responses-{uuid.uuid4().hex[:8]}:",
                    "timeout_ms": 5000}  # a loaded machine must not push the store into fallback
    plugins = load_plugins()
    clients = []
    for _ in range(2):
        config = parse(raw, {**ENV, "FR_TEST_REDIS": redis_server.url}, list(plugins.strategies), {},
                       source="<replicas>")
        runners.append(await serve(create_app(config, plugins)))
        clients.append(openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port_of(runners[-1])}/v1",
                                          api_key=CLIENT_KEY, max_retries=0))
    try:
        yield clients
    finally:
        for client in clients:
            await client.close()
        for runner in reversed(runners):
            await runner.cleanup()


@pytest.mark.parametrize("route", ["to-openai", "to-anthropic"])
async def test_a_response_made_on_one_replica_is_continued_on_the_other(
        replicas: list[Any], route: str) -> None:
    first, second = replicas
    created = await first.responses.create(model=route, input="remember the heron")
    assert (await second.responses.retrieve(created.id)).output_text == created.output_text
    follow = await second.responses.create(model=route, previous_response_id=created.id,
                                           input="what did I say?")
    assert follow.output_text.endswith("You said: what did I say?")
    referenced = await second.responses.create(model=route, input=[
        {"role": "user", "content": "remember the heron"},
        {"type": "item_reference", "id": created.output[0].id},
        {"role": "user", "content": "again"}])
    assert referenced.output_text.endswith("You said: again")
    await second.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await first.responses.retrieve(created.id)
    kept_nothing = await first.responses.create(model=route, input="forget me", store=False)
    for replica in replicas:
        with pytest.raises(openai.NotFoundError):
            await replica.responses.retrieve(kept_nothing.id)

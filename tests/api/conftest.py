"""A router on loopback over two fake upstreams, one per API, and SDK clients pointed at it.

Routes: `to-openai` (and `free`, which `claude-*` aliases to) reach only OpenAI-API backends,
`to-anthropic` only Anthropic-API ones, so every cross-API test is sure to translate. Every
fake checks each request against its own API's rules; a test fails at teardown if any request
the router forwarded would have been rejected by the real API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from router.app import create_app
from router.config import parse
from router.demo.anthropic_upstream import FakeAnthropicUpstream
from router.demo.scripted import Behaviour, Received
from router.demo.upstream import FakeUpstream
from router.plugins import load_plugins

CLIENT_KEY = "sk-test-client"
OPENAI_KEY = "oai-upstream-secret"
ANTHROPIC_KEY = "ant-upstream-secret"
ENV = {"FR_TEST_CLIENT_KEYS": f"tester:{CLIENT_KEY}", "FR_TEST_OAI_KEY": OPENAI_KEY,
       "FR_TEST_ANT_KEY": ANTHROPIC_KEY}
ALL_CAPS = ["tools", "vision", "json_object", "json_schema"]


@dataclass(frozen=True, slots=True)
class Stack:
    url: str  # the router, without /v1
    openai_fake: FakeUpstream
    anthropic_fake: FakeAnthropicUpstream

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


def raw_config(openai_port: int, anthropic_port: int) -> dict[str, Any]:
    return {
        "server": {"client_keys_env": "FR_TEST_CLIENT_KEYS"},
        "health": {"probe_interval_s": 3600},
        "providers": [
            {"name": "oai", "api": "openai", "base_url": f"http://127.0.0.1:{openai_port}/v1",
             "api_key_env": "FR_TEST_OAI_KEY",
             "models": [{"name": "gpt-sim", "capabilities": ALL_CAPS, "context_length": 131072},
                        {"name": "mini-sim", "capabilities": [], "context_length": 32768}]},
            {"name": "ant", "api": "anthropic", "base_url": f"http://127.0.0.1:{anthropic_port}/v1",
             "api_key_env": "FR_TEST_ANT_KEY",
             "models": [{"name": "claude-sim", "capabilities": ["tools", "vision", "json_schema"],
                         "context_length": 200000},
                        {"name": "haiku-sim", "capabilities": [], "context_length": 32768}]},
        ],
        "routes": [
            {"name": "free", "strategy": "random", "backends": ["oai/*"]},
            {"name": "to-openai", "strategy": "random", "backends": ["oai/*"]},
            {"name": "to-anthropic", "strategy": "random", "backends": ["ant/*"]},
        ],
        "aliases": {"claude-*": "free"},
    }


async def serve(app: web.Application) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def port_of(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])


def rejected(received: list[Received]) -> list[tuple[str, list[str]]]:
    return [(r.path, r.problems) for r in received if r.problems]


@pytest.fixture
async def upstreams() -> AsyncIterator[tuple[FakeUpstream, FakeAnthropicUpstream]]:
    """The two fakes, asserting at teardown that the router sent each only valid requests."""
    fast = Behaviour(chunks=0)
    oai = FakeUpstream({"gpt-sim": fast, "mini-sim": fast}, api_key=OPENAI_KEY)
    ant = FakeAnthropicUpstream({"claude-sim": fast, "haiku-sim": fast}, api_key=ANTHROPIC_KEY)
    yield oai, ant
    oai.hang.set()
    ant.hang.set()
    assert rejected(oai.received) == []
    assert rejected(ant.received) == []


@pytest.fixture
async def stack(upstreams: tuple[FakeUpstream, FakeAnthropicUpstream]) -> AsyncIterator[Stack]:
    oai, ant = upstreams
    runners = [await serve(oai.app()), await serve(ant.app())]
    plugins = load_plugins()
    config = parse(raw_config(port_of(runners[0]), port_of(runners[1])), ENV,
                   list(plugins.strategies), {}, source="<tests/api>")
    runners.append(await serve(create_app(config, plugins)))
    try:
        yield Stack(f"http://127.0.0.1:{port_of(runners[-1])}", oai, ant)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


@pytest.fixture
async def anthropic_client(stack: Stack) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=stack.url, api_key=CLIENT_KEY,
                                        max_retries=0) as client:
        yield client


@pytest.fixture
def anthropic_sync(stack: Stack) -> Any:
    with anthropic.Anthropic(base_url=stack.url, api_key=CLIENT_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
async def openai_client(stack: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=stack.v1, api_key=CLIENT_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def openai_sync(stack: Stack) -> Any:
    with openai.OpenAI(base_url=stack.v1, api_key=CLIENT_KEY, max_retries=0) as client:
        yield client

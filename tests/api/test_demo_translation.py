"""The demo's Anthropic-API backend (`claude-sim`) next to its OpenAI-API ones: both SDKs reach
both kinds through the demo config, so `freerouter demo` shows translation at work."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest

from router.app import create_app
from router.config import parse
from router.demo.backends import demo_raw_config, demo_upstreams
from router.plugins import load_plugins
from tests.api.conftest import port_of, serve


@pytest.fixture
async def demo_url() -> AsyncIterator[str]:
    async with demo_upstreams() as upstreams:
        plugins = load_plugins()
        config = parse(demo_raw_config(upstreams.ports), os.environ, list(plugins.strategies), {},
                       source="<demo>")
        runner = await serve(create_app(config, plugins))
        try:
            yield f"http://127.0.0.1:{port_of(runner)}"
        finally:
            await runner.cleanup()


@pytest.mark.parametrize("model", ["anthropic-sim/sonnet-sim", "demo/swift-8b"])
async def test_both_sdks_reach_both_kinds_of_backend(demo_url: str, model: str):
    client: Any
    async with anthropic.AsyncAnthropic(base_url=demo_url, api_key="x", max_retries=0) as client:
        message = await client.messages.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        assert message.model == model and message.content[0].text.endswith("You said: hi")
    async with openai.AsyncOpenAI(base_url=f"{demo_url}/v1", api_key="x", max_retries=0) as client:
        completion = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}])
        assert completion.model == model
        assert completion.choices[0].message.content.endswith("You said: hi")


async def test_claude_alias_and_vision_reach_the_anthropic_backend(demo_url: str):
    client: Any
    async with openai.AsyncOpenAI(base_url=f"{demo_url}/v1", api_key="x", max_retries=0) as client:
        models = {m.id async for m in client.models.list()}
        assert "anthropic-sim/sonnet-sim" in models
        completion = await client.chat.completions.create(
            model="claude-3-whatever", tools=[{"type": "function", "function": {
                "name": "look", "parameters": {"type": "object", "properties": {}}}}],
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}])
        # tools + vision: only the Anthropic-API demo backend has both
        assert completion.model == "anthropic-sim/sonnet-sim"
        assert completion.choices[0].finish_reason == "tool_calls"

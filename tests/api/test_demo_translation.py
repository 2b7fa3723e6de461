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
    async with demo_upstreams(pace=0.0) as upstreams:
        plugins = load_plugins()
        config = parse(demo_raw_config(upstreams.ports), os.environ, list(plugins.strategies), {},
                       source="<demo>")
        runner = await serve(create_app(config, plugins))
        try:
            yield f"http://127.0.0.1:{port_of(runner)}"
        finally:
            await runner.cleanup()


@pytest.mark.parametrize("model", ["anthropic-sim/sonnet-sim", "demo/swift-8b"])
async def test_both_sdks_reach_both_kinds_of_backend(demo_url: str, model: str) -> None:
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


async def test_claude_alias_and_vision_reach_the_anthropic_backend(demo_url: str) -> None:
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


TINY_PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
            "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


async def test_the_reasoning_backend_streams_its_reasoning(demo_url: str) -> None:
    client: Any
    async with openai.AsyncOpenAI(base_url=f"{demo_url}/v1", api_key="x", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="demo/large-70b", stream=True, messages=[{"role": "user", "content": "why?"}])
        kinds = [("reasoning" if (c.delta.model_extra or {}).get("reasoning_content") else
                  "text" if c.delta.content else "other") async for chunk in stream
                 for c in chunk.choices]
    thinking = [k for k in kinds if k == "reasoning"]
    assert len(thinking) > 3 and kinds.index("text") > kinds.index("reasoning")
    async with anthropic.AsyncAnthropic(base_url=demo_url, api_key="x", max_retries=0) as client:
        message = await client.messages.create(
            model="anthropic-sim/sonnet-sim", max_tokens=2048, messages=[
                {"role": "user", "content": "why?"}],
            thinking={"type": "enabled", "budget_tokens": 1024})
    assert message.content[0].type == "thinking" and message.content[0].signature


async def test_vision_backends_see_the_image(demo_url: str) -> None:
    client: Any
    async with openai.AsyncOpenAI(base_url=f"{demo_url}/v1", api_key="x", max_retries=0) as client:
        for model in ("demo/vision-12b", "anthropic-sim/sonnet-sim"):
            completion = await client.chat.completions.create(model=model, messages=[
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": TINY_PNG}},
                    {"type": "text", "text": "what is this?"}]}])
            assert "I see 1 image." in completion.choices[0].message.content

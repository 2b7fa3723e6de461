"""The demo's Anthropic-API backend (`claude-sim`) next to its OpenAI-API ones: both SDKs reach
both kinds through the demo config, so `freerouter demo` shows translation at work."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest

from router.app import create_app
from router.config import parse
from router.demo.backends import demo_raw_config, demo_upstreams
from router.demo.tokenizer import count
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


DEMO_KINDS = ["demo/swift-8b", "anthropic-sim/sonnet-sim"]  # an OpenAI-API and an Anthropic-API one
SAID = [{"role": "user", "content": "tell me a long story about the sea"}]


@pytest.mark.parametrize("model", DEMO_KINDS)
async def test_the_output_bound_is_a_length_stop_in_every_api(demo_url: str, model: str) -> None:
    """The demo's model stops at the client's max: a length stop, usage counting what came."""
    client: Any
    async with openai.AsyncOpenAI(base_url=f"{demo_url}/v1", api_key="x", max_retries=0) as client:
        completion = await client.chat.completions.create(model=model, max_tokens=4, messages=SAID)
        assert completion.choices[0].finish_reason == "length"
        assert completion.usage.completion_tokens == 4
        assert count([completion.choices[0].message.content]) == 4
        stream = await client.chat.completions.create(
            model=model, max_completion_tokens=4, messages=SAID, stream=True,
            stream_options={"include_usage": True})
        text, finish, used = "", None, None
        async for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
            used = chunk.usage or used
        assert finish == "length" and used is not None and used.completion_tokens == 4
        assert text == completion.choices[0].message.content
        for streamed in (False, True):
            if streamed:  # (the SDK's stream helper wants a response.completed)
                events = await client.responses.create(
                    model=model, max_output_tokens=4, input="tell me a long story", stream=True)
                kinds = [event async for event in events]
                assert kinds[-1].type == "response.incomplete"
                response = kinds[-1].response
            else:
                response = await client.responses.create(model=model, max_output_tokens=4,
                                                         input="tell me a long story")
            assert response.status == "incomplete"
            assert response.incomplete_details is not None
            assert response.incomplete_details.reason == "max_output_tokens"
            assert response.usage is not None and response.usage.output_tokens == 4
            assert count([response.output_text]) == 4
            assert [item.status for item in response.output] == ["incomplete"]
    async with anthropic.AsyncAnthropic(base_url=demo_url, api_key="x", max_retries=0) as client:
        message = await client.messages.create(model=model, max_tokens=4, messages=SAID)
        assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 4
        async with client.messages.stream(model=model, max_tokens=4, messages=SAID) as events:
            final = await events.get_final_message()
        assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 4
        assert final.content[0].type == "text" and message.content[0].type == "text"
        assert final.content[0].text == message.content[0].text


async def test_a_tool_call_cut_at_the_bound_ends_with_a_length_stop(demo_url: str) -> None:
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    client: Any
    async with openai.AsyncOpenAI(base_url=f"{demo_url}/v1", api_key="x", max_retries=0) as client:
        for model in DEMO_KINDS:
            completion = await client.chat.completions.create(
                model=model, max_tokens=3, tools=tools, tool_choice="required",
                messages=[{"role": "user", "content": "weather in Oslo"}])
            choice = completion.choices[0]
            assert choice.finish_reason == "length" and completion.usage.completion_tokens == 3
            assert choice.message.tool_calls is not None
            (call,) = choice.message.tool_calls
            assert call.function.name == "get_weather"
            if model.startswith("demo/"):  # as OpenAI: the arguments as far as they got
                with pytest.raises(json.JSONDecodeError):
                    json.loads(call.function.arguments)

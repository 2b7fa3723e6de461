"""Structured outputs and tool arguments through the router, with the official SDKs, in both
translation directions: what comes back is an instance of the schema asked for (checked with a
JSON Schema validator, and by pydantic parsing it), and usage counts what was streamed."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from router.demo.anthropic_validation import STRUCTURED_OUTPUTS
from tests.api.conftest import CLIENT_KEY, Stack
from tests.demo.test_schema_instance import Person, assert_valid

SCHEMA = Person.model_json_schema()


@pytest.mark.parametrize("route", ["to-openai", "to-anthropic"])
async def test_openai_parse_gets_a_valid_instance(openai_client: Any, route: str) -> None:
    completion = await openai_client.chat.completions.parse(
        model=route, response_format=Person, messages=[{"role": "user", "content": "a person"}])
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person)
    assert_valid(SCHEMA, person.model_dump(mode="json"))


@pytest.mark.parametrize("route", ["to-openai", "to-anthropic"])
async def test_anthropic_output_config_gets_a_valid_instance(anthropic_client: Any, route: str) -> None:
    message = await anthropic_client.messages.create(
        model=route, max_tokens=2000, messages=[{"role": "user", "content": "a person"}],
        output_config={"format": {"type": "json_schema", "schema": SCHEMA}})
    Person.model_validate_json(message.content[0].text)


@pytest.mark.parametrize("route", ["to-openai", "to-anthropic"])
async def test_tool_arguments_fit_the_tool_schema(openai_client: Any, route: str) -> None:
    tool = {"type": "function", "function": {"name": "register_person", "parameters": SCHEMA}}
    stream = await openai_client.chat.completions.create(
        model=route, tools=[tool], stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "register a person please"}])
    arguments, pieces, usage = "", 0, None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                if call.function and call.function.arguments:
                    arguments += call.function.arguments
                    pieces += 1
    Person.model_validate_json(arguments)
    assert usage is not None and usage.completion_tokens >= pieces > 3


async def test_usage_counts_exactly_what_was_sent_and_streamed(stack: Stack, openai_client: Any) -> None:
    async def run(text: str) -> tuple[int, int, int]:
        stream = await openai_client.chat.completions.create(
            model="to-openai", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": text}])
        deltas, usage = 0, None
        async for chunk in stream:
            usage = chunk.usage or usage
            deltas += sum(1 for c in chunk.choices if c.delta.content)
        assert usage is not None
        return usage.prompt_tokens, usage.completion_tokens, deltas

    short_prompt, short_completion, short_deltas = await run("one two")
    long_prompt, _long_completion, _ = await run("one two three four five")
    assert short_completion == short_deltas  # a token per streamed piece
    assert long_prompt - short_prompt == 3  # three more words, three more prompt tokens


@pytest.mark.parametrize("route", ["to-openai", "to-anthropic"])
async def test_the_betas_output_format_is_honoured_too(stack: Stack, route: str) -> None:
    body = {"model": route, "max_tokens": 2000, "messages": [{"role": "user", "content": "hi"}],
            "output_format": {"type": "json_schema", "schema": SCHEMA}}
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": STRUCTURED_OUTPUTS}
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages", json=body,
            headers={**headers, "x-api-key": CLIENT_KEY}) as resp:
        message = await resp.json()
    assert resp.status == 200, message
    Person.model_validate_json(message["content"][0]["text"])

"""The official `openai` SDK through the router to Anthropic-API fake backends, and the Anthropic
adapter's own wire details (headers, probe, empty answers). The Anthropic fake rejects anything
the real Messages API would, and the `upstreams` fixture fails the test if it ever had to."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import pytest

from providers.anthropic_compat import AnthropicProvider
from router.demo.anthropic_upstream import FakeAnthropicUpstream
from router.demo.scripted import Behaviour, Fault
from router.errors import (
    BadResponse,
    RateLimited,
    UpstreamClientError,
    UpstreamServerError,
    UpstreamTimeout,
)
from router.types import Api, Backend
from router.upstream import ProviderSettings, UpstreamRequest
from tests.api.conftest import ANTHROPIC_KEY, CLIENT_KEY, Stack, port_of, rejected, serve
from tests.api.sse import parse_sse

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def body_of(error: Any) -> Any:
    """An SDK error's parsed body (the SDKs type it as `object`)."""
    return error.body


def sent_bodies(stack: Stack) -> list[dict[str, Any]]:
    return [r.body for r in stack.anthropic_fake.message_requests]


# -- text --------------------------------------------------------------------------------------


async def test_text_with_system_prompt(stack: Stack, openai_client: Any) -> None:
    raw = await openai_client.chat.completions.with_raw_response.create(
        model="to-anthropic", messages=[{"role": "system", "content": "Be terse."},
                                        {"role": "developer", "content": "No emoji."},
                                        *user("hello anthropic")])
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content.endswith("You said: hello anthropic")
    assert completion.model.startswith("ant/")
    assert raw.headers["x-freerouter-backend"] == completion.model
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == (completion.usage.prompt_tokens
                                             + completion.usage.completion_tokens)
    sent = stack.anthropic_fake.message_requests[-1]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in sent.headers
    assert "Be terse." in json.dumps(sent.body["system"]) and "No emoji." in json.dumps(sent.body["system"])
    (turn,) = sent.body["messages"]
    assert turn["role"] == "user" and "hello anthropic" in json.dumps(turn["content"])
    assert 1 <= sent.body["max_tokens"] <= 4096  # none asked: the router's bound


async def test_sync_client(stack: Stack, openai_sync: Any) -> None:
    completion = await asyncio.to_thread(
        openai_sync.chat.completions.create, model="ant/claude-sim", max_tokens=50,
        messages=user("sync"))
    assert completion.model == "ant/claude-sim"
    assert stack.anthropic_fake.message_requests[-1].body["max_tokens"] == 50


async def test_openai_only_fields_never_reach_anthropic(stack: Stack, openai_client: Any) -> None:
    await openai_client.chat.completions.create(
        model="to-anthropic", messages=user("knobs"), temperature=1.7, top_p=0.9, seed=7,
        frequency_penalty=0.5, presence_penalty=0.1, stop="END", user="alice", n=1,
        logprobs=False, max_completion_tokens=99, metadata={"k": "v"}, store=False)
    body = sent_bodies(stack)[-1]
    assert body["temperature"] <= 1
    assert body["stop_sequences"] == ["END"]
    assert body["max_tokens"] == 99
    assert body.get("metadata", {}).get("user_id") == "alice"


# -- streaming ---------------------------------------------------------------------------------


async def test_stream_helper_and_final_completion(stack: Stack, openai_client: Any) -> None:
    async with openai_client.chat.completions.stream(
            model="to-anthropic", messages=user("stream to me")) as stream:
        deltas = [e.delta async for e in stream if e.type == "content.delta"]
        final = await stream.get_final_completion()
    text = final.choices[0].message.content
    assert "".join(deltas) == text and text.endswith("You said: stream to me")
    assert final.choices[0].finish_reason == "stop"
    assert final.model.startswith("ant/")
    assert sent_bodies(stack)[-1]["stream"] is True


async def test_raw_stream_with_usage_ends_with_done(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    body = {"model": "to-anthropic", "stream": True, "stream_options": {"include_usage": True},
            "messages": user("count me")}
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.v1}/chat/completions", headers=headers, json=body) as resp:
        assert resp.status == 200
        frames = parse_sse(await resp.read())
    assert frames[-1] == (None, b"[DONE]")
    chunks = [data for _, data in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["model"] == resp.headers["x-freerouter-backend"] for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert "stream_options" not in sent_bodies(stack)[-1]


async def test_sync_stream(stack: Stack, openai_sync: Any) -> None:
    def run() -> str:
        stream = openai_sync.chat.completions.create(
            model="to-anthropic", messages=user("sync stream"), stream=True)
        with stream:
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert (await asyncio.to_thread(run)).endswith("You said: sync stream")


# -- tools -------------------------------------------------------------------------------------


async def test_single_tool_call_and_round_trip(stack: Stack, openai_client: Any) -> None:
    first = await openai_client.chat.completions.create(
        model="to-anthropic", tools=[WEATHER], messages=user("weather in Paris?"))
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    second = await openai_client.chat.completions.create(
        model="to-anthropic", tools=[WEATHER],
        messages=[*user("weather in Paris?"), choice.message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}])
    assert second.choices[0].finish_reason == "stop"
    assert "sunny, 21C" in second.choices[0].message.content
    turns = sent_bodies(stack)[-1]["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    result = turns[2]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == call.id


async def test_parallel_tool_calls_streamed(stack: Stack, openai_client: Any) -> None:
    async with openai_client.chat.completions.stream(
            model="to-anthropic", tools=[WEATHER, TIME],
            messages=user("both tools in parallel please")) as stream:
        argument_deltas = [e async for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = await stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"}] * 2
    assert len({c.id for c in calls}) == 2
    assert final.choices[0].finish_reason == "tool_calls"
    assert len(argument_deltas) >= 4  # each call's arguments arrived in fragments


async def test_parallel_results_go_back_in_one_user_turn(stack: Stack, openai_client: Any) -> None:
    calls = [{"id": f"call_{i}", "type": "function",
              "function": {"name": "get_weather", "arguments": json.dumps({"city": c})}}
             for i, c in enumerate(("Oslo", "Rome"))]
    completion = await openai_client.chat.completions.create(
        model="to-anthropic", tools=[WEATHER], parallel_tool_calls=False, tool_choice="auto",
        messages=[*user("two cities"), {"role": "assistant", "content": "", "tool_calls": calls},
                  {"role": "tool", "tool_call_id": "call_0", "content": "cold"},
                  {"role": "tool", "tool_call_id": "call_1", "content": "warm"},
                  {"role": "user", "content": "summarise"}])
    assert completion.choices[0].message.content
    body = sent_bodies(stack)[-1]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assistant, answer = body["messages"][1], body["messages"][2]
    assert [b["type"] for b in assistant["content"]] == ["tool_use", "tool_use"]  # no empty text
    assert [b["type"] for b in answer["content"]] == ["tool_result", "tool_result", "text"]


async def test_odd_tool_ids_are_sanitised_consistently(stack: Stack, openai_client: Any) -> None:
    calls = [{"id": "functions.Bash:0", "type": "function",
              "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]
    await openai_client.chat.completions.create(
        model="to-anthropic", tools=[WEATHER],
        messages=[*user("x"), {"role": "assistant", "content": None, "tool_calls": calls},
                  {"role": "tool", "tool_call_id": "functions.Bash:0", "content": "ok"}])
    turns = sent_bodies(stack)[-1]["messages"]
    use_id = turns[1]["content"][0]["id"]
    assert use_id == turns[2]["content"][0]["tool_use_id"] and ":" not in use_id


# -- images and formats ------------------------------------------------------------------------


async def test_images_become_base64_and_url_sources(stack: Stack, openai_client: Any) -> None:
    completion = await openai_client.chat.completions.create(
        model="to-anthropic", messages=[{"role": "user", "content": [
            {"type": "text", "text": "what are these?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}])
    assert completion.model == "ant/claude-sim"  # the route's only vision backend
    blocks = sent_bodies(stack)[-1]["messages"][0]["content"]
    sources = [b["source"] for b in blocks if b["type"] == "image"]
    assert sources == [{"type": "base64", "media_type": "image/png", "data": PNG},
                       {"type": "url", "url": "https://example.com/cat.jpg"}]


async def test_json_schema_maps_to_output_config(stack: Stack, openai_client: Any) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    await openai_client.chat.completions.create(
        model="to-anthropic", messages=user("json"),
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}})
    body = sent_bodies(stack)[-1]
    assert body["output_config"]["format"] == {"type": "json_schema", "schema": schema}
    assert "response_format" not in body


# -- errors ------------------------------------------------------------------------------------


async def test_unknown_model_is_an_openai_404(stack: Stack, openai_client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await openai_client.chat.completions.create(model="nope", messages=user("x"))
    assert caught.value.code == "model_not_found"
    assert "to-anthropic" in caught.value.message


async def test_no_capable_anthropic_backend_is_a_400(stack: Stack, openai_client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await openai_client.chat.completions.create(
            model="to-anthropic", messages=user("x"), response_format={"type": "json_object"})
    assert "json_object" in str(caught.value)


async def test_anthropic_529_fails_over(stack: Stack, openai_client: Any) -> None:
    stack.anthropic_fake.inject(Fault(status=529))
    raw = await openai_client.chat.completions.with_raw_response.create(
        model="to-anthropic", messages=user("x"))
    assert raw.headers["x-freerouter-attempts"] == "2"
    assert raw.parse().choices[0].message.content


async def test_all_anthropic_backends_failing_is_a_502_upstream_error(
        stack: Stack, openai_client: Any) -> None:
    stack.anthropic_fake.inject(Fault(status=500), Fault(status=529))
    with pytest.raises(openai.APIStatusError) as caught:
        await openai_client.chat.completions.create(model="to-anthropic", messages=user("x"))
    assert caught.value.status_code == 502
    assert body_of(caught.value)["type"] == "upstream_error"


async def test_anthropic_400_is_relayed_in_openai_format(stack: Stack, openai_client: Any) -> None:
    body = json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                  "message": "tools.0.custom.name: bad name"}}).encode()
    stack.anthropic_fake.inject(Fault(status=400, body=body))
    with pytest.raises(openai.BadRequestError) as caught:
        await openai_client.chat.completions.create(model="to-anthropic", messages=user("x"))
    assert "tools.0.custom.name: bad name" in caught.value.message
    assert len(stack.anthropic_fake.message_requests) == 1  # the request's fault: no failover


async def test_midstream_anthropic_error_becomes_an_openai_error_chunk(stack: Stack) -> None:
    stack.anthropic_fake.inject(Fault(kind="midstream_error"))
    body = {"model": "to-anthropic", "stream": True,
            "messages": user("a sentence long enough to be cut in half")}
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.v1}/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
            json=body) as resp:
        assert resp.status == 200
        frames = parse_sse(await resp.read())
    errors = [data for _, data in frames if isinstance(data, dict) and "error" in data]
    assert len(errors) == 1 and errors[0]["error"]["message"]
    assert frames.index((None, errors[0])) > 0


async def test_midstream_error_raises_in_the_sdk(stack: Stack, openai_client: Any) -> None:
    stack.anthropic_fake.inject(Fault(kind="midstream_error"))
    with pytest.raises(openai.APIError):
        stream = await openai_client.chat.completions.create(
            model="to-anthropic", stream=True,
            messages=user("a sentence long enough to be cut in half"))
        async for _ in stream:
            pass


# -- Anthropic client, Anthropic backend: the client's headers go along ----------------------


async def test_anthropic_client_headers_reach_an_anthropic_upstream(
        stack: Stack, anthropic_client: Any) -> None:
    message = await anthropic_client.beta.messages.create(
        model="to-anthropic", max_tokens=100, betas=["interleaved-thinking-2025-05-14"],
        messages=[{"role": "user", "content": "hi"}], metadata={"user_id": "u-1"},
        extra_headers={"anthropic-version": "2023-06-01"})
    assert message.model.startswith("ant/")
    sent = stack.anthropic_fake.message_requests[-1]
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert "Authorization" not in sent.headers  # the client's key stays with the router
    assert sent.body["model"] in ("claude-sim", "haiku-sim")


async def test_anthropic_stream_passes_through(stack: Stack, anthropic_client: Any) -> None:
    async with anthropic_client.messages.stream(
            model="to-anthropic", max_tokens=100, messages=[{"role": "user", "content": "pass"}]) as s:
        final = await s.get_final_message()
    assert final.model.startswith("ant/") and final.content[0].text.endswith("You said: pass")


# -- the adapter alone -------------------------------------------------------------------------

BACKEND = Backend("ant/claude-sim", "ant", "claude-sim", Api.ANTHROPIC, frozenset(), 200000)


@dataclass(frozen=True, slots=True)
class Adapter:
    fake: FakeAnthropicUpstream
    provider: AnthropicProvider
    base_url: str


@pytest.fixture
async def adapter() -> AsyncIterator[Adapter]:
    fake = FakeAnthropicUpstream({"claude-sim": Behaviour()}, api_key=ANTHROPIC_KEY)
    runner = await serve(fake.app())
    base_url = f"http://127.0.0.1:{port_of(runner)}/v1"
    provider = AnthropicProvider(ProviderSettings("ant", base_url, ANTHROPIC_KEY, 5.0, 5.0))
    yield Adapter(fake, provider, base_url)
    fake.hang.set()
    await provider.aclose()
    await runner.cleanup()
    assert rejected(fake.received) == []


def request(stream: bool = False, **headers: str) -> UpstreamRequest:
    body = {"model": "claude-sim", "max_tokens": 20, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}
    return UpstreamRequest(BACKEND, body, stream, headers)


async def test_adapter_probe_and_default_version(adapter: Adapter) -> None:
    await adapter.provider.probe()
    reply = await adapter.provider.send(request())
    assert reply.json is not None and reply.json["content"][0]["type"] == "text"
    sent = adapter.fake.received[-1].headers
    assert sent["anthropic-version"] == "2023-06-01" and sent["x-api-key"] == ANTHROPIC_KEY
    assert "anthropic-beta" not in sent


async def test_adapter_wrong_key_is_a_client_error(adapter: Adapter) -> None:
    wrong = AnthropicProvider(ProviderSettings("ant", adapter.base_url, "bad", 5.0, 5.0))
    try:
        with pytest.raises(UpstreamClientError):
            await wrong.probe()
        with pytest.raises(UpstreamClientError):
            await wrong.send(request())
    finally:
        await wrong.aclose()


async def test_adapter_empty_answer_is_a_bad_response(adapter: Adapter) -> None:
    adapter.fake.inject(Fault(kind="empty"))
    with pytest.raises(BadResponse):
        await adapter.provider.send(request())


async def test_adapter_in_band_error_event_raises(adapter: Adapter) -> None:
    adapter.fake.inject(Fault(kind="midstream_error"))
    reply = await adapter.provider.send(request(stream=True, **{"anthropic-beta": "b1"}))
    assert adapter.fake.received[-1].headers["anthropic-beta"] == "b1"
    assert reply.batches is not None
    seen = []
    with pytest.raises(UpstreamServerError, match="overloaded"):  # the fake's overloaded_error
        async for batch in reply.batches:
            seen += [event["type"] for event in batch]
    assert seen[0] == "message_start" and "content_block_delta" in seen
    await reply.aclose()


# -- tool_choice and reasoning -----------------------------------------------------------------


@pytest.mark.parametrize(("choice", "expected"), [
    ("required", {"type": "any"}),
    ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "get_time"}}, {"type": "tool", "name": "get_time"}),
])
async def test_tool_choice_maps(stack: Stack, openai_client: Any, choice: Any, expected: Any) -> None:
    await openai_client.chat.completions.create(
        model="to-anthropic", tools=[WEATHER, TIME], tool_choice=choice, messages=user("go"))
    assert sent_bodies(stack)[-1]["tool_choice"] == expected


@pytest.mark.parametrize("max_tokens", [None, 500, 1500, 4096, 10_000])
async def test_reasoning_effort_becomes_a_thinking_budget_within_the_ceiling(
        stack: Stack, openai_client: Any, max_tokens: int | None) -> None:
    extra = {} if max_tokens is None else {"max_tokens": max_tokens}
    completion = await openai_client.chat.completions.create(
        model="ant/claude-sim", reasoning_effort="high", temperature=0.2, messages=user("think"),
        **extra)
    assert completion.choices[0].message.content
    body = sent_bodies(stack)[-1]
    assert body["max_tokens"] <= (max_tokens or 4096), "the client's max_tokens is a ceiling"
    if max_tokens == 500:  # no room for Anthropic's 1024-token minimum: thinking stays off
        assert "thinking" not in body and body["temperature"] == 0.2
    else:
        assert 1024 <= body["thinking"]["budget_tokens"] < body["max_tokens"]
        assert "temperature" not in body


async def test_a_small_ceiling_is_kept_with_reasoning_through_every_openai_api(
        stack: Stack, openai_client: Any) -> None:
    """The review's case: max_tokens 50 with reasoning reached Anthropic as 1074 + thinking."""
    await openai_client.chat.completions.create(
        model="ant/claude-sim", max_tokens=50, reasoning_effort="low", messages=user("think"))
    chat = sent_bodies(stack)[-1]
    await openai_client.responses.create(
        model="ant/claude-sim", max_output_tokens=50, reasoning={"effort": "low"}, input="think")
    responses = sent_bodies(stack)[-1]
    for body in (chat, responses):
        assert body["max_tokens"] == 50 and "thinking" not in body


# -- empty answers fail over -------------------------------------------------------------------


async def test_empty_answer_fails_over(stack: Stack, openai_client: Any) -> None:
    stack.anthropic_fake.inject(Fault(kind="empty"))
    raw = await openai_client.chat.completions.with_raw_response.create(
        model="to-anthropic", messages=user("say something"))
    assert raw.headers["x-freerouter-attempts"] == "2"
    assert raw.parse().choices[0].message.content.endswith("You said: say something")


async def test_empty_stream_fails_over(stack: Stack) -> None:
    stack.anthropic_fake.inject(Fault(kind="empty"))
    body = {"model": "to-anthropic", "stream": True, "messages": user("say something")}
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.v1}/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
            json=body) as resp:
        frames = parse_sse(await resp.read())
    assert resp.headers["x-freerouter-attempts"] == "2"
    text = "".join(d["choices"][0]["delta"].get("content") or ""
                   for _, d in frames if isinstance(d, dict) and d.get("choices"))
    assert text.endswith("You said: say something")


async def test_anthropic_passthrough_midstream_error_is_an_error_event(stack: Stack) -> None:
    stack.anthropic_fake.inject(Fault(kind="midstream_error"))
    body = {"model": "to-anthropic", "max_tokens": 100, "stream": True,
            "messages": user("a sentence long enough to be cut in half")}
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "x-request-id": "rid-7"}
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages", headers=headers, json=body) as resp:
        assert resp.headers["x-request-id"] == "rid-7"
        events = parse_sse(await resp.read())
    assert events[0][0] == "message_start"
    assert events[0][1]["message"]["model"] == resp.headers["x-freerouter-backend"]
    name, data = events[-1]
    assert name == "error" and data["error"]["type"] in ("api_error", "overloaded_error")


# -- thinking ----------------------------------------------------------------------------------


async def test_anthropic_thinking_becomes_reasoning_content(stack: Stack, openai_client: Any) -> None:
    completion = await openai_client.chat.completions.create(
        model="ant/claude-sim", reasoning_effort="low", messages=user("ponder"))
    message = completion.choices[0].message
    thought = message.model_extra["reasoning_content"]
    assert thought.startswith("Let me think about it.")
    assert message.content.endswith("You said: ponder")
    stream = await openai_client.chat.completions.create(
        model="ant/claude-sim", reasoning_effort="low", messages=user("ponder"), stream=True)
    reasoning, text = [], []
    async for chunk in stream:
        for choice in chunk.choices:
            reasoning.append((choice.delta.model_extra or {}).get("reasoning_content") or "")
            text.append(choice.delta.content or "")
    assert "".join(reasoning) == thought
    assert "".join(text) == message.content


async def test_signed_thinking_replays_to_an_anthropic_backend(stack: Stack, anthropic_client: Any) -> None:
    async with anthropic_client.messages.stream(
            model="ant/claude-sim", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
            messages=user("think first")) as stream:
        first = await stream.get_final_message()
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature.startswith("sig_")
    again = await anthropic_client.messages.create(
        model="ant/claude-sim", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[*user("think first"),
                  {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                  *user("again")])
    assert again.content[-1].text.endswith("You said: again")


async def test_claude_code_body_passes_through_to_an_anthropic_backend(stack: Stack) -> None:
    """Anthropic to Anthropic, the client's betas go along, so Claude Code's `system` message
    inside `messages` (allowed by its mid-conversation-system beta) is forwarded as sent."""
    body = {"model": "ant/claude-sim", "max_tokens": 64000, "stream": True,
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "metadata": {"user_id": '{"device_id":"d","session_id":"s"}'},
            "messages": [{"role": "system", "content": "agent types"},
                         {"role": "user", "content": [{"type": "text", "text": "hi",
                                                       "cache_control": {"type": "ephemeral"}}]}]}
    betas = "claude-code-20250219,mid-conversation-system-2026-04-07"
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "anthropic-version": "2023-06-01",
               "anthropic-beta": betas}
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages?beta=true", headers=headers, json=body) as resp:
        assert resp.status == 200
        events = parse_sse(await resp.read())
    assert events[-1][0] == "message_stop"
    sent = stack.anthropic_fake.message_requests[-1]
    assert sent.headers["anthropic-beta"] == betas
    assert sent.body["messages"][0]["role"] == "system"
    assert sent.body["max_tokens"] <= 200000


@pytest.mark.parametrize(("fault", "error"), [
    (Fault(kind="garbage"), BadResponse),
    (Fault(kind="html"), UpstreamServerError),
    (Fault(status=529), UpstreamServerError),
    (Fault(status=429, headers={"retry-after": "7"}), RateLimited),
])
async def test_adapter_maps_failures(adapter: Adapter, fault: Fault, error: type[Exception]) -> None:
    adapter.fake.inject(fault)
    with pytest.raises(error):
        await adapter.provider.send(request())


async def test_adapter_times_out_on_a_hang(adapter: Adapter) -> None:
    impatient = AnthropicProvider(ProviderSettings("ant", adapter.base_url, ANTHROPIC_KEY, 0.2, 1.0))
    adapter.fake.inject(Fault(kind="hang"))
    try:
        with pytest.raises(UpstreamTimeout):
            await impatient.send(request())
    finally:
        await impatient.aclose()

"""The Anthropic Messages surface, driven by the official `anthropic` SDK (async and sync) through
the router to OpenAI-API fake backends: every request is translated on the way in and every
answer, stream and error on the way out."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from router.demo.scripted import Fault
from tests.api.conftest import CLIENT_KEY, OPENAI_KEY, Stack
from tests.api.sse import parse_sse

WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
TIME = {"name": "get_time", "description": "Local time in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
AUTH = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def body_of(error: Any) -> Any:
    """An SDK error's parsed body (the SDKs type it as `object`)."""
    return error.body


def chat_bodies(stack: Stack) -> list[dict[str, Any]]:
    return [r.body for r in stack.openai_fake.chat_requests]


# -- text --------------------------------------------------------------------------------------


async def test_text_answer_names_the_backend(stack: Stack, anthropic_client: Any) -> None:
    raw = await anthropic_client.messages.with_raw_response.create(
        model="to-openai", max_tokens=200, messages=user("hello there"))
    message = await raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert "You said: hello there" in message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.model.startswith("oai/")
    assert raw.headers["x-freerouter-backend"] == message.model
    assert raw.headers["x-freerouter-attempts"] == "1"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = stack.openai_fake.chat_requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert "anthropic-version" not in sent.headers and "anthropic-beta" not in sent.headers


async def test_sync_client_and_beta_query(stack: Stack, anthropic_sync: Any) -> None:
    message = await asyncio.to_thread(
        anthropic_sync.beta.messages.create, model="claude-sonnet-5", max_tokens=64,
        messages=user("sync hello"), betas=["interleaved-thinking-2025-05-14"])
    assert "You said: sync hello" in message.content[0].text
    assert message.model.startswith("oai/")  # claude-* is an alias of `free`
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages?beta=true", headers=AUTH,
            json={"model": "to-openai", "max_tokens": 32, "messages": user("beta query")}) as resp:
        assert resp.status == 200
        assert (await resp.json())["content"][0]["text"].endswith("beta query")


async def test_system_prompts_reach_the_openai_backend_first(
        stack: Stack, anthropic_client: Any) -> None:
    await anthropic_client.messages.create(
        model="to-openai", max_tokens=64, system="You are terse.", messages=user("one"))
    await anthropic_client.messages.create(
        model="to-openai", max_tokens=64,
        system=[{"type": "text", "text": "Block A", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Block B"}],
        messages=[*user("two"), {"role": "assistant", "content": "ok"},
                  {"role": "system", "content": "Mid-conversation rule"},  # as Claude Code does
                  {"role": "user", "content": [{"type": "text", "text": "three"}]}])
    first, second = chat_bodies(stack)
    assert first["messages"][0] == {"role": "system", "content": "You are terse."}
    system = second["messages"][0]
    assert system["role"] == "system"
    for text in ("Block A", "Block B", "Mid-conversation rule"):
        assert text in system["content"]
    assert [m["role"] for m in second["messages"][1:]] == ["user", "assistant", "user"]


# -- streaming ---------------------------------------------------------------------------------


async def test_stream_helper_and_final_message(stack: Stack, anthropic_client: Any) -> None:
    async with anthropic_client.messages.stream(
            model="to-openai", max_tokens=100, messages=user("stream me please")) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert "You said: stream me please" in text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.model.startswith("oai/")
    assert final.usage.output_tokens > 0
    assert stack.openai_fake.chat_requests[-1].body["stream_options"] == {"include_usage": True}


async def test_sync_stream_helper(stack: Stack, anthropic_sync: Any) -> None:
    def run() -> tuple[str, Any]:
        with anthropic_sync.messages.stream(model="to-openai", max_tokens=100,
                                            messages=user("sync stream")) as stream:
            return "".join(stream.text_stream), stream.get_final_message()

    text, final = await asyncio.to_thread(run)
    assert text.endswith("You said: sync stream")
    assert final.content[0].text == text


async def test_raw_stream_has_every_event_the_sdks_need(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages", headers=AUTH,
            json={"model": "to-openai", "max_tokens": 50, "stream": True,
                  "messages": user("raw events")}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["x-freerouter-backend"].startswith("oai/")
        events = parse_sse(await resp.read())
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert all(name == data["type"] for name, data in events)
    start = events[0][1]["message"]
    assert start["usage"]["input_tokens"] >= 0 and start["model"] == resp.headers["x-freerouter-backend"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 1
    delta = next(d for n, d in events if n == "message_delta")
    assert delta["delta"]["stop_reason"] == "end_turn"


# -- tools -------------------------------------------------------------------------------------


async def test_single_tool_call_and_result_round_trip(
        stack: Stack, anthropic_client: Any) -> None:
    first = await anthropic_client.messages.create(
        model="to-openai", max_tokens=200, tools=[WEATHER], messages=user("weather in Paris?"))
    assert first.stop_reason == "tool_use"
    (call,) = [b for b in first.content if b.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Paris"}
    second = await anthropic_client.messages.create(
        model="to-openai", max_tokens=200, tools=[WEATHER],
        messages=[*user("weather in Paris?"),
                  {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                  {"role": "user", "content": [
                      {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}]}])
    assert second.stop_reason == "end_turn"
    assert "sunny, 21C" in second.content[0].text
    sent = chat_bodies(stack)[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == sent[2]["tool_call_id"]
    assert sent[2]["content"] == "sunny, 21C"


async def test_tool_results_come_before_the_turn_text(
        stack: Stack, anthropic_client: Any) -> None:
    uses = [{"type": "tool_use", "id": f"toolu_0{i}", "name": "get_weather",
             "input": {"city": city}} for i, city in enumerate(("Oslo", "Rome"))]
    await anthropic_client.messages.create(
        model="to-openai", max_tokens=50, tools=[WEATHER],
        messages=[*user("weather in two cities?"),
                  {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, *uses]},
                  {"role": "user", "content": [
                      {"type": "tool_result", "tool_use_id": "toolu_00", "content": "cold"},
                      {"type": "tool_result", "tool_use_id": "toolu_01",
                       "content": [{"type": "text", "text": "warm"}]},
                      {"type": "text", "text": "and be brief"}]}])
    sent = chat_bodies(stack)[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
    assert [c["id"] for c in sent[1]["tool_calls"]] == [m["tool_call_id"] for m in sent[2:4]]
    assert [m["content"] for m in sent[2:4]] == ["cold", "warm"]
    assert sent[1]["content"] == "Checking."


async def test_tool_error_result_is_marked(stack: Stack, anthropic_client: Any) -> None:
    await anthropic_client.messages.create(
        model="to-openai", max_tokens=50, tools=[WEATHER],
        messages=[*user("weather?"),
                  {"role": "assistant", "content": [
                      {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                       "input": {"city": "Oslo"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01",
                                                "content": "no such city", "is_error": True}]}])
    tool_message = chat_bodies(stack)[-1]["messages"][-1]
    assert tool_message["role"] == "tool" and "no such city" in tool_message["content"]
    assert tool_message["content"] != "no such city"  # the error is visible to the model


async def test_parallel_tool_calls_streamed(stack: Stack, anthropic_client: Any) -> None:
    async with anthropic_client.messages.stream(
            model="to-openai", max_tokens=200, tools=[WEATHER, TIME],
            messages=user("use both tools in parallel for Paris")) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    calls = [b for b in final.content if b.type == "tool_use"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert all(c.input == {"city": "Paris"} for c in calls)
    assert len({c.id for c in calls}) == 2
    assert final.stop_reason == "tool_use"
    assert kinds.count("content_block_start") == 2
    assert "input_json" in kinds  # the arguments arrived as input_json_delta fragments


async def test_tool_choice_and_parallel_flag_translate(
        stack: Stack, anthropic_client: Any) -> None:
    message = await anthropic_client.messages.create(
        model="to-openai", max_tokens=100, tools=[WEATHER, TIME],
        tool_choice={"type": "tool", "name": "get_time", "disable_parallel_tool_use": True},
        messages=user("parallel please"))
    assert [b.name for b in message.content if b.type == "tool_use"] == ["get_time"]
    sent = chat_bodies(stack)[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert sent["parallel_tool_calls"] is False


# -- images ------------------------------------------------------------------------------------


async def test_image_goes_to_a_vision_backend_as_a_data_url(
        stack: Stack, anthropic_client: Any) -> None:
    message = await anthropic_client.messages.create(
        model="to-openai", max_tokens=50, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "text", "text": "what is this?"}]}])
    assert message.model == "oai/gpt-sim"  # the only backend of the route with vision
    parts = chat_bodies(stack)[-1]["messages"][-1]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert urls == [f"data:image/png;base64,{PNG}", "https://example.com/cat.jpg"]


# -- count_tokens and models -------------------------------------------------------------------


async def test_count_tokens(stack: Stack, anthropic_client: Any) -> None:
    small = await anthropic_client.messages.count_tokens(model="to-openai", messages=user("hi"))
    big = await anthropic_client.messages.count_tokens(
        model="claude-haiku-4-5", system="x" * 4000, tools=[WEATHER], messages=user("hi " * 500))
    assert 0 < small.input_tokens < big.input_tokens
    with pytest.raises(anthropic.NotFoundError) as caught:
        await anthropic_client.messages.count_tokens(model="no-such-model", messages=user("hi"))
    assert body_of(caught.value)["error"]["type"] == "not_found_error"
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages/count_tokens?beta=true", headers=AUTH,
            json={"model": "to-openai", "messages": user("hi")}) as resp:
        assert resp.status == 200
        assert await resp.json() == {"input_tokens": small.input_tokens}
    assert stack.openai_fake.received == []  # an estimate, not an upstream call


async def test_models_list_in_the_anthropic_shape(anthropic_client: Any) -> None:
    ids = [m.id async for m in anthropic_client.models.list(limit=2)]
    assert {"free", "to-openai", "oai/gpt-sim", "ant/claude-sim"} <= set(ids)


# -- errors ------------------------------------------------------------------------------------


async def test_unknown_model_is_a_404_not_found_error(anthropic_client: Any) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await anthropic_client.messages.create(model="gpt-17", max_tokens=10, messages=user("x"))
    assert caught.value.status_code == 404
    assert body_of(caught.value)["type"] == "error"
    assert body_of(caught.value)["error"]["type"] == "not_found_error"
    assert "to-openai" in body_of(caught.value)["error"]["message"]


async def test_no_capable_backend_is_a_400_naming_the_capability(
        stack: Stack, anthropic_client: Any) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await anthropic_client.messages.create(
            model="oai/mini-sim", max_tokens=10, tools=[WEATHER], messages=user("x"))
    assert body_of(caught.value)["error"]["type"] == "invalid_request_error"
    assert "tools" in body_of(caught.value)["error"]["message"]
    assert stack.openai_fake.received == []


async def test_every_backend_failing_is_a_502_api_error(
        stack: Stack, anthropic_client: Any) -> None:
    stack.openai_fake.inject(Fault(status=500), Fault(status=503))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await anthropic_client.messages.create(model="to-openai", max_tokens=10, messages=user("x"))
    assert caught.value.status_code == 502
    assert body_of(caught.value)["error"]["type"] == "api_error"
    assert caught.value.response.headers["x-freerouter-attempts"] == "2"


async def test_failover_hides_one_failure(stack: Stack, anthropic_client: Any) -> None:
    stack.openai_fake.inject(Fault(status=500))
    raw = await anthropic_client.messages.with_raw_response.create(
        model="to-openai", max_tokens=10, messages=user("x"))
    assert raw.headers["x-freerouter-attempts"] == "2"
    assert (await raw.parse()).content[0].text.endswith("You said: x")


async def test_all_cooling_is_a_529_overloaded_error_with_retry_after(
        stack: Stack, anthropic_client: Any) -> None:
    stack.openai_fake.inject(Fault(status=429, headers={"Retry-After": "30"}))
    with pytest.raises(anthropic.APIStatusError) as first:
        await anthropic_client.messages.create(model="oai/mini-sim", max_tokens=10, messages=user("x"))
    assert first.value.status_code == 502
    with pytest.raises(anthropic.APIStatusError) as second:
        await anthropic_client.messages.create(model="oai/mini-sim", max_tokens=10, messages=user("x"))
    assert second.value.status_code == 529
    assert body_of(second.value)["error"]["type"] == "overloaded_error"
    assert 25 <= int(second.value.response.headers["Retry-After"]) <= 31
    assert len(stack.openai_fake.chat_requests) == 1  # the cooling backend was not asked again


async def test_midstream_failure_ends_with_an_error_event(
        stack: Stack, anthropic_client: Any) -> None:
    stack.openai_fake.inject(Fault(kind="midstream_error"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with anthropic_client.messages.stream(
                model="to-openai", max_tokens=100,
                messages=user("a long enough sentence to be cut in the middle")) as stream:
            async for _ in stream:
                pass
    assert body_of(caught.value)["error"]["type"] == "api_error"


async def test_midstream_failure_raw_events_and_non_streaming_retry(stack: Stack) -> None:
    stack.openai_fake.inject(Fault(kind="midstream_error"))
    body = {"model": "to-openai", "max_tokens": 100, "stream": True,
            "messages": user("a long enough sentence to be cut in the middle")}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack.url}/v1/messages", headers=AUTH, json=body) as resp:
            assert resp.status == 200
            events = parse_sse(await resp.read())
        assert events[0][0] == "message_start"
        name, data = events[-1]
        assert name == "error" and data["type"] == "error"
        assert data["error"]["type"] == "api_error"
        assert "message_stop" not in [n for n, _ in events]
        # what Claude Code does next: the same body without `stream`
        async with http.post(f"{stack.url}/v1/messages", headers=AUTH,
                             json={**body, "stream": False}) as resp:
            assert resp.status == 200
            assert (await resp.json())["stop_reason"] == "end_turn"


# -- request shape and auth --------------------------------------------------------------------

BAD_BODIES = [
    ({"model": "to-openai", "max_tokens": 10}, "messages"),
    ({"model": "to-openai", "max_tokens": 0, "messages": user("x")}, "max_tokens"),
    ({"model": "to-openai", "max_tokens": "10", "messages": user("x")}, "max_tokens"),
    ({"model": "to-openai", "messages": [{"role": "tool", "content": "x"}]}, "role"),
    ({"model": "to-openai", "messages": ["hello"]}, "messages[0]"),
    ({"model": "to-openai", "messages": [{"role": "user", "content": [{"text": "x"}]}]}, "type"),
    ({"model": "to-openai", "messages": [{"role": "user"}]}, "content"),
    # The first block that is not typed, by its place.
    ({"model": "to-openai", "messages": [*user("x"), {"role": "assistant", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}, "c"]}]},
     "messages[1].content[2]"),
    ({"model": "to-openai", "messages": [{"role": "user", "content": [{"type": 3}]}]},
     "messages[0].content[0]"),
    ({"model": "to-openai", "messages": user("x"), "system": [{"type": "text", "text": "a"}, {}]},
     "system[1]"),
    ({"model": "to-openai", "messages": user("x"), "system": 5}, "system"),
    ({"model": "to-openai", "messages": user("x"), "tools": {"name": "x"}}, "tools"),
    ({"messages": user("x")}, "model"),
]


@pytest.mark.parametrize(("body", "named"), BAD_BODIES)
async def test_malformed_bodies_are_400s_that_name_the_field(stack: Stack, body: Any, named: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages", headers=AUTH, json=body) as resp:
        assert resp.status in (400, 404)
        error = await resp.json()
    assert error["type"] == "error"
    assert error["error"]["type"] in ("invalid_request_error", "not_found_error")
    assert named in error["error"]["message"]
    assert stack.openai_fake.received == []


async def test_not_json_is_an_anthropic_400(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages", headers={**AUTH, "Content-Type": "application/json"},
            data=b"{nope") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("headers", [
    {"x-api-key": CLIENT_KEY}, {"Authorization": f"Bearer {CLIENT_KEY}"}])
async def test_either_auth_header_and_any_version(stack: Stack, headers: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages", headers={**headers, "anthropic-version": "2031-01-01"},
            json={"model": "to-openai", "max_tokens": 10, "messages": user("x")}) as resp:
        assert resp.status == 200


async def test_wrong_key_is_an_anthropic_401(stack: Stack) -> None:
    client: Any = anthropic.AsyncAnthropic(base_url=stack.url, api_key="wrong", max_retries=0)
    async with client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(model="to-openai", max_tokens=10, messages=user("x"))
    assert body_of(caught.value)["error"]["type"] == "authentication_error"
    assert stack.openai_fake.received == []


async def test_claude_code_shaped_body_reaches_openai_valid(stack: Stack) -> None:
    """The fields Claude Code sends (clients.md §1) are dropped or mapped; the fake's validator
    fails the test at teardown if any of them reached the OpenAI backend."""
    body = {
        "model": "claude-opus-4-8", "max_tokens": 64000, "stream": True,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1",
                    "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "You are a Claude agent."}],
        "messages": [{"role": "system", "content": "agent types: general"},
                     {"role": "user", "content": [
                         {"type": "text", "text": "<system-reminder>r</system-reminder>"},
                         {"type": "text", "text": "say hi", "cache_control": {"type": "ephemeral"}}]}],
        "tools": [{"name": "Read", "description": "read a file", "input_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"file_path": {"type": "string"}}, "required": ["file_path"],
            "additionalProperties": False}}],
        "metadata": {"user_id": '{"device_id":"d","account_uuid":"","session_id":"s"}'},
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
    }
    headers = {**AUTH, "anthropic-beta": "claude-code-20250219,context-1m-2025-08-07"}
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/v1/messages?beta=true", headers=headers, json=body) as resp:
        assert resp.status == 200
        events = parse_sse(await resp.read())
    assert events[-1][0] == "message_stop"
    sent = stack.openai_fake.chat_requests[-1]
    assert "anthropic-beta" not in sent.headers
    for dropped in ("thinking", "context_management", "output_config", "metadata", "system"):
        assert dropped not in sent.body
    assert sent.body["max_tokens"] <= 131072


async def test_openai_400_is_relayed_in_anthropic_format(
        stack: Stack, anthropic_client: Any) -> None:
    body = orjson.dumps({"error": {"message": "tools[0].function.name is invalid",
                                   "type": "invalid_request_error", "param": "tools", "code": None}})
    stack.openai_fake.inject(Fault(status=400, body=body))
    with pytest.raises(anthropic.BadRequestError) as caught:
        await anthropic_client.messages.create(model="to-openai", max_tokens=10, messages=user("x"))
    error = body_of(caught.value)
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert "tools[0].function.name is invalid" in error["error"]["message"]
    assert len(stack.openai_fake.chat_requests) == 1  # the request's own fault: no failover


async def test_openai_429_is_retried_elsewhere_not_relayed(stack: Stack, anthropic_client: Any) -> None:
    stack.openai_fake.inject(Fault(status=429, headers={"Retry-After": "5"}))
    raw = await anthropic_client.messages.with_raw_response.create(
        model="to-openai", max_tokens=10, messages=user("x"))
    assert raw.status_code == 200 and raw.headers["x-freerouter-attempts"] == "2"

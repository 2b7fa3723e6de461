"""The official `openai` SDK's Responses API through the router, to an OpenAI-API backend and to
an Anthropic-API one (every test runs on both routes): create, streams (raw and the stream
helper), parse with a pydantic model, function tools and their results, stored responses
(retrieve, delete, previous_response_id, item_reference, store false), errors and routing. The
fakes reject anything their real API would, and the `upstreams` fixture fails a test that made
the router send one such request."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from router.demo.scripted import Fault
from tests.api.conftest import CLIENT_KEY, Stack

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"], "additionalProperties": False}, "strict": True}
ROUTES = ("to-openai", "to-anthropic")
HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}

pytestmark = pytest.mark.parametrize("route", ROUTES)


def upstream_bodies(stack: Stack, route: str) -> list[dict[str, Any]]:
    if route == "to-openai":
        return [r.body for r in stack.openai_fake.chat_requests]
    return [r.body for r in stack.anthropic_fake.message_requests]


def fake_of(stack: Stack, route: str) -> Any:
    return stack.openai_fake if route == "to-openai" else stack.anthropic_fake


async def post(stack: Stack, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.v1}/responses", headers=HEADERS, json=body) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()


async def test_create(stack: Stack, openai_client: Any, route: str) -> None:
    raw = await openai_client.responses.with_raw_response.create(
        model=route, input="hello there", instructions="Be terse.", metadata={"run": "1"})
    response = raw.parse()
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed" and response.error is None
    assert response.output_text.endswith("You said: hello there")
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert response.model == raw.headers["x-freerouter-backend"]
    assert response.model.startswith("oai/" if route == "to-openai" else "ant/")
    assert raw.headers["x-freerouter-attempts"] == "1" and raw.headers["x-request-id"]
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.instructions == "Be terse." and response.metadata == {"run": "1"}
    sent = upstream_bodies(stack, route)[-1]
    assert "Be terse." in json.dumps(sent.get("system") or sent["messages"][0])
    assert "metadata" not in sent or sent["metadata"] != {"run": "1"}


async def test_stream_events(stack: Stack, openai_client: Any, route: str) -> None:
    stream = await openai_client.responses.create(model=route, input="stream to me", stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.endswith("You said: stream to me")
    completed = events[-1].response
    assert completed.output_text == text and completed.usage.output_tokens > 0
    assert events[0].response.model == completed.model and completed.model.startswith(
        "oai/" if route == "to-openai" else "ant/")
    assert upstream_bodies(stack, route)[-1]["stream"] is True


async def test_stream_helper_with_a_tool_then_its_result(stack: Stack, openai_client: Any,
                                                          route: str) -> None:
    async with openai_client.responses.stream(
            model=route, input="What is the weather in Oslo?", tools=[WEATHER]) as stream:
        deltas = [e.delta async for e in stream if e.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    (call,) = final.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Oslo"} and "".join(deltas) == call.arguments
    assert call.call_id and call.id.startswith("fc_")
    follow = await openai_client.responses.create(
        model=route, previous_response_id=final.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}])
    assert "sunny, 21C" in follow.output_text
    assert follow.previous_response_id == final.id
    sent = json.dumps(upstream_bodies(stack, route)[-1])
    assert "What is the weather in Oslo?" in sent and "sunny, 21C" in sent  # the whole history


async def test_the_same_history_sent_inline(stack: Stack, openai_client: Any, route: str) -> None:
    first = await openai_client.responses.create(
        model=route, input="What is the weather in Oslo?", tools=[WEATHER], store=False)
    (call,) = first.output
    second = await openai_client.responses.create(
        model=route, tools=[WEATHER], store=False, input=[
            {"role": "user", "content": "What is the weather in Oslo?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "cold"}])
    assert second.output_text == "The tool said: cold"


class Report(BaseModel):
    city: str
    level: int
    tags: list[str]


async def test_parse_with_a_pydantic_model(stack: Stack, openai_client: Any, route: str) -> None:
    parsed = await openai_client.responses.parse(
        model=route, input="A report on Rome, please.", text_format=Report)
    report = parsed.output_parsed
    assert isinstance(report, Report) and report.city and report.tags
    sent = upstream_bodies(stack, route)[-1]
    assert (sent.get("response_format") or sent.get("output_config"))  # a schema went upstream
    assert parsed.model in ("oai/gpt-sim", "ant/claude-sim")  # json_schema needed


async def test_retrieve_and_delete(stack: Stack, openai_client: Any, route: str) -> None:
    created = await openai_client.responses.create(model=route, input="keep me")
    got = await openai_client.responses.retrieve(created.id)
    assert got.model_dump() == created.model_dump()
    await openai_client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as err:
        await openai_client.responses.retrieve(created.id)
    body = err.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    assert created.id in body["message"]
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.delete(created.id)


async def test_store_false_keeps_nothing(stack: Stack, openai_client: Any, route: str) -> None:
    created = await openai_client.responses.create(model=route, input="forget me", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as err:
        await openai_client.responses.create(model=route, input="more", previous_response_id=created.id)
    assert err.value.status_code == 400
    body = err.value.body
    assert isinstance(body, dict)
    assert body["param"] == "previous_response_id"
    assert body["code"] == "previous_response_not_found"
    assert body["type"] == "invalid_request_error"


async def test_item_references_resolve_to_stored_items(stack: Stack, openai_client: Any, route: str) -> None:
    first = await openai_client.responses.create(model=route, input="remember the owl")
    reference = {"type": "item_reference", "id": first.output[0].id}
    second = await openai_client.responses.create(model=route, input=[
        {"role": "user", "content": "remember the owl"}, reference,
        {"role": "user", "content": "what did you say?"}])
    assert second.output_text.endswith("You said: what did you say?")
    assert first.output_text in json.dumps(upstream_bodies(stack, route)[-1])
    status, _headers, body = await post(stack, {"model": route, "input": [
        {"role": "user", "content": "x"}, {"type": "item_reference", "id": "msg_nothing_0"}]})
    assert status == 400
    assert orjson.loads(body)["error"]["param"] == "input[1].id"


async def test_a_length_stop_is_incomplete(stack: Stack, openai_client: Any, route: str) -> None:
    if route == "to-openai":
        cut = {"id": "chatcmpl-cut", "object": "chat.completion", "created": 1, "model": "gpt-sim",
               "choices": [{"index": 0, "finish_reason": "length",
                            "message": {"role": "assistant", "content": "It was a dark"}}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}
    else:
        cut = {"id": "msg_cut", "type": "message", "role": "assistant", "model": "claude-sim",
               "content": [{"type": "text", "text": "It was a dark"}], "stop_reason": "max_tokens",
               "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 4}}
    fake_of(stack, route).inject(Fault(status=200, body=orjson.dumps(cut)))
    response = await openai_client.responses.create(model=route, input="a story", max_output_tokens=4)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "It was a dark"
    assert [item.status for item in response.output] == ["incomplete"], "cut short, as on OpenAI"
    assert upstream_bodies(stack, route)[-1]["max_tokens"] == 4


async def test_failover_before_the_first_byte(stack: Stack, openai_client: Any, route: str) -> None:
    fake_of(stack, route).inject(Fault(status=500))
    raw = await openai_client.responses.with_raw_response.create(model=route, input="try again")
    assert raw.headers["x-freerouter-attempts"] == "2"
    assert raw.parse().output_text.endswith("You said: try again")


async def test_a_stream_broken_midway_ends_with_error_and_failed(stack: Stack, openai_client: Any,
                                                                  route: str) -> None:
    fake_of(stack, route).inject(Fault(kind="midstream_error"))
    stream = await openai_client.responses.create(model=route, input="break please", stream=True)
    events = [event async for event in stream]
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.status == "failed" and events[-1].response.error.message
    sent = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    (produced,) = events[-1].response.output  # what was streamed before the break
    assert sent and produced.type == "message" and produced.status == "incomplete"
    assert produced.content[0].type == "output_text" and produced.content[0].text == sent
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert not any(e.type == "response.completed" for e in events)
    with pytest.raises(openai.NotFoundError):  # a failed answer is not stored
        await openai_client.responses.retrieve(events[0].response.id)


async def test_bad_requests_get_openai_errors(stack: Stack, openai_client: Any, route: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": route}, "input"),
        ({"model": route, "input": 7}, "input"),
        ({"model": route, "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": route, "input": [{"role": "user", "content": [{"text": "no type"}]}]},
         "input[0].content[0]"),
        ({"model": route, "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": route, "input": "x", "stream": "yes"}, "stream"),
        ({"model": route, "input": "x", "tools": {"type": "function"}}, "tools"),
        ({"model": route, "input": [{"type": "function_call_output", "output": "x"}]},
         "input[0].call_id"),
        ({"input": "x"}, "model"),
        ({"model": route, "input": "x", "top_p": -1}, "top_p"),
        ({"model": route, "input": "x", "text": {"format": {"type": "json_schema", "name": "s"}}},
         "text.format.schema"),
        ({"model": route, "input": "x", "tools": [{"type": "function", "parameters": {}}]},
         "tools[0].name"),
    ]
    for body, param in cases:
        status, headers, raw = await post(stack, body)
        error = orjson.loads(raw)["error"]
        assert (status, error["type"], error["param"]) == (400, "invalid_request_error", param), raw
        assert headers["x-request-id"]
    status, _headers, raw = await post(stack, {"model": "no-such-model", "input": "x"})
    assert status == 404 and orjson.loads(raw)["error"]["code"] == "model_not_found"
    status, _h, _raw = await post(stack, {"model": route, "input": "x", "a_future_field": {"y": 1},
                                          "conversation": None, "include": ["x"], "truncation": "auto"})
    assert status == 200, "unknown fields are ignored"


async def test_capabilities_route_the_request(stack: Stack, openai_client: Any, route: str) -> None:
    backend = "oai/mini-sim" if route == "to-openai" else "ant/haiku-sim"
    with pytest.raises(openai.BadRequestError) as err:
        await openai_client.responses.create(model=backend, input="hi", tools=[WEATHER])
    assert "tools" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        await openai_client.responses.create(model=backend, input=[{"role": "user", "content": [
            {"type": "input_image", "image_url": "https://img.example/a.png"}]}])
    assert "vision" in err.value.message
    hosted_only = await openai_client.responses.create(model=backend, input="hi",
                                                       tools=[{"type": "web_search"}])
    assert hosted_only.model == backend  # a dropped tool needs nothing
    fallback = await openai_client.responses.create(
        model=backend, input="hi", tools=[WEATHER], extra_body={"models": [route]})
    assert fallback.model in ("oai/gpt-sim", "ant/claude-sim")


async def test_metrics_and_the_access_record(stack: Stack, openai_client: Any, route: str) -> None:
    await openai_client.responses.create(model=route, input="count me")
    async with aiohttp.ClientSession() as http, http.get(f"{stack.url}/metrics", headers=HEADERS) as resp:
        text = await resp.text()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "freerouter_requests_total" and s.labels.get("api") == "responses"]
    assert any(s.labels["route"] == route and s.labels["status"] == "200" and s.value >= 1
               for s in samples)


async def test_an_unknown_previous_response_is_counted_under_its_route(
        stack: Stack, openai_client: Any, route: str) -> None:
    status, _headers, raw = await post(stack, {"model": route, "previous_response_id": "resp_x"})
    error = orjson.loads(raw)["error"]
    assert (status, error["param"], error["code"]) == (
        400, "previous_response_id", "previous_response_not_found")
    async with aiohttp.ClientSession() as http, http.get(f"{stack.url}/metrics", headers=HEADERS) as resp:
        text = await resp.text()
    counted = {(s.labels["route"], s.labels["status"]) for f in text_string_to_metric_families(text)
               for s in f.samples if s.name == "freerouter_requests_total"
               and s.labels.get("api") == "responses"}
    assert (route, "400") in counted and ("_unknown", "400") not in counted

"""End to end through the official OpenAI SDK: requests for `free` are routed across backends,
the answer names the backend that served it, and bad requests get OpenAI-format errors."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import openai
import pytest
from openai.types.chat import (
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)
from openai.types.chat.completion_create_params import ResponseFormat

from router.demo.scripted import Fault
from tests.harness import Harness, fake, provider


def pool(h: Harness, **route: object) -> openai.OpenAI:
    a = h.upstream("a", fake())
    b = h.upstream("b", fake())
    url = h.router({
        "providers": [
            provider("a", a, {"small": ["tools"], "eyes": ["vision", "json_schema"]}),
            provider("b", b, {"big": ["tools", "json_object"]}, context_length=131072),
        ],
        "routes": [{"name": "free", "strategy": "random", "backends": ["*"], **route}],
        "aliases": {"claude-*": "free", "gpt-4o": "a/eyes"},
    })
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def test_free_is_spread_across_backends_and_reports_who_served(h: Harness) -> None:
    client = pool(h)
    served: Counter[str] = Counter()
    for _ in range(60):
        raw = client.chat.completions.with_raw_response.create(
            model="free", messages=[{"role": "user", "content": "hi"}])
        answer = raw.parse()
        assert answer.model == raw.headers["x-freerouter-backend"]
        assert raw.headers["x-freerouter-attempts"] == "1"
        assert raw.headers["x-request-id"]
        served[answer.model] += 1
    assert set(served) == {"a/small", "a/eyes", "b/big"}
    upstream_models = {r.body["model"] for f in h.fakes.values() for r in f.chat_requests}
    assert upstream_models == {"small", "eyes", "big"}  # the upstream gets its own model id


def test_streaming_rewrites_model_in_every_chunk(h: Harness) -> None:
    client = pool(h)
    chunks = list(client.chat.completions.create(
        model="free", stream=True, messages=[{"role": "user", "content": "hello there"}]))
    served = {c.model for c in chunks}
    assert len(served) == 1 and served.pop() in {"a/small", "a/eyes", "b/big"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "You said: hello there" in text
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_helper_and_usage_chunk_only_when_asked(h: Harness) -> None:
    client = pool(h)
    with client.chat.completions.stream(
        model="free", messages=[{"role": "user", "content": "x"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content
    no_usage = list(client.chat.completions.create(
        model="free", stream=True, messages=[{"role": "user", "content": "x"}]))
    assert all(c.usage is None for c in no_usage)
    with_usage = list(client.chat.completions.create(
        model="free", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "x"}]))
    assert with_usage[-1].usage is not None and with_usage[-1].usage.total_tokens > 0


def test_async_client(h: Harness) -> None:
    a = h.upstream("a", fake())
    url = h.router({"providers": [provider("a", a, {"m": []})]})

    async def go() -> list[str]:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        answers = await asyncio.gather(*[
            client.chat.completions.create(model="free", messages=[{"role": "user", "content": str(i)}])
            for i in range(10)])
        await client.close()
        return [r.model for r in answers]

    assert asyncio.run(go()) == ["a/m"] * 10


def test_tools_request_never_reaches_a_backend_without_tools(h: Harness) -> None:
    client = pool(h)
    tools: list[ChatCompletionToolParam] = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]
    for _ in range(30):
        r = client.chat.completions.create(model="free", tools=tools,
                                           messages=[{"role": "user", "content": "weather?"}])
        assert r.model in {"a/small", "b/big"}
        calls = r.choices[0].message.tool_calls
        assert calls is not None and isinstance(calls[0], ChatCompletionMessageFunctionToolCall)
        assert calls[0].function.name == "get_weather"
    assert not [r for r in h.fakes["a"].chat_requests if r.body["model"] == "eyes"]


def test_tool_turns_in_history_need_tools(h: Harness) -> None:
    client = pool(h)
    history: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    for _ in range(10):
        assert client.chat.completions.create(model="free", messages=history).model != "a/eyes"


def test_images_and_json_schema_pick_the_capable_backend(h: Harness) -> None:
    client = pool(h)
    image: list[ChatCompletionMessageParam] = [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]
    schema: ResponseFormat = {"type": "json_schema",
                              "json_schema": {"name": "x", "schema": {"type": "object"}}}
    for _ in range(10):
        assert client.chat.completions.create(model="free", messages=image).model == "a/eyes"
        assert client.chat.completions.create(
            model="free", response_format=schema,
            messages=[{"role": "user", "content": "json"}]).model == "a/eyes"
        assert client.chat.completions.create(
            model="free", response_format={"type": "json_object"},
            messages=[{"role": "user", "content": "json"}]).model == "b/big"


def test_no_capable_backend_is_400_naming_each_missing_capability(h: Harness) -> None:
    client = pool(h)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="free", response_format={"type": "json_object"},
            messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}])
    assert err.value.status_code == 400
    body = err.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    assert "json_object" in body["message"] and "vision" in body["message"]


def test_context_length_filters_and_max_tokens_is_clamped_not_a_filter(h: Harness) -> None:
    client = pool(h)
    long_prompt = "word " * 40000  # ~50k tokens: only b/big (131072) fits
    r = client.chat.completions.create(model="free", max_tokens=1_000_000,
                                       messages=[{"role": "user", "content": long_prompt}])
    assert r.model == "b/big"
    sent = h.fakes["b"].chat_requests[-1].body
    assert 1 <= sent["max_tokens"] <= 131072 - 50000
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="free", messages=[
            {"role": "user", "content": "word " * 200000}])
    body = err.value.body
    assert isinstance(body, dict) and "context_length" in body["message"]


def test_direct_backend_alias_and_free_suffix_resolution(h: Harness) -> None:
    client = pool(h)
    assert client.chat.completions.create(
        model="a/small", messages=[{"role": "user", "content": "x"}]).model == "a/small"
    assert client.chat.completions.create(
        model="claude-sonnet-5", messages=[{"role": "user", "content": "x"}]).model in {
        "a/small", "a/eyes", "b/big"}
    assert client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]).model == "a/eyes"
    assert client.chat.completions.create(
        model="big:free", messages=[{"role": "user", "content": "x"}]).model == "b/big"
    assert client.chat.completions.create(
        model="big", messages=[{"role": "user", "content": "x"}]).model == "b/big"


def test_capabilities_are_checked_for_a_backend_asked_directly(h: Harness) -> None:
    client = pool(h)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="a/eyes", tools=[{"type": "function", "function": {
            "name": "f"}}], messages=[{"role": "user", "content": "x"}])
    body = err.value.body
    assert isinstance(body, dict) and "tools" in body["message"]


def test_unknown_model_is_404_listing_what_exists(h: Harness) -> None:
    client = pool(h)
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    body = err.value.body
    assert isinstance(body, dict)
    assert "free" in body["message"] and "b/big" in body["message"]
    assert body["code"] == "model_not_found"


def test_models_fallback_list_is_tried_in_order(h: Harness) -> None:
    client = pool(h)
    h.fakes["a"].inject(Fault(status=500, model="eyes"))
    r = client.chat.completions.with_raw_response.create(
        model="a/eyes", extra_body={"models": ["b/big", "a/small"]},
        messages=[{"role": "user", "content": "x"}])
    assert r.parse().model == "b/big"
    assert r.headers["x-freerouter-attempts"] == "2"
    assert "models" not in h.fakes["b"].chat_requests[-1].body  # router-only field


def test_models_list_without_model(h: Harness) -> None:
    client = pool(h)
    # The SDK's types insist on `model`; the router takes `models` alone, as OpenRouter does.
    r = client.chat.completions.create(  # type: ignore[call-overload]
        model=None, extra_body={"models": ["b/big"]}, messages=[{"role": "user", "content": "x"}])
    assert r.model == "b/big"


def test_v1_models_lists_routes_and_backends(h: Harness) -> None:
    client = pool(h)
    listed = {m.id: m for m in client.models.list()}
    assert set(listed) == {"free", "a/small", "a/eyes", "b/big"}
    assert listed["free"].owned_by == "freerouter"
    assert listed["b/big"].owned_by == "b"
    extra = listed["b/big"].model_extra
    assert extra is not None and extra["capabilities"] == ["json_object", "tools"]


@pytest.mark.parametrize(("payload", "headers", "status", "needle"), [
    (b"{not json", {"content-type": "application/json"}, 400, "not valid JSON"),
    (b"[1, 2]", {"content-type": "application/json"}, 400, "JSON object"),
    (b"", {"content-type": "application/json"}, 400, "empty"),
    (b'{"model": "free"}', {"content-type": "application/json"}, 400, "messages"),
    (b'{"model": "free", "messages": []}', {"content-type": "application/json"}, 400, "messages"),
    (b'{"model": "free", "messages": [{"role": "robot", "content": "x"}]}',
     {"content-type": "application/json"}, 400, "role"),
    (b'{"messages": [{"role": "user", "content": "x"}]}', {"content-type": "application/json"},
     400, "model"),
    (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}',
     {"content-type": "application/json"}, 400, "model"),
    (b'{"model": "free", "max_tokens": -1, "messages": [{"role": "user", "content": "x"}]}',
     {"content-type": "application/json"}, 400, "max_tokens"),
    (b'{"model": "free", "messages": [{"role": "user", "content": "x"}]}',
     {"content-type": "text/plain"}, 400, "Content-Type"),
])
def test_bad_input_gets_an_openai_error(h: Harness, payload: bytes, headers: dict[str, str],
                                        status: int, needle: str) -> None:
    pool(h)
    r = httpx.post(f"{h.url}/v1/chat/completions", content=payload, headers=headers)
    assert r.status_code == status
    error = r.json()["error"]
    assert needle in error["message"] and error["type"]
    assert r.headers["x-request-id"]


def test_unknown_path_and_method_get_json_errors(h: Harness) -> None:
    pool(h)
    r = httpx.get(f"{h.url}/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["message"]
    r = httpx.get(f"{h.url}/v1/chat/completions")
    assert r.status_code == 405 and r.json()["error"]["type"]


def test_request_id_is_echoed(h: Harness) -> None:
    pool(h)
    r = httpx.post(f"{h.url}/v1/chat/completions", headers={"x-request-id": "abc-123"},
                   json={"model": "free", "messages": [{"role": "user", "content": "x"}]})
    assert r.headers["x-request-id"] == "abc-123"


def test_ops_endpoints(h: Harness) -> None:
    pool(h)
    assert httpx.get(f"{h.url}/healthz").status_code == 200
    assert httpx.get(f"{h.url}/readyz").json() == {"status": "ready"}
    status = httpx.get(f"{h.url}/status").json()
    assert {b["id"] for b in status["backends"]} == {"a/small", "a/eyes", "b/big"}
    assert status["routes"][0]["name"] == "free"
    assert "freerouter_requests_total" in httpx.get(f"{h.url}/metrics").text


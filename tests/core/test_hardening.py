"""Bad input, hostile upstreams and careless clients: each gets a clear error in the caller's
format, nothing leaks (keys, upstream headers, tasks, connections), and nothing hangs."""

from __future__ import annotations

import asyncio
import io
import json
import os
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionMessageParam

from router import logs
from router.demo.scripted import Fault
from router.demo.upstream import FakeUpstream
from tests.harness import Harness, provider

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
CLIENT_KEYS = {"CK": "alice:sk-client-alice-0001,bob:sk-client-bob-0002"}


def keyed(h: Harness, **server: object) -> str:
    base = h.upstream("p", FakeUpstream())
    return h.router({"server": {"client_keys_env": "CK", **server},
                     "providers": [provider("p", base, {"m": []})]}, env=CLIENT_KEYS)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"x-api-key": "nope"},
                                     {"Authorization": "Basic c2stY2xpZW50"}])
def test_a_missing_or_wrong_client_key_is_401_in_the_callers_format(
    h: Harness, headers: dict[str, str]
) -> None:
    url = keyed(h)
    r = httpx.post(f"{url}/v1/chat/completions", headers=headers,
                   json={"model": "free", "messages": USER})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = httpx.post(f"{url}/v1/messages", headers=headers,
                   json={"model": "free", "max_tokens": 5, "messages": USER})
    assert r.status_code == 401
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "authentication_error"
    assert httpx.get(f"{url}/status", headers=headers).status_code == 401
    for open_path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(f"{url}{open_path}").status_code == 200


def test_client_keys_work_either_way_and_only_their_names_are_logged(h: Harness) -> None:
    url = keyed(h)
    out = io.StringIO()
    logs.configure(console=False, level="info", stream=out)
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-client-alice-0001", max_retries=0)
        assert client.chat.completions.create(model="free", messages=USER).model == "p/m"
        r = httpx.post(f"{url}/v1/chat/completions", headers={"x-api-key": "sk-client-bob-0002"},
                       json={"model": "free", "messages": USER})
        assert r.status_code == 200
    finally:
        logs.configure(console=False, level="info")
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    assert {line.get("client") for line in lines if line.get("event") == "request"} >= {"alice", "bob"}
    assert "sk-client" not in out.getvalue() and "hello" not in out.getvalue()


def test_a_client_key_over_its_rate_limit_gets_429_with_retry_after(h: Harness) -> None:
    url = keyed(h, client_rpm=2)
    alice = {"Authorization": "Bearer sk-client-alice-0001"}
    for _ in range(2):
        assert httpx.post(f"{url}/v1/chat/completions", headers=alice,
                          json={"model": "free", "messages": USER}).status_code == 200
    r = httpx.post(f"{url}/v1/chat/completions", headers=alice, json={"model": "free", "messages": USER})
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    bob = {"Authorization": "Bearer sk-client-bob-0002"}  # another key is not affected
    assert httpx.post(f"{url}/v1/chat/completions", headers=bob,
                      json={"model": "free", "messages": USER}).status_code == 200


def test_a_body_over_the_limit_is_413(h: Harness) -> None:
    base = h.upstream("p", FakeUpstream())
    url = h.router({"server": {"max_body_bytes": 2000}, "providers": [provider("p", base, {"m": []})]})
    big = {"model": "free", "messages": [{"role": "user", "content": "x" * 5000}]}
    r = httpx.post(f"{url}/v1/chat/completions", json=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"
    r = httpx.post(f"{url}/v1/messages", json={**big, "max_tokens": 5})
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"


def test_deep_json_and_too_many_messages_are_refused(h: Harness) -> None:
    base = h.upstream("p", FakeUpstream())
    url = h.router({"providers": [provider("p", base, {"m": []})]})
    deep = '{"model": "free", "messages": ' + "[" * 5000 + "]" * 5000 + "}"
    r = httpx.post(f"{url}/v1/chat/completions", content=deep,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    many = {"model": "free", "messages": [{"role": "user", "content": "x"}] * 100_001}
    r = httpx.post(f"{url}/v1/chat/completions", json=many, timeout=30)
    assert r.status_code in (400, 413)
    nested_tool: dict[str, Any] = {"type": "function", "function": {"name": "f", "parameters": {}}}
    node: dict[str, Any] = nested_tool["function"]["parameters"]
    for _ in range(900):
        node["items"] = {}
        node = node["items"]
    r = httpx.post(f"{url}/v1/chat/completions",
                   json={"model": "free", "messages": USER, "tools": [nested_tool]})
    assert r.status_code != 500


def test_header_hygiene_both_ways(h: Harness) -> None:
    base = h.upstream("p", FakeUpstream())
    url = h.router({"providers": [{**provider("p", base, {"m": []}), "api_key_env": "PK"}]},
                   env={"PK": "sk-upstream-1"})
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER}, headers={
        "Authorization": "Bearer client-secret", "x-api-key": "client-secret-2",
        "Cookie": "sid=1", "Proxy-Authorization": "Basic x", "X-Forwarded-For": "10.0.0.1",
        "Connection": "keep-alive, X-Hop", "X-Hop": "1"})
    assert r.status_code == 200
    sent = {k.lower(): v for k, v in h.fakes["p"].received[-1].headers.items()}
    assert sent["authorization"] == "Bearer sk-upstream-1"
    for header in ("x-api-key", "cookie", "proxy-authorization", "x-forwarded-for", "x-hop"):
        assert header not in sent, header
    assert "set-cookie" not in r.headers
    assert r.headers["x-ratelimit-remaining-requests"] == "99"
    assert r.headers["x-upstream-request-id"] == "req_fake"


def test_an_upstream_echoing_its_key_is_redacted(h: Harness) -> None:
    secret = "sk-upstream-very-secret"
    fake = FakeUpstream()
    fake.inject(Fault(status=400, body=json.dumps({"error": {
        "message": f"key {secret} cannot use this parameter", "type": "invalid_request_error"}}).encode()))
    fake.inject(Fault(status=500, body=f"internal: {secret}".encode()))
    url = h.router({"providers": [{**provider("p", h.upstream("p", fake), {"m": []}),
                                   "api_key_env": "PK"}]}, env={"PK": secret})
    for _ in range(2):
        r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
        assert r.status_code in (400, 502)
        assert secret not in r.text


@pytest.mark.parametrize("fault", [
    Fault(status=200, kind="garbage"), Fault(kind="html"),
    Fault(status=200, body=b'{"choices": []}', kind="status"),
    Fault(status=200, body=b'{"error": {"message": "x"}}', kind="status"),
    Fault(status=200, body=b"x" * (33 * 1024 * 1024), kind="status"),
], ids=["garbage", "html", "no-choices", "error-in-200", "oversized"])
def test_hostile_answers_fail_over_or_fail_cleanly(h: Harness, fault: Fault) -> None:
    bad, good = FakeUpstream(), FakeUpstream()
    bad.inject(fault)
    url = h.router({"providers": [
        {**provider("bad", h.upstream("bad", bad), {"m": []}), "models": [{"name": "m", "weight": 1}]},
        {**provider("good", h.upstream("good", good), {"m": []}),
         "models": [{"name": "m", "weight": 1e-9}]}],
        "routes": [{"name": "free", "strategy": "weighted"}]})
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER}, timeout=30)
    assert r.status_code == 200 and r.json()["model"] == "good/m"
    assert r.headers["x-freerouter-attempts"] == "2"


def test_an_endless_stream_is_cut_by_the_total_timeout(h: Harness) -> None:
    endless = FakeUpstream()
    endless.inject(Fault(kind="stall"))
    url = h.router({"providers": [{**provider("p", h.upstream("p", endless), {"m": []}),
                                   "timeout_s": 30, "total_timeout_s": 0.5}]})
    try:
        r = httpx.post(f"{url}/v1/chat/completions", timeout=20,
                       json={"model": "free", "messages": USER, "stream": True})
    finally:
        h.call(endless.hang.set)
    frames = [f for f in r.text.split("\n\n") if f]
    assert '"error"' in frames[-2] and frames[-1] == "data: [DONE]"


def test_a_client_that_disconnects_cancels_its_upstream_request(h: Harness) -> None:
    fake = FakeUpstream()
    fake.inject(Fault(kind="hang"))
    url = h.router({"providers": [provider("p", h.upstream("p", fake), {"m": []})]})

    async def hang_up() -> None:
        async with httpx.AsyncClient() as client:
            task = asyncio.create_task(client.post(
                f"{url}/v1/chat/completions", json={"model": "free", "messages": USER}))
            for _ in range(200):
                if fake.received:
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(hang_up())

    async def wait_cancelled() -> int:
        for _ in range(300):
            if fake.cancelled:
                break
            await asyncio.sleep(0.01)
        return fake.cancelled

    assert h.run(wait_cancelled()) == 1


def test_no_task_or_descriptor_leaks_after_faults_and_disconnects(h: Harness) -> None:
    fake = FakeUpstream()
    url = h.router({"providers": [provider("p", h.upstream("p", fake), {"m": []})]})

    def traffic() -> None:
        with httpx.Client() as client:
            for i in range(40):
                fake.inject(Fault(status=500) if i % 3 == 0 else Fault(kind="truncate"))
                client.post(f"{url}/v1/chat/completions", timeout=10,
                            json={"model": "free", "messages": USER, "stream": i % 2 == 0})
            for _ in range(40):
                with client.stream("POST", f"{url}/v1/chat/completions", timeout=10,
                                   json={"model": "free", "messages": USER, "stream": True}) as r:
                    next(r.iter_bytes())  # read a little, then hang up

    def tasks() -> int:
        return len(asyncio.all_tasks(h.loop))

    traffic()  # warm up pools
    before = (h.call(tasks), len(os.listdir("/proc/self/fd")))
    traffic()

    async def settle() -> tuple[int, int]:
        for _ in range(100):
            now = (len(asyncio.all_tasks()) - 1, len(os.listdir("/proc/self/fd")))
            if now[0] <= before[0] and now[1] <= before[1] + 2:
                break
            await asyncio.sleep(0.02)
        return now

    after = h.run(settle())
    assert after[0] <= before[0], (before, after)
    assert after[1] <= before[1] + 2, (before, after)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25)
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "x"])},
                                optional={"content": json_values, "tool_calls": json_values,
                                          "tool_call_id": json_values})
body = st.fixed_dictionaries(
    {"model": st.sampled_from(["free", "p/m", "nope", 5, None])},
    optional={"messages": st.lists(message, max_size=4) | json_values, "stream": json_values,
              "tools": json_values, "max_tokens": json_values, "response_format": json_values,
              "system": json_values, "models": json_values, "temperature": json_values,
              "metadata": json_values, "tool_choice": json_values, "stream_options": json_values})


def test_fuzzed_bodies_never_get_a_500(h: Harness) -> None:
    url = h.router({"providers": [provider("p", h.upstream("p", FakeUpstream()),
                                           {"m": ["tools", "vision", "json_object", "json_schema"]})]})
    out = io.StringIO()
    logs.configure(console=False, level="info", stream=out)
    client = httpx.Client(timeout=10)

    @settings(max_examples=150, suppress_health_check=list(HealthCheck), deadline=None)
    @given(body)
    def check(payload: dict[str, Any]) -> None:
        for path in ("/v1/chat/completions", "/v1/messages"):
            r = client.post(f"{url}{path}", json=payload)
            assert r.status_code < 500 or r.status_code in (502, 503, 529), (path, payload, r.text)
            assert r.headers["content-type"].startswith(("application/json", "text/event-stream"))

    try:
        check()
    finally:
        client.close()
        logs.configure(console=False, level="info")
    assert "unhandled error" not in out.getvalue()


def test_a_nonsense_stream_event_fails_over_before_content_and_ends_cleanly_after(h: Harness) -> None:
    bad, good = FakeUpstream(), FakeUpstream()
    url = h.router({"providers": [
        {**provider("bad", h.upstream("bad", bad), {"m": []}), "models": [{"name": "m", "weight": 1}]},
        {**provider("good", h.upstream("good", good), {"m": []}),
         "models": [{"name": "m", "weight": 1e-9}]}],
        "routes": [{"name": "free", "strategy": "weighted"}]})
    stream = {"model": "free", "messages": USER, "stream": True}
    bad.inject(Fault(kind="bad_event", status=200))  # before any content: fail over
    r = httpx.post(f"{url}/v1/chat/completions", json=stream)
    assert r.status_code == 200 and r.headers["x-freerouter-backend"] == "good/m"
    bad.inject(Fault(kind="bad_event", status=201))  # after content: in-band error, one response
    r = httpx.post(f"{url}/v1/chat/completions", json=stream)
    frames = [f for f in r.text.split("\n\n") if f]
    assert r.status_code == 200 and "HTTP/1.1" not in r.text
    assert '"error"' in frames[-2] and frames[-1] == "data: [DONE]"
    r = httpx.post(f"{url}/v1/messages", json={**stream, "max_tokens": 20})
    assert r.status_code == 200 and "HTTP/1.1" not in r.text


def test_a_nonstandard_upstream_error_body_is_rewritten_into_the_callers_format(h: Harness) -> None:
    fake = FakeUpstream()
    url = h.router({"providers": [provider("p", h.upstream("p", fake), {"m": []})]})
    fake.inject(Fault(status=400, body=b'{"detail": "temperature out of range"}'))
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "temperature out of range"
    fake.inject(Fault(status=400, body=b'{"detail": "temperature out of range"}'))
    r = httpx.post(f"{url}/v1/messages", json={"model": "free", "max_tokens": 5, "messages": USER})
    assert r.status_code == 400 and r.json()["type"] == "error"
    assert r.json()["error"]["message"] == "temperature out of range"


def test_every_answer_carries_a_request_id(h: Harness) -> None:
    url = h.router({"providers": [provider("p", h.upstream("p", FakeUpstream()), {"m": []})]})
    assert httpx.get(f"{url}/v1/models").headers["x-request-id"]
    r = httpx.post(f"{url}/v1/messages/count_tokens", json={"model": "free", "messages": USER})
    assert r.status_code == 200 and r.headers["x-request-id"]


def test_hostile_keys_and_model_lists(h: Harness) -> None:
    url = keyed(h)
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER},
                   headers={b"Authorization": b"Bearer \xff\xfe"})  # not UTF-8
    assert r.status_code == 401
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER},
                   headers={"Authorization": "Bearer", "x-api-key": "sk-client-bob-0002"})
    assert r.status_code == 200  # an empty Bearer does not hide a valid x-api-key
    alice = {"Authorization": "Bearer sk-client-alice-0001"}
    many = {"model": "free", "models": [f"m{i}" for i in range(100_000)], "messages": USER}
    r = httpx.post(f"{url}/v1/chat/completions", json=many, headers=alice)
    assert r.status_code == 400 and "models" in r.json()["error"]["message"]


# Unhashable and wrongly typed values where a string is expected (a `type`, a `role`).
odd = st.lists(st.integers(), max_size=1) | st.dictionaries(st.text(max_size=2), st.integers(), max_size=1)
part = st.fixed_dictionaries({"type": st.sampled_from(["input_text", "input_image", "output_text"]) | odd},
                             optional={"text": json_values, "image_url": json_values})
item = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "developer", "x"]) | odd},
                          optional={"content": json_values | st.lists(part, max_size=3),
                                    "type": st.sampled_from(["message", None])}),
    st.fixed_dictionaries({"type": st.sampled_from(
        ["function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output",
         "reasoning", "item_reference", "web_search_call"]) | odd},
        optional={"call_id": json_values, "name": json_values, "arguments": json_values,
                  "output": json_values, "input": json_values, "id": json_values,
                  "namespace": json_values}),
    json_values)
tool = st.fixed_dictionaries({"type": st.sampled_from(["function", "custom", "namespace", "web_search"])
                              | odd},
                             optional={"name": json_values, "parameters": json_values,
                                       "tools": json_values, "format": json_values})
# Top-level fields of the right shape (a wrong one is a plain 400), odd values inside them.
responses_body = st.fixed_dictionaries(
    {"model": st.sampled_from(["free", "free", "p/m", "nope"]),
     "input": st.lists(item, max_size=4) | st.text(min_size=1, max_size=5)},
    optional={"stream": st.booleans(), "store": st.booleans(), "tools": st.lists(tool, max_size=3),
              "tool_choice": json_values | st.fixed_dictionaries(
                  {"type": st.sampled_from(["function", "custom", "allowed_tools"]) | odd},
                  optional={"name": json_values, "tools": json_values, "mode": json_values}),
              "text": st.fixed_dictionaries({"format": st.fixed_dictionaries(
                  {"type": st.sampled_from(["json_object", "json_schema", "text"]) | odd},
                  optional={"schema": json_values, "name": json_values})}),
              "reasoning": st.dictionaries(st.sampled_from(["effort", "summary"]), json_values),
              "instructions": st.text(max_size=5), "max_output_tokens": st.integers(1, 100),
              "parallel_tool_calls": st.booleans(), "models": json_values, "user": json_values,
              "metadata": st.dictionaries(st.text(max_size=3), json_values, max_size=2),
              "temperature": st.floats(0, 1)})


def test_fuzzed_responses_bodies_never_get_a_500(h: Harness) -> None:
    url = h.router({"providers": [provider("p", h.upstream("p", FakeUpstream()),
                                           {"m": ["tools", "vision", "json_object", "json_schema"]})]})
    out = io.StringIO()
    logs.configure(console=False, level="info", stream=out)
    client = httpx.Client(timeout=10)

    @settings(max_examples=150, suppress_health_check=list(HealthCheck), deadline=None)
    @given(responses_body)
    def check(payload: dict[str, Any]) -> None:
        r = client.post(f"{url}/v1/responses", json=payload)
        assert r.status_code < 500 or r.status_code in (502, 503), (payload, r.text)
        assert r.headers["content-type"].startswith(("application/json", "text/event-stream"))
        if r.status_code >= 400:  # an OpenAI error (a relayed upstream 400 may lack `param`)
            assert {"message", "type"} <= set(r.json()["error"])

    try:
        check()
    finally:
        client.close()
        logs.configure(console=False, level="info")
    assert "unhandled error" not in out.getvalue()

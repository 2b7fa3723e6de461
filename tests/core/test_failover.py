"""Failover before the first byte, and what happens after it: every fault of a fake upstream
becomes either an answer from another backend or a clean error in the OpenAI format."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from router.demo.scripted import Behaviour, Fault
from router.demo.upstream import FakeUpstream
from tests.clock import FakeClock
from tests.harness import Harness, provider

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


def two_backends(h: Harness, timeout_s: float = 5, **route: object) -> openai.OpenAI:
    """`first/m` is tried first (weight ~1, the other ~0), `second/m` takes over on failure."""
    first = h.upstream("first", FakeUpstream())
    second = h.upstream("second", FakeUpstream())
    url = h.router({
        "providers": [
            {**provider("first", first, {"m": []}), "timeout_s": timeout_s,
             "models": [{"name": "m", "weight": 1.0, "context_length": 32768}]},
            {**provider("second", second, {"m": []}), "timeout_s": timeout_s,
             "models": [{"name": "m", "weight": 1e-9, "context_length": 32768}]},
        ],
        "routes": [{"name": "free", "strategy": "weighted", "backends": ["*"], **route}],
    })
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)


@pytest.mark.parametrize("fault", [
    Fault(status=500),
    Fault(status=503),
    Fault(status=408),
    Fault(status=429, headers={"Retry-After": "30"}),
    Fault(status=401),
    Fault(status=404),
    Fault(kind="garbage"),
    Fault(kind="html"),
    Fault(kind="empty"),
], ids=lambda f: f"{f.kind}-{f.status}")
@pytest.mark.parametrize("stream", [False, True])
def test_failure_before_first_byte_fails_over(h: Harness, fault: Fault, stream: bool) -> None:
    client = two_backends(h)
    h.fakes["first"].inject(fault)
    raw = client.chat.completions.with_raw_response.create(model="free", messages=USER,
                                                            stream=stream)
    assert raw.headers["x-freerouter-backend"] == "second/m"
    assert raw.headers["x-freerouter-attempts"] == "2"
    parsed = raw.parse()
    if stream:
        assert isinstance(parsed, openai.Stream)
        assert {c.model for c in parsed} == {"second/m"}
    else:
        assert isinstance(parsed, ChatCompletion)
        assert parsed.model == "second/m"


def test_truncated_stream_before_content_fails_over(h: Harness) -> None:
    client = two_backends(h)
    h.fakes["first"].inject(Fault(kind="midstream_error"))
    # The fake's in-band error comes after a few content chunks: that is after the first
    # byte, so it must end the stream with an OpenAI error event instead.
    with pytest.raises(openai.APIError) as err:
        list(client.chat.completions.create(model="free", messages=USER, stream=True))
    assert "overloaded" in str(err.value.message)


def test_stream_cut_mid_event_ends_with_error_event(h: Harness) -> None:
    two_backends(h)
    h.fakes["first"].inject(Fault(kind="truncate"))
    r = httpx.post(f"{h.url}/v1/chat/completions",
                   json={"model": "free", "messages": USER, "stream": True})
    assert r.status_code == 200
    lines = [ln for ln in r.text.split("\n\n") if ln]
    assert '"error"' in lines[-2] and lines[-1] == "data: [DONE]"
    assert all('"model":"first/m"' in ln for ln in lines[:-2])


def test_upstream_400_is_relayed_not_failed_over(h: Harness) -> None:
    client = two_backends(h)
    h.fakes["first"].inject(Fault(status=400, body=b'{"error": {"message": "bad temperature", '
                                                   b'"type": "invalid_request_error"}}'))
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="free", messages=USER)
    body = err.value.body
    assert isinstance(body, dict) and "bad temperature" in body["message"]
    assert not h.fakes["second"].chat_requests


def test_every_candidate_failed_is_502_with_the_last_reason(h: Harness) -> None:
    client = two_backends(h)
    h.fakes["first"].inject(Fault(status=500))
    h.fakes["second"].inject(Fault(status=503))
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="free", messages=USER)
    assert err.value.status_code == 502
    body = err.value.body
    assert isinstance(body, dict)
    assert body["type"] == "upstream_error"
    assert "second/m" in body["message"]
    assert err.value.response.headers["x-freerouter-attempts"] == "2"


def test_max_attempts_bounds_the_backends_tried(h: Harness) -> None:
    client = two_backends(h, max_attempts=1)
    h.fakes["first"].inject(Fault(status=500))
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="free", messages=USER)
    assert err.value.response.headers["x-freerouter-attempts"] == "1"
    assert not h.fakes["second"].chat_requests


def test_all_cooling_down_is_503_with_retry_after(h: Harness) -> None:
    client = two_backends(h)
    h.fakes["first"].inject(Fault(status=429, headers={"Retry-After": "120"}))
    h.fakes["second"].inject(Fault(status=429, headers={"Retry-After": "40"}))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="free", messages=USER)
    # Both now cool down: nothing is tried, the client is told when to come back.
    r = httpx.post(f"{h.url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert r.status_code == 503
    assert 35 <= int(r.headers["Retry-After"]) <= 41
    assert "cooling" in r.json()["error"]["message"]
    assert len(h.fakes["first"].chat_requests) == 1


def test_a_hung_upstream_times_out_and_fails_over(h: Harness) -> None:
    client = two_backends(h, timeout_s=0.3)
    h.fakes["first"].inject(Fault(kind="hang"))
    try:
        assert client.chat.completions.create(model="free", messages=USER).model == "second/m"
    finally:
        h.call(h.fakes["first"].hang.set)


def test_a_stream_silent_before_content_times_out_and_fails_over(h: Harness) -> None:
    slow = FakeUpstream({"m": Behaviour(chunk_delay_s=2.0)})
    url = h.router({"providers": [{**provider("s", h.upstream("s", slow), {"m": []}),
                                   "timeout_s": 0.3}]})
    r = httpx.post(f"{url}/v1/chat/completions", timeout=10,
                   json={"model": "free", "messages": USER, "stream": True})
    assert r.status_code == 502  # only a role chunk arrived: nothing was committed yet
    assert "did not answer in time" in r.json()["error"]["message"]


def test_a_stream_stalled_after_content_ends_with_an_error_event(h: Harness) -> None:
    stalling = FakeUpstream()
    stalling.inject(Fault(kind="stall"))
    url = h.router({"providers": [{**provider("s", h.upstream("s", stalling), {"m": []}),
                                   "timeout_s": 0.3}]})
    try:
        r = httpx.post(f"{url}/v1/chat/completions", timeout=10,
                       json={"model": "free", "messages": USER, "stream": True})
    finally:
        h.call(stalling.hang.set)
    frames = [f for f in r.text.split("\n\n") if f]
    assert r.status_code == 200
    assert frames[-1] == "data: [DONE]" and '"error"' in frames[-2]
    assert "did not answer in time" in frames[-2]


def test_connect_error_fails_over(h: Harness) -> None:
    second = h.upstream("second", FakeUpstream())
    url = h.router({
        "providers": [
            {**provider("dead", "http://127.0.0.1:9/v1", {"m": []}),
             "models": [{"name": "m", "weight": 1.0}]},
            {**provider("second", second, {"m": []}), "models": [{"name": "m", "weight": 1e-9}]},
        ],
        "routes": [{"name": "free", "strategy": "weighted"}],
    })
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert r.status_code == 200 and r.json()["model"] == "second/m"
    metrics = httpx.get(f"{url}/metrics").text
    assert 'freerouter_backend_failures_total{backend="dead/m",reason="connect"} 1.0' in metrics
    assert 'freerouter_fallbacks_total{route="free"} 1.0' in metrics


def test_upstream_key_is_sent_and_never_leaked(h: Harness) -> None:
    secret = "sk-upstream-SECRET-123"
    base = h.upstream("k", FakeUpstream(api_key="something-else"))
    url = h.router({"providers": [{**provider("k", base, {"m": []}), "api_key_env": "K_KEY"}]},
                   env={"K_KEY": secret})
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert r.status_code == 502
    assert secret not in r.text
    assert h.fakes["k"].received[-1].headers["Authorization"] == f"Bearer {secret}"
    assert r.json()["error"]["type"] == "upstream_error"


def test_a_recovery_within_max_queue_s_is_waited_for(h: Harness, clock: FakeClock) -> None:
    fake = FakeUpstream()
    url = h.router({"routing": {"max_queue_s": 10},
                    "providers": [provider("p", h.upstream("p", fake), {"m": []})]},
                   clock=clock, sleep=clock.sleep)
    fake.inject(Fault(status=429, headers={"Retry-After": "4"}))
    first = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert first.status_code == 502  # the only backend answered 429 and now cools for 4 s
    second = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert second.status_code == 200 and second.json()["model"] == "p/m"
    assert 3.5 <= sum(clock.slept) <= 5  # it waited for the cooldown instead of failing


def test_a_recovery_beyond_max_queue_s_is_503_at_once(h: Harness, clock: FakeClock) -> None:
    fake = FakeUpstream()
    url = h.router({"routing": {"max_queue_s": 10},
                    "providers": [provider("p", h.upstream("p", fake), {"m": []})]},
                   clock=clock, sleep=clock.sleep)
    fake.inject(Fault(status=429, headers={"Retry-After": "60"}))
    httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert r.status_code == 503 and 55 <= int(r.headers["Retry-After"]) <= 61
    assert clock.slept == []


def test_after_a_failure_the_router_waits_for_an_untried_backend_to_recover(
    h: Harness, clock: FakeClock
) -> None:
    a, b = FakeUpstream(), FakeUpstream()
    url = h.router({"routing": {"max_queue_s": 10}, "providers": [
        {**provider("a", h.upstream("a", a), {"m": []}), "models": [{"name": "m", "weight": 1}]},
        {**provider("b", h.upstream("b", b), {"m": []}), "models": [{"name": "m", "weight": 1e-9}]}],
        "routes": [{"name": "free", "strategy": "weighted"}]}, clock=clock, sleep=clock.sleep)
    b.inject(Fault(status=429, headers={"Retry-After": "3"}))
    # Cool b down first (a is busy failing over to it)...
    a.inject(Fault(status=500))
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert r.status_code == 502
    # ...then a fails again while b is still cooling: wait for b rather than answer 502.
    a.inject(Fault(status=500))
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert r.status_code == 200 and r.json()["model"] == "b/m"
    assert r.headers["x-freerouter-attempts"] == "2" and 2.5 <= sum(clock.slept) <= 4


def test_by_default_all_cooling_is_503_at_once_even_for_a_short_cooldown(
    h: Harness, clock: FakeClock
) -> None:
    fake = FakeUpstream()
    url = h.router({"providers": [provider("p", h.upstream("p", fake), {"m": []})]},
                   clock=clock, sleep=clock.sleep)
    fake.inject(Fault(status=429, headers={"Retry-After": "3"}))
    httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "free", "messages": USER})
    assert r.status_code == 503 and r.headers["Retry-After"] == "3"
    assert clock.slept == []
    r = httpx.post(f"{url}/v1/messages", json={"model": "free", "max_tokens": 9, "messages": USER})
    assert r.status_code == 529 and r.json()["error"]["type"] == "overloaded_error"
    assert r.headers["Retry-After"] == "3"

"""Token budgets end to end: the router app in front of fake upstreams on loopback that report
exact usage, one of them enforcing a tokens-per-minute limit as Groq does (429 with Retry-After
over the minute, 413 for a single request over the limit). A big prompt never reaches a small
backend; a minute budget stops short of the upstream's 429; the reported usage replaces the
estimate; a failed, cancelled or abandoned attempt gives its tokens back."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import orjson
import pytest

from router.appkeys import METRICS
from router.config import parse
from router.demo.anthropic_upstream import FakeAnthropicUpstream
from router.demo.scripted import Behaviour, Fault
from router.demo.token_limits import Charge
from router.demo.upstream import FakeUpstream
from router.errors import NoCapableBackend
from router.plugins import load_plugins
from router.pool import Pool
from router.report import fetch_status
from router.types import Needs
from tests.clock import FakeClock
from tests.token_rig import BIG, MEDIUM, Client, Rig, RigFactory, Server, groq, model, until


@pytest.fixture
async def rig_factory(aiohttp_server: Server, aiohttp_client: Client,
                      clock: FakeClock) -> AsyncIterator[RigFactory]:
    factory = RigFactory(aiohttp_server, aiohttp_client, clock)
    yield factory
    await factory.aclose()


# -- capability ---------------------------------------------------------------------------------


async def test_a_big_prompt_never_reaches_the_small_backend(rig_factory: RigFactory) -> None:
    rig = await rig_factory(("small", groq(), {"tpm": 6000, **model()}),
                                 ("big", FakeUpstream(), model(weight=1e-9)))
    for status, headers, _ in (await rig.chat(BIG), await _stream_status(rig, BIG)):
        assert status == 200 and headers["x-freerouter-backend"] == "big/m"
        assert headers["x-freerouter-attempts"] == "1"
    status, headers, _ = await rig.messages(BIG)  # Claude Code's way in
    assert status == 200 and headers["x-freerouter-backend"] == "big/m"
    assert rig.chats("small") == 0
    # A small prompt still goes to the small backend (the route prefers it).
    status, headers, _ = await rig.chat("hello", max_tokens=100)
    assert status == 200 and headers["x-freerouter-backend"] == "small/m"


async def _stream_status(rig: Rig, text: str) -> tuple[int, dict[str, str], str]:
    resp = await rig.client.post("/v1/chat/completions", json={
        "model": "free", "stream": True, "messages": [{"role": "user", "content": text}]})
    return resp.status, dict(resp.headers), await resp.text()


async def test_no_backend_with_the_tpm_for_it_is_a_400_naming_tpm(rig_factory: RigFactory) -> None:
    rig = await rig_factory(("small", groq(), model(tpm=6000)))
    status, _, body = await rig.chat(BIG)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "no_capable_backend"
    assert "supports: tpm" in body["error"]["message"]
    status, _, body = await rig.messages(BIG)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "tpm" in body["error"]["message"]
    assert rig.chats("small") == 0


async def test_no_backend_with_the_tpd_for_it_is_a_400_naming_tpd(rig_factory: RigFactory) -> None:
    rig = await rig_factory(("daily", FakeUpstream(), model(tpd=10_000)),
                            ("account", FakeUpstream(), {"tpd": 8000, **model(rpm=30)}))
    for status, _, body in (await rig.chat(BIG), await rig.messages(BIG)):
        assert status == 400 and body["error"]["type"] == "invalid_request_error"
        message = body["error"]["message"]
        assert "supports: tpd (the request is about" in message, message
        assert "more than the tokens per day of every backend" in message
        assert "tpm" not in message and "per minute" not in message
    assert rig.chats("daily") == rig.chats("account") == 0
    # Over one backend's tpd and another's stated tpm: both named.
    rig = await rig_factory(("daily", FakeUpstream(), model(tpd=10_000)),
                            ("groq", groq(tpm=8000), model()))
    assert (await rig.chat("hello"))[0] == 200  # whichever answers, groq's states its 8000
    while rig.chats("groq") == 0:
        assert (await rig.chat("hello"))[0] == 200
    status, _, body = await rig.chat(BIG)
    assert status == 400
    assert "supports: tpm, tpd" in body["error"]["message"]
    assert "tokens per minute or tokens per day" in body["error"]["message"]


async def test_context_length_is_still_named_when_it_is_what_is_missing(rig_factory: RigFactory) -> None:
    rig = await rig_factory(
        ("short", FakeUpstream(), {"models": [{"name": "m", "context_length": 8192}]}),
        ("small", groq(), model(tpm=6000)))
    status, _, body = await rig.chat(BIG)
    assert status == 400
    # One lacks the context, the other the tokens per minute: neither has both.
    assert "context_length, tpm" in body["error"]["message"]


async def test_a_provider_account_tpm_counts_for_its_models(rig_factory: RigFactory) -> None:
    rig = await rig_factory(("small", groq(tpm=50_000), {"tpm": 6000, **model(tpm=40_000)}),
                                 ("big", FakeUpstream(), model(weight=1e-9)))
    status, headers, _ = await rig.chat(BIG)
    assert status == 200 and headers["x-freerouter-backend"] == "big/m"


# -- the minute ---------------------------------------------------------------------------------


async def test_a_minute_budget_stops_short_of_the_upstreams_429(rig_factory: RigFactory) -> None:
    upstream = groq(tpm=6000)
    rig = await rig_factory(
        ("groq", upstream, {"counts_max_tokens": True, **model(tpm=6000)}))
    statuses = []
    for _ in range(12):
        status, headers, body = await rig.chat(MEDIUM)
        statuses.append(status)
        if status != 200:
            break
        rig.clock.advance(1)  # the router's minute goes on (the fake's is real time)
    minute = upstream.token_minutes["m"]
    # 712 tokens each (the fake's count), until less than an estimate (2028) is left.
    assert statuses == [200] * 6 + [503], statuses
    assert int(headers["Retry-After"]) > 0 and "budget" in body["error"]["message"]
    assert minute.rate_limited == 0 and minute.too_large == 0  # the router stopped first
    assert minute.peak <= 6000
    # What the router declared as max_tokens is what it reserved: never over the minute.
    declared = [r.body["max_completion_tokens"] for r in upstream.received]
    assert all(isinstance(d, int) and 0 < d <= 4096 for d in declared)
    # An Anthropic client is told the same its own way.
    status, headers, body = await rig.messages(MEDIUM)
    assert status == 529 and body["error"]["type"] == "overloaded_error"
    assert int(headers["Retry-After"]) > 0
    assert minute.rate_limited == 0


async def test_retry_after_is_never_more_than_the_window(rig_factory: RigFactory) -> None:
    rig = await rig_factory(("p", FakeUpstream(), model(rpm=2)))
    assert [(await rig.chat())[0] for _ in range(2)] == [200, 200]
    status, headers, _ = await rig.chat()
    # The router's window is 60.5 s (its margin for the provider's clock), the client's wait
    # the minute.
    assert (status, headers["Retry-After"]) == (503, "60")
    rig.clock.advance(59.9)
    status, headers, _ = await rig.chat()
    assert (status, headers["Retry-After"]) == (503, "1")
    rig.clock.advance(0.6)
    assert (await rig.chat())[0] == 200


async def test_a_tpd_held_by_a_request_in_flight_says_retry_soon(rig_factory: RigFactory) -> None:
    upstream = FakeUpstream()
    rig = await rig_factory(("p", upstream, model(tpd=3000)))
    upstream.inject(Fault(kind="hang"))
    slow = asyncio.ensure_future(rig.chat(MEDIUM))  # reserves its estimate, 2029 tokens
    await until(lambda: rig.budget("p/m"), lambda b: b["tpd_left"] != 3000)
    status, headers, body = await rig.chat(MEDIUM)
    # Not the day the reservation takes to leave the window: its answer will settle it.
    assert (status, headers["Retry-After"]) == (503, "1"), body
    upstream.hang.set()
    assert (await slow)[0] == 502  # the upstream failed it: its tokens came back
    assert [(await rig.chat(MEDIUM))[0] for _ in range(2)] == [200, 200]  # 712 each
    status, headers, _ = await rig.chat(MEDIUM)  # now spent, none in flight: the day
    assert (status, headers["Retry-After"]) == (503, "86400")


async def test_with_max_queue_s_a_request_waits_for_the_minute_to_free(
        rig_factory: RigFactory) -> None:
    rig = await rig_factory(("p", FakeUpstream(), model(tpm=5000)),
                            routing={"max_queue_s": 90})
    assert (await rig.chat(MEDIUM))[0] == 200
    rig.clock.advance(10)
    assert (await rig.chat(MEDIUM))[0] == 200  # about 1400 of the 5000 spent
    before = rig.clock.monotonic()
    status, _, _ = await rig.chat("hello " * 2000)  # an estimate of 3004 + 1024
    assert status == 200
    # It waited (on the fake clock) until the first answer's tokens left the window.
    assert rig.clock.monotonic() - before == pytest.approx(60.5 - 10, abs=0.01)


async def test_a_413_over_tpm_fails_over_and_cools_nothing(rig_factory: RigFactory) -> None:
    # Not told that Groq counts the declared output: a request without max_tokens is charged
    # Groq's 32768 and answered 413.
    upstream = groq(tpm=6000)
    rig = await rig_factory(("groq", upstream, model()),
                                 ("other", FakeUpstream(), model(weight=1e-9)))
    status, headers, _ = await rig.chat("hello")
    assert status == 200 and headers["x-freerouter-backend"] == "other/m"
    assert headers["x-freerouter-attempts"] == "2"
    assert upstream.token_minutes["m"].too_large == 1
    resp = await rig.client.get("/status")
    row = next(b for b in (await resp.json())["backends"] if b["id"] == "groq/m")
    assert (row["state"], row["cooldown_s"], row["failures"]) == ("healthy", 0.0, 0)
    assert row["budget"]["tpm_left"] == 6000  # the limit its 413 stated, learned
    assert 'freerouter_backend_failures_total{backend="groq/m",reason="budget"} 1.0' in \
        rig.client.app[METRICS].exposition().decode()
    # The next request that fits goes there at once: nothing cooled it.
    status, headers, _ = await rig.chat("hello", max_tokens=200)
    assert status == 200 and headers["x-freerouter-backend"] == "groq/m"
    # One that the stated limit can never take is not sent there again.
    before = rig.chats("groq")
    status, headers, _ = await rig.chat(BIG)
    assert status == 200 and headers["x-freerouter-backend"] == "other/m"
    assert headers["x-freerouter-attempts"] == "1" and rig.chats("groq") == before


async def test_a_413_on_every_backend_is_a_400_naming_tpm(rig_factory: RigFactory) -> None:
    rig = await rig_factory(("groq", groq(tpm=6000), model()))
    status, _, body = await rig.chat("hello")
    assert status == 400 and "tpm" in body["error"]["message"]


async def test_remaining_token_headers_correct_what_is_left(rig_factory: RigFactory) -> None:
    upstream = groq(tpm=6000)
    # Nothing configured: the limit and what is left come from the answers' headers.
    rig = await rig_factory(("groq", upstream, {"counts_max_tokens": True, **model()}),
                                 ("other", FakeUpstream(), model(weight=1e-9)))
    status, headers, body = await rig.chat(MEDIUM)
    assert status == 200 and headers["x-freerouter-backend"] == "groq/m"
    used = body["usage"]["total_tokens"]
    assert headers["x-ratelimit-remaining-tokens"] == str(6000 - used)
    assert (await rig.budget("groq/m"))["tpm_left"] == 6000 - used
    # Another client of the same account spends most of the minute behind our back.
    minute = upstream.token_minutes["m"]
    charge = minute.admit(4000, {"max_tokens": 1})
    assert isinstance(charge, Charge)
    minute.settle(charge, 4000)
    rig.clock.advance(1)
    status, headers, _ = await rig.chat("hello", max_tokens=50)
    assert headers["x-freerouter-backend"] == "groq/m"
    left = (await rig.budget("groq/m"))["tpm_left"]
    assert left is not None and left < 6000 - used - 4000 + 100
    # The next medium request no longer fits what the provider says is left: it goes elsewhere.
    status, headers, _ = await rig.chat(MEDIUM)
    assert status == 200 and headers["x-freerouter-backend"] == "other/m"
    assert minute.rate_limited == 0


# -- reconciliation -----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_the_reported_usage_replaces_the_estimate(rig_factory: RigFactory, stream: bool) -> None:
    rig = await rig_factory(("p", FakeUpstream(), model(tpm=100_000, tpd=1_000_000)))
    resp = await rig.client.post("/v1/chat/completions", json={
        "model": "free", "stream": stream, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": MEDIUM}]})
    assert resp.status == 200
    if stream:
        text = await resp.text()
        usage_line = next(ln for ln in text.splitlines() if '"usage"' in ln and '"total' in ln)
        used = orjson.loads(usage_line.removeprefix("data: "))["usage"]["total_tokens"]
    else:
        used = (await resp.json())["usage"]["total_tokens"]
    assert 600 < used < 1000 < 2028  # the fake's count, below the router's estimate
    budget = await rig.budget("p/m")
    assert (budget["tpm_left"], budget["tpd_left"]) == (100_000 - used, 1_000_000 - used)
    await rig.client.get("/metrics")
    exposition = rig.client.app[METRICS].exposition().decode()
    assert f'freerouter_budget_remaining{{backend="p/m",limit="tpm"}} {100_000 - used}.0' \
        in exposition
    assert 'limit="tpd"' in exposition


@pytest.mark.parametrize("stream", [False, True])
async def test_an_anthropic_upstreams_usage_replaces_the_estimate(rig_factory: RigFactory,
                                                                  stream: bool) -> None:
    upstream = FakeAnthropicUpstream()
    rig = await rig_factory(("claude", upstream, model(tpm=100_000)))
    resp = await rig.client.post("/v1/messages", headers={"anthropic-version": "2023-06-01"},
                                 json={"model": "free", "max_tokens": 500, "stream": stream,
                                       "messages": [{"role": "user", "content": MEDIUM}]})
    assert resp.status == 200
    await resp.read()
    # message_start carries the input tokens, message_delta the output: both are counted.
    left = (await rig.budget("claude/m"))["tpm_left"]
    assert left is not None and 100_000 - 1000 < left < 100_000 - 600


async def test_a_responses_request_is_budgeted_like_the_others(rig_factory: RigFactory) -> None:
    rig = await rig_factory(("small", groq(), model(tpm=6000)),
                            ("big", FakeUpstream(), model(weight=1e-9, tpm=100_000)))
    resp = await rig.client.post("/v1/responses", json={"model": "free", "input": BIG,
                                                        "max_output_tokens": 500})
    assert resp.status == 200 and resp.headers["x-freerouter-backend"] == "big/m"
    used = (await resp.json())["usage"]["total_tokens"]
    assert rig.chats("small") == 0
    assert (await rig.budget("big/m"))["tpm_left"] == 100_000 - used


async def test_a_stream_that_reports_no_usage_keeps_its_estimate(rig_factory: RigFactory) -> None:
    rig = await rig_factory(
        ("p", FakeUpstream({"m": Behaviour(reports_usage=False)}), model(tpm=100_000)))
    status, _, _ = await _stream_status(rig, MEDIUM)
    assert status == 200
    # 667 words of 6 characters: 4002 // 4 + 4 per message, plus min_output_tokens.
    assert (await rig.budget("p/m"))["tpm_left"] == 100_000 - (4002 // 4 + 4 + 1024)


async def test_a_failed_attempt_gives_its_tokens_back(rig_factory: RigFactory) -> None:
    rig = await rig_factory(("p", FakeUpstream(), model(tpm=100_000, rpm=100)),
                                 ("q", FakeUpstream(), model(weight=1e-9)))
    rig.fakes["p"].inject(Fault(status=500))
    status, headers, _ = await rig.chat(MEDIUM)
    assert status == 200 and headers["x-freerouter-backend"] == "q/m"
    budget = await rig.budget("p/m")
    assert (budget["tpm_left"], budget["rpm_left"]) == (100_000, 99)  # its request was sent


@pytest.mark.parametrize("cancelled", [True, False], ids=["handler-cancelled", "write-fails"])
async def test_a_stream_the_client_leaves_gives_its_reservation_back(
        rig_factory: RigFactory, cancelled: bool) -> None:
    # Paced like a real model: each chunk is its own read, so the router writes again after
    # the client left and finds it gone. (An upstream that sends all the rest in one read has
    # produced, and counted, the whole answer: its usage is kept.)
    upstream = FakeUpstream({"m": Behaviour(chunks=8, chunk_delay_s=0.02)})
    rig = await rig_factory(("p", upstream, model(tpm=100_000)),
                                 handler_cancellation=cancelled)
    upstream.inject(Fault(kind="stall"))  # hangs halfway through, until released
    resp = await rig.client.post("/v1/chat/completions", json={
        "model": "free", "stream": True, "messages": [{"role": "user", "content": MEDIUM}]})
    assert resp.status == 200
    await resp.content.readline()  # the first chunk: the stream is committed
    assert (await rig.budget("p/m"))["tpm_left"] == 100_000 - (4002 // 4 + 4 + 1024)
    resp.close()  # the client leaves mid-stream
    upstream.hang.set()  # the upstream goes on, and the router finds its client gone
    await until(lambda: rig.budget("p/m"), lambda b: b["tpm_left"] == 100_000)


async def test_a_request_cancelled_before_the_answer_gives_its_reservation_back(
        rig_factory: RigFactory) -> None:
    upstream = FakeUpstream()
    rig = await rig_factory(("p", upstream, model(tpm=100_000)), handler_cancellation=True)
    upstream.inject(Fault(kind="hang"))
    task = asyncio.ensure_future(rig.client.post("/v1/chat/completions", json={
        "model": "free", "messages": [{"role": "user", "content": MEDIUM}]}))
    await until(lambda: rig.budget("p/m"), lambda b: b["tpm_left"] != 100_000)
    task.cancel()  # the client gives up while the upstream thinks
    await until(lambda: rig.budget("p/m"), lambda b: b["tpm_left"] == 100_000)
    await until(lambda: upstream.cancelled, lambda n: n == 1)
    upstream.hang.set()


# -- the pool's filter, alone -------------------------------------------------------------------


def test_the_pool_leaves_out_what_a_tpm_can_never_take() -> None:
    plugins = load_plugins()
    config = parse({"providers": [
        {"name": "acct", "api": "openai", "base_url": "http://a/v1", "tpm": 6000,
         "models": [{"name": "m", "context_length": 131072}]},
        {"name": "big", "api": "openai", "base_url": "http://b/v1",
         "models": [{"name": "m", "context_length": 131072, "tpm": 250_000}]},
    ]}, {}, list(plugins.strategies), {})
    pool = Pool(config, plugins.strategies, random.Random(1))
    (target,) = pool.plan("free", None)
    small = Needs(frozenset(), prompt_tokens=4000)
    assert [b.id for b in pool.capable(target, small)] == ["acct/m", "big/m"]
    # 4977 + min_output_tokens (1024) is over the account's 6000.
    large = Needs(frozenset(), prompt_tokens=4977)
    assert [b.id for b in pool.capable(target, large)] == ["big/m"]
    assert pool.tpm(pool.backends["acct/m"]) == 6000
    with pytest.raises(NoCapableBackend) as err:
        pool.require_capable(pool.plan("acct/m", None), large)
    assert "supports: tpm (the prompt is about 4977 tokens, plus 1024" in err.value.message


async def test_freerouter_status_shows_what_token_budgets_have_left(
        rig_factory: RigFactory) -> None:
    rig = await rig_factory(("p", FakeUpstream(), model(tpm=100_000, tpd=1_000_000)))
    _, _, body = await rig.chat(MEDIUM)
    used = body["usage"]["total_tokens"]
    header, _, row = (await fetch_status(str(rig.client.make_url("")), None)).splitlines()[:3]
    columns = [c.strip() for c in header.split("  ") if c.strip()]
    cells = row.split()
    assert "tpm left" in columns and "tpd left" in columns
    assert str(100_000 - used) in cells and str(1_000_000 - used) in cells

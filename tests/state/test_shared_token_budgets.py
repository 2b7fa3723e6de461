"""Token budgets through a real redis-server shared by two router replicas (in this process, on
loopback): what one replica reserves, settles or gives back, the other sees at once; together
they stop short of a Groq-like upstream's 429; a stated limit one learned is the other's window
too; a stream cancelled on one gives its reservation back to both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bench.redis_server import RedisServer
from router.demo.scripted import Behaviour, Fault
from router.demo.token_limits import Refusal
from router.demo.upstream import FakeUpstream
from tests.clock import FakeClock
from tests.token_rig import BIG, MEDIUM, Client, Rig, RigFactory, Server, Upstream, groq, model, until


@pytest.fixture
async def rig_factory(aiohttp_server: Server, aiohttp_client: Client,
                      clock: FakeClock) -> AsyncIterator[RigFactory]:
    factory = RigFactory(aiohttp_server, aiohttp_client, clock)
    yield factory
    await factory.aclose()


async def replicas(factory: RigFactory, server: RedisServer, *upstreams: Upstream,
                   handler_cancellation: bool = False) -> tuple[Rig, Rig]:
    started = await factory.upstreams(*upstreams)
    state = {"backend": "redis", "key_prefix": f"tok-{uuid.uuid4().hex[:8]}:",
             "timeout_ms": 2000}  # a loaded test machine must not look like an outage
    env = {"FREEROUTER_REDIS_URL": server.url}
    one = await factory.router(started, env=env, state=state,
                               handler_cancellation=handler_cancellation)
    two = await factory.router(started, env=env, state=state,
                               handler_cancellation=handler_cancellation)
    return one, two


async def test_replicas_share_a_minute_and_stop_short_of_the_upstreams_429(
        rig_factory: RigFactory, redis_server: RedisServer) -> None:
    upstream = groq(tpm=6000)
    one, two = await replicas(rig_factory, redis_server,
                              ("groq", upstream, {"counts_max_tokens": True, **model(tpm=6000)}))
    statuses = []
    for n in range(12):
        status, _, _ = await (one if n % 2 else two).chat(MEDIUM)
        statuses.append(status)
        if status != 200:
            break
        rig_factory.clock.advance(1)
    minute = upstream.token_minutes["m"]
    # The same six as one replica alone: the minute is the pool's, not each replica's.
    assert statuses == [200] * 6 + [503], statuses
    assert minute.rate_limited == 0 and minute.too_large == 0
    assert (await one.budget("groq/m"))["tpm_left"] == (await two.budget("groq/m"))["tpm_left"]


async def test_what_one_replica_settles_the_other_sees(rig_factory: RigFactory,
                                                       redis_server: RedisServer) -> None:
    one, two = await replicas(rig_factory, redis_server,
                              ("p", FakeUpstream(), model(tpm=100_000, rpm=50)))
    status, _, body = await one.chat(MEDIUM)
    assert status == 200
    used = body["usage"]["total_tokens"]
    assert await two.budget("p/m") == {"rpm_left": 49, "rpd_left": None,
                                       "tpm_left": 100_000 - used, "tpd_left": None}
    one.fakes["p"].inject(Fault(status=500))
    assert (await two.chat(MEDIUM))[0] == 502  # its only backend failed: the tokens come back
    assert (await one.budget("p/m"))["tpm_left"] == 100_000 - used
    assert (await one.budget("p/m"))["rpm_left"] == 48


async def test_a_stated_limit_learned_by_one_keeps_big_prompts_off_on_both(
        rig_factory: RigFactory, redis_server: RedisServer) -> None:
    one, two = await replicas(rig_factory, redis_server,
                              ("groq", groq(tpm=6000), {"counts_max_tokens": True, **model()}),
                              ("other", FakeUpstream(), model(weight=1e-9)))
    status, headers, _ = await one.chat("hello")  # its headers state the limit: 6000
    assert headers["x-freerouter-backend"] == "groq/m"
    status, headers, _ = await one.chat(BIG)
    assert status == 200 and headers["x-freerouter-backend"] == "other/m"
    assert headers["x-freerouter-attempts"] == "1"
    # The other replica learns it from its own first answer: a stated limit is a window of
    # the store's, shared, so what one sends then counts for both.
    status, headers, _ = await two.chat("hello")
    assert headers["x-freerouter-backend"] == "groq/m"
    status, _, body = await one.chat(MEDIUM)
    assert status == 200
    assert (await two.budget("groq/m"))["tpm_left"] == 6000 - body["usage"]["total_tokens"]
    assert one.chats("groq") == 3


async def test_a_stream_cancelled_on_one_replica_gives_back_to_both(
        rig_factory: RigFactory, redis_server: RedisServer) -> None:
    upstream = FakeUpstream({"m": Behaviour(chunks=8)})
    one, two = await replicas(rig_factory, redis_server, ("p", upstream, model(tpm=100_000)),
                              handler_cancellation=True)
    upstream.inject(Fault(kind="stall"))
    resp = await one.client.post("/v1/chat/completions", json={
        "model": "free", "stream": True, "messages": [{"role": "user", "content": MEDIUM}]})
    await resp.content.readline()
    assert (await two.budget("p/m"))["tpm_left"] == 100_000 - (4002 // 4 + 4 + 1024)
    resp.close()
    upstream.hang.set()
    await until(lambda: two.budget("p/m"), lambda b: b["tpm_left"] == 100_000)



async def test_a_stated_limit_past_1e14_and_an_unreadable_store_answer_are_never_a_500(
        rig_factory: RigFactory, redis_server: RedisServer) -> None:
    prefix = f"big-{uuid.uuid4().hex[:8]}:"
    # The config stops at 1e12, a provider's headers do not: this one states 1e15 tokens a
    # minute, which becomes the backend's shared window.
    started = await rig_factory.upstreams(("groq", groq(tpm=10**15), model()))
    rig = await rig_factory.router(started, env={"FREEROUTER_REDIS_URL": redis_server.url},
                                   state={"backend": "redis", "key_prefix": prefix,
                                          "timeout_ms": 2000})
    for _ in range(2):
        status, _, body = await rig.chat(MEDIUM)
        assert status == 200, body
    assert (await rig.client.get("/status")).status == 200
    budget = await rig.budget("groq/m")
    assert budget["tpm_left"] is not None and 10**15 - budget["tpm_left"] < 10_000
    admin = aioredis.Redis.from_url(redis_server.url)
    # A count that is not a number (a bad restore, another writer): the store's answers for
    # that window stop making sense, and the router serves from local state instead.
    await admin.hset(f"{prefix}window-totals", f"{prefix}window:backend:groq/m:tpm", "nan")
    await admin.aclose()
    assert (await rig.chat(MEDIUM))[0] == 200
    for path in ("/status", "/metrics"):
        assert (await rig.client.get(path)).status == 200, path


async def test_a_remaining_count_one_replica_hears_holds_on_the_other(
        rig_factory: RigFactory, redis_server: RedisServer) -> None:
    upstream = groq(tpm=6000)
    one, two = await replicas(rig_factory, redis_server, ("groq", upstream, model()))
    assert (await one.chat("hello", max_tokens=20))[0] == 200
    minute = upstream.token_minutes["m"]
    # Another user of the same key spends most of the minute: only the provider's count shows it.
    assert not isinstance(minute.admit(5000, {"max_tokens": 1}), Refusal)
    status, headers, _ = await one.chat("hello", max_tokens=20)
    assert status == 200
    told = int(headers["x-ratelimit-remaining-tokens"])
    assert told < 1000
    # The other replica never had an answer from it, and shows the count all the same.
    await until(lambda: two.budget("groq/m"), lambda b: b["tpm_left"] is not None
                and b["tpm_left"] <= told)
    sent = two.chats("groq")
    status, headers, _ = await two.chat(MEDIUM)  # an estimate of 2029: more than is left
    assert status == 503 and int(headers["Retry-After"]) <= 60
    assert two.chats("groq") == sent and minute.rate_limited == 0

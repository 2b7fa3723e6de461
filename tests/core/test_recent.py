"""The ring of recent requests (router/recent.py) and GET /status/requests: bounded, newest first,
`?limit=N`, the contract's fields and nothing else (never a prompt, an output or a key), the
same key rule as /status."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router.access import Access
from router.app import create_app
from router.appkeys import ACCESS, METRICS, RECENT
from router.call import Call
from router.config import parse
from router.demo.upstream import FakeUpstream
from router.plugins import load_plugins
from router.recent import CAPACITY, DEFAULT_LIMIT, MAX_ID_CHARS, RecentRequests
from router.wire import OPENAI_CHAT
from tests.clock import FakeClock

INTERFACE = Path(__file__).resolve().parents[2].parent / "shared" / "INTERFACE.md"
FIELDS = {"time", "request_id", "api", "route", "backend", "status", "attempts", "duration_ms",
          "ttft_ms", "stream", "client"}
CLIENT_KEY = "sk-console-client-0001"
UPSTREAM_KEY = "sk-upstream-secret-0002"
Server = Callable[[web.Application], Awaitable[TestServer]]
Client = Callable[[TestServer], Awaitable[TestClient[Any, Any]]]
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


def call(n: int, **fields: Any) -> Call:
    c = Call(wire=OPENAI_CHAT, request_id=f"req-{n}", started=0.0, route="free", backend="p/m",
             attempts=1, status=200)
    for name, value in fields.items():
        setattr(c, name, value)
    return c


# --- the ring ---------------------------------------------------------------------------------

def at(epoch: float) -> FakeClock:
    return FakeClock(epoch=epoch)


def test_the_ring_keeps_the_last_entries_newest_first_and_never_grows_past_its_capacity() -> None:
    clock = at(1_700_000_000.0)
    ring = RecentRequests(clock, capacity=5)
    for n in range(12):
        clock.advance(1)
        ring.record(call(n), duration_s=0.5)
    assert len(ring) == 5
    assert [e.request_id for e in ring.latest(100)] == [f"req-{n}" for n in (11, 10, 9, 8, 7)]
    assert [e.request_id for e in ring.latest(2)] == ["req-11", "req-10"]


def test_an_entry_renders_exactly_the_contracts_fields() -> None:
    ring = RecentRequests(at(1_700_000_010.25))
    ring.record(call(1, stream=True, ttft_s=0.0421, client="alice", status=502, backend=None,
                     attempts=3), duration_s=1.5)
    shown = ring.latest(1)[0].render(())
    assert set(shown) == FIELDS
    assert shown == {
        "time": "2023-11-14T22:13:28.750Z",  # when it arrived: the end minus its duration
        "request_id": "req-1", "api": "openai", "route": "free", "backend": None, "status": 502,
        "attempts": 3, "duration_ms": 1500.0, "ttft_ms": 42.1, "stream": True, "client": "alice",
    }


def test_the_field_list_is_the_one_interface_md_names() -> None:
    if not INTERFACE.exists():
        pytest.skip("../shared/INTERFACE.md is not beside this checkout")
    text = INTERFACE.read_text()
    line = re.search(r"`GET /status/requests` entries:(.*?)\. Never", text, re.S)
    assert line is not None
    assert set(re.findall(r"`(\w+)`", line.group(1))) == FIELDS


@pytest.mark.parametrize("request_id", [
    "Bearer sk-live-abcdefghijklmnop", f"id-{UPSTREAM_KEY}", "gsk_abcdefghijklmnopqrstu",
])
def test_a_request_id_that_holds_a_key_is_shown_redacted(request_id: str) -> None:
    ring = RecentRequests(at(1.0))
    ring.record(call(1, request_id=request_id), duration_s=0.0)
    shown = ring.latest(1)[0].render((UPSTREAM_KEY,))["request_id"]
    assert "[redacted]" in shown and "abcdefghijklmnop" not in shown and UPSTREAM_KEY not in shown


def test_a_long_request_id_is_shown_cut_short() -> None:
    ring = RecentRequests(at(1.0))
    ring.record(call(1, request_id="x" * 5000), duration_s=0.0)
    shown = ring.latest(1)[0].render(())["request_id"]
    assert len(shown) == MAX_ID_CHARS and shown.endswith("…")


# --- GET /status/requests ---------------------------------------------------------------------

@pytest.fixture
async def router(aiohttp_server: Server, aiohttp_client: Client) -> Callable[..., Awaitable[Any]]:
    async def make(ring: RecentRequests | None = None) -> TestClient[Any, Any]:
        fake = FakeUpstream(api_key=UPSTREAM_KEY)
        base = str((await aiohttp_server(fake.app())).make_url("/v1"))
        raw = {"server": {"client_keys_env": "CK"}, "health": {"probe_interval_s": 0},
               "providers": [{"name": "p", "api": "openai", "base_url": base, "timeout_s": 5,
                              "api_key_env": "UK", "models": [{"name": "m"}]}]}
        plugins = load_plugins()
        config = parse(raw, {"CK": f"alice:{CLIENT_KEY}", "UK": UPSTREAM_KEY},
                       list(plugins.strategies), {})
        app = create_app(config, plugins, clock=FakeClock(), rng=random.Random(1))
        if ring is not None:
            app[RECENT] = ring
            app[ACCESS] = Access(app[METRICS], ring)
        return await aiohttp_client(await aiohttp_server(app))

    return make


async def chat(client: TestClient[Any, Any], prompt: str, **body: Any) -> str:
    resp = await client.post("/v1/chat/completions", headers=AUTH, json={
        "model": "free", "messages": [{"role": "user", "content": prompt}], **body})
    text = await resp.text()
    assert resp.status == 200, text
    return text


async def recent(client: TestClient[Any, Any], query: str = "") -> list[dict[str, Any]]:
    resp = await client.get(f"/status/requests{query}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["requests"])


async def test_it_lists_answered_requests_newest_first_with_the_contracts_fields(router: Any) -> None:
    client = await router()
    await chat(client, "one")
    await chat(client, "two", stream=True)
    await client.post("/v1/chat/completions", headers=AUTH,
                      json={"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    entries = await recent(client)
    assert [(e["status"], e["stream"]) for e in entries] == [(404, False), (200, True), (200, False)]
    assert all(set(e) == FIELDS for e in entries)
    streamed = entries[1]
    assert streamed["backend"] == "p/m" and streamed["route"] == "free" and streamed["api"] == "openai"
    assert streamed["attempts"] == 1 and streamed["client"] == "alice"
    assert isinstance(streamed["ttft_ms"], float) and isinstance(streamed["duration_ms"], float)
    assert entries[0]["backend"] is None and entries[0]["route"] == "_unknown"
    datetime.fromisoformat(streamed["time"])  # ISO 8601, UTC


async def test_it_never_holds_a_prompt_an_output_or_a_key(router: Any) -> None:
    client = await router()
    prompt = f"secret plans {uuid.uuid4().hex}"
    answered = await chat(client, prompt)
    assert prompt in answered  # the fake echoes it, so it is in the output too
    await chat(client, prompt, stream=True)
    resp = await client.get("/status/requests", headers=AUTH)
    text = await resp.text()
    assert len((await resp.json())["requests"]) == 2
    for never in (prompt, "secret plans", CLIENT_KEY, UPSTREAM_KEY, "Hello from"):
        assert never not in text


async def test_limit_defaults_to_100_and_is_bounded(router: Any) -> None:
    ring = RecentRequests(at(1.0))
    for n in range(150):
        ring.record(call(n), duration_s=0.0)
    client = await router(ring)
    assert len(await recent(client)) == DEFAULT_LIMIT == 100
    assert [e["request_id"] for e in await recent(client, "?limit=3")] == ["req-149", "req-148",
                                                                         "req-147"]
    assert len(await recent(client, f"?limit={CAPACITY}")) == 150


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "", "\uff11", str(CAPACITY + 1), "9" * 40])
async def test_a_bad_limit_is_a_400_in_openai_format(router: Any, limit: str) -> None:
    client = await router()
    resp = await client.get("/status/requests", params={"limit": limit}, headers=AUTH)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "limit"


async def test_the_ring_is_bounded_in_the_app(router: Any) -> None:
    client = await router(RecentRequests(FakeClock(), capacity=3))
    for n in range(5):
        await chat(client, f"hi {n}")
    assert len(await recent(client, "?limit=3")) == 3
    resp = await client.get("/status/requests?limit=4", headers=AUTH)
    assert resp.status == 400  # no more than the ring can hold


async def test_it_needs_a_client_key_like_status(router: Any) -> None:
    client = await router()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = await client.get("/status/requests", headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"]["type"] == "authentication_error"
        assert (await client.get("/status", headers=headers)).status == 401
    assert (await client.get("/status/requests", headers={"x-api-key": CLIENT_KEY})).status == 200


async def test_only_api_requests_are_recorded(router: Any) -> None:
    client = await router()
    for path in ("/status", "/status/requests", "/healthz", "/metrics", "/ui/", "/"):
        await client.get(path, headers=AUTH, allow_redirects=False)
    await chat(client, "hi")
    assert [e["route"] for e in await recent(client)] == ["free"]

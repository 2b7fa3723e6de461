"""Fault injection end to end: the router app (fake clock) in front of fake upstreams on loopback,
through aiohttp's test server. 500 storms, 429s with Retry-After or only reset headers, daily
exhaustion, hangs, recovery, budgets, /status and `freerouter status`."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router.app import create_app
from router.appkeys import METRICS
from router.budget import WINDOW_MARGIN_S
from router.config import parse
from router.demo.scripted import Fault
from router.demo.upstream import FakeUpstream
from router.plugins import load_plugins
from router.prober import PROBER
from router.report import fetch_status
from tests.clock import FakeClock

USER = [{"role": "user", "content": "hello"}]
Server = Callable[[web.Application], Awaitable[TestServer]]
Client = Callable[[TestServer], Awaitable[TestClient[Any, Any]]]


class Rig:
    """Providers `a` (models m, n; picked first) and `b` (model m; weight ~0: the fallback)."""

    def __init__(self, client: TestClient[Any, Any], clock: FakeClock,
                 fakes: dict[str, FakeUpstream]) -> None:
        self.client, self.clock, self.fakes = client, clock, fakes

    async def chat(self, model: str = "free", **body: Any) -> tuple[int, dict[str, str], Any]:
        resp = await self.client.post("/v1/chat/completions",
                                      json={"model": model, "messages": USER, **body})
        return resp.status, dict(resp.headers), await resp.json()

    async def served_by(self) -> str:
        status, headers, body = await self.chat()
        assert status == 200, body
        return headers["x-freerouter-backend"]

    async def status(self) -> dict[str, dict[str, Any]]:
        resp = await self.client.get("/status")
        assert resp.status == 200
        return {b["id"]: b for b in (await resp.json())["backends"]}

    def metric(self, text: str) -> bool:
        return text in self.client.app[METRICS].exposition().decode()


@pytest.fixture
async def rig_factory(
    aiohttp_server: Server, aiohttp_client: Client, clock: FakeClock,
) -> Callable[..., Awaitable[Rig]]:
    async def make(a: dict[str, Any] | None = None, b: dict[str, Any] | None = None,
                   health: dict[str, Any] | None = None) -> Rig:
        fakes = {"a": FakeUpstream(), "b": FakeUpstream()}
        urls = {n: str((await aiohttp_server(f.app())).make_url("/v1")) for n, f in fakes.items()}
        raw = {
            "health": health or {"probe_interval_s": 0},  # the prober has its own tests
            "providers": [
                {"name": "a", "api": "openai", "base_url": urls["a"], "timeout_s": 5,
                 "models": [{"name": "m", "weight": 1.0}, {"name": "n", "weight": 1.0}],
                 **(a or {})},
                {"name": "b", "api": "openai", "base_url": urls["b"], "timeout_s": 5,
                 "models": [{"name": "m", "weight": 1e-9}], **(b or {})},
            ],
            "routes": [{"name": "free", "strategy": "weighted", "backends": ["*"]}],
        }
        plugins = load_plugins()
        config = parse(raw, {}, list(plugins.strategies), {})
        app = create_app(config, plugins, clock=clock, rng=random.Random(1))
        return Rig(await aiohttp_client(await aiohttp_server(app)), clock, fakes)

    return make


async def test_a_500_storm_ejects_then_a_trial_brings_it_back(rig_factory: Any) -> None:
    rig: Rig = await rig_factory(a={"models": [{"name": "m"}]})
    rig.fakes["a"].inject(*[Fault(status=500)] * 10)
    for _ in range(9):
        assert await rig.served_by() == "b/m"  # every failure is failed over
    # Nine errors are under the 10 outcomes ejection needs: a stray run never benches.
    assert (await rig.status())["a/m"]["state"] != "cooling"
    assert await rig.served_by() == "b/m"
    row = (await rig.status())["a/m"]
    assert (row["state"], row["cooldown_reason"], row["cooldown_s"]) == \
        ("cooling", "server_error", 10.0)
    _, headers, _ = await rig.chat()
    assert headers["x-freerouter-attempts"] == "1"  # ejected: not tried
    assert len(rig.fakes["a"].chat_requests) == 10
    rig.clock.advance(10)
    assert (await rig.status())["a/m"]["state"] == "half_open"
    assert await rig.served_by() == "a/m"  # the one trial, and it succeeds
    assert (await rig.status())["a/m"]["state"] == "healthy"
    assert rig.metric('freerouter_backend_up{backend="a/m"} 1.0')


async def test_a_429_with_retry_after_cools_for_exactly_that(rig_factory: Any) -> None:
    rig: Rig = await rig_factory(a={"models": [{"name": "m"}]})
    rig.fakes["a"].inject(Fault(status=429, headers={"Retry-After": "7"}))
    _, headers, _ = await rig.chat()
    assert headers["x-freerouter-backend"] == "b/m" and headers["x-freerouter-attempts"] == "2"
    row = (await rig.status())["a/m"]
    assert (row["state"], row["cooldown_reason"], row["cooldown_s"]) == ("cooling", "rate_limited", 7.0)
    _, headers, _ = await rig.chat()
    assert headers["x-freerouter-attempts"] == "1"  # not even tried while cooling
    assert len(rig.fakes["a"].chat_requests) == 1
    rig.clock.advance(7)
    # The upstream said when its limit ends: full traffic again, no single-trial phase.
    assert (await rig.status())["a/m"]["state"] in ("healthy", "degraded")
    assert await rig.served_by() == "a/m"


async def test_a_429_with_only_reset_headers_cools_until_the_reset(rig_factory: Any) -> None:
    rig: Rig = await rig_factory(a={"models": [{"name": "m"}]})
    rig.fakes["a"].inject(Fault(status=429, headers={
        "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2m"}))
    assert await rig.served_by() == "b/m"
    row = (await rig.status())["a/m"]
    assert row["state"] == "cooling" and row["cooldown_s"] == pytest.approx(120.0, abs=1.0)
    rig.clock.advance(60)
    rig.fakes["a"].inject(Fault(status=429, headers={"Retry-After": "1"}))
    # A later, shorter hint does not shorten the wait (here the backend is not even tried).
    assert await rig.served_by() == "b/m"
    assert (await rig.status())["a/m"]["cooldown_s"] == pytest.approx(60.0, abs=1.0)


async def test_a_daily_exhaustion_parks_the_whole_account_until_the_reset(rig_factory: Any) -> None:
    rig: Rig = await rig_factory()
    reset_ms = int((time.time() + 5 * 3600) * 1000)
    body = orjson.dumps({"error": {
        "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000",
        "code": 429,
        "metadata": {"headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0",
                                 "X-RateLimit-Reset": str(reset_ms)}}}})
    rig.fakes["a"].inject(Fault(status=429, body=body))
    assert await rig.served_by() == "b/m"
    status = await rig.status()
    for model in ("a/m", "a/n"):  # the free daily cap covers the account: both models park
        assert status[model]["state"] == "cooling"
        assert status[model]["cooldown_s"] == pytest.approx(5 * 3600, abs=5)
    rig.clock.advance(5 * 3600 + 5)
    # The provider said when the quota resets: from then on, full traffic again.
    assert (await rig.status())["a/m"]["state"] == "healthy"


async def test_a_hung_upstream_times_out_and_is_counted(rig_factory: Any) -> None:
    rig: Rig = await rig_factory(a={"timeout_s": 0.3, "models": [{"name": "m"}]})
    rig.fakes["a"].inject(Fault(kind="hang"))
    try:
        assert await rig.served_by() == "b/m"
    finally:
        rig.fakes["a"].hang.set()
    row = (await rig.status())["a/m"]
    assert (row["requests"], row["failures"], row["error_rate"]) == (1, 1, 1.0)
    assert row["state"] != "cooling"  # one timeout is one stray error
    assert rig.metric('freerouter_backend_failures_total{backend="a/m",reason="timeout"} 1.0')


async def test_budgets_divert_then_answer_503_with_the_refill_time(rig_factory: Any) -> None:
    rig: Rig = await rig_factory(a={"rpm": 2}, b={"models": [{"name": "m", "weight": 1e-9,
                                                              "rpm": 1}]})
    assert [await rig.served_by() for _ in range(2)] in (["a/m", "a/n"], ["a/n", "a/m"],
                                                         ["a/m", "a/m"], ["a/n", "a/n"])
    status, headers, _ = await rig.chat()
    assert status == 200 and headers["x-freerouter-backend"] == "b/m"
    assert headers["x-freerouter-attempts"] == "1"  # a budget skip is not an attempt
    rig.clock.advance(20)
    status, headers, body = await rig.chat()
    assert status == 503
    # The first send leaves a's window 60 s (+ the margin) after it: 20 s have passed.
    assert int(headers["Retry-After"]) == math.ceil(60 + WINDOW_MARGIN_S - 20)
    assert "budget" in body["error"]["message"]
    assert rig.metric('reason="budget"')
    rows = await rig.status()
    assert rows["a/m"]["budget"] == {"rpm_left": 0, "rpd_left": None, "tpm_left": None,
                                     "tpd_left": None}
    assert rows["b/m"]["budget"]["rpm_left"] == 0
    rig.clock.advance(60 + WINDOW_MARGIN_S - 20)
    assert (await rig.chat())[0] == 200


async def test_status_reports_every_field(rig_factory: Any) -> None:
    rig: Rig = await rig_factory(a={"rpm": 30, "rpd": 1000})
    for _ in range(4):
        await rig.served_by()
    resp = await rig.client.get("/status")
    data = await resp.json()
    assert data["routes"] == [{"name": "free", "strategy": "weighted",
                               "backends": ["a/m", "a/n", "b/m"]}]
    rows = {b["id"]: b for b in data["backends"]}
    assert set(rows) == {"a/m", "a/n", "b/m"}
    for row in rows.values():
        assert set(row) == {"id", "provider", "state", "score", "latency_ms_p50", "error_rate",
                            "cooldown_s", "cooldown_reason", "budget", "requests", "failures",
                            "inflight"}
        assert row["state"] == "healthy" and row["cooldown_reason"] is None
        assert 0.0 <= row["score"] <= 1.0 and row["inflight"] == 0
    a = [rows["a/m"], rows["a/n"]]
    assert sum(r["requests"] for r in a) == 4
    # The provider's own count (x-ratelimit-remaining-requests: 99 from the fake) is looser.
    assert all(r["budget"] == {"rpm_left": 26, "rpd_left": 996, "tpm_left": None,
                               "tpd_left": None} for r in a)
    assert rows["b/m"]["budget"] == {"rpm_left": None, "rpd_left": None, "tpm_left": None,
                                     "tpd_left": None}
    served = next(r for r in a if r["requests"])
    assert served["latency_ms_p50"] is not None and served["latency_ms_p50"] >= 0


async def test_freerouter_status_prints_the_table(rig_factory: Any) -> None:
    rig: Rig = await rig_factory(a={"models": [{"name": "m"}]})
    rig.fakes["a"].inject(Fault(status=429, headers={"Retry-After": "30"}))
    await rig.served_by()
    text = await fetch_status(str(rig.client.make_url("")), None)
    line = next(ln for ln in text.splitlines() if ln.startswith("a/m"))
    assert "cooling" in line and "rate_limited" in line and "30.0" in line


async def test_the_prober_runs_in_the_app_lifecycle(aiohttp_server: Server) -> None:
    fake = FakeUpstream()
    url = str((await aiohttp_server(fake.app())).make_url("/v1"))
    plugins = load_plugins()
    config = parse({"health": {"probe_interval_s": 0.01, "probe_timeout_s": 1},
                    "providers": [{"name": "p", "api": "openai", "base_url": url,
                                   "models": [{"name": "m"}]}]},
                   {}, list(plugins.strategies), {})
    app = create_app(config, plugins)
    await aiohttp_server(app)
    await asyncio.wait_for(app[PROBER].wait_completed(2), 10)
    probes = app[METRICS].registry.get_sample_value(
        "freerouter_probes_total", {"backend": "p/m", "result": "ok"})
    assert probes is not None and probes >= 2
    assert not fake.chat_requests  # a probe is GET /models: it spends no tokens

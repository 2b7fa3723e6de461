"""The demo's simulated providers and the config that routes over them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from router.demo.anthropic_upstream import FakeAnthropicUpstream
from router.demo.scripted import Behaviour
from router.demo.upstream import FakeUpstream

# provider -> model -> (behaviour, capabilities, context length)
DEMO: Mapping[str, Mapping[str, tuple[Behaviour, list[str], int]]] = {
    "demo": {
        "swift-8b": (Behaviour(latency_s=0.05, chunk_delay_s=0.01),
                     ["tools", "json_object"], 32768),
        "vision-12b": (Behaviour(latency_s=0.2, chunk_delay_s=0.02),
                       ["vision", "json_object", "json_schema"], 65536),
        "large-70b": (Behaviour(latency_s=0.6, chunk_delay_s=0.04, reasoning=True),
                      ["tools", "json_object", "json_schema", "reasoning"], 131072),
    },
    "flaky": {
        "wobbly-7b": (Behaviour(latency_s=0.1, chunk_delay_s=0.01, failure_rate=0.3),
                      ["tools"], 16384),
    },
}
# Budgets of a demo model, as a token-limited free tier has them: the console and /status show
# what is left, and a prompt too big for the minute goes to another backend.
DEMO_BUDGETS: Mapping[str, Mapping[str, int]] = {"large-70b": {"tpm": 100_000, "tpd": 2_000_000}}
# Providers that speak the Anthropic Messages API: requests to them are translated both ways.
DEMO_ANTHROPIC: Mapping[str, Mapping[str, tuple[Behaviour, list[str], int]]] = {
    "anthropic-sim": {  # not "claude-...": the demo's claude-* alias would shadow its ids
        "sonnet-sim": (Behaviour(latency_s=0.15, chunk_delay_s=0.02),
                       ["tools", "vision", "json_schema"], 200000),
    },
}


def demo_raw_config(ports: Mapping[str, int]) -> dict[str, Any]:
    """The demo's config as TOML-shaped data, pointing at the fake upstreams' ports."""
    return {
        "health": {"probe_interval_s": 15},
        "providers": [
            {"name": provider, "api": api, "base_url": f"http://127.0.0.1:{ports[provider]}/v1",
             "models": [{"name": m, "capabilities": caps, "context_length": ctx,
                         **DEMO_BUDGETS.get(m, {})}
                        for m, (_b, caps, ctx) in models.items()]}
            for api, table in (("openai", DEMO), ("anthropic", DEMO_ANTHROPIC))
            for provider, models in table.items()
        ],
        "routes": [
            {"name": "free", "strategy": "random", "backends": ["*"], "max_attempts": 3},
            {"name": "free-weighted", "strategy": "weighted", "backends": ["*"]},
            {"name": "free-sticky", "strategy": "sticky", "backends": ["*"]},
        ],
        "aliases": {"claude-*": "free", "gpt-*": "free"},
    }


@dataclass(frozen=True, slots=True)
class DemoUpstreams:
    ports: Mapping[str, int]  # provider -> loopback port
    fakes: Mapping[str, FakeUpstream | FakeAnthropicUpstream]  # provider -> its fake


def _paced(behaviour: Behaviour, pace: float) -> Behaviour:
    return replace(behaviour, latency_s=behaviour.latency_s * pace,
                   chunk_delay_s=behaviour.chunk_delay_s * pace)


@asynccontextmanager
async def demo_upstreams(pace: float = 1.0) -> AsyncIterator[DemoUpstreams]:
    """Start one fake upstream per demo provider on loopback. `pace` scales every latency and
    token delay: 1 for people watching the demo, 0 for tests that want its backends fast."""
    runners = []
    ports: dict[str, int] = {}
    fakes: dict[str, FakeUpstream | FakeAnthropicUpstream] = {}
    try:
        for seed, (provider, models) in enumerate(DEMO.items()):
            fakes[provider] = FakeUpstream(
                {m: _paced(b, pace) for m, (b, _c, _x) in models.items()}, seed=seed)
        for seed, (provider, models) in enumerate(DEMO_ANTHROPIC.items(), len(DEMO)):
            fakes[provider] = FakeAnthropicUpstream(
                {m: _paced(b, pace) for m, (b, _c, _x) in models.items()}, seed=seed)
        for provider, fake in fakes.items():
            runner = web.AppRunner(fake.app(), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            ports[provider] = runner.addresses[0][1]
        yield DemoUpstreams(ports, fakes)
    finally:
        for runner in runners:
            await runner.cleanup()

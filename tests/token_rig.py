"""The router app (fake clock) in front of fake upstreams on loopback, for the token-budget
tests: prompts sized for them, a Groq-like fake (it enforces a tokens-per-minute limit), and
routers that may share upstreams (replicas) and a state store."""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router.app import create_app
from router.config import parse
from router.demo.anthropic_upstream import FakeAnthropicUpstream
from router.demo.scripted import Behaviour, ScriptedUpstream
from router.demo.upstream import FakeUpstream
from router.plugins import load_plugins
from tests.clock import FakeClock

Server = Callable[..., Awaitable[TestServer]]
Client = Callable[[TestServer], Awaitable[TestClient[Any, Any]]]
# About 20k tokens by the router's estimate (4 characters a token): a Claude Code turn.
BIG = "word " * 16_000
# About 1000 by the estimate; the fakes count each short word as one token: 667.
MEDIUM = "hello " * 667
# (provider name, its fake, its [[providers]] keys beyond name, api and base_url)
Upstream = tuple[str, FakeUpstream | FakeAnthropicUpstream, Mapping[str, Any]]


def groq(tpm: int = 6000, **behaviour: Any) -> FakeUpstream:
    """A model `m` that enforces `tpm` as Groq does."""
    return FakeUpstream({"m": Behaviour(tpm=tpm, **behaviour)})


def model(weight: float = 1.0, **limits: Any) -> dict[str, Any]:
    return {"models": [{"name": "m", "context_length": 131072, "weight": weight, **limits}]}


@dataclass
class Rig:
    client: TestClient[Any, Any]
    fakes: dict[str, ScriptedUpstream]
    clock: FakeClock

    async def chat(self, text: str = "hello", model: str = "free",
                   **body: Any) -> tuple[int, dict[str, str], Any]:
        resp = await self.client.post("/v1/chat/completions", json={
            "model": model, "messages": [{"role": "user", "content": text}], **body})
        return resp.status, dict(resp.headers), await resp.json()

    async def messages(self, text: str, **body: Any) -> tuple[int, dict[str, str], Any]:
        resp = await self.client.post("/v1/messages", headers={"anthropic-version": "2023-06-01"},
                                      json={"model": "free", "max_tokens": 32000,
                                            "messages": [{"role": "user", "content": text}],
                                            **body})
        return resp.status, dict(resp.headers), await resp.json()

    async def budget(self, backend: str) -> dict[str, int | None]:
        resp = await self.client.get("/status")
        rows = {b["id"]: b for b in (await resp.json())["backends"]}
        budget: dict[str, int | None] = rows[backend]["budget"]
        return budget

    def chats(self, provider: str) -> int:
        return sum(1 for r in self.fakes[provider].received
                   if r.path.endswith(("/completions", "/messages")))


class WithoutCancellation(TestServer):
    """A test server that runs handlers as `freerouter serve` does: one whose client left goes
    on until a write fails (aiohttp's TestServer cancels it)."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return web.AppRunner(self.app, **{**kwargs, "handler_cancellation": False})


class RigFactory:
    def __init__(self, server: Server, client: Client, clock: FakeClock) -> None:
        self._server, self._client, self.clock = server, client, clock
        self._started: list[TestServer] = []

    async def __call__(self, *upstreams: Upstream, **options: Any) -> Rig:
        return await self.router(await self.upstreams(*upstreams), **options)

    async def upstreams(self, *upstreams: Upstream) -> list[tuple[Upstream, str]]:
        """Start each fake: with its base_url."""
        return [(u, str((await self._server(u[1].app())).make_url("/v1"))) for u in upstreams]

    async def router(self, upstreams: list[tuple[Upstream, str]], *,
                     handler_cancellation: bool = False, env: Mapping[str, str] | None = None,
                     state: Mapping[str, Any] | None = None,
                     routing: Mapping[str, Any] | None = None) -> Rig:
        tables = []
        for (name, fake, extra), url in upstreams:
            api = "anthropic" if isinstance(fake, FakeAnthropicUpstream) else "openai"
            tables.append({"name": name, "api": api, "base_url": url, "timeout_s": 5,
                           "models": [{"name": "m", "context_length": 131072}], **extra})
        raw: dict[str, Any] = {
            "health": {"probe_interval_s": 0}, "providers": tables,
            "routes": [{"name": "free", "strategy": "weighted", "backends": ["*"]}]}
        if state:
            raw["state"] = dict(state)
        if routing:
            raw["routing"] = dict(routing)
        plugins = load_plugins()
        config = parse(raw, env or {}, list(plugins.strategies), {})
        # A queued request's wait moves the fake clock: nothing really sleeps.
        app = create_app(config, plugins, clock=self.clock, rng=random.Random(1),
                         sleep=self.clock.sleep)
        if handler_cancellation:  # aiohttp's test server cancels a handler whose client left
            server = await self._server(app)
        else:
            server = WithoutCancellation(app)
            await server.start_server()
            self._started.append(server)
        fakes: dict[str, ScriptedUpstream] = {name: fake for (name, fake, _), _url in upstreams}
        return Rig(await self._client(server), fakes, self.clock)

    async def aclose(self) -> None:
        for server in self._started:
            await server.close()


async def until(read: Callable[[], Any], done: Callable[[Any], bool],
                timeout_s: float = 10.0) -> None:
    """Until what `read` returns is `done`: what the router does after its client left happens
    in another task (and the test server's), with nothing to wait on but its effect."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = read()
            if done(await value if inspect.isawaitable(value) else value):
                return
            await asyncio.sleep(0.01)
